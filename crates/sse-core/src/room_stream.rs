//! The body of one chat stream: its rooms' hubs, each read from its own start, merged into one
//! stream of encoded events.
//!
//! A stream of one room sends the hub's bytes as they are (`id: 12`, shared by every
//! subscriber). A stream of several rooms sends each message with the stream's
//! [`Cursor`](crate::cursor) as its id instead: the message's shared bytes after its own
//! `id:` line, behind an `id:` line of this subscriber's own. Its position in a room moves only
//! when a message of that room is handed over, so at every event the cursor says exactly what
//! the browser has, and a reconnect with it misses nothing and repeats nothing.
//!
//! The replay budget (`--replay-kib`) is shared between the rooms, so that following 16 rooms
//! cannot replay 16 times as much.
//!
//! Tested with paused time by `cargo test -p sse-core room_stream`.

use std::pin::Pin;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt, stream};

use crate::cursor::Cursor;
use crate::hub::{Delivery, Hub};

/// A chat stream's events, ready to send.
pub type ChatStream = Pin<Box<dyn Stream<Item = Bytes> + Send + Sync>>;

/// The events of every room in `starts`, each after its start (the id of the last message of
/// that room not to send), in the order the hubs hand them over.
pub fn open(starts: Vec<(Arc<Hub>, u64)>, replay_bytes: usize) -> ChatStream {
    if let [(hub, start)] = &starts[..] {
        return Box::pin(hub.subscribe_after(*start, replay_bytes).map(|d| d.bytes));
    }
    let share = replay_bytes / starts.len().max(1);
    let mut cursor = Cursor::new(
        starts
            .iter()
            .map(|(hub, start)| (hub.room().clone(), *start))
            .collect(),
    );
    let rooms = starts.into_iter().enumerate().map(|(index, (hub, start))| {
        let deliveries = hub.subscribe_after(start, share);
        Box::pin(deliveries.map(move |delivery| (index, delivery)))
    });
    let merged = stream::select_all(rooms).map(move |(index, delivery)| match delivery {
        Delivery {
            id: Some(id),
            bytes,
        } => {
            cursor.advance(index, id);
            with_id(&cursor.encode(), id, &bytes)
        }
        Delivery { id: None, bytes } => bytes,
    });
    Box::pin(merged)
}

/// The message `encoded` (which starts with `id: {id}\n`) with `id` as its `id:` instead.
fn with_id(id: &str, own_id: u64, encoded: &Bytes) -> Bytes {
    let digits = own_id.checked_ilog10().map_or(1, |log| log as usize + 1);
    let own_line = "id: \n".len() + digits;
    debug_assert!(encoded.starts_with(format!("id: {own_id}\n").as_bytes()));
    let rest = &encoded[own_line.min(encoded.len())..];
    let mut out = BytesMut::with_capacity(id.len() + 5 + rest.len());
    out.put_slice(b"id: ");
    out.put_slice(id.as_bytes());
    out.put_u8(b'\n');
    out.put_slice(rest);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::Room;
    use std::pin::pin;
    use std::time::Duration;
    use tokio::time::timeout;

    fn hub(name: &str) -> Arc<Hub> {
        Arc::new(Hub::new(Room::parse(name).expect("a room"), 100))
    }

    /// (id field, room, message id) of the next event, or the event name if not chat.
    async fn next(stream: &mut (impl Stream<Item = Bytes> + Unpin)) -> (String, String, u64) {
        let bytes = timeout(Duration::from_secs(1), stream.next())
            .await
            .expect("an event within a second")
            .expect("streams do not end");
        let text = std::str::from_utf8(&bytes).expect("UTF-8").to_owned();
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .unwrap_or_default()
                .to_owned()
        };
        let data: serde_json::Value = serde_json::from_str(&field("data: ")).expect("JSON");
        let room = data["room"].as_str().unwrap_or_default().to_owned();
        (field("id: "), room, data["id"].as_u64().unwrap_or(0))
    }

    #[tokio::test(start_paused = true)]
    async fn one_room_keeps_plain_ids_and_several_carry_the_cursor() {
        let (lobby, news) = (hub("lobby"), hub("news"));
        lobby.publish("ann", "a");
        let mut one = pin!(open(vec![(Arc::clone(&lobby), 0)], usize::MAX));
        assert_eq!(next(&mut one).await, ("1".into(), "lobby".into(), 1));
        let mut both = pin!(open(
            vec![(Arc::clone(&lobby), 0), (Arc::clone(&news), 0)],
            1 << 20
        ));
        assert_eq!(
            next(&mut both).await,
            ("lobby:1,news:0".into(), "lobby".into(), 1)
        );
        news.publish("bob", "b");
        news.publish("bob", "c");
        assert_eq!(next(&mut both).await.0, "lobby:1,news:1");
        assert_eq!(next(&mut both).await.0, "lobby:1,news:2");
        lobby.publish("ann", "d");
        assert_eq!(
            next(&mut both).await,
            ("lobby:2,news:2".into(), "lobby".into(), 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconnect_with_the_cursor_resumes_each_room_exactly() {
        let (a, b) = (hub("a"), hub("b"));
        let starts = |cursor: &Cursor| {
            [&a, &b]
                .map(|hub| (Arc::clone(hub), cursor.position(hub.room()).unwrap_or(0)))
                .to_vec()
        };
        let mut seen = Vec::new();
        let mut cursor = Cursor::default();
        // Five connections in turn, each reading a few events while both rooms get messages.
        for round in 0..5 {
            let mut stream = pin!(open(starts(&cursor), usize::MAX));
            for n in 0..6 {
                let hub = if (round + n) % 3 == 0 { &b } else { &a };
                hub.publish("p", "x");
            }
            for _ in 0..4 {
                let (id, room, message) = next(&mut stream).await;
                cursor = Cursor::parse(id.as_bytes()).expect("a cursor");
                seen.push((room, message));
            }
        }
        let mut stream = pin!(open(starts(&cursor), usize::MAX));
        while seen.len() < 30 {
            let (_, room, message) = next(&mut stream).await;
            seen.push((room, message));
        }
        for room in ["a", "b"] {
            let ids: Vec<u64> = seen.iter().filter(|s| s.0 == room).map(|s| s.1).collect();
            let newest = if room == "a" {
                a.newest_id()
            } else {
                b.newest_id()
            };
            assert_eq!(
                ids,
                (1..=newest).collect::<Vec<_>>(),
                "room {room}: once each, in order"
            );
        }
    }
}
