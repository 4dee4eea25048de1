//! The checks of the response's head and protocol: `status`, `cache-control`, `first-bytes`,
//! `cors` and `http2`.

use std::time::Duration;

use super::{Later, Seen, Status, Verdict, ms, what};
use crate::http;

/// Headers later than this keep a browser's `EventSource` in CONNECTING.
pub(super) const SLOW_HEADERS: Duration = Duration::from_secs(1);
/// The origin the CORS check pretends to be a page on.
const OTHER_ORIGIN: &str = "https://example.com";

/// The stream opened: its status and type (a stream that did not open fails in
/// [`watch`](super::watching::watch)).
pub(super) fn status(seen: &Seen) -> Verdict {
    let w = &seen.watched;
    Verdict::pass(format!(
        "{}, Content-Type: {}",
        w.response_status, w.content_type
    ))
}

pub(super) fn cache_control(seen: &Seen) -> Verdict {
    let w = &seen.watched;
    let value = w.cache_control.to_ascii_lowercase();
    if value.contains("no-cache") || value.contains("no-store") {
        return Verdict::pass(format!("Cache-Control: {}", w.cache_control));
    }
    let saw = if w.cache_control.is_empty() {
        "no Cache-Control header".to_owned()
    } else {
        format!("Cache-Control: {}", w.cache_control)
    };
    Verdict::new(
        Status::Warn,
        saw,
        "Without it, a cache or CDN between the server and the browser may store the stream or \
         hold it back as it would a page, and a reconnect may be answered from the cache.",
        "Send Cache-Control: no-cache on the stream.",
    )
}

pub(super) fn first_bytes(seen: &Seen) -> Verdict {
    let w = &seen.watched;
    let first_event = w
        .events
        .first()
        .map_or("no event during the watch".to_owned(), |e| {
            format!("first event after {}", ms(e.at))
        });
    let saw = format!("headers after {}, {first_event}", ms(w.head_after));
    if w.head_after <= SLOW_HEADERS {
        return Verdict::pass(saw);
    }
    Verdict::new(
        Status::Warn,
        saw,
        "Until the headers arrive, EventSource stays CONNECTING and `open` does not fire; a \
         page cannot tell a slow stream from a dead one, and some proxies give up waiting.",
        "Send the headers (and a `retry:` or a comment) as soon as the request arrives, before \
         waiting for the first event; if the server does, a proxy on the way holds them.",
    )
}

pub(super) fn cors(seen: &Seen) -> Later<'_> {
    Box::pin(async move {
        let ask = &seen.ask;

        let mut from_elsewhere = ask.clone();
        if let Err(e) = from_elsewhere.header_line(&format!("Origin: {OTHER_ORIGIN}")) {
            return Verdict::skip(e.to_string());
        }
        let response = match http::open(&from_elsewhere, None).await {
            Ok(response) => response,
            Err(e) => return Verdict::skip(format!("the request with an Origin failed: {e}")),
        };
        let allowed = response.header("access-control-allow-origin");
        let saw = format!("asked from Origin: {OTHER_ORIGIN}: {}", what(&response));
        if allowed == "*" || allowed == OTHER_ORIGIN {
            return Verdict::pass(format!("{saw}, Access-Control-Allow-Origin: {allowed}"));
        }
        Verdict::new(
            Status::Warn,
            if allowed.is_empty() {
                format!("{saw}, no Access-Control-Allow-Origin")
            } else {
                format!("{saw}, Access-Control-Allow-Origin: {allowed}")
            },
            "A page served from another origin (another port counts) gets only an `error` event: \
         the browser hides the stream from it. Fine if only same-origin pages use the stream.",
            "Send Access-Control-Allow-Origin: * (or the pages' origin; with credentials, the exact \
         origin and Access-Control-Allow-Credentials: true).",
        )
    })
}

pub(super) fn http2(seen: &Seen) -> Verdict {
    let (ask, w) = (&seen.ask, &seen.watched);

    if w.protocol == "h2" {
        return Verdict::pass("HTTP/2 (ALPN h2)");
    }
    if !ask.is_tls() && ask.is_loopback() {
        return Verdict::skip(
            "plain http:// on this machine: browsers speak HTTP/2 only over TLS, so check the \
             https:// address you deploy (or run the server with TLS)",
        );
    }
    Verdict::new(
        Status::Warn,
        format!("{}, no HTTP/2", w.protocol),
        "Over HTTP/1.1 a browser opens at most 6 connections per origin, shared by all its \
         tabs: the 7th EventSource (or any other request) waits until one closes. HTTP/2 \
         carries 100 or more streams on one connection.",
        "Serve over https:// with HTTP/2 (ALPN h2), in the server or the proxy in front.",
    )
}
