//! Streamed answers over `POST`, as AI APIs send them: what `POST /v1/chat/completions`,
//! `GET /v1/streams/{id}` and `DELETE /v1/streams/{id}` do once the request has been read and
//! checked. An answer is streamed (`"stream": true`), kept for a resume as well
//! (`"resumable": true`), or sent whole as one JSON object.
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
use crate::generation::{Answer, AnswerCounters, Pace, Piece};
use crate::kept_answers::{Full, KeptAnswers, KeptLimits};

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
    kept: KeptAnswers,
    shutdown: CancellationToken,
}

impl Answers {
    /// Answers paced by `pace`, counted in `counters`, kept within `limits`, that all end on
    /// `shutdown`.
    pub fn new(
        pace: Pace,
        counters: AnswerCounters,
        limits: KeptLimits,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            pace,
            counters,
            kept: KeptAnswers::new(limits),
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
        // Generated to its end, read or not, unless cancelled or the server stops.
        let pieces = answer.generate(self.pace, self.counters.clone());
        let stop = (kept.cancelled().clone(), self.shutdown.clone());
        let mut events = Box::pin(
            encoded(answer, pieces)
                .take_until(stop.0.cancelled_owned())
                .take_until(stop.1.cancelled_owned()),
        );
        let writer = Arc::clone(&kept);
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                writer.push(event);
            }
            writer.finish();
        });
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
    pub fn resume(&self, id: &str, last_event_id: Option<u64>) -> Answered {
        let Some(kept) = self.kept.get(id) else {
            return Answered::Error(unknown(id));
        };
        let after = |last: u64| usize::try_from(last.saturating_add(1)).unwrap_or(usize::MAX);
        let from = last_event_id.map_or(0, after);
        if kept.read_through(from) {
            return Answered::NoContent;
        }
        Answered::Events(Box::pin(kept.read_from(from)))
    }

    /// `DELETE /v1/streams/{id}`: stops the answer and forgets it.
    pub fn cancel(&self, id: &str) -> Result<Value, ApiError> {
        if !self.kept.cancel(id) {
            return Err(unknown(id));
        }
        Ok(json!({ "id": id, "object": "chat.completion.deleted", "deleted": true }))
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
