//! The chat hub: one publisher side, any number of subscribers, and replay after a reconnect
//! with no gap and no duplicate.
//!
//! The frameworks' own chat examples hand each subscriber a channel and forget a message once it
//! is sent, so a browser that reconnects has lost whatever was said while it was away. Here the
//! hub keeps one shared log of the last `--history` messages, and a subscriber is only a
//! *cursor* into it: the id of the last message it was handed. Replay after `Last-Event-ID` and
//! live delivery are then the same operation, "hand over every kept message after my cursor",
//! which is why neither can skip or repeat a message (see [`Hub::subscribe`]).
//!
//! With `--redis` the log is a Redis stream shared by every instance, and this hub is its local
//! mirror: [`chat_log`](crate::chat_log) appends what the stream holds with [`Hub::append`],
//! in the stream's order and with the stream's ids, and subscribers read the hub as before.
//!
//! Tested with paused time by `cargo test -p sse-core hub`.

use std::collections::VecDeque;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use futures_util::{Stream, stream};
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::event::{Event, FieldValue};
use crate::room::Room;

/// The event name of a chat message, for `addEventListener("chat", ...)`.
pub const CHAT: FieldValue = FieldValue::from_static("chat");

/// The event name that tells a subscriber it fell so far behind that messages it never saw have
/// left the history. Its data is `{"missed":n}`.
pub const LAGGED: FieldValue = FieldValue::from_static("lagged");

/// How many messages a subscriber copies out of the log per visit. Each copy is a reference
/// count, not the text, so a visit holds the read lock for a few microseconds.
const BATCH: usize = 32;

/// A chat message as sent in the `data:` field. Field order is the order on the wire.
#[derive(Debug, Serialize)]
struct Message<'a> {
    id: u64,
    room: &'a str,
    user: &'a str,
    text: &'a str,
    time: &'a str,
}

/// The shared log of chat messages and the signal that a new one arrived. Cheap to share in an
/// [`Arc`]; every method takes `&self`.
///
/// Capacity and policy, in one place:
/// - The log holds the last `capacity` (`--history`) messages, each already encoded as the
///   exact bytes of its event. That is all the memory chat uses, however many subscribers there
///   are and however slowly they read.
/// - A subscriber owns no queue, only a cursor and at most `BATCH` (32) shared handles (which may
///   keep up to that many messages alive after the log has dropped them). One that stops
///   reading (its socket is full, so the framework stops polling it) costs nothing more while
///   it waits; when it reads again it catches up from the log.
/// - If the messages after its cursor have meanwhile left the log, it is sent one
///   `event: lagged` with `{"missed":n}`, n being how many it can never get, and goes on from
///   the oldest kept message. The same happens to a `Last-Event-ID` older than the log.
pub struct Hub {
    room: Room,
    log: RwLock<Log>,
    /// The id of the newest message. Subscribers wait on it; its version counter means a message
    /// published between a subscriber's last read and its wait is never slept through.
    newest: watch::Sender<u64>,
    /// Messages published, for `/metrics`.
    published: Counter,
    /// `lagged` notices sent, for `/metrics`.
    lagged: Counter,
}

struct Log {
    /// The encoded events, oldest first, with consecutive ids starting at `first_id`.
    messages: VecDeque<Bytes>,
    first_id: u64,
    capacity: usize,
    /// Counts [`Hub::restart`]s: a subscriber that sees it change knows its cursor belongs to
    /// a log that is gone.
    epoch: u64,
    /// The newest id before the last restart, to tell subscribers how many they lost.
    newest_before_restart: u64,
    /// When the last message came, for `--room-idle-secs`.
    touched: Instant,
}

impl Log {
    /// The id the next published message gets; also one past the newest kept id.
    fn next_id(&self) -> u64 {
        self.first_id + self.messages.len() as u64
    }

    /// The cursor from which the messages that follow, up to the newest, fit in `bytes`.
    fn cursor_within(&self, bytes: usize) -> u64 {
        let mut total = 0;
        let fitting = self
            .messages
            .iter()
            .rev()
            .take_while(|message| {
                total += message.len();
                total <= bytes
            })
            .count();
        self.next_id() - 1 - fitting as u64
    }

