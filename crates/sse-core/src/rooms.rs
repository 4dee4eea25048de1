//! The rooms of one server process: a [`Hub`] per room, made when a room is first posted to
//! or followed, and dropped when it has been idle long enough. Bounded, because any client can
//! name a new room.
//!
//! - **At most `--max-rooms` (1000) rooms hold messages.** A post to a room with none past that
//!   is refused (`507`, see [`chat`](crate::chat)) rather than grow memory without end. Each
//!   room holds at most `--history` messages, so the chat's memory is at most
//!   `max_rooms × history` messages.
//! - **A room nobody follows and nobody posts to for `--room-idle-secs` (600) leaves memory,
//!   with its history**: it is dropped on the next chat request after that, and a post to it
//!   later starts it again from id 1. The [`LOBBY`](crate::room::LOBBY) never leaves.
//! - A room followed before anyone posts to it is an empty hub (a few hundred bytes) that does
//!   not count as a room until its first message: it is held by streams, which
//!   `--max-streams` and the 16 rooms a stream may follow already bound.
//!
//! With `--redis` the same registry holds the local mirrors of the rooms followed on this
//! server, and Redis counts the rooms (see [`redis_log`](crate::redis_log)).
//!
//! Tested with paused time by `cargo test -p sse-core rooms`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::time::Instant;

use crate::hub::Hub;
use crate::room::Room;

/// How often idle rooms are looked for, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Why a post to a new room was refused: `--max-rooms` rooms hold messages already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full {
    /// `--max-rooms`.
    pub max_rooms: usize,
}

/// The limits of the rooms, from the options.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `--history`: messages kept per room.
    pub history: usize,
    /// `--max-rooms`.
    pub max_rooms: usize,
    /// `--room-idle-secs`.
    pub idle: Duration,
}

/// Every room's hub in this process. Cheap to share in an [`Arc`]; every method takes `&self`.
pub struct Rooms {
    limits: Limits,
    hubs: Mutex<Hubs>,
    /// Shared by every room's hub, for `/metrics`.
    published: Counter,
    lagged: Counter,
}

struct Hubs {
    by_room: HashMap<Room, Arc<Hub>>,
    swept: Instant,
}

impl Rooms {
    /// The lobby alone.
    pub fn new(limits: Limits) -> Self {
        let rooms = Self {
            limits,
            hubs: Mutex::new(Hubs {
                by_room: HashMap::new(),
                swept: Instant::now(),
            }),
            published: Counter::default(),
            lagged: Counter::default(),
        };
        rooms.follow(&Room::lobby());
        rooms
    }

    /// The counters of messages published and `lagged` notices sent, in every room.
    pub fn counters(&self) -> (Counter, Counter) {
        (self.published.clone(), self.lagged.clone())
    }

    /// Counts a message written to the shared log (Redis), for `/metrics`: a hub counts the
    /// messages it gives ids to itself.
    pub fn count_published(&self) {
        self.published.inc();
    }

    /// The limits the rooms were made with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// `room`'s hub, if it is in memory.
    pub fn get(&self, room: &Room) -> Option<Arc<Hub>> {
        self.lock().by_room.get(room).cloned()
    }

    /// `room`'s hub, made empty if it is not in memory: for a stream that follows it.
    pub fn follow(&self, room: &Room) -> Arc<Hub> {
        let mut hubs = self.lock();
        self.sweep(&mut hubs);
        let hub = hubs
            .by_room
            .entry(room.clone())
            .or_insert_with(|| self.new_hub(room));
        Arc::clone(hub)
    }

    /// `room`'s hub, for a post: made if needed, unless it would be a room with messages past
    /// `--max-rooms`.
    pub fn for_post(&self, room: &Room) -> Result<Arc<Hub>, Full> {
        let mut hubs = self.lock();
        self.sweep(&mut hubs);
        if let Some(hub) = hubs.by_room.get(room)
            && hub.newest_id() > 0
        {
            return Ok(Arc::clone(hub));
        }
        let holding = hubs.by_room.values().filter(|h| h.newest_id() > 0).count();
        if holding >= self.limits.max_rooms {
            return Err(Full {
                max_rooms: self.limits.max_rooms,
            });
        }
        let hub = hubs
            .by_room
            .entry(room.clone())
            .or_insert_with(|| self.new_hub(room));
        Ok(Arc::clone(hub))
    }

