//! The chat's rooms in Redis: one stream per room, on one Redis (`--redis URL`) or spread over a
//! Redis Cluster (`--redis-cluster URL[,URL...]`), shared by every instance of every framework.
//!
//! ```text
//!  POST /chat/news ──EVAL: XADD + PUBLISH──▶ stream sse:chat:{news} (on the master of its slot)
//!                                               │ ids 0-1, 0-2, ...
//!        the message's channel, sse:chat:{news} │ a hint: "news has something new"
//!                                               ▼
//!  each instance that has a subscriber to news: XREAD after the last id it read ──▶ Hub "news"
//!                                                              subscribers (cursors) ◀──┘
//! ```
//!
//! - **Keys.** Room `news` is the stream `sse:chat:{news}`. The braces are a hash tag: the key's
//!   slot is that of `news` alone, so a room lives on one master, and the stream and its channel
//!   are always on the same one. A room never spans masters; a room is as big as one master.
//! - **Ids.** `XADD ... 0-*` asks for the next entry id with a time part of 0: `0-1`, `0-2`, ...
//!   The sequence number *is* the room's chat id, one sequence across all instances. The stream is
//!   trimmed to `--history`.
//! - **How an instance follows its rooms.** A cluster refuses a read that spans slots
//!   (CROSSSLOT), so one blocking `XREAD` over every room cannot be sent; a blocking read per room
//!   would hold a connection per room. Instead a post publishes, in the same script as its
//!   `XADD`, an empty message on the room's channel (sharded pub/sub on a cluster, which stays on
//!   the room's master; plain pub/sub on one Redis). Each instance subscribes to the channels of
//!   the rooms someone on it follows, and a message wakes that room's reader, a task (not a
//!   connection: [`RoomReader`]), which reads the stream after the last id it has, without
//!   blocking. All of it goes over one multiplexed connection per instance, whatever the number
//!   of subscribers and rooms. The hint carries nothing: a lost one (during a reconnection) is
//!   made up by a read every second, so the stream, not the channel, decides what is delivered,
//!   and nothing is missed or repeated.
//! - **Bounded.** At most `--max-rooms` rooms exist per Redis: the sorted set `sse:rooms` holds
//!   each room with the time of its last post or follow, and a script refuses a new room once it
//!   holds `--max-rooms` rooms active in the last `--room-idle-secs`. A room's stream expires
//!   after `--room-idle-secs` without a post, unless an instance follows it (its reader renews
//!   the expiry); the lobby's never does. A room that expired starts again at id 1.
//! - **A post answers once this process has it**, when someone here follows its room: a client
//!   that posts and then opens a stream here finds its message in the history.
//! - **A master that goes away.** Posts to its rooms get 503 with `Retry-After`; streams on its
//!   rooms stay open (keep-alive goes on) and their readers retry every second, then go on from
//!   the last id they read: no gap, no duplicate. Every other room goes on untouched: each room
//!   has its own reader. A new room whose registration cannot be written (the master of
//!   `sse:rooms` is away) is refused with 503 too; a room whose stream exists is not.
//!   `/health` and `/metrics` tell which nodes answer (see [`redis_status`]).
//! - **Redis restarted empty.** A reader that finds its room's stream newest id below the last one
//!   it read restarts the hub: each subscriber gets one `lagged`, and goes on with the new
//!   stream's messages.
//!
//! A cluster must be started with `cluster-require-full-coverage no`, or one master away stops
//! every room (see the chapter "Running more than one").
//!
//! Tested against a real `redis-server` by the contract suite (`--redis`), and against a real
//! three-master cluster by `crates/cluster-tests`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::streams::StreamRangeReply;
use redis::{AsyncCommands, PushInfo, PushKind, RedisResult, Script, Value};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::chat_log::{Follow, NotPublished};
use crate::hub::{self, Hub};
use crate::redis_conn::{COMMAND_TIMEOUT, Connection, Target, timed};
use crate::redis_status::{self, Status};
use crate::room::Room;
use crate::room_reader::RoomReader;
use crate::rooms::{Full, Rooms};

/// What a refused post tells the client to wait, in seconds (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;

/// The sorted set of the rooms that exist, scored by the time of their last post (ms).
pub const ROOMS_KEY: &str = "sse:rooms";

/// The key of `room`'s stream, which is also the name of its channel.
pub fn stream_key(room: &Room) -> String {
    format!("sse:chat:{{{room}}}")
}

/// The room whose stream (and channel) is `key`, if it is one: the inverse of [`stream_key`].
pub fn room_of_key(key: &[u8]) -> Option<Room> {
    let name = key.strip_prefix(b"sse:chat:{")?.strip_suffix(b"}")?;
    Room::parse(std::str::from_utf8(name).ok()?)
}

