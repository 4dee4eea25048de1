//! Resumable answers shared through Redis (`--redis URL` or `--redis-cluster URL[,URL...]`), so
//! that `GET` and `DELETE /v1/streams/{id}` land on any instance, not only the one that
//! generates the answer.
//!
//! ```text
//!  instance A generates chatcmpl-ab12…        stream sse:answer:{chatcmpl-ab12…}
//!    keeps it in memory (KeptAnswers) and ──▶   0-1  begin
//!    mirrors each event, in order               0-2  event  id: 0 …   (event i at 0-(i+2))
//!                                               0-3  event  id: 1 …
//!                                               …    end            (once it has finished)
//!  instance B: GET /v1/streams/{id} ◀── XRANGE from the event after Last-Event-ID, polled
//!              DELETE /v1/streams/{id} ── DEL ──▶ A's next write finds no key: A stops
//! ```
//!
//! - **Memory first.** The instance that generates an answer serves it from memory, exactly as
//!   without Redis; Redis is read only by the others.
//! - **Keys.** One stream per answer, `sse:answer:{id}`: the braces are a hash tag, so on a
//!   cluster each answer lives on one master, and the scripts below touch one key.
//! - **Ordered, no gap.** Entry ids are given, not generated: event `i` is `0-(i+2)`. Should a
//!   write fail (Redis away), the mirror stops writing that answer for good, so a reader elsewhere
//!   sees the answer cut short, never a hole; a reader checks every id it reads as well.
//! - **Cancelled anywhere.** `DELETE` on any instance deletes the key; each write of the
//!   generating instance checks the key is still there in the same script, and stops the
//!   generation when it is not (within one token, or after the thought before the first).
//! - **Bounded.** Each instance keeps at most `--max-kept-answers` (the limits of
//!   [`KeptAnswers`](crate::kept_answers::KeptAnswers) decide what is mirrored), each key
//!   expires `--resume-secs` after the answer's end, and sooner if its instance stops writing.
//! - **Read by polling, not pub/sub.** A resume on another instance is the rare path (a dropped
//!   connection landing elsewhere): its reader polls at the token pace (at most every 250 ms),
//!   which keeps the chat's pub/sub untouched and costs one round trip per token per such
//!   reader, each holding an open-stream slot (`--max-streams-per-client`).
//!
//! Tested against a real `redis-server` and a real three-master cluster by
//! `crates/cluster-tests/tests/answers.rs`.

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, stream};
use redis::streams::{StreamId, StreamRangeReply};
use redis::{RedisResult, Script, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::generation::Pace;
use crate::redis_conn::{COMMAND_TIMEOUT, Connection, timed};
use crate::redis_log::RedisLog;

/// Entries read by one poll at most.
const READ_COUNT: usize = 64;

/// Creates the answer's stream with its `begin` entry. `ARGV`: expiry in ms.
static BEGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('XADD', KEYS[1], '0-1', 'begin', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
",
    )
});

/// Adds an entry, unless the answer was deleted (cancelled): 1 if added, else 0.
/// `ARGV`: entry id, field, value, expiry in ms.
static ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('XADD', KEYS[1], ARGV[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
",
    )
});

/// The entries from `ARGV[1]` on, at most `ARGV[2]`; nil if the answer is not there.
static READ: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
",
    )
});

/// The key of answer `id`.
pub fn answer_key(id: &str) -> String {
    format!("sse:answer:{{{id}}}")
}

/// Redis could not be asked; what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

/// What Redis has of an answer, for a resume from some event on.
pub enum Found {
    /// No such answer: never, cancelled, or expired.
    Unknown,
    /// It finished, and nothing is left after that event.
    ReadThrough,
    /// The events from there on, as they come, ending with the answer.
    Events(SharedEvents),
}

/// The events of an answer generated elsewhere.
pub type SharedEvents = std::pin::Pin<Box<dyn Stream<Item = Bytes> + Send + Sync>>;

/// Whether a write went in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Added, or not mirrored at all (Redis away): the answer goes on.
    Kept,
    /// The answer was deleted elsewhere: its generation must stop.
    Cancelled,
}

