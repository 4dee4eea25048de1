//! The state a server shares between its handlers, and the one call every stream route makes:
//! [`AppState::open_stream`], which turns a request into an answer the glue only has to send.
//! `POST /chat` is one call too: [`AppState::post_chat`].
//!
//! Tested by `cargo test -p sse-core state`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::chat::{self, ChatHeaders, ChatReply};
use crate::chat_log::{ChatLog, RedisLog};
use crate::event::Event;
use crate::hub::Hub;
use crate::keep_alive::KeepAlive;
use crate::metrics::Metrics;
use crate::metronome::Metronome;
use crate::options::{Framework, Options};
use crate::request::{BadQuery, StreamKind, StreamRequest};
use crate::streams::{self, Plan};

/// Headers every event stream carries besides `Content-Type: text/event-stream`.
///
/// - `Cache-Control: no-cache`: a cached stream is a frozen stream.
/// - `X-Accel-Buffering: no`: nginx would otherwise buffer the response and deliver events late.
/// - `Access-Control-Allow-Origin: *`: pages on other ports (such as `/compare`) may listen.
pub const STREAM_HEADERS: [(&str, &str); 3] = [
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
    ("access-control-allow-origin", "*"),
];

/// The text of the comment written on an idle stream.
pub const KEEP_ALIVE_COMMENT: &str = "keep-alive";

/// How long a browser turned away by `--max-streams` waits before trying again.
pub const BUSY_RETRY_MS: u64 = 5000;

/// What a stream route answers.
pub enum StreamAnswer {
    /// 200 with `Content-Type: text/event-stream`, [`STREAM_HEADERS`] and these events, sent
    /// through the framework's own SSE response where it has one.
    Events(EventStream),
    /// 200 with `Content-Type: text/event-stream`, [`STREAM_HEADERS`] and these bytes as the
    /// body, as they are: the chat stream, whose events are encoded once by the hub and shared by
    /// every subscriber. A framework's SSE type would format each of them again per subscriber.
    Encoded(EncodedStream),
    /// 204 No Content: nothing is left to send, and a browser stops reconnecting.
    NoContent,
    /// 400 with this message as a `text/plain` body.
    BadRequest(BadQuery),
}

/// Shared by every handler of one server: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    framework: Framework,
    options: Options,
    shutdown: CancellationToken,
    open_streams: AtomicUsize,
    started: Instant,
    chat: ChatLog,
    metronome: Arc<Metronome>,
    metrics: Metrics,
}

impl AppState {
    /// State for `framework`'s server, whose streams all end when `shutdown` is cancelled.
    /// With `--redis`, starts the task that reads the shared chat log (so it needs a tokio
    /// runtime).
    pub fn new(framework: Framework, options: Options, shutdown: CancellationToken) -> Self {
        let hub = Arc::new(Hub::new(options.history));
        let (published, lagged) = hub.counters();
        let chat = match &options.redis {
            None => ChatLog::Memory(hub),
            Some(url) => {
                let redis = RedisLog::start(url, hub, options.history, shutdown.clone());
                // `Options` only accepts a URL that `redis::Client::open` accepts, and that is the
                // only way `start` fails.
                ChatLog::Redis(redis.expect("--redis was checked when the options were parsed"))
            }
        };
        let redis_status = match &chat {
            ChatLog::Redis(redis) => Some(Arc::clone(redis.status())),
            ChatLog::Memory(_) => None,
        };
        Self {
            inner: Arc::new(Inner {
                framework,
                shutdown,
                open_streams: AtomicUsize::new(0),
                started: Instant::now(),
                chat,
                metronome: Metronome::new(),
                metrics: Metrics::new(published, lagged, redis_status),
                options,
            }),
        }
    }

    /// Resolves when the server may accept connections: at once, or with `--redis` once the
    /// chat's reader has read the stream (at most 2 s; see [`RedisLog::ready`]).
    pub async fn ready(&self) {
        if let ChatLog::Redis(redis) = &self.inner.chat {
            redis.ready().await;
        }
    }

    /// The options the server was started with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// Cancelled when the server shuts down.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// How long a stream may stay silent before a keep-alive comment is written.
    pub fn keep_alive(&self) -> Duration {
        self.inner.options.keep_alive()
    }

