// @only-solution 1
//! Step 1, the first stream, solved: `GET /events` is an event stream that sends the time at
//! once, then once every `interval_ms` (default 1000), with ids 1, 2, 3, ...
// @end
// @only-solution 2
//! Step 2, the paragraph, solved: `GET /events/paragraph` sends five sentences, then an `end`
//! event, then ends the response.
// @end
// @only-solution 3
//! Step 3, resume, solved: both streams go on after the `Last-Event-ID` a browser sends on
//! reconnecting (or `?lastEventId=` on a first connect), and the paragraph answers 204 when
//! nothing is left.
// @end
// @only-solution 4
//! Step 4, retry and keep-alive, solved: every stream starts with `retry:`, and a comment
//! fills every silence of `--keep-alive-secs`.
// @end
// @only-solution 5
//! Step 5, a chat, solved: `POST /chat` publishes, `GET /events/chat` replays and goes on live,
//! with no gap and no duplicate.
// @end
// @only-solution 6
//! Step 6, shutdown and vanishing clients, solved: on SIGTERM or Ctrl-C every stream ends and
//! the server exits; `/health` counts the streams open, and a client that goes away is
//! forgotten.
// @end
// @only-solution 7
//! Step 7, an answer over POST, solved: the whole workshop. `POST /v1/chat/completions` streams
//! a stand-in model's answer token by token in OpenAI's format, ends with `data: [DONE]`, and
//! stops generating the moment its client goes away.
// @end
// @only-starter 1
//! Step 1, the first stream. The server starts and prints its address; it has no stream yet.
//! Add `GET /events`: see this step's README.md. `cargo test` grades it.
// @end
// @only-starter 2
//! Step 2, the paragraph. The clock from step 1 works; add `GET /events/paragraph` (see the
//! TODO below and this step's README.md). `cargo test` grades steps 1 and 2.
// @end
// @only-starter 3
//! Step 3, resume. Both streams work but always start from the beginning; make them go on
//! after `Last-Event-ID` (see the TODOs and this step's README.md).
// @end
// @only-starter 4
//! Step 4, retry and keep-alive. The options `--retry-ms` and `--keep-alive-secs` are parsed
//! but not used yet (see the TODOs and this step's README.md).
// @end
// @only-starter 5
//! Step 5, a chat. The routes are there and answer 501; fill them in (see the TODOs and this
//! step's README.md).
// @end
// @only-starter 6
//! Step 6, shutdown and vanishing clients. Try Ctrl-C with a stream open: the process dies and
//! the stream is cut, not ended. Fix that, and add `/health` (see the TODOs and this step's
//! README.md).
// @end
// @only-starter 7
//! Step 7, an answer over POST. The request, its errors, the stand-in model and `/metrics` are
//! written; `POST /v1/chat/completions` answers 501. Stream the answer (see the TODO and this
//! step's README.md).
// @end
//!
//! `cargo run`, then `curl -N http://127.0.0.1:3000/events`.
// @only-starter 1

// What the clock will need is here, unused until you write it.
#![allow(dead_code, unused_imports)]
// @end
// @only-starter 7

// What the answers will need is here, unused until you write it.
#![allow(dead_code, unused_imports)]
// @end

// @from 5
use std::collections::VecDeque;
// @end
use std::convert::Infallible;
// @from 6
use std::sync::atomic::{AtomicU64, Ordering};
// @end
// @from 5
use std::sync::{Arc, Mutex};
// @end
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
// @from 5
use serde::Serialize;
// @end
// @from-step 7
use serde_json::{Value, json};
// @end
// @from 5
use tokio::sync::broadcast;
// @end
// @from 6
use tokio_util::sync::CancellationToken;
// @end
// @from 3
use warp::http::HeaderMap;
// @end
// @only-starter 3
use warp::http::HeaderMap;
// @end
use warp::http::header::{CONTENT_TYPE, HeaderValue};
// @from 3
use warp::http::StatusCode;
// @end
// @only-starter 2
use warp::http::StatusCode;
// @end
use warp::reply::Response;
use warp::{Filter, Reply};

