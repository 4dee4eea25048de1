//! Step 2, the paragraph. The clock from step 1 works; add `GET /events/paragraph` (see the
//! TODO below and this step's README.md). `cargo test` grades steps 1 and 2.
//!
//! `cargo run`, then `curl -N http://127.0.0.1:3000/events`.

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use actix_web_lab::sse;
use clap::Parser;
use futures_util::stream::{self, Stream};
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

/// What every handler can reach (`web::Data<Shared>`, one for all of actix's workers).
struct Shared {
    // Nothing yet: step 4 adds the options.
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let options = Options::parse();
    let listener = std::net::TcpListener::bind((options.host.as_str(), options.port))?;
    // Tests and scripts read the port from this line: print it first, and only once bound.
    println!("listening on http://{}/ (actix)", listener.local_addr()?);
    let shared = web::Data::new(Shared {});
    let server = HttpServer::new(move || {
        App::new()
            .app_data(shared.clone())
            .route("/events", web::get().to(clock))
            .route("/events/paragraph", web::get().to(paragraph))
    })
    .listen(listener)?
    .run();
    server.await
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
fn event_stream(shared: &Shared, events: impl Stream<Item = sse::Event> + 'static) -> HttpResponse {
    let _ = shared;
    let sse = sse::Sse::from_infallible_stream(events);
    // Built by hand rather than returned as `Sse`, whose responder adds
    // `Content-Encoding: identity`.
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        // nginx buffers responses unless told not to, which would hold events back.
        .insert_header(("x-accel-buffering", "no"))
        // Pages from any origin may read the streams.
        .insert_header(("access-control-allow-origin", "*"))
        .body(sse)
}

/// `GET /events`: the server's time, at once, then every `interval_ms`.
async fn clock(shared: web::Data<Shared>, pace: web::Query<Pace>) -> HttpResponse {
    let first = 1;
    // An interval's first tick is at once; later ticks keep to the pace even if a write was
    // slow.
    let ticker = tokio::time::interval(Duration::from_millis(pace.interval_ms));
    let ticks = stream::unfold((ticker, first), |(mut ticker, id)| async move {
        ticker.tick().await;
        let now = chrono::Local::now().to_rfc2822();
        let event = sse::Data::new(now).id(id.to_string());
        Some((event.into(), (ticker, id + 1)))
    });
    event_stream(&shared, ticks)
}

/// TODO(step 2): `GET /events/paragraph`: the five sentences in `SENTENCES` with ids 1 to 5,
/// one per `interval_ms`, then an `end` event (no id), then the end of the response.
async fn paragraph() -> HttpResponse {
    HttpResponse::NotImplemented().body("TODO(step 2): the paragraph")
}
