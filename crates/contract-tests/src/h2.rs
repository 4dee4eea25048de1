//! What only HTTP/2 has, over TLS on every server: many streams sharing one connection, a
//! single stream reset while its connection stays open, and shutdown with streams spread over
//! several connections. (Every other case of the suite also runs over HTTP/2, in the `h2`
//! group.)

use std::time::{Duration, Instant};

use hyper::{Method, Version};

use crate::cases::wait_for_open_streams;
use crate::client::{Connection, Events, Server, Target};

/// Each stream once, kept open: the clock, counter and paragraph slowed to a minute apart.
const PAGE: [&str; 4] = [
    "/events?interval_ms=60000",
    "/events/paragraph?interval_ms=60000",
    "/events/counter?interval_ms=60000",
    "/events/chat",
];

/// Connection-specific headers, which HTTP/2 forbids (RFC 9113, 8.2.2).
const CONNECTION_HEADERS: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Opens `count` streams on `connection`, cycling through [`PAGE`], and waits for each one's
/// first bytes (the chat's, with nothing posted, are its `retry:` field only).
async fn open(connection: &mut Connection, count: usize, fw: &str) -> Vec<Events> {
    let mut streams = Vec::with_capacity(count);
    for path in PAGE.iter().cycle().take(count) {
        let response = connection
            .send(Method::GET, path, &[], Default::default())
            .await;
        assert_eq!(response.status().as_u16(), 200, "[{fw}] {path}");
        assert_eq!(response.version(), Version::HTTP_2, "[{fw}] {path}");
        let names = response.header_names();
        for forbidden in CONNECTION_HEADERS {
            assert!(
                !names.iter().any(|n| n == forbidden),
                "[{fw}] {path}: {names:?}"
            );
        }
        let mut events = response.events();
        if !path.starts_with("/events/chat") {
            events.next().await;
        }
        streams.push(events);
    }
    streams
}

/// A page's four streams in each of three tabs: twelve streams on one connection, each with its
/// first event at once and no connection-specific header, all counted by `/health`.
pub async fn streams_share_one_connection_with_no_connection_specific_headers(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let mut connection = server.connect().await;
    let streams = open(&mut connection, 12, fw).await;
    // The thirteenth request on the same connection, while twelve streams are open.
    let health = connection
        .send(Method::GET, "/health", &[], Default::default())
        .await;
    let health: serde_json::Value = serde_json::from_str(&health.text().await).expect("JSON");
    assert_eq!(health["open_streams"], 12, "[{fw}] {health}");
    drop((streams, connection));
    wait_for_open_streams(&server, 0).await;
}

/// A stream the client resets (RST_STREAM, its connection still open) is released within 5 s,
/// and so is every stream of a connection the client closes.
///
/// actix-web is the exception for a reset alone: its HTTP/2 dispatcher does not watch for
/// RST_STREAM and notices only when it next writes to the stream, at the latest the keep-alive
/// comment (the book's frameworks chapter, "Known differences"). So actix runs this case with `--keep-alive-secs 2`:
/// released within 2 + 5 s. A closed connection it notices at once (see its `on_connect`).
pub async fn a_reset_stream_and_a_closed_connection_are_released_within_5s(target: Target) {
    let fw = target.framework;
    let args: &[&str] = match fw {
        "actix" => &["--keep-alive-secs", "2"],
        _ => &[],
    };
    let server = Server::start(target, args).await;
    let mut first = server.connect().await;
    let mut second = server.connect().await;
    let mut kept = open(&mut first, 40, fw).await;
    let others = open(&mut second, 40, fw).await;
    wait_for_open_streams(&server, 80).await;
    // Dropping a response body resets its stream; the connection carries on.
    let reset = kept.split_off(20);
    drop(reset);
    wait_for_open_streams(&server, 60).await;
    assert_eq!(
        first
            .send(Method::GET, "/health", &[], Default::default())
            .await
            .status()
            .as_u16(),
        200,
        "[{fw}] the connection is still usable after the resets"
    );
    // Dropping the connection and its streams closes it.
    drop((first, kept));
    wait_for_open_streams(&server, 40).await;
    drop((second, others));
    wait_for_open_streams(&server, 0).await;
}

/// SIGTERM with 200 streams over two connections: every stream ends cleanly (not reset) and the
/// server exits 0 within 2 s.
pub async fn sigterm_ends_streams_on_every_connection_and_exits_zero_within_2s(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let mut streams = Vec::new();
    let mut connections = Vec::new();
    for _ in 0..2 {
        let mut connection = server.connect().await;
        streams.extend(open(&mut connection, 100, fw).await);
        connections.push(connection);
    }
    let signalled = Instant::now();
    let status = server.stop("TERM", Duration::from_secs(2)).await;
    assert!(
        status.success(),
        "[{fw}] exit status after SIGTERM: {status}"
    );
    for events in &mut streams {
        events.assert_ends().await;
    }
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "[{fw}] 200 streams ended in {took:?}"
    );
}