    /// Streams open right now.
    pub fn open_streams(&self) -> usize {
        self.inner.open_streams.load(Ordering::Relaxed)
    }

    /// Everything a stream route does, given the raw query (without `?`) and the raw bytes of the
    /// `Last-Event-ID` header. The stream counts as open until dropped, and ends on shutdown.
    pub fn open_stream(
        &self,
        kind: StreamKind,
        query: Option<&str>,
        last_event_id: Option<&[u8]>,
    ) -> StreamAnswer {
        let request = match StreamRequest::parse(kind, query, last_event_id) {
            Ok(request) => request,
            Err(bad) => return StreamAnswer::BadRequest(bad),
        };
        let retry_ms = self.options().stream_retry_ms();
        // Counted as they are handed to the framework: `retry:` and keep-alives are not events.
        let sent = self.inner.metrics.events_sent(kind);
        match streams::plan(&request, &self.inner.metronome) {
            Plan::NoContent => StreamAnswer::NoContent,
            Plan::Stream(events) => self.counted(kind, |slot, ended| {
                StreamAnswer::Events(EventStream {
                    retry_ms,
                    events: Box::pin(counting(events, sent).take_until(ended)),
                    _slot: Some(slot),
                })
            }),
            Plan::Chat => self.counted(kind, |slot, ended| {
                let chat = &self.inner.chat;
                let messages = chat.subscribe(request.last_event_id, request.history);
                let messages = Box::pin(counting(messages, sent));
                let body = stream::iter([Event::retry(retry_ms).encode()])
                    .chain(KeepAlive::new(messages, self.keep_alive()))
                    .take_until(ended);
                StreamAnswer::Encoded(EncodedStream {
                    bytes: Box::pin(body),
                    _slot: Some(slot),
                })
            }),
        }
    }

    /// Opens a stream with `open`, given a unit of the open-streams count and the shutdown
    /// signal that ends it; past `--max-streams`, answers that the server is busy instead.
    fn counted(
        &self,
        kind: StreamKind,
        open: impl FnOnce(OpenSlot, WaitForCancellationFutureOwned) -> StreamAnswer,
    ) -> StreamAnswer {
        match self.take_slot(kind) {
            Some(slot) => open(slot, self.shutdown().clone().cancelled_owned()),
            None => StreamAnswer::Events(busy(self.options().max_streams)),
        }
    }

    /// Everything `POST /chat` does, given the request's headers and its body as a stream of
    /// chunks: checks, publishes to every chat stream, and says what to answer.
    pub async fn post_chat<S, B, E>(&self, headers: ChatHeaders<'_>, body: S) -> ChatReply
    where
        S: Stream<Item = Result<B, E>>,
        B: bytes::Buf,
        E: std::fmt::Display,
    {
        chat::post(&self.inner.chat, headers, body).await
    }

    /// Counts a stream as open, unless `--max-streams` are open already.
    fn take_slot(&self, kind: StreamKind) -> Option<OpenSlot> {
        let max = self.options().max_streams;
        let open = &self.inner.open_streams;
        // Increment first, then check: two requests racing for the last slot cannot both win.
        if open.fetch_add(1, Ordering::Relaxed) >= max {
            open.fetch_sub(1, Ordering::Relaxed);
            self.inner.metrics.stream_refused();
            tracing::warn!(max, "stream refused: --max-streams reached");
            return None;
        }
        self.inner.metrics.stream_opened(kind);
        tracing::debug!(stream = kind.name(), "stream opened");
        Some(OpenSlot {
            state: self.clone(),
            kind,
        })
    }

    /// The body of `GET /metrics`, whose `Content-Type` is [`crate::metrics::CONTENT_TYPE`].
    pub fn metrics(&self) -> String {
        self.inner.metrics.render()
    }

    /// The body of `GET /health`.
    pub fn health(&self) -> Health {
        Health {
            status: "ok",
            server: self.inner.framework.name,
            open_streams: self.open_streams(),
            max_streams: self.options().max_streams,
            uptime_secs: self.inner.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION"),
            hub: self.inner.chat.kind(),
            redis: self.inner.chat.redis_status(),
        }
    }
}

/// `GET /health`, as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// Always `ok` while the server answers.
    pub status: &'static str,
    /// Which framework answered: `axum`, `actix` or `warp`.
    pub server: &'static str,
    /// Event streams open now.
    pub open_streams: usize,
    /// `--max-streams`.
    pub max_streams: usize,
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// The workspace version.
    pub version: &'static str,
    /// Where the chat log lives: `memory` (this process) or `redis` (shared by every instance).
    pub hub: &'static str,
    /// With `--redis`: `up` while the server's reader is connected to Redis, else `down`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<&'static str>,
}