/// Kept answers in Redis, through the chat's connection. Cheap to clone.
#[derive(Clone)]
pub struct RedisAnswers {
    redis: RedisLog,
    keep_for: Duration,
    /// The longest wait between two writes of one answer: the thought, or a token's time.
    gap: Duration,
    poll: Duration,
}

impl std::fmt::Debug for RedisAnswers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAnswers")
            .field("keep_for", &self.keep_for)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl RedisAnswers {
    /// Answers paced by `pace`, kept `keep_for` after their end, through `redis`'s connection.
    pub fn new(redis: RedisLog, pace: Pace, keep_for: Duration) -> Self {
        let poll = pace
            .token
            .clamp(Duration::from_millis(10), Duration::from_millis(250));
        Self {
            redis,
            keep_for,
            gap: pace.think.max(pace.token) + COMMAND_TIMEOUT,
            poll,
        }
    }

    /// Starts mirroring answer `id`: its key is there for every instance once this returns.
    /// With Redis away, the answer is kept in memory only (a [`Mirror`] that writes nothing).
    pub async fn begin(&self, id: &str) -> Mirror {
        let key = answer_key(id);
        let connection = match self.redis.connection() {
            Some(mut connection) => {
                let mut begin = BEGIN.key(&key);
                begin.arg(millis(self.keep_for + self.gap));
                let begun = timed(begin.invoke_async::<i64>(&mut connection)).await;
                begun
                    .inspect_err(|e| lost(&key, e))
                    .ok()
                    .map(|_| connection)
            }
            None => None,
        };
        Mirror {
            connection,
            key,
            next: 0,
            expiry: self.keep_for + self.gap,
            keep_for: self.keep_for,
        }
    }

    /// The events of answer `id` from index `from` on, as Redis has them.
    pub async fn find(&self, id: &str, from: u64) -> Result<Found, Unavailable> {
        let mut connection = self.connection()?;
        let key = answer_key(id);
        let first = match read(&mut connection, &key, from).await {
            Ok(Some(entries)) => entries,
            Ok(None) => return Ok(Found::Unknown),
            Err(error) => return Err(Unavailable(error.to_string())),
        };
        if first.first().is_some_and(|entry| entry.contains_key("end")) {
            return Ok(Found::ReadThrough);
        }
        let reader = Reader {
            connection,
            key,
            next: from,
            read: first.into_iter(),
            poll: self.poll,
            patience: self.keep_for + self.gap,
            last_read: Instant::now(),
        };
        Ok(Found::Events(Box::pin(reader.events())))
    }

    /// Deletes answer `id`: true if it was there. Its generating instance stops at its next
    /// write.
    pub async fn cancel(&self, id: &str) -> Result<bool, Unavailable> {
        let mut connection = self.connection()?;
        let mut delete = redis::cmd("DEL");
        delete.arg(answer_key(id));
        match timed(delete.query_async::<i64>(&mut connection)).await {
            Ok(deleted) => Ok(deleted == 1),
            Err(error) => Err(Unavailable(error.to_string())),
        }
    }

    fn connection(&self) -> Result<Connection, Unavailable> {
        self.redis
            .connection()
            .ok_or_else(|| Unavailable("not connected yet".to_owned()))
    }
}

/// The writer of one answer's stream, held by the task that generates it.
pub struct Mirror {
    /// `None` once a write failed: nothing more is written, so no reader sees a hole.
    connection: Option<Connection>,
    key: String,
    next: u64,
    expiry: Duration,
    keep_for: Duration,
}

impl Mirror {
    /// Adds the next event.
    pub async fn push(&mut self, event: &Bytes) -> Written {
        let id = entry_id(self.next);
        self.next += 1;
        let expiry = self.expiry;
        self.add(&id, "event", event, expiry).await
    }

    /// Marks the answer finished: it expires `--resume-secs` from now.
    pub async fn finish(&mut self) {
        let id = entry_id(self.next);
        let keep_for = self.keep_for;
        self.add(&id, "end", &Bytes::from_static(b"1"), keep_for)
            .await;
    }