/// `XADD` and the hint on the room's channel, in one script: one round trip, and no hint for
/// an entry that was not added. `ARGV`: maxlen, user, text, time, expiry in ms (0: none), and
/// the publish command (`PUBLISH` or `SPUBLISH`).
const ADD: &str = r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '0-*',
                      'user', ARGV[2], 'text', ARGV[3], 'time', ARGV[4])
if tonumber(ARGV[5]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
redis.call(ARGV[6], KEYS[1], '')
return id
";

/// Registers a room in `sse:rooms` (refreshing its time), unless it is new and `max` rooms were
/// active within the idle time; 1 if registered, else 0. With `refresh` set, only refreshes.
/// `ARGV`: idle ms, max, room, refresh (0 or 1). Redis's clock, so instances agree.
const REGISTER: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
local known = redis.call('ZSCORE', KEYS[1], ARGV[3])
if known or (ARGV[4] == '0' and redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2])) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  return 1
end
return 0
";

/// The chat in Redis: the connection, the local hubs, and the readers of the followed rooms.
/// Cheap to clone.
#[derive(Clone)]
pub struct RedisLog {
    shared: Arc<Shared>,
}

struct Shared {
    target: Target,
    rooms: Arc<Rooms>,
    /// `None` until the first connection; redis-rs reconnects it after that.
    connection: watch::Sender<Option<Connection>>,
    /// The reader of each room followed here, shared with the pub/sub callback.
    readers: Arc<Mutex<HashMap<Room, Arc<Reader>>>>,
    /// Bumped on every lost connection: each reader then checks its stream did not go back.
    disconnects: Arc<AtomicU64>,
    /// Rooms this instance registered in `sse:rooms`, and when.
    registered: Mutex<HashMap<Room, Instant>>,
    status: Arc<Status>,
    shutdown: CancellationToken,
}

/// One followed room's reader, as the others see it.
struct Reader {
    /// Woken by the room's channel.
    wake: Arc<Notify>,
    /// True once the reader has read the stream as far as it went when it started.
    synced: watch::Sender<bool>,
}

impl RedisLog {
    /// Starts connecting to `target` (in the background: an unreachable Redis is waited for)
    /// and watching its nodes, until `shutdown`.
    pub fn start(target: Target, rooms: Arc<Rooms>, shutdown: CancellationToken) -> Self {
        let shared = Arc::new(Shared {
            target,
            rooms,
            connection: watch::Sender::new(None),
            readers: Arc::new(Mutex::new(HashMap::new())),
            disconnects: Arc::new(AtomicU64::new(0)),
            registered: Mutex::new(HashMap::new()),
            status: Arc::new(Status::default()),
            shutdown,
        });
        let log = Self { shared };
        // The lobby is always followed (its reader never stops): `POST /chat` and
        // `GET /events/chat` behave exactly as before rooms, with the lobby read from the start.
        log.follow(&Room::lobby());
        let connecting = log.clone();
        tokio::spawn(async move {
            let shutdown = connecting.shared.shutdown.clone();
            tokio::select! {
                () = connecting.connect_and_watch() => {}
                () = shutdown.cancelled() => {}
            }
        });
        log
    }

    /// The local hubs.
    pub fn rooms(&self) -> &Arc<Rooms> {
        &self.shared.rooms
    }

    /// Shared with `/health` and `/metrics`.
    pub fn status(&self) -> &Arc<Status> {
        &self.shared.status
    }

