//! One followed room's reader: a task (not a connection) that copies the room's Redis stream
//! into the room's hub while someone on this server follows the room. It reads what follows
//! the last id it has each time the room's channel says there is something new, and once a
//! second in case a hint was lost (see [`redis_log`]).

use std::sync::Arc;
use std::time::Duration;

use redis::streams::{StreamId, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, RedisResult};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::hub::{Appended, Hub};
use crate::redis_conn::{Connection, timed};
use crate::redis_log::{self, RedisLog, newest_id, sequence, stream_key};
use crate::room::Room;

/// How often a reader reads its room with no hint, in case one was lost.
const POLL: Duration = Duration::from_secs(1);

/// How long a reader with no subscriber left goes on, in case one comes back (a page that
/// changes its rooms reconnects at once).
const LINGER: Duration = Duration::from_secs(5);

/// Entries read per round trip.
const READ_COUNT: usize = 256;

/// One followed room's reader task: reads the room's stream into its hub while someone here
/// follows the room.
pub struct RoomReader {
    log: RedisLog,
    room: Room,
    key: String,
    hub: Arc<Hub>,
    /// Woken by the room's channel.
    wake: Arc<Notify>,
    /// Set once the stream has been read as far as it went when the reader started.
    synced: watch::Sender<bool>,
    /// The id of the last entry appended to the hub.
    last: u64,
    /// `disconnects` when the stream was last checked for going back.
    checked_disconnects: u64,
}

impl RoomReader {
    /// A reader of `room` into `hub`, from the hub's newest message.
    pub(crate) fn new(
        log: RedisLog,
        room: &Room,
        hub: Arc<Hub>,
        wake: Arc<Notify>,
        synced: watch::Sender<bool>,
    ) -> Self {
        Self {
            log,
            room: room.clone(),
            key: stream_key(room),
            last: hub.newest_id(),
            hub,
            wake,
            synced,
            // A hub that held messages before: check its stream first.
            checked_disconnects: u64::MAX,
        }
    }

    /// Reads until nobody here has followed the room for [`LINGER`] (the lobby: until shutdown).
    pub(crate) async fn run(mut self) {
        let mut subscribed = false;
        let mut renewed: Option<Instant> = None;
        let mut unused_since: Option<Instant> = None;
        loop {
            let Some(mut connection) = self.log.connection() else {
                self.log.connected().await;
                continue;
            };
            if !subscribed {
                subscribed = connection.subscribe(&self.key).await.is_ok();
            }
            match self.read(&mut connection).await {
                Ok(()) => {
                    self.synced.send_replace(true);
                }
                Err(error) => {
                    tracing::debug!(room = %self.room, %error, "room read failed; retrying");
                }
            }
            let idle = self.log.rooms().limits().idle;
            if renewed.is_none_or(|at| at.elapsed() >= idle / 4) {
                renewed = Some(Instant::now());
                self.renew(&mut connection, idle).await;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
            // Held by the registry and by this task only: nobody here follows the room. The
            // lobby is always followed.
            if !self.room.is_lobby() && Arc::strong_count(&self.hub) <= 2 {
                let since = *unused_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= LINGER && self.log.forget_reader(&self.room, &self.hub) {
                    if let Some(mut connection) = self.log.connection() {
                        let _ = connection.unsubscribe(&self.key).await;
                    }
                    return;
                }
            } else {
                unused_since = None;
            }
        }
    }

    /// Appends every entry after `last` to the hub; first, after a lost connection, checks that
    /// the stream did not go back (Redis restarted empty).
    async fn read(&mut self, connection: &mut Connection) -> RedisResult<()> {
        let disconnects = self.log.disconnects();
        if disconnects != self.checked_disconnects && self.last > 0 {
            let newest = timed(newest_id(connection, &self.key)).await?;
            if newest < self.last {
                tracing::error!(
                    room = %self.room,
                    "the room's Redis stream went back from id {} to {newest} (Redis restarted \
                     empty?): its subscribers are told they lagged, and ids start again",
                    self.last
                );
                self.hub.restart();
                self.last = 0;
            }
        }
        self.checked_disconnects = disconnects;
        let options = StreamReadOptions::default().count(READ_COUNT);
        loop {
            let (keys, after) = ([&self.key], [format!("0-{}", self.last)]);
            let read = connection.xread_options(&keys, &after, &options);
            let reply: Option<StreamReadReply> = timed(read).await?;
            let entries: Vec<StreamId> = reply
                .into_iter()
                .flat_map(|r| r.keys)
                .flat_map(|k| k.ids)
                .collect();
            let full = entries.len() == READ_COUNT;
            for entry in &entries {
                self.append(entry);
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn append(&mut self, entry: &StreamId) {
        let Some(id) = sequence(&entry.id) else {
            tracing::warn!(id = entry.id, "skipped a chat entry whose id is not 0-n");
            return;
        };
        let field = |name| entry.get::<String>(name).unwrap_or_default();
        let (user, text, time) = (field("user"), field("text"), field("time"));
        if self.hub.append(id, &user, &text, &time) == Appended::AfterGap && self.last > 0 {
            tracing::warn!(
                room = %self.room,
                "chat ids {}..{id} left the Redis stream before this server read them",
                self.last + 1
            );
        }
        self.last = id;
    }

    /// Keeps a followed room alive in Redis: its stream's expiry and its place in `sse:rooms`.
    async fn renew(&self, connection: &mut Connection, idle: Duration) {
        if !self.room.is_lobby() {
            let expire = connection.pexpire::<_, i64>(&self.key, idle.as_millis() as i64);
            let _ = timed(expire).await;
        }
        let max = self.log.rooms().limits().max_rooms;
        let _ = timed(redis_log::register(connection, &self.room, idle, max, true)).await;
    }
}
