//! Step 1, the first stream. The server starts and prints its address; it has no stream yet.
//! Add `GET /events`: see this step's README.md. `cargo test` grades it.
//!
//! `cargo run`, then `curl -N http://127.0.0.1:3000/events`.

// What the clock will need is here, unused until you write it.
#![allow(dead_code, unused_imports)]

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
    let server = HttpServer::new(move || App::new().app_data(shared.clone()))
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

// TODO(step 1): `GET /events`, the clock. Something like
//
//     async fn clock(shared: web::Data<Shared>, pace: web::Query<Pace>) -> HttpResponse {
//         let events = ...; // a `Stream` of `sse::Event`s: id 1, 2, 3, ..., data the time
//         event_stream(&shared, events)
//     }
//
// and, in `main`, `.route("/events", web::get().to(clock))`.