/// `stream`, adding one to `sent` for each item it yields.
fn counting<S: Stream>(stream: S, sent: Counter) -> impl Stream<Item = S::Item> {
    stream.inspect(move |_| {
        sent.inc();
    })
}

/// Past `--max-streams`: status 200 (a 503 would make a browser give up for good), a long
/// `retry:`, a comment saying why, and the end of the stream, so the browser comes back later.
fn busy(max: usize) -> EventStream {
    let comment = Event::comment(format!("server busy: {max} streams open, try again later"));
    EventStream {
        retry_ms: BUSY_RETRY_MS,
        events: Box::pin(stream::iter([comment])),
        _slot: None,
    }
}

/// The events of one response, which opens with a `retry:` field. Dropping it (the client went
/// away, or the stream ended) releases everything it held, timers included, and lowers the
/// open-streams count.
pub struct EventStream {
    retry_ms: u64,
    events: Pin<Box<dyn Stream<Item = Event> + Send + Sync>>,
    _slot: Option<OpenSlot>,
}

impl EventStream {
    /// How long a browser should wait before reconnecting: the `retry:` field the response
    /// sends before its first event. (actix-web-lab takes it as a setting, not as an event.)
    pub fn retry(&self) -> Duration {
        Duration::from_millis(self.retry_ms)
    }

    /// The whole response body as the core encodes it: `retry:` first, then every event, and a
    /// keep-alive comment after `keep_alive` of silence. For a framework whose own SSE type
    /// cannot meet the contract.
    pub fn encoded(self, keep_alive: Duration) -> EncodedStream {
        let Self {
            retry_ms,
            events,
            _slot,
        } = self;
        let retry = Event::retry(retry_ms).encode();
        let events = events.map(|event| event.encode());
        EncodedStream {
            bytes: Box::pin(stream::iter([retry]).chain(KeepAlive::new(events, keep_alive))),
            _slot,
        }
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.events.as_mut().poll_next(cx)
    }
}

/// A whole response body, already encoded: `retry:` first, then events and keep-alive
/// comments, each chunk flushed as it comes. Dropping it releases everything it held.
pub struct EncodedStream {
    bytes: Pin<Box<dyn Stream<Item = Bytes> + Send + Sync>>,
    _slot: Option<OpenSlot>,
}

impl Stream for EncodedStream {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.bytes.as_mut().poll_next(cx)
    }
}

/// One unit of the open-streams count, given back on drop.
struct OpenSlot {
    state: AppState,
    kind: StreamKind,
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        let inner = &self.state.inner;
        inner.open_streams.fetch_sub(1, Ordering::Relaxed);
        inner.metrics.stream_closed(self.kind);
        tracing::debug!(stream = self.kind.name(), "stream closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn state(args: &str) -> AppState {
        let args = format!("server-axum {args}");
        let options = Options::try_parse_for(Framework::AXUM, args.split_whitespace());
        AppState::new(
            Framework::AXUM,
            options.expect("valid"),
            CancellationToken::new(),
        )
    }

    fn events(answer: StreamAnswer) -> EventStream {
        match answer {
            StreamAnswer::Events(events) => events,
            other => panic!("expected events, got {}", describe(&other)),
        }
    }

    fn encoded(answer: StreamAnswer) -> EncodedStream {
        match answer {
            StreamAnswer::Encoded(bytes) => bytes,
            other => panic!("expected encoded bytes, got {}", describe(&other)),
        }
    }

    fn describe(answer: &StreamAnswer) -> String {
        match answer {
            StreamAnswer::Events(_) => "events".into(),
            StreamAnswer::Encoded(_) => "encoded bytes".into(),
            StreamAnswer::NoContent => "204".into(),
            StreamAnswer::BadRequest(bad) => format!("400: {bad}"),
        }
    }

