//! One answer being generated: the pieces of `POST /v1/chat/completions` in the order they come
//! (the assistant's role at once, a token per `--token-ms` after `--think-ms`, the reason it
//! finished, the token counts if asked for, then `[DONE]`), and each piece as OpenAI writes it:
//! a `chat.completion.chunk` on an event with `id:` its index, or the whole `chat.completion`.
//!
//! The generation is the stream itself: nothing is generated until the framework asks for the
//! next piece, so when the client goes away and the framework drops the response, generation
//! stops there, before the first token as well as after it. Dropped before its end, an answer
//! counts as cancelled.
//!
//! Tested with paused time by `cargo test -p sse-core generation`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use prometheus_client::metrics::counter::Counter;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use crate::answer_request::AnswerRequest;
use crate::event::Event;
use crate::model;

/// The data of the event that ends a streamed answer, as OpenAI sends it.
pub const DONE: &str = "[DONE]";

/// How fast the stand-in answers: `--think-ms` before the first token, then `--token-ms` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Before the first token.
    pub think: Duration,
    /// Between tokens.
    pub token: Duration,
}

/// What `/metrics` counts of answers: tokens generated, answers completed, answers cancelled.
#[derive(Debug, Clone, Default)]
pub struct AnswerCounters {
    /// Every token the model produced, read by a client or not.
    pub tokens: Counter,
    /// Answers that reached their end (`stop` or `length`).
    pub completed: Counter,
    /// Answers dropped before their end: the client went away, `DELETE`, or shutdown.
    pub cancelled: Counter,
}

/// One piece of an answer, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// `{"role": "assistant", "content": ""}`, at once: the headers and the answer's id go out
    /// before the model has thought.
    Role,
    /// One token of content.
    Token(String),
    /// The end: `stop`, or `length` when `max_tokens` cut it.
    Finish(&'static str),
    /// With `include_usage`: the counts, on a chunk with no choices.
    Usage {
        /// Words of the prompt.
        prompt: usize,
        /// Tokens of the answer.
        completion: usize,
    },
    /// `data: [DONE]`.
    Done,
}

/// An answer's identity and what it will say.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `chatcmpl-` and 32 random hex digits: unguessable, since it is what resumes the answer.
    pub id: String,
    /// Seconds since 1970, when the request came.
    pub created: u64,
    /// The model the request named.
    pub model: String,
    /// The tokens to send, already cut to `max_tokens`.
    pub tokens: Vec<String>,
    /// Whether `max_tokens` cut the answer.
    pub cut: bool,
    /// Words of the prompt.
    pub prompt_words: usize,
    /// Whether a usage chunk comes before `[DONE]`.
    pub include_usage: bool,
}

impl Answer {
    /// The stand-in's answer to `request`.
    pub fn to(request: &AnswerRequest) -> Self {
        let mut tokens = model::tokens(&model::answer(&request.question));
        let limit = request.max_tokens.unwrap_or(usize::MAX);
        let cut = tokens.len() > limit;
        tokens.truncate(limit);
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        Self {
            id: new_id(),
            created,
            model: request.model.clone(),
            tokens,
            cut,
            prompt_words: request.prompt_words,
            include_usage: request.include_usage,
        }
    }