/// The options the grader starts the server with.
#[derive(Debug, Clone, Parser)]
struct Options {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The port; 0 picks a free one.
    #[arg(long, default_value_t = 3000)]
    port: u16,
// @from-step 4
    /// How long a browser waits before reconnecting, sent as `retry:`.
    #[arg(long, default_value_t = 3000)]
    retry_ms: u64,
    /// After this many seconds without a write, a comment keeps the connection alive.
    #[arg(long, default_value_t = 15)]
    keep_alive_secs: u64,
// @end
// @from-step 7
    /// Answers: milliseconds the model thinks before its first token.
    #[arg(long, default_value_t = 300)]
    think_ms: u64,
    /// Answers: milliseconds between two tokens.
    #[arg(long, default_value_t = 40)]
    token_ms: u64,
// @end
}

// @from-step 2
/// The seed's paragraph, one sentence per event.
const SENTENCES: [&str; 5] = [
    "Hello, this is an example of a continuous text output.",
    "It contains multiple sentences, each of which will be sent to the client as an event.",
    "This is to simulate the functionality of Server-Sent Events (SSE).",
    "We can use this method to push real-time updates.",
    "End of sample text, thank you!",
];

// @end
/// What every handler can reach.
#[derive(Clone)]
struct Shared {
// @from-step 4
    options: Options,
// @end
// @until-step 3
    // Nothing yet: step 4 adds the options.
// @end
// @from 5
    chat: Arc<Mutex<Chat>>,
// @end
// @from 6
    /// Cancelled on SIGTERM or Ctrl-C: every stream ends, so that the server can stop.
    shutdown: CancellationToken,
    /// Streams open now, for `/health`.
    open: Arc<AtomicU64>,
// @end
// @from-step 7
    /// What `/metrics` counts of the answers.
    answers: Arc<AnswerCounts>,
// @end
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let options = Options::parse();
    let listener = tokio::net::TcpListener::bind((options.host.as_str(), options.port)).await?;
    // Tests and scripts read the port from this line: print it first, and only once bound.
    println!("listening on http://{}/ (warp)", listener.local_addr()?);
// @from 6
    let shutdown = CancellationToken::new();
// @end
    let shared = Shared {
// @from-step 4
        options,
// @end
// @from 5
        chat: Arc::new(Mutex::new(Chat::new())),
// @end
// @from 6
        shutdown: shutdown.clone(),
        open: Arc::new(AtomicU64::new(0)),
// @end
// @from-step 7
        answers: Arc::default(),
// @end
    };
    let with_shared = warp::any().map(move || shared.clone());
// @from 1
    let clock = warp::path!("events")
        .and(warp::get())
        .and(with_shared.clone())
        .and(warp::query::<Pace>())
// @from 3
        .and(warp::header::headers_cloned())
// @end
        .map(clock);
// @end
// @from 2
    let paragraph = warp::path!("events" / "paragraph")
        .and(warp::get())
        .and(with_shared.clone())
        .and(warp::query::<Pace>())
// @from 3
        .and(warp::header::headers_cloned())
// @end
        .map(paragraph);
// @end
// @only-starter 2
    let paragraph = warp::path!("events" / "paragraph").map(paragraph);
// @end
// @from 5
    let publish = warp::path!("chat")
        .and(warp::post())
        .and(with_shared.clone())
        .and(warp::body::json())
        .map(publish);
    let chat = warp::path!("events" / "chat")
        .and(warp::get())
        .and(with_shared.clone())
        .and(warp::query::<ChatQuery>())
        .and(warp::header::headers_cloned())
        .map(chat);
// @end
// @only-starter 5
    let publish = warp::path!("chat").and(warp::post()).map(publish);
    let chat = warp::path!("events" / "chat").map(chat);
// @end
// @from 6
    let health = warp::path!("health").and(with_shared.clone()).map(health);
// @end
// @from-step 7
    let complete = warp::path!("v1" / "chat" / "completions")
        .and(warp::post())
        .and(with_shared.clone())
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::bytes())
        .then(complete);
    let metrics = warp::path!("metrics").and(with_shared.clone()).map(metrics);
// @end
// @until 5
    let _ = with_shared;
// @end
    // Each route is tried in turn; a request none of them takes is answered 404.
    let routes = warp::path!("nothing" / "here").map(|| "a route to start the list")
// @from 1
        .or(clock)
// @end
// @from 2
        .or(paragraph)
// @end
// @only-starter 2
        .or(paragraph)
// @end
// @from 5
        .or(publish)
        .or(chat)
// @end
// @only-starter 5
        .or(publish)
        .or(chat)
// @end
// @from 6
        .or(health)
// @end
// @from-step 7
        .or(complete)
        .or(metrics)
// @end
        ;