    async fn post(state: &AppState, body: &str) -> ChatReply {
        let body = stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from(
            body.to_owned(),
        ))]);
        let headers = ChatHeaders {
            content_type: Some(b"application/json"),
            ..ChatHeaders::default()
        };
        state.post_chat(headers, body).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_chat_stream_sends_retry_then_what_was_posted() {
        let state = state("--retry-ms 1000 --retry-jitter 0 --keep-alive-secs 5");
        let reply = post(&state, r#"{"user":"ann","text":"hello"}"#).await;
        assert_eq!((reply.status, reply.json.as_str()), (201, r#"{"id":1}"#));
        let mut chat = encoded(state.open_stream(StreamKind::Chat, None, None));
        assert_eq!(state.open_streams(), 1);
        assert_eq!(chat.next().await, Some("retry: 1000\n\n".into()));
        let first = chat.next().await.expect("the kept message");
        assert!(first.starts_with(b"id: 1\nevent: chat\ndata: {\"id\":1,\"user\":\"ann\""));
        let start = tokio::time::Instant::now();
        assert_eq!(chat.next().await, Some(": keep-alive\n\n".into()));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        post(&state, r#"{"user":"bob","text":"again"}"#).await;
        let second = chat.next().await.expect("a live message");
        assert!(second.starts_with(b"id: 2\nevent: chat\n"), "{second:?}");
        state.shutdown().cancel();
        assert_eq!(chat.next().await, None, "shutdown ends the chat stream");
        drop(chat);
        assert_eq!(state.open_streams(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_encoded_body_starts_with_retry_then_the_first_event() {
        let state = state("--retry-ms 1234 --retry-jitter 0");
        let stream = events(state.open_stream(StreamKind::Counter, None, None));
        assert_eq!(stream.retry(), Duration::from_millis(1234));
        let mut body = std::pin::pin!(stream.encoded(Duration::from_secs(15)));
        assert_eq!(body.next().await, Some("retry: 1234\n\n".into()));
        assert_eq!(
            body.next().await,
            Some("id: 0\ndata: {\"count\":0}\n\n".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn open_streams_counts_until_dropped() {
        let state = state("");
        let a = state.open_stream(StreamKind::Clock, None, None);
        let b = state.open_stream(StreamKind::Paragraph, None, None);
        assert_eq!(state.open_streams(), 2);
        assert_eq!(state.health().open_streams, 2);
        drop(a);
        assert_eq!(state.open_streams(), 1);
        drop(b);
        assert_eq!(state.open_streams(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn past_max_streams_a_stream_is_told_to_come_back_later() {
        let state = state("--max-streams 1");
        let _kept = state.open_stream(StreamKind::Clock, None, None);
        let refused: Vec<_> = events(state.open_stream(StreamKind::Clock, None, None))
            .encoded(Duration::from_secs(15))
            .collect()
            .await;
        assert_eq!(
            refused.len(),
            2,
            "retry, a comment, then the end: {refused:?}"
        );
        assert_eq!(refused[0], "retry: 5000\n\n");
        assert!(refused[1].starts_with(b": server busy"), "{:?}", refused[1]);
        assert_eq!(state.open_streams(), 1, "the refused stream is not counted");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_every_open_stream() {
        let state = state("");
        let mut streams: Vec<_> = [
            StreamKind::Clock,
            StreamKind::Counter,
            StreamKind::Paragraph,
        ]
        .into_iter()
        .map(|kind| events(state.open_stream(kind, Some("interval_ms=60000"), None)))
        .collect();
        for stream in &mut streams {
            stream.next().await.expect("first event");
        }
        state.shutdown().cancel();
        for stream in &mut streams {
            assert!(
                stream.next().await.is_none(),
                "stream still open after shutdown"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn answers_bad_queries_and_finished_paragraphs() {
        let state = state("");
        let bad = state.open_stream(StreamKind::Clock, Some("interval_ms=5"), None);
        assert!(matches!(bad, StreamAnswer::BadRequest(b) if b.param == "interval_ms"));
        let done = state.open_stream(StreamKind::Paragraph, None, Some(b"5"));
        assert!(matches!(done, StreamAnswer::NoContent));
        assert_eq!(state.open_streams(), 0);
    }
}
