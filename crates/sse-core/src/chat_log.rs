//! Where the chat log lives: in this process (the [`Hub`] alone), or, with `--redis URL`, in a
//! Redis stream that every instance of every framework shares, so that any number of servers
//! behind a load balancer are one chat room.
//!
//! With Redis, the hub stays exactly as it is and becomes the stream's local mirror:
//!
//! ```text
//!  POST /chat ──XADD──▶ Redis stream "sse:chat" ──XREAD BLOCK (one reader per process)──▶ Hub
//!                         ids 0-1, 0-2, ...                                                │
//!                                                                  subscribers (cursors) ◀─┘
//! ```
//!
//! - **Ids.** `XADD sse:chat 0-* ...` asks Redis for the next entry id with a time part of 0, so
//!   the ids are `0-1`, `0-2`, ...: the sequence number *is* the chat id, one sequence across all
//!   instances, and `Last-Event-ID` works unchanged. The stream is trimmed to `--history`.
//! - **One reader per process**, on its own connection (a blocking read holds its connection),
//!   appends what the stream holds to the hub in the stream's order. It starts from the
//!   beginning of the stream, so the local log reaches back as far as Redis keeps, and the
//!   server accepts connections once it has (at most 2 s). Each message is encoded once per
//!   process; slow subscribers and `lagged` work as without Redis.
//! - **A post answers once this process has it**: `POST /chat` returns its 201 when the reader
//!   has brought the message (a moment), so a client that posts and then subscribes here finds
//!   it in the history.
//! - **Redis unreachable.** `POST /chat` answers 503 with `Retry-After`; open streams stay open
//!   (keep-alive goes on); the reader retries with back-off, logs the outage once and its end
//!   once, and goes on from the last id it read: no gap, no duplicate.
//! - **Redis restarted empty.** The reader, reconnecting, finds the stream's newest id below the
//!   last one it read. It logs it and restarts the hub: every subscriber gets one `lagged`
//!   and goes on with the new stream's messages, rather than waiting forever for ids that the
//!   new stream will only reach much later.
//!
//! Tested against a real `redis-server` by the contract suite (`--redis`) and the cluster tests
//! in `crates/cluster-tests`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use prometheus_client::metrics::counter::Counter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::{
    StreamId, StreamMaxlen, StreamRangeReply, StreamReadOptions, StreamReadReply,
};
use redis::{AsyncCommands, AsyncConnectionConfig, Client, RedisResult};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::hub::{self, Appended, Hub};

/// The Redis key of the chat stream.
pub const STREAM_KEY: &str = "sse:chat";

/// How long a `POST /chat` waits for Redis before answering 503.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// What a refused post tells the client to wait, in seconds (`Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;

/// How long one blocking read waits for new entries before asking again. The connection's
/// response timeout is a little longer, so a Redis that stops answering is noticed.
const READ_BLOCK: Duration = Duration::from_secs(5);

/// The reader's back-off between reconnection attempts: doubling from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// Entries read per round trip.
const READ_COUNT: usize = 256;

/// The chat log of one server process.
#[derive(Clone)]
pub enum ChatLog {
    /// This process alone: the hub gives out the ids.
    Memory(Arc<Hub>),
    /// A Redis stream shared by every instance, mirrored into the hub.
    Redis(RedisLog),
}

/// Why a message could not be written to the log: Redis did not take it.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl ChatLog {
    /// The local log that subscribers read.
    pub fn hub(&self) -> &Arc<Hub> {
        match self {
            Self::Memory(hub) => hub,
            Self::Redis(redis) => &redis.hub,
        }
    }

    /// Writes a message to the log and returns its id. With Redis, the message reaches this
    /// process's subscribers (and every other instance's) through the reader.
    pub async fn publish(&self, user: &str, text: &str) -> Result<u64, Unavailable> {
        match self {
            Self::Memory(hub) => Ok(hub.publish(user, text)),
            Self::Redis(redis) => redis.publish(user, text).await,
        }
    }

    /// The encoded chat events of one subscriber: see [`Hub::subscribe`].
    ///
    /// With Redis, a `Last-Event-ID` above the newest id this process has read may be an id
    /// another instance has just given out, which the reader is about to bring (a few hundred
    /// microseconds behind). Treating it as unknown (a fresh start) would replay messages the
    /// browser already has; so the stream's newest id is asked first, and an id the stream has
    /// given out is waited for. Every other subscriber starts at once, from the hub, as it is
    /// when the request arrives: a message posted after that is never missed.
    pub fn subscribe(
        &self,
        last_event_id: Option<u64>,
        history: usize,
        replay_bytes: usize,
    ) -> impl Stream<Item = Bytes> + Send + Sync + use<> {
        let hub = Arc::clone(self.hub());
        match self {
            Self::Redis(redis) if last_event_id > Some(hub.newest_id()) => {
                let redis = redis.clone();
                // A task, so that the stream holds only its (Sync) handle.
                let start = tokio::spawn(async move { redis.start_for(last_event_id).await });
                let messages = stream::once(async move {
                    match start.await {
                        Ok(Some(cursor)) => hub.subscribe_after(cursor, replay_bytes).left_stream(),
                        _ => hub
                            .subscribe(last_event_id, history, replay_bytes)
                            .right_stream(),
                    }
                })
                .flatten();
                messages.left_stream()
            }
            _ => hub
                .subscribe(last_event_id, history, replay_bytes)
                .right_stream(),
        }
    }

    /// `"memory"` or `"redis"`, for `/health`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
        }
    }

    /// With Redis, whether it answers: `"up"` or `"down"`, for `/health`.
    pub fn redis_status(&self) -> Option<&'static str> {
        match self {
            Self::Memory(_) => None,
            Self::Redis(redis) if redis.is_up() => Some("up"),
            Self::Redis(_) => Some("down"),
        }
    }
}

