//! Streamed answers over `POST`, as AI APIs send them: what `POST /v1/chat/completions`,
//! `GET /v1/streams/{id}` and `DELETE /v1/streams/{id}` do once the request has been read and
//! checked. An answer is streamed (`"stream": true`), kept for a resume as well
//! (`"resumable": true`), or sent whole as one JSON object. With Redis, a kept answer is
//! mirrored there too ([`redis_answers`](crate::redis_answers)), so that any instance resumes or
//! cancels it.
//!
//! Tested with paused time by `cargo test -p sse-core answers`.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::answer_request::{AnswerRequest, ApiError};
use crate::client::ClientKey;
use crate::generation::{Answer, AnswerCounters, Pace, Piece, is_answer_id};
use crate::kept_answers::{Full, Kept, KeptAnswers, KeptLimits};
use crate::redis_answers::{Found, Mirror, RedisAnswers, Unavailable, Written};

/// The body of a streamed answer: encoded events, in order, `[DONE]` last.
pub type AnswerEvents = Pin<Box<dyn Stream<Item = Bytes> + Send + Sync>>;

/// What an answer route answers, before the glue's headers.
pub enum Answered {
    /// 200 with `Content-Type: application/json`: a whole completion.
    Json(Value),
    /// 200 with `Content-Type: text/event-stream`.
    Events(AnswerEvents),
    /// 204: a resume with nothing left to read.
    NoContent,
    /// The error, in OpenAI's shape.
    Error(ApiError),
}

/// The answers of one server: how fast they come, what is counted, and what is kept.
#[derive(Debug)]
pub struct Answers {
    pace: Pace,
    counters: AnswerCounters,
    kept: Arc<KeptAnswers>,
    /// With Redis: the kept answers of every instance.
    shared: Option<RedisAnswers>,
    shutdown: CancellationToken,
}

impl Answers {
    /// Answers paced by `pace`, counted in `counters`, kept within `limits` (and mirrored to
    /// `shared`, with Redis), that all end on `shutdown`.
    pub fn new(
        pace: Pace,
        counters: AnswerCounters,
        limits: KeptLimits,
        shared: Option<RedisAnswers>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            pace,
            counters,
            kept: Arc::new(KeptAnswers::new(limits)),
            shared,
            shutdown,
        }
    }

    /// Answers kept for a resume now.
    pub fn kept(&self) -> usize {
        self.kept.len()
    }

    /// Answers `request` from `client`.
    pub async fn answer(&self, client: ClientKey, request: &AnswerRequest) -> Answered {
        let answer = Arc::new(Answer::to(request));
        if !request.stream {
            return self.whole(&answer).await;
        }
        if !request.resumable {
            let pieces = answer.generate(self.pace, self.counters.clone());
            let events =
                encoded(answer, pieces).take_until(self.shutdown.clone().cancelled_owned());
            return Answered::Events(Box::pin(events));
        }
        let kept = match self.kept.keep(&answer.id, client) {
            Ok(kept) => kept,
            Err(full) => return Answered::Error(refused_keep(full)),
        };
        let mirror = match &self.shared {
            Some(shared) => Some(shared.begin(&answer.id).await),
            None => None,
        };
        // Generated to its end, read or not, unless cancelled or the server stops.
        let pieces = answer.generate(self.pace, self.counters.clone());
        let stop = (kept.cancelled().clone(), self.shutdown.clone());
        let id = answer.id.clone();
        let events = encoded(answer, pieces)
            .take_until(stop.0.cancelled_owned())
            .take_until(stop.1.cancelled_owned());
        let writer = Writer {
            kept: Arc::clone(&kept),
            store: Arc::clone(&self.kept),
            mirror,
            id,
        };
        tokio::spawn(writer.write(events));
        Answered::Events(Box::pin(kept.read_from(0)))
    }

    /// `"stream": false`: the answer once it has all been generated, at the same pace.
    async fn whole(&self, answer: &Answer) -> Answered {
        let pieces = answer.generate(self.pace, self.counters.clone());
        let pieces: Vec<Piece> = pieces
            .take_until(self.shutdown.clone().cancelled_owned())
            .collect()
            .await;
        if pieces.last() != Some(&Piece::Done) {
            return Answered::Error(ApiError::new(
                503,
                "server_error",
                "the server is shutting down: ask again",
            ));
        }
        Answered::Json(answer.completion(&pieces))
    }

    /// `GET /v1/streams/{id}`: the kept answer's events after `last_event_id` (all of them
    /// without one), then the end; 204 if none is left; 404 for an unknown or forgotten id.
    /// An answer generated here is read from memory; with Redis, any other from there.
    pub async fn resume(&self, id: &str, last_event_id: Option<u64>) -> Answered {
        let from = last_event_id.map_or(0, |last| last.saturating_add(1));
        if let Some(kept) = self.kept.get(id) {
            let from = usize::try_from(from).unwrap_or(usize::MAX);
            if kept.read_through(from) {
                return Answered::NoContent;
            }
            return Answered::Events(Box::pin(kept.read_from(from)));
        }
        let Some(shared) = self.shared.as_ref().filter(|_| is_answer_id(id)) else {
            return Answered::Error(unknown(id));
        };
        match shared.find(id, from).await {
            Ok(Found::Events(events)) => Answered::Events(events),
            Ok(Found::ReadThrough) => Answered::NoContent,
            Ok(Found::Unknown) => Answered::Error(unknown(id)),
            Err(unavailable) => Answered::Error(store_unavailable(&unavailable)),
        }
    }

    /// `DELETE /v1/streams/{id}`: stops the answer and forgets it, wherever it is generated.
    pub async fn cancel(&self, id: &str) -> Result<Value, ApiError> {
        let here = self.kept.cancel(id);
        let elsewhere = match self.shared.as_ref().filter(|_| is_answer_id(id)) {
            Some(shared) => match shared.cancel(id).await {
                Ok(deleted) => deleted,
                // Generated here, it is stopped: the key expires by itself.
                Err(_) if here => false,
                Err(unavailable) => return Err(store_unavailable(&unavailable)),
            },
            None => false,
        };
        if !(here || elsewhere) {
            return Err(unknown(id));
        }
        Ok(json!({ "id": id, "object": "chat.completion.deleted", "deleted": true }))
    }
}