    /// Appends the message with id `next_id()`, dropping the oldest one when full.
    fn push(&mut self, encoded: Bytes) {
        self.touched = Instant::now();
        if self.messages.len() == self.capacity {
            self.messages.pop_front();
            self.first_id += 1;
        }
        self.messages.push_back(encoded);
    }
}

/// Where the log came from, when [`Hub::append`] is handed a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The next id: appended.
    Next,
    /// An id the log already had (or older): ignored.
    Duplicate,
    /// Ids were skipped (the source dropped them before they were read): the log starts again
    /// at this one, and a subscriber behind it is told with `lagged`.
    AfterGap,
}

impl Hub {
    /// An empty hub for `room` that keeps the last `capacity` messages (at least one).
    pub fn new(room: Room, capacity: usize) -> Self {
        Self::with_counters(room, capacity, Counter::default(), Counter::default())
    }

    /// [`Hub::new`], counting messages published and `lagged` notices sent in counters shared
    /// with every other room's hub (see [`Rooms::counters`](crate::rooms::Rooms::counters)).
    pub fn with_counters(room: Room, capacity: usize, published: Counter, lagged: Counter) -> Self {
        let capacity = capacity.max(1);
        Self {
            room,
            log: RwLock::new(Log {
                // Grown as messages come, not reserved: a room that is followed but never posted
                // to (any client can name one) costs a few hundred bytes, not `capacity` slots.
                messages: VecDeque::new(),
                first_id: 1,
                capacity,
                epoch: 0,
                newest_before_restart: 0,
                touched: Instant::now(),
            }),
            newest: watch::Sender::new(0),
            published,
            lagged,
        }
    }

    /// Adds a message and wakes every subscriber; returns its id (1, 2, 3, ...). The in-process
    /// chat: the hub itself gives out the ids.
    ///
    /// The message is encoded here, once, into the bytes every subscriber sends as they are.
    /// The id is taken and the message appended under the same write lock, so the log is always
    /// in id order even when publishers race. No lock is held while anything is written to a
    /// socket: subscribers copy handles out and release the lock before sending.
    pub fn publish(&self, user: &str, text: &str) -> u64 {
        let mut log = self.write_log();
        let id = log.next_id();
        log.push(encode(id, &self.room, user, text, &now()));
        drop(log);
        self.newest.send_replace(id);
        self.published.inc();
        id
    }

    /// Adds a message whose id was given out elsewhere (by the Redis stream every instance
    /// shares), and wakes every subscriber. Messages must come in id order; one the log already
    /// has is ignored, so reading the same part of the stream twice cannot repeat a message.
    pub fn append(&self, id: u64, user: &str, text: &str, time: &str) -> Appended {
        let mut log = self.write_log();
        let appended = match id.cmp(&log.next_id()) {
            std::cmp::Ordering::Less => return Appended::Duplicate,
            std::cmp::Ordering::Equal => Appended::Next,
            std::cmp::Ordering::Greater => {
                // The ids in between are gone for good: start the log again at `id`.
                log.messages.clear();
                log.first_id = id;
                Appended::AfterGap
            }
        };
        log.push(encode(id, &self.room, user, text, time));
        drop(log);
        self.newest.send_replace(id);
        appended
    }

    /// Forgets every message and starts the ids again at 1: the shared log was lost (Redis
    /// restarted empty), so the ids that follow are not the ones subscribers hold. Each
    /// subscriber is sent one `lagged` with what it had not yet received, and goes on with the
    /// new log's messages.
    pub fn restart(&self) {
        let mut log = self.write_log();
        log.newest_before_restart = log.next_id() - 1;
        log.messages.clear();
        log.first_id = 1;
        log.epoch += 1;
        drop(log);
        self.newest.send_replace(0);
    }

    /// Resolves once the hub holds message `id` (or a newer one).
    pub async fn until_has(&self, id: u64) {
        let mut newest = self.newest.subscribe();
        // Err only if the hub is gone, and `self` holds it: never.
        let _ = newest.wait_for(|&newest| newest >= id).await;
    }