    /// Rooms in memory now, for `/metrics`.
    pub fn len(&self) -> usize {
        self.lock().by_room.len()
    }

    /// Whether no room is in memory (never: the lobby is).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn new_hub(&self, room: &Room) -> Arc<Hub> {
        let (published, lagged) = self.counters();
        let history = self.limits.history;
        Arc::new(Hub::with_counters(room.clone(), history, published, lagged))
    }

    /// Drops the rooms (not the lobby) that no stream holds and that got no message for
    /// `--room-idle-secs`; at most once a second.
    fn sweep(&self, hubs: &mut Hubs) {
        let now = Instant::now();
        if now < hubs.swept + SWEEP_EVERY {
            return;
        }
        hubs.swept = now;
        let idle = self.limits.idle;
        hubs.by_room.retain(|room, hub| {
            // Held only here: no stream follows it, and no post is on its way to it.
            let followed = Arc::strong_count(hub) > 1;
            room.is_lobby() || followed || now < hub.touched() + idle
        });
    }

    fn lock(&self) -> MutexGuard<'_, Hubs> {
        // Each change is one insert or one `retain`: a panic elsewhere leaves the map whole.
        self.hubs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> Room {
        Room::parse(name).expect("a room name")
    }

    fn rooms(max_rooms: usize) -> Rooms {
        Rooms::new(Limits {
            history: 10,
            max_rooms,
            idle: Duration::from_secs(60),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn each_room_has_its_own_hub_and_ids() {
        let rooms = rooms(10);
        let news = rooms.for_post(&room("news")).expect("room for news");
        assert_eq!(news.publish("ann", "a"), 1);
        assert_eq!(news.publish("ann", "b"), 2);
        let lobby = rooms.for_post(&Room::lobby()).expect("the lobby");
        assert_eq!(lobby.publish("bob", "c"), 1, "ids are per room");
        assert!(Arc::ptr_eq(&news, &rooms.follow(&room("news"))));
        assert_eq!(rooms.len(), 2);
        assert_eq!(rooms.published.get(), 3, "one counter for every room");
    }

    #[tokio::test(start_paused = true)]
    async fn past_max_rooms_a_new_room_is_refused_until_one_is_idle() {
        let rooms = rooms(3);
        // The lobby is one of the three once it holds a message.
        rooms
            .for_post(&Room::lobby())
            .expect("lobby")
            .publish("a", "x");
        for name in ["r1", "r2"] {
            rooms.for_post(&room(name)).expect("room").publish("a", "x");
        }
        assert_eq!(
            rooms.for_post(&room("r3")).err(),
            Some(Full { max_rooms: 3 })
        );
        assert!(
            rooms.for_post(&room("r1")).is_ok(),
            "an existing room takes posts"
        );
        // Followed but never posted to: not a room yet, and not refused.
        let followed = rooms.follow(&room("quiet"));
        tokio::time::advance(Duration::from_secs(61)).await;
        // r1 and r2 were idle for a minute: they left, with their history.
        let r3 = rooms.for_post(&room("r3")).expect("room for r3 now");
        r3.publish("a", "x");
        assert!(rooms.get(&room("r1")).is_none() && rooms.get(&room("r2")).is_none());
        assert!(
            rooms.get(&Room::lobby()).is_some(),
            "the lobby never leaves"
        );
        assert!(rooms.get(&room("quiet")).is_some(), "a followed room stays");
        drop(followed);
        let r1 = rooms.for_post(&room("r1")).expect("r1 again");
        assert_eq!(
            r1.publish("a", "x"),
            1,
            "a room that left starts again at 1"
        );
    }
}
