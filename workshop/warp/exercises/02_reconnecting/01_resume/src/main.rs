//! Step 3, resume. Both streams work but always start from the beginning; make them go on
//! after `Last-Event-ID` (see the TODOs and this step's README.md).
//!
//! `cargo run`, then `curl -N http://127.0.0.1:3000/events`.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use warp::http::HeaderMap;
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
    // Nothing yet: step 4 adds the options.
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let options = Options::parse();
    let listener = tokio::net::TcpListener::bind((options.host.as_str(), options.port)).await?;
    // Tests and scripts read the port from this line: print it first, and only once bound.
    println!("listening on http://{}/ (warp)", listener.local_addr()?);
    let shared = Shared {};
    let with_shared = warp::any().map(move || shared.clone());
    let clock = warp::path!("events")
        .and(warp::get())
        .and(with_shared.clone())
        .and(warp::query::<Pace>())
        .map(clock);
    let paragraph = warp::path!("events" / "paragraph")
        .and(warp::get())
        .and(with_shared.clone())
        .and(warp::query::<Pace>())
        .map(paragraph);
    let _ = with_shared;
    // Each route is tried in turn; a request none of them takes is answered 404.
    let routes = warp::path!("nothing" / "here")
        .map(|| "a route to start the list")
        .or(clock)
        .or(paragraph);
    warp::serve(routes).incoming(listener).run().await;
    Ok(())
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
        for line in self.data.split('\n') {
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

/// TODO(step 3): the id a client resumes after: the `Last-Event-ID` header, or the
/// `lastEventId` query parameter when there is no header. `None` when there is neither, or
/// when it is not a number.
fn resume_after(_headers: &HeaderMap, _query: Option<&str>) -> Option<u64> {
    None
}

/// Turns a stream of events into the response every stream shares: the bytes as they come,
/// and the headers the browser and the proxies on the way need. (warp wants the stream `Sync`
/// as well as `Send`: everything it holds may be looked at from another thread.)
fn event_stream(
    shared: &Shared,
    events: impl Stream<Item = Event> + Send + Sync + 'static,
) -> Response {
    let bytes = events.map(|event| event.encode());
    let _ = shared;
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
fn clock(shared: Shared, pace: Pace) -> Response {
    let first = 1;
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
fn paragraph(shared: Shared, pace: Pace) -> Response {
    let after = 0;
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