    /// The id of the newest message, 0 before the first.
    pub fn newest_id(&self) -> u64 {
        *self.newest.borrow()
    }

    /// The room this hub holds.
    pub fn room(&self) -> &Room {
        &self.room
    }

    /// When the last message came (or the hub was made).
    pub fn touched(&self) -> Instant {
        self.read_log().touched
    }

    /// Where [`Hub::subscribe`] would start: the id of the last message it would not hand over.
    pub fn start(&self, last_event_id: Option<u64>, history: usize) -> u64 {
        let log = self.read_log();
        let newest = log.next_id() - 1;
        match last_event_id {
            Some(id) if id <= newest => id,
            _ => newest.saturating_sub(history as u64).max(log.first_id - 1),
        }
    }

    /// The encoded events of a subscriber, in id order, forever (end it with `take_until`).
    ///
    /// - After `Last-Event-ID: n`, it starts with every kept message after n (and an
    ///   `event: lagged` first if some after n were dropped from the log).
    /// - Without one, or with an id this hub never gave out, it starts with the last `history`
    ///   messages (fewer if fewer are kept), and no `lagged`.
    /// - Either way it replays at most `replay_bytes` (`--replay-kib`): the newest messages that
    ///   fit, after an `event: lagged` that counts the ones left out. Else one 65-byte request
    ///   (`?history=1000`) could ask for megabytes.
    ///
    /// Why there is no gap and no duplicate, even while messages are published during the
    /// replay: the subscriber's only state is its cursor, the id of the last message it was
    /// handed. Each visit to the log hands over the kept messages with ids cursor + 1,
    /// cursor + 2, ..., consecutive because the log is in id order with no holes, and moves the
    /// cursor past them. Before each visit it marks the `newest` signal as seen, so a message
    /// appended after the visit wakes it, and one appended before it is found by it.
    pub fn subscribe(
        self: &Arc<Self>,
        last_event_id: Option<u64>,
        history: usize,
        replay_bytes: usize,
    ) -> impl Stream<Item = Delivery> + Send + Sync + use<> {
        // The epoch first: a restart in between makes the cursor old, and it is told `lagged`.
        let epoch = self.read_log().epoch;
        let cursor = self.start(last_event_id, history);
        self.subscriber(cursor, epoch, replay_bytes)
    }

    /// The encoded events after message `cursor`, in id order, forever: the same as
    /// `subscribe(Some(cursor), _)`, except that an id above the newest is taken at its word,
    /// and the subscriber waits for the messages after it. For ids given out elsewhere, which
    /// this hub may not have been handed yet.
    pub fn subscribe_after(
        self: &Arc<Self>,
        cursor: u64,
        replay_bytes: usize,
    ) -> impl Stream<Item = Delivery> + Send + Sync + use<> {
        let epoch = self.read_log().epoch;
        self.subscriber(cursor, epoch, replay_bytes)
    }

    /// The stream of one subscriber whose cursor belongs to the log's `epoch`, replaying at
    /// most `replay_bytes` of what follows the cursor.
    fn subscriber(
        self: &Arc<Self>,
        cursor: u64,
        epoch: u64,
        replay_bytes: usize,
    ) -> impl Stream<Item = Delivery> + Send + Sync + use<> {
        let mut ready = VecDeque::with_capacity(BATCH + 2);
        let cursor = {
            let log = self.read_log();
            let within = log.cursor_within(replay_bytes);
            if log.epoch == epoch && cursor < within {
                lagged(&mut ready, self, within - cursor);
                within
            } else {
                cursor
            }
        };
        let subscriber = Subscriber {
            hub: Arc::clone(self),
            newest: self.newest.subscribe(),
            cursor,
            epoch,
            ready,
        };
        stream::unfold(subscriber, |mut subscriber| async move {
            loop {
                if let Some(delivery) = subscriber.ready.pop_front() {
                    return Some((delivery, subscriber));
                }
                subscriber.newest.mark_unchanged();
                subscriber.visit_log();
                if subscriber.ready.is_empty() {
                    // Err only if the hub is gone, and the subscriber holds it: never.
                    subscriber.newest.changed().await.ok()?;
                }
            }
        })
    }