    /// The pieces, paced by `pace` from now, counted in `counters`.
    pub fn generate(
        &self,
        pace: Pace,
        counters: AnswerCounters,
    ) -> impl Stream<Item = Piece> + Send + Sync + 'static {
        let finish = if self.cut { "length" } else { "stop" };
        let usage = self.include_usage.then_some(Piece::Usage {
            prompt: self.prompt_words,
            completion: self.tokens.len(),
        });
        let outcome = Outcome {
            counters,
            completed: false,
        };
        let first_at = Instant::now() + pace.think;
        let tokens = stream::iter(self.tokens.clone().into_iter().enumerate()).then(
            move |(i, token)| async move {
                let gaps = u32::try_from(i).unwrap_or(u32::MAX);
                sleep_until(first_at + pace.token * gaps).await;
                token
            },
        );
        let counted = outcome.counters.tokens.clone();
        let tokens = tokens.map(move |token| {
            counted.inc();
            Piece::Token(token)
        });
        // The end is counted as it is handed over; `outcome` goes with the stream, so a
        // stream dropped before it counts as cancelled.
        let mut outcome = Some(outcome);
        let end = stream::iter([Piece::Finish(finish)]).map(move |piece| {
            if let Some(mut outcome) = outcome.take() {
                outcome.complete();
            }
            piece
        });
        stream::iter([Piece::Role])
            .chain(tokens)
            .chain(end)
            .chain(stream::iter(usage))
            .chain(stream::iter([Piece::Done]))
    }

    /// `piece`, the `index`th of the answer, as an event: `id:` its index, `data:` its chunk.
    pub fn event(&self, index: u64, piece: &Piece) -> Bytes {
        let data = match piece {
            Piece::Done => DONE.to_owned(),
            piece => serde_json::to_string(&self.chunk(piece)).unwrap_or_default(),
        };
        Event::data(data).with_id(index).encode()
    }

    /// The `chat.completion.chunk` for `piece` (not [`Piece::Done`], which is no chunk), its
    /// fields in OpenAI's order.
    fn chunk<'a>(&'a self, piece: &'a Piece) -> Chunk<'a> {
        let (choices, usage) = match piece {
            Piece::Role => {
                let delta = Delta {
                    role: Some("assistant"),
                    content: Some(""),
                };
                (choice(delta, None), None)
            }
            Piece::Token(token) => {
                let delta = Delta {
                    role: None,
                    content: Some(token),
                };
                (choice(delta, None), None)
            }
            Piece::Finish(reason) => (choice(Delta::default(), Some(*reason)), None),
            Piece::Usage { prompt, completion } => (Vec::new(), Some(usage(*prompt, *completion))),
            Piece::Done => (Vec::new(), None),
        };
        Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        }
    }

    /// The whole answer as one `chat.completion` (`"stream": false`), once `pieces` have all
    /// been generated.
    pub fn completion(&self, pieces: &[Piece]) -> Value {
        let content: String = pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Token(token) => Some(token.as_str()),
                _ => None,
            })
            .collect();
        let finish = pieces.iter().find_map(|piece| match piece {
            Piece::Finish(reason) => Some(*reason),
            _ => None,
        });
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": content },
                "logprobs": null,
                "finish_reason": finish,
            }],
            "usage": usage(self.prompt_words, self.tokens.len()),
        })
    }
}

/// The one choice of a chunk.
fn choice<'a>(delta: Delta<'a>, finish_reason: Option<&'static str>) -> Vec<Choice<'a>> {
    vec![Choice {
        index: 0,
        delta,
        logprobs: None,
        finish_reason,
    }]
}

/// One `chat.completion.chunk`, as OpenAI orders its fields.
#[derive(Debug, Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<Choice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Debug, Serialize)]
struct Choice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

/// What a chunk adds to the message: the role once, then content; nothing on the last.
#[derive(Debug, Default, Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Usage {
    prompt_tokens: usize,
    completion_tokens: usize,
    total_tokens: usize,
}

fn usage(prompt: usize, completion: usize) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
    }
}

/// Whether `id` has the shape of the ids answers are given: `chatcmpl-` and 32 hex digits. Any
/// other is unknown without asking the store.
pub fn is_answer_id(id: &str) -> bool {
    id.strip_prefix("chatcmpl-")
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `chatcmpl-` and 16 bytes from the operating system's random source, in hex.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    // The system's source fails only where no such source exists; fall back to the clock's
    // noise rather than refuse to answer.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        bytes = fastrand::u128(..).to_le_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("chatcmpl-{hex}")
}

/// Counts the answer as completed once its end is handed over, or as cancelled if it is
/// dropped first.
struct Outcome {
    counters: AnswerCounters,
    completed: bool,
}

