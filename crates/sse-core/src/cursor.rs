//! The id of an event on a stream that follows several rooms: a *cursor* holding the
//! stream's position in each of them, so that one `Last-Event-ID` resumes them all exactly.
//!
//! A browser keeps one `Last-Event-ID` per `EventSource`, but each room has its own id
//! sequence: after `news` message 5 the stream is also at `lobby` message 12, and neither
//! number alone says where to resume the other room. So every chat event of such a stream
//! carries the whole position:
//!
//! ```text
//! id: lobby:12,news:5
//! ```
//!
//! - One `room:id` pair per followed room, in the order of the request's `rooms`, joined by
//!   commas; `id` is the last message of that room the stream handed over (0: none yet).
//! - It holds only `a-z 0-9 - _ : ,` and digits: never CR, LF or NUL, so it is a valid `id:`
//!   field, and it needs no escaping in a URL's `lastEventId` either. At most 16 rooms of at most
//!   32 characters: under 1 KiB even at the limit, some 20 bytes for two short rooms.
//! - Read back, each pair resumes its room after its id. A room the request follows but the
//!   cursor does not name starts with its `history`, as a new subscriber; a pair naming a room
//!   the request does not follow is ignored. Anything that is not this format is treated as
//!   absent, like any unusable `Last-Event-ID` (never a 400: a browser would stop reconnecting).
//! - A stream of one room keeps plain ids (`id: 12`), as before rooms existed; it also accepts
//!   a cursor, and reads its room's pair from it.
//!
//! Tested by `cargo test -p sse-core cursor`, with a property test.

use crate::room::{MAX_PER_STREAM, Room};

/// The longest cursor read: 16 pairs of a 32-character name, `:`, a 20-digit id and `,`.
pub const MAX_BYTES: usize = MAX_PER_STREAM * (32 + 1 + 20 + 1);

/// A stream's position in each room it follows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    positions: Vec<(Room, u64)>,
}

impl Cursor {
    /// A cursor at `positions`, in the order given.
    pub fn new(positions: Vec<(Room, u64)>) -> Self {
        Self { positions }
    }

    /// Reads `lobby:12,news:5`; `None` for anything else (a repeated room, more than 16, an
    /// id that is not a plain number, bytes that are not UTF-8).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > MAX_BYTES {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?;
        let mut positions: Vec<(Room, u64)> = Vec::new();
        for pair in text.split(',') {
            let (name, id) = pair.split_once(':')?;
            let room = Room::parse(name)?;
            if positions.iter().any(|(seen, _)| *seen == room) {
                return None;
            }
            positions.push((room, crate::request::parse_last_event_id(id.as_bytes())?));
        }
        (positions.len() <= MAX_PER_STREAM).then_some(Self { positions })
    }

    /// Where `room` was left: its id, if the cursor names it.
    pub fn position(&self, room: &Room) -> Option<u64> {
        self.positions
            .iter()
            .find_map(|(named, id)| (named == room).then_some(*id))
    }

    /// Moves `room`'s position (the `index`-th room of the stream) to `id`.
    pub fn advance(&mut self, index: usize, id: u64) {
        if let Some((_, position)) = self.positions.get_mut(index) {
            *position = id;
        }
    }

    /// `lobby:12,news:5`: the value of an `id:` field.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.positions.len() * 16);
        for (n, (room, id)) in self.positions.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(room.as_str());
            out.push(':');
            out.push_str(&id.to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn room(name: &str) -> Room {
        Room::parse(name).expect("a room name")
    }

    #[test]
    fn it_reads_what_it_writes() {
        let cursor = Cursor::new(vec![(room("lobby"), 12), (room("news"), 0)]);
        assert_eq!(cursor.encode(), "lobby:12,news:0");
        let read = Cursor::parse(b"lobby:12,news:0").expect("a cursor");
        assert_eq!(read, cursor);
        assert_eq!(read.position(&room("news")), Some(0));
        assert_eq!(read.position(&room("sport")), None);
    }

    #[test]
    fn anything_else_is_absent() {
        for bad in [
            &b""[..],
            b"12",
            b"lobby",
            b"lobby:",
            b"lobby:x",
            b"lobby:+1",
            b"lobby:1,",
            b"lobby:1,lobby:2",
            b"Lobby:1",
            b"lobby:1;news:2",
            b"lobby:1\nid: 9",
            b"\xff:1",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
        let seventeen: Vec<String> = (0..17).map(|n| format!("r{n}:1")).collect();
        assert_eq!(Cursor::parse(seventeen.join(",").as_bytes()), None);
    }

    fn rooms_and_ids() -> impl Strategy<Value = Vec<(String, u64)>> {
        proptest::collection::btree_map("[a-z0-9_-]{1,32}", any::<u64>(), 1..=16)
            .prop_map(|map| map.into_iter().collect())
    }

    proptest! {
        #[test]
        fn any_cursor_reads_back_as_written_and_is_a_valid_id(pairs in rooms_and_ids()) {
            let cursor = Cursor::new(pairs.iter().map(|(name, id)| (room(name), *id)).collect());
            let text = cursor.encode();
            prop_assert!(!text.contains(['\r', '\n', '\0']));
            prop_assert!(text.len() <= MAX_BYTES);
            prop_assert_eq!(Cursor::parse(text.as_bytes()), Some(cursor));
        }

        #[test]
        fn any_bytes_are_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Some(cursor) = Cursor::parse(&bytes) {
                let again = Cursor::parse(cursor.encode().as_bytes());
                prop_assert_eq!(again, Some(cursor));
            }
        }
    }
}