    /// `"redis"` or `"redis-cluster"`, for `/health`.
    pub fn kind(&self) -> &'static str {
        match self.shared.target {
            Target::Single(_) => "redis",
            Target::Cluster(_) => "redis-cluster",
        }
    }

    /// Resolves once the lobby has been read from its stream, or after 2 s (Redis down at
    /// start): a server waits for it before it accepts connections, so that it never serves a
    /// half-read lobby.
    pub async fn ready(&self) {
        let (_, mut synced) = self.follow(&Room::lobby());
        let _ = tokio::time::timeout(COMMAND_TIMEOUT, synced.wait_for(|s| *s)).await;
    }

    /// The connection, if there has been one: redis-rs reconnects it by itself after that.
    pub(crate) fn connection(&self) -> Option<Connection> {
        self.shared.connection.borrow().clone()
    }

    /// Resolves once there is a connection.
    pub(crate) async fn connected(&self) {
        let mut connection = self.shared.connection.subscribe();
        let _ = connection.wait_for(Option::is_some).await;
    }

    /// How many times a connection was lost so far.
    pub(crate) fn disconnects(&self) -> u64 {
        self.shared.disconnects.load(Ordering::Relaxed)
    }

    /// Removes `room`'s reader, unless a stream started following the room meanwhile (`hub`
    /// is then held by more than the registry and the reader).
    pub(crate) fn forget_reader(&self, room: &Room, hub: &Arc<Hub>) -> bool {
        let mut readers = lock(&self.shared.readers);
        if Arc::strong_count(hub) > 2 {
            return false;
        }
        readers.remove(room);
        true
    }

    /// Connects with back-off, then checks every node each second.
    async fn connect_and_watch(&self) {
        let mut backoff = Duration::from_millis(100);
        let connection = loop {
            let readers = Arc::clone(&self.shared.readers);
            let disconnects = Arc::clone(&self.shared.disconnects);
            let on_push = move |push: PushInfo| on_push(&readers, &disconnects, push);
            match Connection::connect(&self.shared.target, on_push).await {
                Ok(connection) => break connection,
                Err(error) => {
                    if backoff == Duration::from_millis(100) {
                        tracing::error!(
                            "redis unreachable ({error}): chat posts get 503; retrying"
                        );
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        };
        tracing::info!(
            "chat rooms: Redis streams sse:chat:{{room}} ({})",
            self.kind()
        );
        self.shared
            .connection
            .send_replace(Some(connection.clone()));
        let nodes = self.shared.target.first_nodes();
        redis_status::watch_nodes(connection, nodes, &self.shared.status).await;
    }

    /// `room`'s hub, and its reader started if nobody here followed the room yet.
    fn follow(&self, room: &Room) -> (Arc<Hub>, watch::Receiver<bool>) {
        let hub = self.shared.rooms.follow(room);
        let mut readers = lock(&self.shared.readers);
        if let Some(reader) = readers.get(room) {
            return (hub, reader.synced.subscribe());
        }
        let reader = Arc::new(Reader {
            wake: Arc::new(Notify::new()),
            synced: watch::Sender::new(false),
        });
        readers.insert(room.clone(), Arc::clone(&reader));
        let synced = reader.synced.subscribe();
        let task = RoomReader::new(
            self.clone(),
            room,
            Arc::clone(&hub),
            reader.wake.clone(),
            reader.synced.clone(),
        );
        let shutdown = self.shared.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = task.run() => {}
                () = shutdown.cancelled() => {}
            }
        });
        (hub, synced)
    }

    /// Where each room of `follow` starts: its reader synced first (at once for a room read
    /// here already, else at most 2 s), then its position, if the stream gave it out, else its
    /// `history`.
    pub async fn starts(&self, follow: Follow) -> Vec<(Arc<Hub>, u64)> {
        let mut starts = Vec::with_capacity(follow.rooms.len());
        // Every room's reader starts at once; they are waited for together, 2 s at most in all.
        let followed: Vec<_> = follow.rooms.iter().map(|room| self.follow(room)).collect();
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        for ((room, position), (hub, mut synced)) in
            follow.rooms.iter().zip(follow.positions).zip(followed)
        {
            let _ = tokio::time::timeout_at(deadline, synced.wait_for(|s| *s)).await;
            let start = match position {
                // Perhaps given out by another instance a moment ago: ask the stream.
                Some(id) if id > hub.newest_id() => match self.newest_id(room).await {
                    Some(newest) if id > newest => hub.start(None, follow.history),
                    // Given out, or Redis cannot say: trust the browser, whose id came from
                    // some instance. The reader brings what follows.
                    _ => id,
                },
                position => hub.start(position, follow.history),
            };
            starts.push((hub, start));
        }
        starts
    }

    /// The newest id of `room`'s stream, if Redis answers.
    async fn newest_id(&self, room: &Room) -> Option<u64> {
        let mut connection = self.connection()?;
        let key = stream_key(room);
        timed(newest_id(&mut connection, &key)).await.ok()
    }

    /// Adds a message to `room`'s stream; Redis gives the id.
    pub async fn publish(&self, room: &Room, user: &str, text: &str) -> Result<u64, NotPublished> {
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::debug!(error = %e, "chat post refused: Redis did not take it");
            NotPublished::Unavailable(format!("the chat store (Redis) is unavailable: {e}"))
        };
        let Some(mut connection) = self.connection() else {
            return Err(unavailable(&"not connected yet"));
        };
        self.register(room, &mut connection).await?;
        let limits = self.shared.rooms.limits();
        let expiry = if room.is_lobby() {
            0
        } else {
            limits.idle.as_millis()
        };
        let script = Script::new(ADD);
        let mut invocation = script.key(stream_key(room));
        let time = hub::now();
        invocation
            .arg(limits.history)
            .arg(user)
            .arg(text)
            .arg(&time)
            .arg(expiry as u64)
            .arg(connection.publish_command());
        let mut added = timed(invocation.invoke_async::<String>(&mut connection)).await;
        // A connection Redis dropped (it restarted) fails on first use, before the command
        // reaches the new Redis: redis-rs reconnects, and one more try goes through.
        if added.as_ref().is_err_and(|e| e.is_connection_dropped()) {
            added = timed(invocation.invoke_async::<String>(&mut connection)).await;
        }
        let id = added.map_err(|e| unavailable(&e))?;
        let id = sequence(&id).ok_or_else(|| {
            NotPublished::Unavailable(format!("the chat stream holds an id that is not 0-n: {id}"))
        })?;
        let rooms = &self.shared.rooms;
        rooms.count_published();
        // Someone here follows the room: answer once its reader has the message too.
        if lock(&self.shared.readers).contains_key(room)
            && let Some(hub) = rooms.get(room)
        {
            let _ = tokio::time::timeout(COMMAND_TIMEOUT, hub.until_has(id)).await;
        }
        Ok(id)
    }

    /// Makes sure `room` is counted in `sse:rooms`, once every quarter of `--room-idle-secs`
    /// per instance: refused past `--max-rooms`.
    async fn register(&self, room: &Room, connection: &mut Connection) -> Result<(), NotPublished> {
        let limits = self.shared.rooms.limits();
        let fresh = |at: &Instant| at.elapsed() < limits.idle / 4;
        if lock(&self.shared.registered).get(room).is_some_and(fresh) {
            return Ok(());
        }
        match timed(register(
            connection,
            room,
            limits.idle,
            limits.max_rooms,
            false,
        ))
        .await
        {
            Ok(true) => {
                let mut registered = lock(&self.shared.registered);
                if registered.len() >= limits.max_rooms.saturating_mul(2) {
                    registered.retain(|_, at| fresh(at));
                }
                registered.insert(room.clone(), Instant::now());
                Ok(())
            }
            Ok(false) => Err(NotPublished::Full(Full {
                max_rooms: limits.max_rooms,
            })),
            // The master of `sse:rooms` is away: a room whose stream exists was counted already.
            Err(error) => {
                let exists = timed(connection.exists::<_, bool>(stream_key(room))).await;
                match exists {
                    Ok(true) => Ok(()),
                    _ => Err(NotPublished::Unavailable(format!(
                        "the room registry (Redis) is unavailable: {error}"
                    ))),
                }
            }
        }
    }
}