    fn read_log(&self) -> RwLockReadGuard<'_, Log> {
        // A panic elsewhere while holding the lock leaves the log whole (it is changed by one
        // push and one pop), so a poisoned lock is still safe to use.
        self.log.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_log(&self) -> RwLockWriteGuard<'_, Log> {
        self.log.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One subscriber's whole state.
struct Subscriber {
    hub: Arc<Hub>,
    newest: watch::Receiver<u64>,
    /// The id of the last message handed over.
    cursor: u64,
    /// The log's epoch the cursor belongs to.
    epoch: u64,
    /// Handed over by the last visit, not yet yielded: at most `BATCH + 2` entries.
    ready: VecDeque<Delivery>,
}

/// One event handed to a subscriber: the bytes to send, and for a chat message its id.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message's id; `None` for `lagged`.
    pub id: Option<u64>,
    /// The encoded event, shared by every subscriber: it starts with `id: n` for a message.
    pub bytes: Bytes,
}

impl Subscriber {
    /// Copies up to [`BATCH`] messages after the cursor out of the log, preceded by a `lagged`
    /// event if the next one it needs is gone (or the whole log was restarted).
    fn visit_log(&mut self) {
        let log = self.hub.read_log();
        if self.epoch != log.epoch {
            let missed = log.newest_before_restart.saturating_sub(self.cursor);
            lagged(&mut self.ready, &self.hub, missed);
            self.epoch = log.epoch;
            self.cursor = log.first_id - 1;
        }
        if self.cursor + 1 < log.first_id {
            lagged(&mut self.ready, &self.hub, log.first_id - (self.cursor + 1));
            self.cursor = log.first_id - 1;
        }
        // Nothing after the cursor yet (a cursor above the newest waits for its messages).
        if self.cursor + 1 >= log.next_id() {
            return;
        }
        // In range: first_id - 1 <= cursor < newest id, so 0 <= skip < len.
        let skip = (self.cursor + 1 - log.first_id) as usize;
        for bytes in log.messages.range(skip..).take(BATCH) {
            self.cursor += 1;
            let (id, bytes) = (Some(self.cursor), bytes.clone());
            self.ready.push_back(Delivery { id, bytes });
        }
    }
}