// @from 6
    // warp's graceful shutdown waits for every response to end, and an event stream never
    // ends by itself: the token ends them.
    let stop = async move {
        signal().await;
        shutdown.cancel();
    };
    warp::serve(routes).incoming(listener).graceful(stop).run().await;
// @end
// @until 5
    warp::serve(routes).incoming(listener).run().await;
// @end
// @only-starter 6
    // TODO(step 6): on SIGTERM or Ctrl-C, end every stream and stop. warp's `.graceful(...)`
    // waits for responses to end, so first make the streams end.
// @end
    Ok(())
}

// @from 6
/// Resolves on SIGTERM (what `kill` and service managers send) or Ctrl-C (SIGINT).
async fn signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a signal handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

// @end
/// One event. warp has an `sse` module, but it writes `data:text` without the space, and
/// splits data on LF only, so that a CR in a chat message would forge a line. This server
/// writes its events itself.
#[derive(Debug, Clone, Default)]
struct Event {
    event: Option<String>,
    id: Option<String>,
    data: String,
}

impl Event {
    /// The event's bytes: `event:` and `id:` if any, one `data:` line per line of data, and the
    /// blank line that ends the event.
    fn encode(&self) -> Bytes {
        let mut out = String::new();
        if let Some(event) = &self.event {
            out += &format!("event: {event}\n");
        }
        if let Some(id) = &self.id {
            out += &format!("id: {id}\n");
        }
// @from 5
        // CR, LF and CRLF all end a line for a browser: split on each, so that no text can
        // end a `data:` line early and start a field of its own.
        let data = self.data.replace("\r\n", "\n").replace('\r', "\n");
        for line in data.split('\n') {
// @end
// @until 4
        for line in self.data.split('\n') {
// @end
            out += &format!("data: {line}\n");
        }
        out.push('\n');
        Bytes::from(out)
    }
}

/// The pace of a stream: `?interval_ms=250`.
#[derive(Debug, Deserialize)]
struct Pace {
    #[serde(default = "one_second")]
    interval_ms: u64,
// @from-step 3
    /// A browser cannot set `Last-Event-ID` on its first connect; a page can pass it here.
    #[serde(rename = "lastEventId")]
    last_event_id: Option<String>,
// @end
}

fn one_second() -> u64 {
    1000
}

// @from 3
/// The id a client resumes after: the `Last-Event-ID` header, or the `lastEventId` query
/// parameter when there is no header. Anything but a number means "start fresh": a 400 would
/// make the browser give up for good.
fn resume_after(headers: &HeaderMap, query: Option<&str>) -> Option<u64> {
    match headers.get("last-event-id") {
        // `to_str()` refuses bytes that are not ASCII; read them as UTF-8 instead.
        Some(value) => std::str::from_utf8(value.as_bytes()).ok()?.trim().parse().ok(),
        None => query?.trim().parse().ok(),
    }
}

// @end
// @only-starter 3
/// TODO(step 3): the id a client resumes after: the `Last-Event-ID` header, or the
/// `lastEventId` query parameter when there is no header. `None` when there is neither, or
/// when it is not a number.
fn resume_after(_headers: &HeaderMap, _query: Option<&str>) -> Option<u64> {
    None
}

// @end
/// Turns a stream of events into the response every stream shares: the bytes as they come,
/// and the headers the browser and the proxies on the way need. (warp wants the stream `Sync`
/// as well as `Send`: everything it holds may be looked at from another thread.)
fn event_stream(
    shared: &Shared,
    events: impl Stream<Item = Event> + Send + Sync + 'static,
) -> Response {
    let bytes = events.map(|event| event.encode());
// @from 4
    // `retry:` first: how long the browser waits before reconnecting.
    let retry = Bytes::from(format!("retry: {}\n\n", shared.options.retry_ms));
    let bytes = stream::once(async move { retry }).chain(bytes);
// @end
// @from 7
    stream_response(shared, bytes)
}

/// The response of every stream, a `GET` or an answer: the bytes as they come, with the
/// headers, keep-alive comments and the end on shutdown. An answer comes here directly, with no
/// `retry:`: nothing reconnects a `POST`, and OpenAI's Python client takes a block without data
/// for an event, and fails on it.
fn stream_response(
    shared: &Shared,
    bytes: impl Stream<Item = Bytes> + Send + Sync + 'static,
) -> Response {
// @end
// @from 4
    // A comment after every `--keep-alive-secs` without a write, so that no proxy on the way
    // closes the connection as idle; the wait starts again after each write.
    let period = Duration::from_secs(shared.options.keep_alive_secs);
    let bytes = stream::unfold(Box::pin(bytes), move |mut bytes| async move {
        match tokio::time::timeout(period, bytes.next()).await {
            Ok(Some(chunk)) => Some((chunk, bytes)),
            Ok(None) => None,
            Err(_silence) => Some((Bytes::from_static(b": keep-alive\n\n"), bytes)),
        }
    });
// @end
// @only-starter 4
    // TODO(step 4): `retry: <--retry-ms>` first, and a `: keep-alive` comment after
    // `--keep-alive-secs` without a write.
// @end
// @from 6
    // The stream ends when the server shuts down, and counts as open until it is dropped
    // (which hyper does when the client goes away).
    let open = OpenStream::new(&shared.open);
    let bytes = bytes
        .take_until(shared.shutdown.clone().cancelled_owned())
        .map(move |chunk| {
            let _still_open = &open;
            chunk
        });
// @end
// @until 3
    let _ = shared;
// @end
    let mut response = warp::reply::stream(bytes.map(Ok::<_, Infallible>)).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    // nginx buffers responses unless told not to, which would hold events back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    // Pages from any origin may read the streams.
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    response
}

// @only-starter 1
// TODO(step 1): `GET /events`, the clock. Something like
//
//     fn clock(shared: Shared, pace: Pace) -> Response {
//         let events = ...; // a `Stream` of `Event`s: id 1, 2, 3, ..., data the time
//         event_stream(&shared, events)
//     }
//
// and, in `main`, a route for it:
//
//     let clock = warp::path!("events").and(warp::get()).and(with_shared.clone())
//         .and(warp::query::<Pace>()).map(clock);
//
// added to the list with `.or(clock)`.
// @end
// @from 1
/// `GET /events`: the server's time, at once, then every `interval_ms`.
// @from 3
fn clock(shared: Shared, pace: Pace, headers: HeaderMap) -> Response {
    let first = resume_after(&headers, pace.last_event_id.as_deref()).map_or(1, |n| n + 1);
// @end
// @until 2
fn clock(shared: Shared, pace: Pace) -> Response {
    let first = 1;
// @end
    // An interval's first tick is at once; later ticks keep to the pace even if a write was
    // slow.
    let ticker = tokio::time::interval(Duration::from_millis(pace.interval_ms));
    let ticks = stream::unfold((ticker, first), |(mut ticker, id)| async move {
        ticker.tick().await;
        let event = Event {
            id: Some(id.to_string()),
            data: chrono::Local::now().to_rfc2822(),
            ..Event::default()
        };
        Some((event, (ticker, id + 1)))
    });
    event_stream(&shared, ticks)
}

// @end
// @from 2
/// `GET /events/paragraph`: the five sentences, one per `interval_ms`, then `end`.
// @from 3
fn paragraph(shared: Shared, pace: Pace, headers: HeaderMap) -> Response {
    let after = resume_after(&headers, pace.last_event_id.as_deref()).unwrap_or(0);
    if after >= SENTENCES.len() as u64 {
        // Nothing left: 204 tells the browser to stop reconnecting.
        return StatusCode::NO_CONTENT.into_response();
    }
// @end
// @until 2
fn paragraph(shared: Shared, pace: Pace) -> Response {
    let after = 0;
// @end
    let sentences = (after as usize..SENTENCES.len()).map(|i| Event {
        id: Some((i + 1).to_string()),
        data: SENTENCES[i].to_owned(),
        ..Event::default()
    });
    // No id on `end`: a browser reconnecting after it still sends the last sentence's id.
    let end = Event {
        event: Some("end".into()),
        data: "The paragraph is complete.".into(),
        ..Event::default()
    };
    let events = sentences.chain([end]);
    // The first tick is at once, then one per interval.
    let ticker = tokio::time::interval(Duration::from_millis(pace.interval_ms));
    let paced = stream::unfold((ticker, events), |(mut ticker, mut events)| async move {
        let event = events.next()?;
        ticker.tick().await;
        Some((event, (ticker, events)))
    });
    event_stream(&shared, paced)
}

// @end
// @only-starter 2
/// TODO(step 2): `GET /events/paragraph`: the five sentences in `SENTENCES` with ids 1 to 5,
/// one per `interval_ms`, then an `end` event (no id), then the end of the response. (Give
/// the route the same filters as the clock's.)
fn paragraph() -> Response {
    let todo = "TODO(step 2): the paragraph";
    warp::reply::with_status(todo, StatusCode::NOT_IMPLEMENTED).into_response()
}

// @end
// @from 5
/// One chat message, as the stream sends it in `data:`.
#[derive(Debug, Clone, Serialize)]
struct Message {
    id: u64,
    user: String,
    text: String,
    /// When it was posted, RFC 3339.
    time: String,
}

/// The chat: the last messages, and a channel to the streams open now.
struct Chat {
    history: VecDeque<Message>,
    next_id: u64,
    live: broadcast::Sender<Message>,
}

/// Messages kept for replay.
const HISTORY: usize = 1000;

impl Chat {
    fn new() -> Self {
        // A stream that falls more than 1024 messages behind loses the oldest (see `chat`).
        let (live, _) = broadcast::channel(1024);
        Self {
            history: VecDeque::with_capacity(HISTORY),
            next_id: 1,
            live,
        }
    }
}

/// What `POST /chat` takes.
#[derive(Debug, Deserialize)]
struct Post {
    user: String,
    text: String,
}

/// `POST /chat`: gives the message the next id, keeps it, and sends it to every open stream.
fn publish(shared: Shared, post: Post) -> Response {
    let mut chat = shared.chat.lock().expect("no thread panics while holding the chat");
    let message = Message {
        id: chat.next_id,
        user: post.user,
        text: post.text,
        time: chrono::Utc::now().to_rfc3339(),
    };
    chat.next_id += 1;
    if chat.history.len() == HISTORY {
        chat.history.pop_front();
    }
    chat.history.push_back(message.clone());
    // Sent under the lock, so that a stream subscribing gets each message exactly once: from
    // the history or from the channel. No stream open is fine: `send` fails, nothing is lost.
    let _ = chat.live.send(message.clone());
    let reply = warp::reply::json(&serde_json::json!({ "id": message.id }));
    warp::reply::with_status(reply, StatusCode::CREATED).into_response()
}

/// `GET /events/chat` takes `?history=n` (how many past messages first, default 10) and
/// `?lastEventId=`.
#[derive(Debug, Deserialize)]
struct ChatQuery {
    #[serde(default = "ten")]
    history: usize,
    #[serde(rename = "lastEventId")]
    last_event_id: Option<String>,
}

fn ten() -> usize {
    10
}

/// `GET /events/chat`: after `Last-Event-ID: n` every kept message after n, else the last
/// `history`; then each new message as it is posted.
fn chat(shared: Shared, query: ChatQuery, headers: HeaderMap) -> Response {
    let after = resume_after(&headers, query.last_event_id.as_deref());
    let (past, live) = {
        // One lock for both: no message can fall between the history and the channel.
        let chat = shared.chat.lock().expect("no thread panics while holding the chat");
        let past: Vec<Message> = match after {
            Some(n) => chat.history.iter().filter(|m| m.id > n).cloned().collect(),
            None => {
                let skip = chat.history.len().saturating_sub(query.history);
                chat.history.iter().skip(skip).cloned().collect()
            }
        };
        (past, chat.live.subscribe())
    };
    let live = stream::unfold(live, |mut live| async move {
        loop {
            match live.recv().await {
                Ok(message) => return Some((message, live)),
                // Too slow: the channel dropped this stream's oldest messages. It goes on with
                // the next (our servers also send an `event: lagged` saying how many).
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let events = stream::iter(past).chain(live).map(|message| Event {
        event: Some("chat".into()),
        id: Some(message.id.to_string()),
        data: serde_json::to_string(&message).expect("a message is always JSON"),
    });
    event_stream(&shared, events)
}

// @end
// @only-starter 5
/// TODO(step 5): `POST /chat` with JSON `{"user": "...", "text": "..."}`: give the message the
/// next id (1, 2, 3, ...), keep it, send it to every open chat stream, and answer 201 with
/// `{"id": n}`. (`warp::body::json()` reads the body.)
fn publish() -> Response {
    let todo = "TODO(step 5): POST /chat";
    warp::reply::with_status(todo, StatusCode::NOT_IMPLEMENTED).into_response()
}

/// TODO(step 5): `GET /events/chat`: `event: chat`, `id: n`, `data:` the message as JSON
/// `{"id", "user", "text", "time"}`; after `Last-Event-ID: n` every kept message after n first,
/// without `?history=` the last 10, then each new one.
fn chat() -> Response {
    let todo = "TODO(step 5): GET /events/chat";
    warp::reply::with_status(todo, StatusCode::NOT_IMPLEMENTED).into_response()
}

// @end
// @from 6
/// Counts a stream as open from its creation until it is dropped.
struct OpenStream(Arc<AtomicU64>);

impl OpenStream {
    fn new(open: &Arc<AtomicU64>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(open))
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `GET /health`: `{"status": "ok", "server": "warp", "open_streams": n}`.
fn health(shared: Shared) -> Response {
    let open = shared.open.load(Ordering::Relaxed);
    let health = serde_json::json!({ "status": "ok", "server": "warp", "open_streams": open });
    warp::reply::json(&health).into_response()
}
// @end
// @from-step 7

// What follows is given: the request an OpenAI client sends, its errors in OpenAI's shape, the
// stand-in model, and what `/metrics` counts. The lesson is `complete`, further down.

/// The largest request body taken: a conversation is sent whole with every question.
const MAX_BODY: usize = 64 * 1024;

/// What `POST /v1/chat/completions` takes: the part of OpenAI's request the stand-in reads.
#[derive(Debug, Deserialize)]
struct Ask {
    model: Option<String>,
    messages: Vec<AskMessage>,
    #[serde(default)]
    stream: bool,
    max_tokens: Option<u64>,
    #[serde(default)]
    stream_options: StreamOptions,
}

#[derive(Debug, Deserialize)]
struct AskMessage {
    role: String,
    #[serde(default)]
    content: String,
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    /// A last chunk with the token counts, before `[DONE]`.
    #[serde(default)]
    include_usage: bool,
}

/// An error as OpenAI sends it, `{"error": {"message", "type", "param", "code"}}`, which the
/// official clients raise as an exception with this message.
struct ApiError {
    status: u16,
    message: String,
    /// The field at fault, if one is.
    param: Option<String>,
}

impl ApiError {
    fn new(status: u16, param: Option<&str>, message: impl Into<String>) -> Self {
        let param = param.map(str::to_owned);
        Self { status, message: message.into(), param }
    }

    /// The body of the error's response.
    fn json(&self) -> Value {
        let error = json!({
            "message": self.message,
            "type": "invalid_request_error",
            "param": self.param,
            "code": null,
        });
        json!({ "error": error })
    }
}

/// Reads and checks a request: JSON (by its `Content-Type`), at most `MAX_BODY` bytes, a model,
/// known roles, a user message to answer, and `max_tokens` from 1 to 4096.
fn read_ask(content_type: Option<&str>, body: &[u8]) -> Result<Ask, ApiError> {
    if !content_type.unwrap_or_default().starts_with("application/json") {
        let message = "send the body as JSON, with Content-Type: application/json";
        return Err(ApiError::new(415, None, message));
    }
    if body.len() > MAX_BODY {
        return Err(ApiError::new(413, None, format!("the body is over {MAX_BODY} bytes")));
    }
    let ask: Ask = serde_json::from_slice(body).map_err(|e| {
        let message = format!("the body is not valid JSON for a chat request: {e}");
        ApiError::new(400, None, message)
    })?;
    let invalid = |param: &str, message: String| Err(ApiError::new(400, Some(param), message));
    if ask.model.as_deref().is_none_or(|model| model.trim().is_empty()) {
        return invalid("model", "model is required: name one, any name".into());
    }
    const ROLES: [&str; 5] = ["system", "developer", "user", "assistant", "tool"];
    for (i, message) in ask.messages.iter().enumerate() {
        if !ROLES.contains(&message.role.as_str()) {
            let role = format!("messages[{i}].role");
            let roles = ROLES.join(", ");
            return invalid(&role, format!("{role} is {:?}: a role is one of {roles}", message.role));
        }
    }
    if !ask.messages.iter().any(|message| message.role == "user") {
        let message = "messages holds no message with \"role\": \"user\": nothing to answer";
        return invalid("messages", message.into());
    }
    if let Some(max) = ask.max_tokens.filter(|max| !(1..=4096).contains(max)) {
        return invalid("max_tokens", format!("max_tokens is {max}: it must be 1 to 4096"));
    }
    Ok(ask)
}

/// The stand-in model, no weights: the question's words quoted (eight at most), their count,
/// then the paragraph.
fn stand_in_answer(question: &str) -> String {
    let words: Vec<&str> = question.split_whitespace().collect();
    let mut quoted = words[..words.len().min(8)].join(" ");
    if words.len() > 8 {
        quoted.push('…');
    }
    let count = match words.len() {
        1 => "1 word".to_owned(),
        n => format!("{n} words"),
    };
    format!("You asked: \"{quoted}\" ({count}). {}", SENTENCES.join(" "))
}

/// An answer cut into tokens: each word with the spaces before it, so that they join to it.
fn tokens(answer: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for c in answer.chars() {
        let starts_a_word = c.is_whitespace() && current.ends_with(|c: char| !c.is_whitespace());
        if starts_a_word {
            tokens.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    tokens.push(current);
    tokens
}

/// What `/metrics` counts: tokens generated, and answers that reached their end or did not.
#[derive(Debug, Default)]
struct AnswerCounts {
    tokens: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
}

/// The content type of `/metrics`.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl AnswerCounts {
    /// The counters in the OpenMetrics text format, for `GET /metrics`.
    fn openmetrics(&self) -> String {
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        format!(
            "# TYPE sse_answer_tokens counter\nsse_answer_tokens_total {}\n\
             # TYPE sse_answers_completed counter\nsse_answers_completed_total {}\n\
             # TYPE sse_answers_cancelled counter\nsse_answers_cancelled_total {}\n# EOF\n",
            count(&self.tokens),
            count(&self.completed),
            count(&self.cancelled),
        )
    }
}
// @end
// @from 7

/// One answer: who it is, what it says, and what the request asked of it.
struct Answer {
    /// `chatcmpl-` and a number no other answer of this process has.
    id: String,
    created: u64,
    model: String,
    tokens: Vec<String>,
    /// Whether `max_tokens` cut it: `"finish_reason": "length"`.
    cut: bool,
    prompt_tokens: usize,
    include_usage: bool,
}

impl Answer {
    fn to(ask: Ask) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let since_1970 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let since_1970 = since_1970.unwrap_or_default();
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let question = ask.messages.iter().rev().find(|m| m.role == "user");
        let mut tokens = tokens(&stand_in_answer(&question.expect("checked").content));
        let max = ask.max_tokens.map_or(usize::MAX, |max| max as usize);
        let cut = tokens.len() > max;
        tokens.truncate(max);
        Self {
            id: format!("chatcmpl-{:x}{number:08x}", since_1970.as_nanos()),
            created: since_1970.as_secs(),
            model: ask.model.unwrap_or_default(),
            tokens,
            cut,
            prompt_tokens: ask.messages.iter().map(|m| m.content.split_whitespace().count()).sum(),
            include_usage: ask.stream_options.include_usage,
        }
    }

    fn finish_reason(&self) -> &'static str {
        if self.cut { "length" } else { "stop" }
    }

    fn usage(&self) -> Value {
        let completion = self.tokens.len();
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        })
    }

    /// A `chat.completion.chunk` with these `choices`.
    fn chunk(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }

    /// The `data:` of event `index` of the stream: the role, the tokens, the finish, the usage
    /// if asked, then `[DONE]`; `None` after that.
    fn event_data(&self, index: usize) -> Option<String> {
        let choice = |delta: Value, finish: Option<&str>| {
            json!([{ "index": 0, "delta": delta, "finish_reason": finish }])
        };
        let tokens = self.tokens.len();
        let finish = tokens + 1;
        let done = finish + 1 + usize::from(self.include_usage);
        let chunk = match index {
            0 => self.chunk(choice(json!({ "role": "assistant", "content": "" }), None)),
            i if i <= tokens => self.chunk(choice(json!({ "content": self.tokens[i - 1] }), None)),
            i if i == finish => self.chunk(choice(json!({}), Some(self.finish_reason()))),
            i if i == done => return Some("[DONE]".to_owned()),
            i if i < done => {
                let mut chunk = self.chunk(json!([]));
                chunk["usage"] = self.usage();
                chunk
            }
            _ => return None,
        };
        Some(chunk.to_string())
    }

    /// Without `"stream": true`: one `chat.completion`.
    fn completion(&self) -> Value {
        let message = json!({ "role": "assistant", "content": self.tokens.concat() });
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{ "index": 0, "message": message, "finish_reason": self.finish_reason() }],
            "usage": self.usage(),
        })
    }
}

/// An answer being generated, as `/metrics` sees it: counted as completed once its end is
/// handed over, and as cancelled if it is dropped first. The response's stream owns it, and
/// hyper, under warp, drops the stream when the client goes away: so the generation, which is the
/// stream, stops there.
struct Generation {
    counts: Arc<AnswerCounts>,
    completed: bool,
}

impl Generation {
    fn new(counts: &Arc<AnswerCounts>) -> Self {
        Self { counts: Arc::clone(counts), completed: false }
    }

    fn token(&self) {
        self.counts.tokens.fetch_add(1, Ordering::Relaxed);
    }

    fn complete(&mut self) {
        self.completed = true;
        self.counts.completed.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        if !self.completed {
            self.counts.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The time before token `n` (from 0): the model thinks before the first.
fn pause_before(options: &Options, n: usize) -> Duration {
    let ms = if n == 0 { options.think_ms } else { options.token_ms };
    Duration::from_millis(ms)
}

/// The answer's events, paced: nothing is generated ahead of what is sent, since each event is
/// made when the framework asks for the next. `event` makes an event from its id and data.
fn answer_events<E>(
    options: Options,
    answer: Answer,
    generation: Generation,
    event: fn(String, String) -> E,
) -> impl Stream<Item = E> {
    stream::unfold((answer, generation, 0), move |(answer, mut generation, i)| {
        let options = options.clone();
        async move {
            let data = answer.event_data(i)?;
            if (1..=answer.tokens.len()).contains(&i) {
                tokio::time::sleep(pause_before(&options, i - 1)).await;
                generation.token();
            }
            if data == "[DONE]" {
                generation.complete();
            }
            Some((event(i.to_string(), data), (answer, generation, i + 1)))
        }
    })
}

/// Without `"stream": true`: every token generated at the same pace, then the whole answer. A
/// client that goes away stops it only if the framework drops this future (hyper, under axum
/// and warp, does; actix over HTTP/2 does not: see the book's chapter on streamed answers).
async fn whole(options: &Options, answer: Answer, mut generation: Generation) -> Value {
    for n in 0..answer.tokens.len() {
        tokio::time::sleep(pause_before(options, n)).await;
        generation.token();
    }
    generation.complete();
    answer.completion()
}
// @end
// @from-step 7

impl ApiError {
    fn response(&self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        warp::reply::with_status(warp::reply::json(&self.json()), status).into_response()
    }
}

/// `GET /metrics`: the answers' counters.
fn metrics(shared: Shared) -> Response {
    let text = shared.answers.openmetrics();
    warp::reply::with_header(text, "content-type", OPENMETRICS).into_response()
}
// @end
// @only-starter 7

/// TODO(step 7): `POST /v1/chat/completions`. Read the request with `read_ask` (an error is
/// its own response), and answer the last user message with `stand_in_answer`, cut into
/// `tokens`. With `"stream": true`: an event stream, a chunk with the role, a chunk per token
/// (the first after `--think-ms`, the others `--token-ms` apart), a chunk with `finish_reason`,
/// the usage if asked, then `data: [DONE]`, every event's `id:` its index from 0. Without it,
/// one `chat.completion` object. Count tokens and answers in `shared.answers`: an answer whose
/// client went away counts as cancelled. See this step's README.md. (The route gives this
/// function the same filters as the finished one needs; see `main`.)
async fn complete(_shared: Shared, _content_type: Option<String>, _body: Bytes) -> Response {
    let todo = "TODO(step 7): POST /v1/chat/completions";
    warp::reply::with_status(todo, StatusCode::NOT_IMPLEMENTED).into_response()
}
// @end
// @from 7

/// `POST /v1/chat/completions`: the stand-in's answer, streamed as OpenAI streams it, or whole.
async fn complete(shared: Shared, content_type: Option<String>, body: Bytes) -> Response {
    let ask = match read_ask(content_type.as_deref(), &body) {
        Ok(ask) => ask,
        Err(error) => return error.response(),
    };
    let stream = ask.stream;
    let (answer, generation) = (Answer::to(ask), Generation::new(&shared.answers));
    if !stream {
        let completion = whole(&shared.options, answer, generation).await;
        return warp::reply::json(&completion).into_response();
    }
    let event = |id: String, data: String| Event { id: Some(id), data, event: None };
    let events = answer_events(shared.options.clone(), answer, generation, event);
    // The headers go out at once, then keep-alive comments while the model thinks.
    stream_response(&shared, events.map(|event| event.encode()))
}
// @end