impl Outcome {
    fn complete(&mut self) {
        self.completed = true;
        self.counters.completed.inc();
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if !self.completed {
            self.counters.cancelled.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> AnswerRequest {
        crate::answer_request::parse(body.as_bytes()).expect("valid")
    }

    const PACE: Pace = Pace {
        think: Duration::from_millis(300),
        token: Duration::from_millis(40),
    };

    #[tokio::test(start_paused = true)]
    async fn the_role_comes_at_once_then_tokens_at_their_pace_then_the_end() {
        let answer = Answer::to(&request(
            r#"{"model":"m","max_tokens":3,"messages":[{"role":"user","content":"why?"}]}"#,
        ));
        let counters = AnswerCounters::default();
        let start = Instant::now();
        let mut pieces = Box::pin(answer.generate(PACE, counters.clone()));
        assert_eq!(pieces.next().await, Some(Piece::Role));
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(pieces.next().await, Some(Piece::Token("You".into())));
        assert_eq!(start.elapsed(), PACE.think);
        assert_eq!(pieces.next().await, Some(Piece::Token(" asked:".into())));
        assert_eq!(start.elapsed(), PACE.think + PACE.token);
        assert_eq!(pieces.next().await, Some(Piece::Token(" \"why?\"".into())));
        assert_eq!(pieces.next().await, Some(Piece::Finish("length")));
        assert_eq!(pieces.next().await, Some(Piece::Done));
        assert_eq!(pieces.next().await, None);
        drop(pieces);
        assert_eq!(counters.tokens.get(), 3);
        assert_eq!((counters.completed.get(), counters.cancelled.get()), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_while_thinking_or_after_a_token_it_generates_no_more_and_counts_cancelled() {
        let answer = Answer::to(&request(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
        ));
        let counters = AnswerCounters::default();
        let mut thinking = Box::pin(answer.generate(PACE, counters.clone()));
        assert_eq!(thinking.next().await, Some(Piece::Role));
        drop(thinking);
        let mut talking = Box::pin(answer.generate(PACE, counters.clone()));
        for _ in 0..3 {
            talking.next().await;
        }
        drop(talking);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(counters.tokens.get(), 2);
        assert_eq!((counters.completed.get(), counters.cancelled.get()), (0, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn chunks_are_openai_s_with_ids_and_usage_on_request() {
        let answer = Answer::to(&request(
            r#"{"model":"demo","stream":true,"stream_options":{"include_usage":true},
                "messages":[{"role":"user","content":"hi there"}]}"#,
        ));
        assert!(answer.id.starts_with("chatcmpl-") && answer.id.len() == 41);
        assert!(is_answer_id(&answer.id), "{}", answer.id);
        for other in [
            "chatcmpl-unknown",
            "chatcmpl-",
            "",
            &answer.id[1..],
            "chatcmpl-{x}",
        ] {
            assert!(!is_answer_id(other), "{other}");
        }
        let pieces: Vec<Piece> = answer
            .generate(PACE, AnswerCounters::default())
            .collect()
            .await;
        let events: Vec<Bytes> = (0..)
            .zip(&pieces)
            .map(|(i, p)| answer.event(i, p))
            .collect();
        let first = std::str::from_utf8(&events[0]).expect("UTF-8");
        assert!(
            first.starts_with("id: 0\ndata: {\"id\":\"chatcmpl-"),
            "{first}"
        );
        assert!(
            first.contains(r#""object":"chat.completion.chunk""#),
            "{first}"
        );
        assert!(
            first.contains(r#""delta":{"role":"assistant","content":""}"#),
            "{first}"
        );
        let last = events.len() - 1;
        assert_eq!(events[last], format!("id: {last}\ndata: [DONE]\n\n"));
        let usage = std::str::from_utf8(&events[last - 1]).expect("UTF-8");
        assert!(usage.contains(r#""choices":[]"#) && usage.contains(r#""prompt_tokens":2"#));
        let completion = answer.completion(&pieces);
        assert_eq!(completion["object"], "chat.completion");
        assert_eq!(completion["choices"][0]["finish_reason"], "stop");
        let content = completion["choices"][0]["message"]["content"].as_str();
        assert_eq!(content, Some(model::answer("hi there").as_str()));
    }
}