/// Queues one `event: lagged` saying how many messages of its room a subscriber can never get.
fn lagged(ready: &mut VecDeque<Delivery>, hub: &Hub, missed: u64) {
    let data = format!(r#"{{"missed":{missed},"room":"{}"}}"#, hub.room);
    let bytes = Event::data(data).with_event(LAGGED).encode();
    ready.push_back(Delivery { id: None, bytes });
    hub.lagged.inc();
}

/// The current time as a chat message carries it: RFC 3339 in UTC, to the millisecond.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The exact bytes of a chat message's event: `id`, `event: chat`, and the JSON `data`.
fn encode(id: u64, room: &Room, user: &str, text: &str, time: &str) -> Bytes {
    let message = Message {
        id,
        room: room.as_str(),
        user,
        text,
        time,
    };
    let json = serde_json::to_string(&message)
        .expect("a struct of strings and a number always serializes");
    Event::data(json).with_id(id).with_event(CHAT).encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::pin::pin;
    use std::time::Duration;
    use tokio::time::timeout;

    /// A replay budget no test reaches.
    const ANY: usize = usize::MAX;

    /// A parsed event: (event name, id, data).
    type Parsed = (String, Option<u64>, serde_json::Value);

    fn parse(bytes: &Bytes) -> Parsed {
        let text = std::str::from_utf8(bytes).expect("UTF-8");
        let mut name = String::new();
        let mut id = None;
        let mut data = serde_json::Value::Null;
        for line in text.lines() {
            if let Some(value) = line.strip_prefix("event: ") {
                name = value.to_owned();
            } else if let Some(value) = line.strip_prefix("id: ") {
                id = Some(value.parse().expect("numeric id"));
            } else if let Some(value) = line.strip_prefix("data: ") {
                data = serde_json::from_str(value).expect("JSON data");
            }
        }
        (name, id, data)
    }

    async fn next(stream: &mut (impl Stream<Item = Delivery> + Unpin)) -> Parsed {
        let delivery = timeout(Duration::from_secs(1), stream.next())
            .await
            .expect("an event within a second")
            .expect("streams do not end");
        let parsed = parse(&delivery.bytes);
        assert_eq!(parsed.1, delivery.id, "the delivery's id is the event's");
        parsed
    }

    async fn ids(stream: &mut (impl Stream<Item = Delivery> + Unpin), count: usize) -> Vec<u64> {
        let mut ids = Vec::new();
        for _ in 0..count {
            let (name, id, _) = next(stream).await;
            assert_eq!(name, "chat");
            ids.push(id.expect("chat events have ids"));
        }
        ids
    }

    async fn is_quiet(stream: &mut (impl Stream<Item = Delivery> + Unpin)) -> bool {
        timeout(Duration::from_secs(60), stream.next())
            .await
            .is_err()
    }

    fn publish(hub: &Hub, count: usize) {
        for n in 0..count {
            hub.publish("ann", &format!("message {n}"));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ids_count_from_one_and_each_message_is_encoded_once_as_json() {
        let hub = Arc::new(Hub::new(Room::lobby(), 10));
        assert_eq!(hub.newest_id(), 0);
        assert_eq!(hub.publish("ann", "hi\r\nevent: forged"), 1);
        assert_eq!(hub.publish("bob", "<b>yo</b>"), 2);
        let mut stream = pin!(hub.subscribe(Some(0), 10, ANY));
        let (name, id, data) = next(&mut stream).await;
        assert_eq!((name.as_str(), id), ("chat", Some(1)));
        assert_eq!(data["id"], 1);
        assert_eq!(data["user"], "ann");
        assert_eq!(data["text"], "hi\r\nevent: forged");
        assert!(data["time"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(next(&mut stream).await.2["text"], "<b>yo</b>");
        // Two subscribers are handed the very same bytes: one allocation, shared.
        let mut a = pin!(hub.subscribe(Some(1), 0, ANY));
        let mut b = pin!(hub.subscribe(Some(1), 0, ANY));
        let (a, b) = (a.next().await, b.next().await);
        let (a, b) = (a.expect("message 2"), b.expect("message 2"));
        assert_eq!(a.bytes.as_ptr(), b.bytes.as_ptr());
    }

    #[tokio::test(start_paused = true)]
    async fn without_last_event_id_it_starts_with_the_last_history_messages() {
        let hub = Arc::new(Hub::new(Room::lobby(), 100));
        publish(&hub, 15);
        assert_eq!(
            ids(&mut pin!(hub.subscribe(None, 10, ANY)), 10).await,
            (6..=15).collect::<Vec<_>>()
        );
        assert_eq!(
            ids(&mut pin!(hub.subscribe(None, 3, ANY)), 3).await,
            [13, 14, 15]
        );
        assert_eq!(
            ids(&mut pin!(hub.subscribe(None, 50, ANY)), 15).await,
            (1..=15).collect::<Vec<_>>()
        );
        let mut none = pin!(hub.subscribe(None, 0, ANY));
        assert!(is_quiet(&mut none).await, "history=0 replays nothing");
        hub.publish("ann", "live");
        assert_eq!(ids(&mut none, 1).await, [16]);
    }

    #[tokio::test(start_paused = true)]
    async fn resumes_after_last_event_id_then_goes_on_live() {
        let hub = Arc::new(Hub::new(Room::lobby(), 100));
        publish(&hub, 5);
        let mut stream = pin!(hub.subscribe(Some(3), 10, ANY));
        assert_eq!(ids(&mut stream, 2).await, [4, 5]);
        assert!(is_quiet(&mut stream).await);
        publish(&hub, 2);
        assert_eq!(ids(&mut stream, 2).await, [6, 7]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_id_never_given_out_is_treated_as_absent() {
        let hub = Arc::new(Hub::new(Room::lobby(), 100));
        publish(&hub, 3);
        // From a previous run of the server, say: start fresh with the last `history`.
        assert_eq!(
            ids(&mut pin!(hub.subscribe(Some(99), 2, ANY)), 2).await,
            [2, 3]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn publishing_during_the_replay_leaves_no_gap_and_no_duplicate() {
        let hub = Arc::new(Hub::new(Room::lobby(), 1000));
        publish(&hub, 300);
        let mut stream = pin!(hub.subscribe(Some(100), 10, ANY));
        let mut seen = Vec::new();
        // Read a little, publish a little: the replay (several batches) and live delivery
        // interleave with publishing.
        for _ in 0..40 {
            seen.extend(ids(&mut stream, 7).await);
            publish(&hub, 3);
        }
        // 420 published in all; 280 of the 320 after id 100 read so far.
        seen.extend(ids(&mut stream, 40).await);
        assert_eq!(seen, (101..=420).collect::<Vec<_>>());
        assert!(is_quiet(&mut stream).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_subscriber_that_fell_out_of_the_history_is_told_how_many_it_lost() {
        let hub = Arc::new(Hub::new(Room::lobby(), 10));
        publish(&hub, 3);
        let mut slow = pin!(hub.subscribe(None, 10, ANY));
        assert_eq!(ids(&mut slow, 1).await, [1]);
        // It stops reading while 100 more are published; only the last 10 are kept.
        publish(&hub, 100);
        // Read first: what the last visit already copied out (ids 2 and 3).
        assert_eq!(ids(&mut slow, 2).await, [2, 3]);
        let (name, id, data) = next(&mut slow).await;
        assert_eq!((name.as_str(), id), ("lagged", None));
        assert_eq!(data["missed"], 103 - 10 - 3);
        assert_eq!(ids(&mut slow, 10).await, (94..=103).collect::<Vec<_>>());
        publish(&hub, 1);
        assert_eq!(ids(&mut slow, 1).await, [104]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_last_event_id_older_than_the_history_gets_lagged_first() {
        let hub = Arc::new(Hub::new(Room::lobby(), 5));
        publish(&hub, 20);
        let mut stream = pin!(hub.subscribe(Some(2), 10, ANY));
        let (name, _, data) = next(&mut stream).await;
        assert_eq!(
            (name.as_str(), data["missed"].as_u64()),
            ("lagged", Some(13))
        );
        assert_eq!(ids(&mut stream, 5).await, [16, 17, 18, 19, 20]);
    }

    #[tokio::test(start_paused = true)]
    async fn racing_publishers_get_distinct_ids_and_every_reader_sees_all_in_order() {
        let hub = Arc::new(Hub::new(Room::lobby(), 1000));
        let mut readers: Vec<_> = (0..3)
            .map(|_| Box::pin(hub.subscribe(None, 0, ANY)))
            .collect();
        let publishers: Vec<_> = (0..4)
            .map(|_| {
                let hub = Arc::clone(&hub);
                std::thread::spawn(move || {
                    (0..100).map(|_| hub.publish("p", "x")).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut given: Vec<u64> = publishers
            .into_iter()
            .flat_map(|p| p.join().expect("publisher thread"))
            .collect();
        given.sort_unstable();
        assert_eq!(given, (1..=400).collect::<Vec<_>>());
        for reader in &mut readers {
            assert_eq!(ids(reader, 400).await, given);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn appended_ids_are_kept_as_given_and_duplicates_are_ignored() {
        let hub = Arc::new(Hub::new(Room::lobby(), 100));
        let time = "2026-11-26T10:00:00.000Z";
        assert_eq!(hub.append(1, "ann", "a", time), Appended::Next);
        assert_eq!(hub.append(2, "bob", "b", time), Appended::Next);
        assert_eq!(hub.append(2, "bob", "b", time), Appended::Duplicate);
        assert_eq!(hub.append(1, "ann", "a", time), Appended::Duplicate);
        let mut stream = pin!(hub.subscribe(Some(0), 10, ANY));
        let (_, id, data) = next(&mut stream).await;
        assert_eq!((id, data["time"].as_str()), (Some(1), Some(time)));
        assert_eq!(ids(&mut stream, 1).await, [2]);
        assert!(is_quiet(&mut stream).await, "the duplicates were not sent");
    }

    #[tokio::test(start_paused = true)]
    async fn a_gap_in_appended_ids_is_told_as_lagged() {
        let hub = Arc::new(Hub::new(Room::lobby(), 100));
        hub.append(1, "ann", "a", "t");
        let mut stream = pin!(hub.subscribe(Some(1), 10, ANY));
        assert!(is_quiet(&mut stream).await);
        // 2 to 4 left the shared log before this server read them.
        assert_eq!(hub.append(5, "ann", "e", "t"), Appended::AfterGap);
        let (name, _, data) = next(&mut stream).await;
        assert_eq!(
            (name.as_str(), data["missed"].as_u64()),
            ("lagged", Some(3))
        );
        assert_eq!(ids(&mut stream, 1).await, [5]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cursor_above_the_newest_waits_for_what_follows_it() {
        let hub = Arc::new(Hub::new(Room::lobby(), 100));
        hub.append(1, "ann", "a", "t");
        // Another instance gave out id 3; this hub has not been handed 2 and 3 yet.
        let mut stream = pin!(hub.subscribe_after(3, ANY));
        assert!(is_quiet(&mut stream).await);
        hub.append(2, "ann", "b", "t");
        hub.append(3, "ann", "c", "t");
        assert!(is_quiet(&mut stream).await, "2 and 3 were seen elsewhere");
        hub.append(4, "ann", "d", "t");
        assert_eq!(ids(&mut stream, 1).await, [4]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_restart_tells_every_subscriber_once_and_ids_start_again() {
        let hub = Arc::new(Hub::new(Room::lobby(), 100));
        publish(&hub, 5);
        let mut caught_up = pin!(hub.subscribe(Some(5), 10, ANY));
        let mut behind = pin!(hub.subscribe(Some(2), 10, ANY));
        assert_eq!(ids(&mut behind, 1).await, [3]);
        assert!(is_quiet(&mut caught_up).await);
        hub.restart();
        hub.append(1, "bob", "new", "t");
        let (name, _, data) = next(&mut caught_up).await;
        assert_eq!(
            (name.as_str(), data["missed"].as_u64()),
            ("lagged", Some(0))
        );
        assert_eq!(ids(&mut caught_up, 1).await, [1]);
        // What the last visit already copied out still comes first; then the notice.
        assert_eq!(ids(&mut behind, 2).await, [4, 5]);
        let (name, _, _) = next(&mut behind).await;
        assert_eq!(name, "lagged");
        assert_eq!(ids(&mut behind, 1).await, [1]);
        assert!(is_quiet(&mut behind).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_replay_sends_at_most_its_byte_budget_then_lagged_counts_the_rest() {
        let hub = Arc::new(Hub::new(Room::lobby(), 100));
        publish(&hub, 50);
        let size = hub.read_log().messages[49].len();
        // Room for the newest three messages and part of a fourth.
        let budget = size * 3 + size / 2;
        let mut resumed = pin!(hub.subscribe(Some(0), 10, budget));
        let (name, _, data) = next(&mut resumed).await;
        assert_eq!(
            (name.as_str(), data["missed"].as_u64()),
            ("lagged", Some(47))
        );
        assert_eq!(ids(&mut resumed, 3).await, [48, 49, 50]);
        let mut history = pin!(hub.subscribe(None, 10, budget));
        let (name, _, data) = next(&mut history).await;
        assert_eq!(
            (name.as_str(), data["missed"].as_u64()),
            ("lagged", Some(7))
        );
        assert_eq!(ids(&mut history, 3).await, [48, 49, 50]);
        hub.publish("ann", "live messages are not part of the replay");
        assert_eq!(ids(&mut history, 1).await, [51]);
        let mut within = pin!(hub.subscribe(None, 3, budget));
        assert_eq!(
            ids(&mut within, 3).await,
            [49, 50, 51],
            "no lagged when all fits"
        );
    }
}