/// The task that generates a kept answer: each event kept in memory, then mirrored to Redis.
struct Writer {
    kept: Arc<Kept>,
    store: Arc<KeptAnswers>,
    mirror: Option<Mirror>,
    id: String,
}

impl Writer {
    async fn write(mut self, events: impl Stream<Item = Bytes>) {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            self.kept.push(event.clone());
            let Some(mirror) = self.mirror.as_mut() else {
                continue;
            };
            if mirror.push(&event).await == Written::Cancelled {
                // Deleted through another instance: stop, as a `DELETE` here would.
                self.store.cancel(&self.id);
                return;
            }
        }
        self.kept.finish();
        if let Some(mirror) = self.mirror.as_mut() {
            mirror.finish().await;
        }
    }
}

/// Each piece as its event, `id:` its index.
fn encoded(
    answer: Arc<Answer>,
    pieces: impl Stream<Item = Piece> + Send + Sync + 'static,
) -> impl Stream<Item = Bytes> + Send + Sync + 'static {
    let mut index = 0;
    pieces.map(move |piece| {
        let event = answer.event(index, &piece);
        index += 1;
        event
    })
}

fn unknown(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::new(
        404,
        "not_found_error",
        format!(
            "no answer {shown:?} is kept here: it never was, it was cancelled, or it finished \
             more than --resume-secs ago"
        ),
    )
    .with_code("answer_not_found")
}

fn store_unavailable(unavailable: &Unavailable) -> ApiError {
    ApiError::new(
        503,
        "server_error",
        format!(
            "the store of kept answers (Redis) is unavailable: {}; ask again",
            unavailable.0
        ),
    )
    .with_code("store_unavailable")
}

fn refused_keep(full: Full) -> ApiError {
    let message = match full {
        Full::Everyone(max) => format!(
            "this server keeps {max} resumable answers already (--max-kept-answers): ask \
             without \"resumable\", or again later"
        ),
        Full::Client(max) => format!(
            "your address has {max} resumable answers kept already \
             (--max-kept-answers-per-client): ask without \"resumable\", or again later"
        ),
    };
    ApiError::new(429, "rate_limit_error", message).with_code("too_many_kept_answers")
}
