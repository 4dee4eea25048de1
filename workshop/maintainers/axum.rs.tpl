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
//! Step 6, shutdown and vanishing clients, solved: the whole workshop. On SIGTERM or Ctrl-C
//! every stream ends and the server exits; `/health` counts the streams open, and a client
//! that goes away is forgotten.
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
//!
//! `cargo run`, then `curl -N http://127.0.0.1:3000/events`.
// @only-starter 1

// What the clock will need is here, unused until you write it.
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

// @from 5
use axum::Json;
// @end
use axum::extract::{Query, State};
// @from 3
use axum::http::{HeaderMap, StatusCode};
// @end
// @only-starter 2
use axum::http::StatusCode;
// @end
// @only-starter 3
use axum::http::HeaderMap;
// @end
// @from 4
use axum::response::sse::{Event, KeepAlive, Sse};
// @end
// @until 3
use axum::response::sse::{Event, Sse};
// @end
use axum::response::{IntoResponse, Response};
use axum::routing::get;
// @from 5
use axum::routing::post;
// @end
// @only-starter 5
use axum::routing::post;
// @end
use axum::Router;
use clap::Parser;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
// @from 5
use serde::Serialize;
use tokio::sync::broadcast;
// @end
// @from 6
use tokio_util::sync::CancellationToken;
// @end

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
struct App {
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
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let options = Options::parse();
    let listener = tokio::net::TcpListener::bind((options.host.as_str(), options.port)).await?;
    // Tests and scripts read the port from this line: print it first, and only once bound.
    println!("listening on http://{}/ (axum)", listener.local_addr()?);
// @from 6
    let shutdown = CancellationToken::new();
// @end
    let app = App {
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
    };
    let routes = Router::new()
// @from 1
        .route("/events", get(clock))
// @end
// @from 2
        .route("/events/paragraph", get(paragraph))
// @end
// @only-starter 2
        .route("/events/paragraph", get(paragraph))
// @end
// @from 5
        .route("/chat", post(publish))
        .route("/events/chat", get(chat))
// @end
// @only-starter 5
        .route("/chat", post(publish))
        .route("/events/chat", get(chat))
// @end
// @from 6
        .route("/health", get(health))
// @end
        .with_state(app);
// @from 6
    // axum's graceful shutdown waits for every response to end, and an event stream never ends
    // by itself: the token ends them.
    let stop = async move {
        signal().await;
        shutdown.cancel();
    };
    axum::serve(listener, routes)
        .with_graceful_shutdown(stop)
        .await
// @end
// @until 5
    axum::serve(listener, routes).await
// @end
// @only-starter 6
    // TODO(step 6): on SIGTERM or Ctrl-C, end every stream and stop. axum's
    // `.with_graceful_shutdown(...)` waits for responses to end, so first make the streams end.
// @end
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
/// Turns a stream of events into the response every stream shares: the headers the browser
/// and the proxies on the way need.
fn event_stream(
    app: &App,
    events: impl Stream<Item = Event> + Send + 'static,
) -> Response {
// @from 4
    // `retry:` first: how long the browser waits before reconnecting.
    let retry = Event::default().retry(Duration::from_millis(app.options.retry_ms));
    let events = stream::once(async move { retry }).chain(events);
// @end
// @only-starter 4
    // TODO(step 4): send `retry: <--retry-ms>` before the first event.
// @end
// @from 6
    // The stream ends when the server shuts down, and counts as open until it is dropped
    // (which axum does when the client goes away).
    let open = OpenStream::new(&app.open);
    let events = events
        .take_until(app.shutdown.clone().cancelled_owned())
        .map(move |event| {
            let _still_open = &open;
            event
        });
// @end
// @until 3
    let _ = app;
// @end
    let sse = Sse::new(events.map(Ok::<_, Infallible>));
// @from 4
    // A comment after every `--keep-alive-secs` without a write, so that no proxy on the way
    // closes the connection as idle. axum restarts the timer after each event.
    let keep_alive = KeepAlive::new()
        .interval(Duration::from_secs(app.options.keep_alive_secs))
        .text("keep-alive");
    let sse = sse.keep_alive(keep_alive);
// @end
// @only-starter 4
    // TODO(step 4): a `: keep-alive` comment after `--keep-alive-secs` without a write.
// @end
    // axum sets `Content-Type: text/event-stream` and `Cache-Control: no-cache`.
    let headers = [
        // nginx buffers responses unless told not to, which would hold events back.
        ("x-accel-buffering", "no"),
        // Pages from any origin may read the streams.
        ("access-control-allow-origin", "*"),
    ];
    (headers, sse).into_response()
}

// @only-starter 1
// TODO(step 1): `GET /events`, the clock. Something like
//
//     async fn clock(State(app): State<App>, Query(pace): Query<Pace>) -> Response {
//         let events = ...; // a `Stream` of `Event`s: id 1, 2, 3, ..., data the time
//         event_stream(&app, events)
//     }
//
// and, in `main`, `.route("/events", get(clock))`.
// @end
// @from 1
/// `GET /events`: the server's time, at once, then every `interval_ms`.
// @from 3
async fn clock(
    State(app): State<App>,
    Query(pace): Query<Pace>,
    headers: HeaderMap,
) -> Response {
    let first = resume_after(&headers, pace.last_event_id.as_deref()).map_or(1, |n| n + 1);
// @end
// @until 2
async fn clock(State(app): State<App>, Query(pace): Query<Pace>) -> Response {
    let first = 1;
// @end
    // An interval's first tick is at once; later ticks keep to the pace even if a write was
    // slow.
    let ticker = tokio::time::interval(Duration::from_millis(pace.interval_ms));
    let ticks = stream::unfold((ticker, first), |(mut ticker, id)| async move {
        ticker.tick().await;
        let now = chrono::Local::now().to_rfc2822();
        let event = Event::default().id(id.to_string()).data(now);
        Some((event, (ticker, id + 1)))
    });
    event_stream(&app, ticks)
}

// @end
// @from 2
/// `GET /events/paragraph`: the five sentences, one per `interval_ms`, then `end`.
// @from 3
async fn paragraph(
    State(app): State<App>,
    Query(pace): Query<Pace>,
    headers: HeaderMap,
) -> Response {
    let after = resume_after(&headers, pace.last_event_id.as_deref()).unwrap_or(0);
    if after >= SENTENCES.len() as u64 {
        // Nothing left: 204 tells the browser to stop reconnecting.
        return StatusCode::NO_CONTENT.into_response();
    }
// @end
// @until 2
async fn paragraph(State(app): State<App>, Query(pace): Query<Pace>) -> Response {
    let after = 0;
// @end
    let sentences = (after as usize..SENTENCES.len())
        .map(|i| Event::default().id((i + 1).to_string()).data(SENTENCES[i]));
    // No id on `end`: a browser reconnecting after it still sends the last sentence's id.
    let end = Event::default().event("end").data("The paragraph is complete.");
    let events = sentences.chain([end]);
    // The first tick is at once, then one per interval.
    let ticker = tokio::time::interval(Duration::from_millis(pace.interval_ms));
    let paced = stream::unfold((ticker, events), |(mut ticker, mut events)| async move {
        let event = events.next()?;
        ticker.tick().await;
        Some((event, (ticker, events)))
    });
    event_stream(&app, paced)
}

// @end
// @only-starter 2
/// TODO(step 2): `GET /events/paragraph`: the five sentences in `SENTENCES` with ids 1 to 5,
/// one per `interval_ms`, then an `end` event (no id), then the end of the response.
async fn paragraph() -> Response {
    (StatusCode::NOT_IMPLEMENTED, "TODO(step 2): the paragraph").into_response()
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
async fn publish(State(app): State<App>, Json(post): Json<Post>) -> Response {
    let mut chat = app.chat.lock().expect("no thread panics while holding the chat");
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
    (StatusCode::CREATED, Json(serde_json::json!({ "id": message.id }))).into_response()
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
async fn chat(State(app): State<App>, Query(query): Query<ChatQuery>, headers: HeaderMap) -> Response {
    let after = resume_after(&headers, query.last_event_id.as_deref());
    let (past, live) = {
        // One lock for both: no message can fall between the history and the channel.
        let chat = app.chat.lock().expect("no thread panics while holding the chat");
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
    let events = stream::iter(past).chain(live).map(|message| {
        let data = serde_json::to_string(&message).expect("a message is always JSON");
        Event::default().event("chat").id(message.id.to_string()).data(data)
    });
    event_stream(&app, events)
}

// @end
// @only-starter 5
/// TODO(step 5): `POST /chat` with JSON `{"user": "...", "text": "..."}`: give the message the
/// next id (1, 2, 3, ...), keep it, send it to every open chat stream, and answer 201 with
/// `{"id": n}`.
async fn publish() -> Response {
    (StatusCode::NOT_IMPLEMENTED, "TODO(step 5): POST /chat").into_response()
}

/// TODO(step 5): `GET /events/chat`: `event: chat`, `id: n`, `data:` the message as JSON
/// `{"id", "user", "text", "time"}`; after `Last-Event-ID: n` every kept message after n first,
/// without `?history=` the last 10, then each new one.
async fn chat() -> Response {
    (StatusCode::NOT_IMPLEMENTED, "TODO(step 5): GET /events/chat").into_response()
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

/// `GET /health`: `{"status": "ok", "server": "axum", "open_streams": n}`.
async fn health(State(app): State<App>) -> Response {
    let open = app.open.load(Ordering::Relaxed);
    let health = serde_json::json!({ "status": "ok", "server": "axum", "open_streams": open });
    Json(health).into_response()
}
// @end
