//! Room names: what `POST /chat/{room}` posts to and `GET /events/chat?rooms=a,b,c` follows,
//! checked the same way on all three servers. `POST /chat` and `GET /events/chat` mean the room
//! [`LOBBY`].
//!
//! A name is 1 to 32 characters of `a-z`, `0-9`, `-` and `_`. So small an alphabet keeps a
//! name safe everywhere it goes without escaping: a URL path, a Redis key (where it sits inside
//! a `{hash tag}`, so it holds no brace), a JSON string, and the cursor (see
//! [`cursor`](crate::cursor)), whose separators `:` and `,` it cannot hold.
//!
//! Tested by `cargo test -p sse-core room`.

use std::fmt;
use std::ops::RangeInclusive;
use std::sync::Arc;

/// The room of `POST /chat` and `GET /events/chat`: the one chat of earlier versions.
pub const LOBBY: &str = "lobby";

/// What the name of a private room starts with: `_ops`, `_alice`.
pub const PRIVATE_PREFIX: char = '_';

/// Characters in a room name.
pub const NAME_CHARS: RangeInclusive<usize> = 1..=32;

/// How many rooms one stream may follow.
pub const MAX_PER_STREAM: usize = 16;

/// The rule a room name follows, in words, for the 400 answers.
pub const NAME_RULE: &str = "1 to 32 characters of a-z, 0-9, - and _";

/// The rule of the `rooms` query parameter, in words.
pub const LIST_RULE: &str = "1 to 16 different room names separated by commas, each 1 to 32 \
                             characters of a-z, 0-9, - and _";

/// A checked room name. Cheap to clone (it is shared, not copied).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Room(Arc<str>);

impl Room {
    /// The name, if it follows [`NAME_RULE`].
    pub fn parse(name: &str) -> Option<Self> {
        let allowed =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
        (NAME_CHARS.contains(&name.len()) && name.bytes().all(allowed)).then(|| Self(name.into()))
    }

    /// The room [`LOBBY`].
    pub fn lobby() -> Self {
        Self(LOBBY.into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the room is private: its name starts with `_` (see [`PRIVATE_PREFIX`]). With
    /// identity on, only a token naming it may follow it, replay it or post to it; with
    /// identity off there is no one to tell apart, and it is a room like any other.
    pub fn is_private(&self) -> bool {
        self.0.starts_with(PRIVATE_PREFIX)
    }

    /// Whether this is the [`LOBBY`], which always exists and never leaves memory.
    pub fn is_lobby(&self) -> bool {
        &*self.0 == LOBBY
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// The rooms of a `rooms` query parameter, in the order given: 1 to [`MAX_PER_STREAM`] names,
/// each given once. `None` breaks [`LIST_RULE`].
pub fn parse_list(value: &str) -> Option<Vec<Room>> {
    let rooms: Vec<Room> = value.split(',').map(Room::parse).collect::<Option<_>>()?;
    let distinct = rooms
        .iter()
        .enumerate()
        .all(|(i, room)| !rooms[..i].contains(room));
    (rooms.len() <= MAX_PER_STREAM && distinct).then_some(rooms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_1_to_32_of_a_small_alphabet() {
        for good in ["lobby", "a", "news-2026", "under_score", &"x".repeat(32)] {
            assert_eq!(
                Room::parse(good).map(|r| r.to_string()),
                Some(good.to_owned())
            );
        }
        let long = "x".repeat(33);
        for bad in [
            "", "Lobby", "a b", "a/b", "{a}", "a:1", "a,b", "é", "%41", &long,
        ] {
            assert!(Room::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Room::lobby().is_lobby() && !Room::parse("news").is_some_and(|r| r.is_lobby()));
    }

    #[test]
    fn a_list_is_1_to_16_different_names() {
        let names = |list: &str| parse_list(list).map(|rooms| rooms.len());
        assert_eq!(names("lobby"), Some(1));
        assert_eq!(names("b,a,c"), Some(3));
        let sixteen: Vec<String> = (0..16).map(|n| format!("r{n}")).collect();
        assert_eq!(names(&sixteen.join(",")), Some(16));
        let seventeen: Vec<String> = (0..17).map(|n| format!("r{n}")).collect();
        for bad in [
            "",
            ",",
            "a,",
            "a,,b",
            "a,a",
            "a,b,a",
            "A",
            &seventeen.join(","),
        ] {
            assert_eq!(names(bad), None, "{bad:?}");
        }
    }
}