/// The pub/sub callback: a message on a room's channel wakes its reader; a lost connection
/// makes every reader check its stream.
fn on_push(readers: &Mutex<HashMap<Room, Arc<Reader>>>, disconnects: &AtomicU64, push: PushInfo) {
    match push.kind {
        PushKind::Message | PushKind::SMessage => {
            let room = match push.data.first() {
                Some(Value::BulkString(channel)) => room_of_key(channel),
                _ => None,
            };
            if let Some(reader) = room.and_then(|room| lock(readers).get(&room).cloned()) {
                reader.wake.notify_one();
            }
        }
        PushKind::Disconnection => {
            disconnects.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
}

/// Runs the registration script: see [`REGISTER`].
pub(crate) async fn register(
    connection: &mut Connection,
    room: &Room,
    idle: Duration,
    max_rooms: usize,
    refresh_only: bool,
) -> RedisResult<bool> {
    let script = Script::new(REGISTER);
    let mut invocation = script.key(ROOMS_KEY);
    invocation
        .arg(idle.as_millis() as u64)
        .arg(max_rooms)
        .arg(room.as_str())
        .arg(u8::from(refresh_only));
    let registered: i64 = invocation.invoke_async(connection).await?;
    Ok(registered == 1)
}

/// The newest id a stream holds, 0 when it is empty or absent.
pub(crate) async fn newest_id(connection: &mut Connection, key: &str) -> RedisResult<u64> {
    let newest: StreamRangeReply = connection.xrevrange_count(key, "+", "-", 1).await?;
    Ok(newest
        .ids
        .first()
        .and_then(|entry| sequence(&entry.id))
        .unwrap_or(0))
}

/// `0-n` → n: the chat id of a stream entry id.
pub(crate) fn sequence(id: &str) -> Option<u64> {
    id.strip_prefix("0-")?.parse().ok()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each change is one insert or removal: a panic elsewhere leaves the map whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_with_a_zero_time_are_chat_ids() {
        assert_eq!(sequence("0-1"), Some(1));
        assert_eq!(sequence("0-18446744073709551615"), Some(u64::MAX));
        assert_eq!(sequence("1700000000000-0"), None);
        assert_eq!(sequence("0-x"), None);
    }

    #[test]
    fn a_room_s_key_is_hash_tagged_by_its_name() {
        let news = Room::parse("news").expect("a room");
        assert_eq!(stream_key(&news), "sse:chat:{news}");
        assert_eq!(room_of_key(stream_key(&news).as_bytes()), Some(news));
        for other in [
            &b"sse:chat:{News}"[..],
            b"sse:chat:news",
            b"other:{news}",
            b"sse:rooms",
        ] {
            assert_eq!(room_of_key(other), None, "{other:?}");
        }
    }
}
