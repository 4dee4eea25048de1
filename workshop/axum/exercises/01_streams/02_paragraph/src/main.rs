//! Step 2, the paragraph. The clock from step 1 works; add `GET /events/paragraph` (see the
//! TODO below and this step's README.md). `cargo test` grades steps 1 and 2.
//!
//! `cargo run`, then `curl -N http://127.0.0.1:3000/events`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Parser;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;

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
struct App {
    // Nothing yet: step 4 adds the options.
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let options = Options::parse();
    let listener = tokio::net::TcpListener::bind((options.host.as_str(), options.port)).await?;
    // Tests and scripts read the port from this line: print it first, and only once bound.
    println!("listening on http://{}/ (axum)", listener.local_addr()?);
    let app = App {};
    let routes = Router::new()
        .route("/events", get(clock))
        .route("/events/paragraph", get(paragraph))
        .with_state(app);
    axum::serve(listener, routes).await
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

/// Turns a stream of events into the response every stream shares: the headers the browser
/// and the proxies on the way need.
fn event_stream(app: &App, events: impl Stream<Item = Event> + Send + 'static) -> Response {
    let _ = app;
    let sse = Sse::new(events.map(Ok::<_, Infallible>));
    // axum sets `Content-Type: text/event-stream` and `Cache-Control: no-cache`.
    let headers = [
        // nginx buffers responses unless told not to, which would hold events back.
        ("x-accel-buffering", "no"),
        // Pages from any origin may read the streams.
        ("access-control-allow-origin", "*"),
    ];
    (headers, sse).into_response()
}

/// `GET /events`: the server's time, at once, then every `interval_ms`.
async fn clock(State(app): State<App>, Query(pace): Query<Pace>) -> Response {
    let first = 1;
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

/// TODO(step 2): `GET /events/paragraph`: the five sentences in `SENTENCES` with ids 1 to 5,
/// one per `interval_ms`, then an `end` event (no id), then the end of the response.
async fn paragraph() -> Response {
    (StatusCode::NOT_IMPLEMENTED, "TODO(step 2): the paragraph").into_response()
}