/// The chat log in a Redis stream: a connection for writing, and the reader task that mirrors
/// the stream into the hub. Cheap to clone.
#[derive(Clone)]
pub struct RedisLog {
    hub: Arc<Hub>,
    writer: ConnectionManager,
    history: usize,
    status: Arc<Status>,
}

/// What the reader knows, shared with `/health` and `/metrics`.
#[derive(Debug)]
pub struct Status {
    up: AtomicBool,
    /// True once the reader has read the stream up to the newest entry it saw on connecting.
    synced: watch::Sender<bool>,
    /// Times the reader connected again after losing Redis.
    pub reconnects: Counter,
}

impl Status {
    /// Whether the reader is connected to Redis now.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

impl RedisLog {
    /// Connects lazily to `url` and starts the reader, which runs until `shutdown`. Fails only
    /// on a URL that is not a Redis URL; an unreachable Redis is waited for.
    pub fn start(
        url: &str,
        hub: Arc<Hub>,
        history: usize,
        shutdown: CancellationToken,
    ) -> RedisResult<Self> {
        let client = Client::open(url)?;
        // One attempt per post: a post while Redis is down is answered 503 at once, and the next
        // post tries again.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(PUBLISH_TIMEOUT))
            .set_response_timeout(Some(PUBLISH_TIMEOUT));
        let writer = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        let status = Arc::new(Status {
            up: AtomicBool::new(false),
            synced: watch::Sender::new(false),
            reconnects: Counter::default(),
        });
        let reader = Reader {
            client,
            hub: Arc::clone(&hub),
            status: Arc::clone(&status),
            last: 0,
            synced_at: 0,
        };
        tokio::spawn(async move {
            tokio::select! {
                () = reader.run() => {}
                () = shutdown.cancelled() => {}
            }
        });
        Ok(Self {
            hub,
            writer,
            history,
            status,
        })
    }

    /// Shared with `/health` and `/metrics`.
    pub fn status(&self) -> &Arc<Status> {
        &self.status
    }

    /// Whether the reader is connected to Redis now.
    pub fn is_up(&self) -> bool {
        self.status.is_up()
    }

    /// `XADD sse:chat MAXLEN <history> 0-* user .. text .. time ..`: Redis gives the id.
    async fn publish(&self, user: &str, text: &str) -> Result<u64, Unavailable> {
        let fields = [("user", user), ("text", text), ("time", &hub::now())];
        let maxlen = StreamMaxlen::Equals(self.history);
        let add = || {
            let mut writer = self.writer.clone();
            async move {
                let id: String = writer
                    .xadd_maxlen(STREAM_KEY, maxlen, "0-*", &fields)
                    .await?;
                RedisResult::Ok(id)
            }
        };
        let mut added = add().await;
        // A connection Redis dropped (it restarted) fails on first use, before the command
        // reaches the new Redis: the manager reconnects, and one more try goes through.
        if added.as_ref().is_err_and(|e| e.is_connection_dropped()) {
            added = add().await;
        }
        let id = added.map_err(|e| {
            tracing::debug!(error = %e, "chat post refused: Redis did not take it");
            Unavailable(format!("the chat store (Redis) is unavailable: {e}"))
        })?;
        let id = sequence(&id).ok_or_else(|| {
            Unavailable(format!("the chat stream holds an id that is not 0-n: {id}"))
        })?;
        self.hub.count_published();
        // Answer once this process's reader has the message too (a moment, bounded): a client
        // that posts and then opens a stream here finds its message in the history.
        let _ = tokio::time::timeout(PUBLISH_TIMEOUT, self.hub.until_has(id)).await;
        Ok(id)
    }

    /// Resolves once the reader has read the stream as far as it went when the reader connected,
    /// or after 2 s (Redis down at start): a server waits for it before it accepts
    /// connections, so that it never serves a half-read history.
    pub async fn ready(&self) {
        let mut synced = self.status.synced.subscribe();
        let _ = tokio::time::timeout(PUBLISH_TIMEOUT, synced.wait_for(|s| *s)).await;
    }

