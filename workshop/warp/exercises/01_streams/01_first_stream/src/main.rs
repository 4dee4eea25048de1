//! Step 1, the first stream. The server starts and prints its address; it has no stream yet.
//! Add `GET /events`: see this step's README.md. `cargo test` grades it.
//!
//! `cargo run`, then `curl -N http://127.0.0.1:3000/events`.

// What the clock will need is here, unused until you write it.
#![allow(dead_code, unused_imports)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
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
    let _ = with_shared;
    // Each route is tried in turn; a request none of them takes is answered 404.
    let routes = warp::path!("nothing" / "here").map(|| "a route to start the list");
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
}

fn one_second() -> u64 {
    1000
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
