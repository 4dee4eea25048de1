//! Step 6, shutdown and vanishing clients, solved: on SIGTERM or Ctrl-C every stream ends and
//! the server exits; `/health` counts the streams open, and a client that goes away is
//! forgotten.
//!
//! `cargo run`, then `curl -N http://127.0.0.1:3000/events`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use warp::http::HeaderMap;
use warp::http::StatusCode;
use warp::http::header::{CONTENT_TYPE, HeaderValue};
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
    /// How long a browser waits before reconnecting, sent as `retry:`.
    #[arg(long, default_value_t = 3000)]
    retry_ms: u64,
    /// After this many seconds without a write, a comment keeps the connection alive.
    #[arg(long, default_value_t = 15)]
    keep_alive_secs: u64,
}

/// The seed's paragraph, one sentence per event.
const SENTENCES: [&str; 5] = [
    "Hello, this is an example of a continuous text output.",
    "It contains multiple sentences, each of which will be sent to the client as an event.",
    "This is to simulate the functionality of Server-Sent Events (SSE).",
    "We can use this method to push real-time updates.",
    "End of sample text, thank you!",
];

/// What every handler can reach.
#[derive(Clone)]
struct Shared {
    options: Options,
    chat: Arc<Mutex<Chat>>,
    /// Cancelled on SIGTERM or Ctrl-C: every stream ends, so that the server can stop.
    shutdown: CancellationToken,
    /// Streams open now, for `/health`.
    open: Arc<AtomicU64>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let options = Options::parse();
    let listener = tokio::net::TcpListener::bind((options.host.as_str(), options.port)).await?;
    // Tests and scripts read the port from this line: print it first, and only once bound.
    println!("listening on http://{}/ (warp)", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let shared = Shared {
        options,
        chat: Arc::new(Mutex::new(Chat::new())),
        shutdown: shutdown.clone(),
        open: Arc::new(AtomicU64::new(0)),
    };
    let with_shared = warp::any().map(move || shared.clone());
    let clock = warp::path!("events")
        .and(warp::get())
        .and(with_shared.clone())
        .and(warp::query::<Pace>())
        .and(warp::header::headers_cloned())
        .map(clock);
    let paragraph = warp::path!("events" / "paragraph")
        .and(warp::get())
        .and(with_shared.clone())
        .and(warp::query::<Pace>())
        .and(warp::header::headers_cloned())
        .map(paragraph);
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
    let health = warp::path!("health").and(with_shared.clone()).map(health);
    // Each route is tried in turn; a request none of them takes is answered 404.
    let routes = warp::path!("nothing" / "here")
        .map(|| "a route to start the list")
        .or(clock)
        .or(paragraph)
        .or(publish)
        .or(chat)
        .or(health);
    // warp's graceful shutdown waits for every response to end, and an event stream never
    // ends by itself: the token ends them.
    let stop = async move {
        signal().await;
        shutdown.cancel();
    };
    warp::serve(routes)
        .incoming(listener)
        .graceful(stop)
        .run()
        .await;
    Ok(())
}

/// Resolves on SIGTERM (what `kill` and service managers send) or Ctrl-C (SIGINT).
async fn signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a signal handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

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
        // CR, LF and CRLF all end a line for a browser: split on each, so that no text can
        // end a `data:` line early and start a field of its own.
        let data = self.data.replace("\r\n", "\n").replace('\r', "\n");
        for line in data.split('\n') {
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
    /// A browser cannot set `Last-Event-ID` on its first connect; a page can pass it here.
    #[serde(rename = "lastEventId")]
    last_event_id: Option<String>,
}

fn one_second() -> u64 {
    1000
}

/// The id a client resumes after: the `Last-Event-ID` header, or the `lastEventId` query
/// parameter when there is no header. Anything but a number means "start fresh": a 400 would
/// make the browser give up for good.
fn resume_after(headers: &HeaderMap, query: Option<&str>) -> Option<u64> {
    match headers.get("last-event-id") {
        // `to_str()` refuses bytes that are not ASCII; read them as UTF-8 instead.
        Some(value) => std::str::from_utf8(value.as_bytes())
            .ok()?
            .trim()
            .parse()
            .ok(),
        None => query?.trim().parse().ok(),
    }
}

/// Turns a stream of events into the response every stream shares: the bytes as they come,
/// and the headers the browser and the proxies on the way need. (warp wants the stream `Sync`
/// as well as `Send`: everything it holds may be looked at from another thread.)
fn event_stream(
    shared: &Shared,
    events: impl Stream<Item = Event> + Send + Sync + 'static,
) -> Response {
    let bytes = events.map(|event| event.encode());
    // `retry:` first: how long the browser waits before reconnecting.
    let retry = Bytes::from(format!("retry: {}\n\n", shared.options.retry_ms));
    let bytes = stream::once(async move { retry }).chain(bytes);
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
    // The stream ends when the server shuts down, and counts as open until it is dropped
    // (which hyper does when the client goes away).
    let open = OpenStream::new(&shared.open);
    let bytes = bytes
        .take_until(shared.shutdown.clone().cancelled_owned())
        .map(move |chunk| {
            let _still_open = &open;
            chunk
        });
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

/// `GET /events`: the server's time, at once, then every `interval_ms`.
fn clock(shared: Shared, pace: Pace, headers: HeaderMap) -> Response {
    let first = resume_after(&headers, pace.last_event_id.as_deref()).map_or(1, |n| n + 1);
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

/// `GET /events/paragraph`: the five sentences, one per `interval_ms`, then `end`.
fn paragraph(shared: Shared, pace: Pace, headers: HeaderMap) -> Response {
    let after = resume_after(&headers, pace.last_event_id.as_deref()).unwrap_or(0);
    if after >= SENTENCES.len() as u64 {
        // Nothing left: 204 tells the browser to stop reconnecting.
        return StatusCode::NO_CONTENT.into_response();
    }
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
    let mut chat = shared
        .chat
        .lock()
        .expect("no thread panics while holding the chat");
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
        let chat = shared
            .chat
            .lock()
            .expect("no thread panics while holding the chat");
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