    /// Where a subscriber should start, for a `Last-Event-ID` the hub may not have yet:
    /// `Some(id)` when the stream has given it out (wait for what follows), `None` to start as
    /// the hub would.
    async fn start_for(&self, last_event_id: Option<u64>) -> Option<u64> {
        let id = last_event_id?;
        if id <= self.hub.newest_id() {
            return Some(id);
        }
        let mut writer = self.writer.clone();
        match tokio::time::timeout(PUBLISH_TIMEOUT, newest_id(&mut writer)).await {
            Ok(Ok(newest)) => (id <= newest).then_some(id),
            // Redis cannot say: trust the browser, whose id came from some instance. The reader
            // brings what follows once Redis is back.
            _ => Some(id),
        }
    }
}

/// The reader: the one task per process that copies the stream into the hub.
struct Reader {
    client: Client,
    hub: Arc<Hub>,
    status: Arc<Status>,
    /// The id of the last entry appended to the hub.
    last: u64,
    /// The stream's newest id when the reader last connected: once read up to it, the hub holds
    /// what the stream held.
    synced_at: u64,
}

impl Reader {
    /// Connects, reads, and on any error reconnects with back-off, forever.
    async fn run(mut self) {
        let mut backoff = BACKOFF.0;
        // When the current outage began.
        let mut lost: Option<Instant> = None;
        let mut ever_connected = false;
        loop {
            let error = match self.connect().await {
                Ok(mut connection) => {
                    self.status.up.store(true, Ordering::Relaxed);
                    backoff = BACKOFF.0;
                    let waited = lost.take().map(|since| since.elapsed().as_secs_f64());
                    if !ever_connected {
                        tracing::info!("chat log: the Redis stream {STREAM_KEY}");
                    } else if let Some(secs) = waited {
                        self.status.reconnects.inc();
                        tracing::warn!("redis is back after {secs:.1} s; the chat goes on");
                    }
                    ever_connected = true;
                    self.read(&mut connection).await
                }
                Err(error) => error,
            };
            self.status.up.store(false, Ordering::Relaxed);
            if lost.is_none() {
                // Once per outage, not per attempt.
                tracing::error!(
                    "redis unreachable ({error}): chat posts get 503, open streams stay open; \
                     retrying with back-off"
                );
                lost = Some(Instant::now());
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF.1);
        }
    }

    /// A connection of its own (a blocking read holds it), and the check that the stream did not
    /// go back: Redis restarted empty, or was flushed.
    async fn connect(&mut self) -> RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(PUBLISH_TIMEOUT))
            .set_response_timeout(Some(READ_BLOCK + PUBLISH_TIMEOUT));
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let newest = newest_id(&mut connection).await?;
        if newest < self.last {
            tracing::error!(
                "the Redis chat stream went back from id {} to {newest} (Redis restarted \
                 empty?): subscribers are told they lagged, and ids start again",
                self.last
            );
            self.hub.restart();
            self.last = 0;
        }
        self.synced_at = newest;
        if self.last >= newest {
            self.status.synced.send_replace(true);
        }
        Ok(connection)
    }

    /// Reads entries after `last` until an error, appending each to the hub.
    async fn read(&mut self, connection: &mut MultiplexedConnection) -> redis::RedisError {
        let options = StreamReadOptions::default()
            .block(READ_BLOCK.as_millis() as usize)
            .count(READ_COUNT);
        loop {
            let after = format!("0-{}", self.last);
            let reply: RedisResult<Option<StreamReadReply>> = connection
                .xread_options(&[STREAM_KEY], &[after], &options)
                .await;
            let entries = match reply {
                Ok(reply) => reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids),
                Err(error) => return error,
            };
            for entry in entries {
                self.append(&entry);
            }
            if self.last >= self.synced_at {
                self.status.synced.send_replace(true);
            }
        }
    }

    fn append(&mut self, entry: &StreamId) {
        let Some(id) = sequence(&entry.id) else {
            tracing::warn!(
                id = entry.id,
                "skipped a chat stream entry whose id is not 0-n"
            );
            return;
        };
        let field = |name| entry.get::<String>(name).unwrap_or_default();
        let (user, text, time) = (field("user"), field("text"), field("time"));
        if self.hub.append(id, &user, &text, &time) == Appended::AfterGap && self.last > 0 {
            tracing::warn!(
                "chat ids {}..{id} left the Redis stream before this server read them",
                self.last + 1
            );
        }
        self.last = id;
    }
}

/// The newest id the stream holds, 0 when it is empty or absent.
async fn newest_id(connection: &mut impl AsyncCommands) -> RedisResult<u64> {
    let newest: StreamRangeReply = connection.xrevrange_count(STREAM_KEY, "+", "-", 1).await?;
    Ok(newest
        .ids
        .first()
        .and_then(|entry| sequence(&entry.id))
        .unwrap_or(0))
}

/// `0-n` → n: the chat id of a stream entry id.
fn sequence(id: &str) -> Option<u64> {
    id.strip_prefix("0-")?.parse().ok()
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
}