    async fn add(&mut self, id: &str, field: &str, value: &Bytes, expiry: Duration) -> Written {
        let Some(connection) = self.connection.as_mut() else {
            return Written::Kept;
        };
        let mut add = ADD.key(&self.key);
        add.arg(id)
            .arg(field)
            .arg(value.as_ref())
            .arg(millis(expiry));
        match timed(add.invoke_async::<i64>(connection)).await {
            Ok(1) => Written::Kept,
            Ok(_) => Written::Cancelled,
            Err(error) => {
                lost(&self.key, &error);
                self.connection = None;
                Written::Kept
            }
        }
    }
}

/// A reader of an answer generated elsewhere.
struct Reader {
    connection: Connection,
    key: String,
    /// The index of the next event to send.
    next: u64,
    read: std::vec::IntoIter<StreamId>,
    poll: Duration,
    /// How long without a new entry before the answer counts as abandoned.
    patience: Duration,
    last_read: Instant,
}

impl Reader {
    /// Its events, read by a task of their own (a Redis command's future is not `Sync`, which
    /// a body must be), which ends when they end or when the client goes.
    fn events(mut self) -> impl Stream<Item = Bytes> + Send + Sync {
        let (sender, receiver) = mpsc::channel(READ_COUNT);
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    event = self.next_event() => event,
                    () = sender.closed() => None,
                };
                let Some(event) = event else { return };
                if sender.send(event).await.is_err() {
                    return;
                }
            }
        });
        stream::unfold(receiver, |mut receiver| async move {
            let event = receiver.recv().await?;
            Some((event, receiver))
        })
    }

    /// The next event, polling for it; `None` at the end, when the answer is gone, or after
    /// `patience` without a new entry (its instance stopped, or Redis is away).
    async fn next_event(&mut self) -> Option<Bytes> {
        loop {
            if let Some(entry) = self.read.next() {
                return self.event_of(&entry);
            }
            if self.last_read.elapsed() >= self.patience {
                return None;
            }
            tokio::time::sleep(self.poll).await;
            match read(&mut self.connection, &self.key, self.next).await {
                Ok(Some(entries)) if entries.is_empty() => {}
                Ok(Some(entries)) => {
                    self.last_read = Instant::now();
                    self.read = entries.into_iter();
                }
                Ok(None) => return None,
                Err(error) => tracing::debug!(key = self.key, %error, "answer read failed"),
            }
        }
    }

    /// The event of `entry`, if it is the one expected; `None` for the end, or anything else.
    fn event_of(&mut self, entry: &StreamId) -> Option<Bytes> {
        if entry.id != entry_id(self.next) {
            tracing::warn!(key = self.key, id = entry.id, "answer entry out of order");
            return None;
        }
        let Some(Value::BulkString(event)) = entry.map.get("event") else {
            return None;
        };
        self.next += 1;
        Some(Bytes::copy_from_slice(event))
    }
}

/// The entries of `key` from event `from` on: `None` if the key is not there.
async fn read(
    connection: &mut Connection,
    key: &str,
    from: u64,
) -> RedisResult<Option<Vec<StreamId>>> {
    let mut read = READ.key(key);
    read.arg(entry_id(from)).arg(READ_COUNT);
    let reply: Option<StreamRangeReply> = timed(read.invoke_async(connection)).await?;
    Ok(reply.map(|reply| reply.ids))
}

/// The stream entry id of event `index`: `0-(index+2)`, after `begin` at `0-1`.
fn entry_id(index: u64) -> String {
    format!("0-{}", index.saturating_add(2))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn lost(key: &str, error: &redis::RedisError) {
    tracing::warn!(key, %error, "answer no longer mirrored to Redis: resumes go to this instance");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_s_key_is_hash_tagged_and_its_events_follow_begin() {
        assert_eq!(answer_key("chatcmpl-ab"), "sse:answer:{chatcmpl-ab}");
        assert_eq!(entry_id(0), "0-2");
        assert_eq!(entry_id(41), "0-43");
        assert_eq!(entry_id(u64::MAX), format!("0-{}", u64::MAX));
    }
}
