//! The cases of the contract (the book's chapter `docs/src/contract.md`, which names every case
//! beside the rule it checks), one function each, named after the behaviour they check.
//! [`crate::contract_suite!`] runs every one against a server binary.

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::client::{Events, PATIENCE, Server, Target, contains, ids, read_socket_until};
use crate::operations;

/// The paragraph, as the contract gives it (not imported from the code under test).
const SENTENCES: [&str; 5] = [
    "Hello, this is an example of a continuous text output.",
    "It contains multiple sentences, each of which will be sent to the client as an event.",
    "This is to simulate the functionality of Server-Sent Events (SSE).",
    "We can use this method to push real-time updates.",
    "End of sample text, thank you!",
];

/// Fast enough for quick tests, slow enough to tell events apart.
const FAST: &str = "interval_ms=100";

/// The first stdout line is `listening on http://ADDR/ (FRAMEWORK)` (`https://` with TLS), with
/// the port really bound.
pub async fn first_line_names_the_address_and_the_framework(target: Target) {
    let server = Server::start(target, &[]).await;
    let expected = format!(
        "listening on {}://{}/ ({})",
        target.protocol.scheme(),
        server.addr,
        target.framework
    );
    assert_eq!(server.first_line, expected);
    assert!(server.addr.ip().is_loopback() && server.addr.port() != 0);
}

/// Every stream: 200, `text/event-stream`, `no-cache`, `X-Accel-Buffering: no`, CORS `*`, never compressed.
pub async fn stream_headers_follow_the_contract(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    for path in target.all_streams() {
        // Asking for compression proves the server does not compress streams.
        let accept = [("accept-encoding", &b"gzip, deflate, br"[..])];
        let response = server.request(Method::GET, path, &accept).await;
        assert_eq!(response.status(), StatusCode::OK, "[{fw}] {path}");
        let content_type = response.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "[{fw}] {path}: {content_type}"
        );
        assert_eq!(
            response.header("cache-control"),
            Some("no-cache"),
            "[{fw}] {path}"
        );
        assert_eq!(
            response.header("x-accel-buffering"),
            Some("no"),
            "[{fw}] {path}"
        );
        assert_eq!(
            response.header("access-control-allow-origin"),
            Some("*"),
            "[{fw}] {path}"
        );
        // Not even `identity`: the same headers on all three.
        let encoding = response.header("content-encoding");
        assert_eq!(encoding, None, "[{fw}] {path}");
        // Each once: a framework's own SSE response may set some of them itself.
        for name in ["content-type", "cache-control", "x-accel-buffering"] {
            let count = response.header_count(name);
            assert_eq!(count, 1, "[{fw}] {path}: {name} sent {count} times");
        }
    }
}

/// No stream waits for its timer before its first event.
pub async fn first_event_arrives_at_once_even_with_a_long_interval(target: Target) {
    let server = Server::start(target, &[]).await;
    for path in target.streams() {
        let started = Instant::now();
        let mut events = server
            .get(&format!("{path}?interval_ms=60000"))
            .await
            .events();
        let first = events.next().await;
        let waited = started.elapsed();
        // The contract asks for well under 100 ms; the bound here is generous for a busy CI
        // machine, and still sixty times shorter than the interval.
        assert!(
            waited < Duration::from_secs(1),
            "[{}] {path}: first event after {waited:?}",
            target.framework
        );
        assert_eq!(first.id, if path.ends_with("counter") { "0" } else { "1" });
    }
}

/// The `retry:` a stream opens with, if it opens with one.
pub fn opening_retry(seen: &str) -> Option<u64> {
    let (field, _) = seen.strip_prefix("retry: ")?.split_once("\n\n")?;
    field.parse().ok()
}

/// Whether a stream's first bytes, `seen`, open with `retry: N` and a blank line, N no more than
/// 30 % (the default `--retry-jitter`) either side of `ms`.
pub fn opens_with_retry_near(seen: &str, ms: u64) -> bool {
    opening_retry(seen).is_some_and(|n| n.abs_diff(ms) <= ms * 30 / 100)
}

/// A stream opens with `retry: <--retry-ms>`, spread by `--retry-jitter` (±30 % by default).
pub async fn retry_comes_first(target: Target) {
    let server = Server::start(target, &["--retry-ms", "1234"]).await;
    for path in target.streams() {
        let mut body = server.get(path).await.raw();
        let seen = body.read_until("data: ").await;
        assert!(
            opens_with_retry_near(&seen, 1234),
            "[{}] {path}: {seen:?}",
            target.framework
        );
    }
    // The chat stream has nothing to send yet, and the retry field still comes at once.
    if target.has_step(5) {
        let seen = server
            .get("/events/chat")
            .await
            .raw()
            .read_until("\n\n")
            .await;
        assert!(
            opens_with_retry_near(&seen, 1234),
            "[{}] {seen:?}",
            target.framework
        );
    }
    let default = Server::start(target, &[]).await;
    let seen = default
        .get("/events")
        .await
        .raw()
        .read_until("data: ")
        .await;
    assert!(
        opens_with_retry_near(&seen, 3000),
        "[{}] {seen:?}",
        target.framework
    );
}

/// Each stream gets its own `retry:` within `--retry-jitter` percent of `--retry-ms`, so that
/// the browsers of a restarted server do not all come back in the same instant; with
/// `--retry-jitter 0`, exactly `--retry-ms`.
pub async fn retry_is_spread_per_stream(target: Target) {
    let fw = target.framework;
    let retries = |server: Server| async move {
        let mut retries = Vec::new();
        for _ in 0..8 {
            let seen = server.get("/events").await.raw().read_until("\n\n").await;
            retries.push(opening_retry(&seen).unwrap_or_else(|| panic!("[{fw}] {seen:?}")));
        }
        retries
    };
    let spread =
        retries(Server::start(target, &["--retry-ms", "1000", "--retry-jitter", "20"]).await).await;
    assert!(
        spread.iter().all(|ms| (800..=1200).contains(ms)),
        "[{fw}] {spread:?}"
    );
    // Eight draws from 401 values, all the same: about one run in 10^18.
    assert!(
        spread.iter().any(|ms| *ms != spread[0]),
        "[{fw}] {spread:?}"
    );
    let exact =
        retries(Server::start(target, &["--retry-ms", "1000", "--retry-jitter", "0"]).await).await;
    assert_eq!(exact, [1000; 8], "[{fw}]");
}

/// The clock counts ids from 1, one event per interval, as default `message` events.
pub async fn clock_ids_count_from_one_at_the_interval(target: Target) {
    let server = Server::start(target, &[]).await;
    let mut events = server.get(&format!("/events?{FAST}")).await.events();
    let first = events.next().await;
    let started = Instant::now();
    let rest = events.take(3).await;
    let waited = started.elapsed();
    assert_eq!(first.id, "1");
    assert_eq!(ids(&rest), ["2", "3", "4"], "[{}]", target.framework);
    assert!(first.event == "message" && rest.iter().all(|e| e.event == "message"));
    // Three intervals of 100 ms: paced, not sent in a burst (lower bound with slack for timer
    // granularity; the upper bound only guards against a hang).
    assert!(
        waited >= Duration::from_millis(250),
        "[{}] 3 events in {waited:?}",
        target.framework
    );
}

/// `format` picks rfc2822 (the default), rfc3339 or unix-ms.
pub async fn clock_formats_follow_the_format_parameter(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let read = |format: &'static str| {
        let server = &server;
        async move {
            let path = match format {
                "" => "/events".to_owned(),
                f => format!("/events?format={f}"),
            };
            server.get(&path).await.events().next().await.data
        }
    };
    let default = read("").await;
    assert!(
        chrono::DateTime::parse_from_rfc2822(&default).is_ok(),
        "[{fw}] default: {default:?}"
    );
    let rfc2822 = read("rfc2822").await;
    assert!(
        chrono::DateTime::parse_from_rfc2822(&rfc2822).is_ok(),
        "[{fw}] {rfc2822:?}"
    );
    let rfc3339 = read("rfc3339").await;
    assert!(
        chrono::DateTime::parse_from_rfc3339(&rfc3339).is_ok(),
        "[{fw}] {rfc3339:?}"
    );
    let unix_ms: i64 = read("unix-ms").await.parse().expect("unix-ms is a number");
    assert!(
        (unix_ms - now_ms).abs() < 60_000,
        "[{fw}] unix-ms {unix_ms} is not now ({now_ms})"
    );
}

/// After `Last-Event-ID: n` the clock goes on at n + 1.
pub async fn clock_resumes_after_last_event_id_header(target: Target) {
    let server = Server::start(target, &[]).await;
    let mut events = server
        .get_resuming(&format!("/events?{FAST}"), b"41")
        .await
        .events();
    assert_eq!(
        ids(&events.take(2).await),
        ["42", "43"],
        "[{}]",
        target.framework
    );
}

/// `lastEventId` in the query stands in for the header, which wins when both are sent.
pub async fn clock_resumes_from_last_event_id_query(target: Target) {
    let server = Server::start(target, &[]).await;
    let mut events = server.get("/events?lastEventId=9").await.events();
    assert_eq!(
        events.next().await.id,
        "10",
        "[{}] query fallback",
        target.framework
    );
    // When both are there, the header (sent by the browser on each reconnect) wins.
    let mut events = server
        .get_resuming("/events?lastEventId=9", b"20")
        .await
        .events();
    assert_eq!(
        events.next().await.id,
        "21",
        "[{}] header over query",
        target.framework
    );
}

/// A `Last-Event-ID` that is not a usable number is ignored: 200 and a fresh start, never 400.
pub async fn unusable_last_event_id_starts_fresh(target: Target) {
    let server = Server::start(target, &[]).await;
    let unusable: [&[u8]; 5] = [
        b"abc",
        b"-3",
        b"\xff\xfe",
        "٣".as_bytes(),
        b"99999999999999999999999",
    ];
    for value in unusable {
        let response = server.get_resuming("/events", value).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "[{}] Last-Event-ID {value:?}",
            target.framework
        );
        assert_eq!(
            response.events().next().await.id,
            "1",
            "[{}] {value:?}",
            target.framework
        );
    }
    if target.has_counter() {
        let mut events = server.get("/events/counter?lastEventId=x").await.events();
        assert_eq!(events.next().await.id, "0");
    }
}

/// Ids at the top of the range (`u64::MAX`): the clock resumed after 18446744073709551615 has
/// no next id and starts again at 1; the counter sends that count with that id and ends its
/// stream, so the browser's reconnect starts it again at 0.
pub async fn ids_at_the_top_of_the_range_start_again_or_end(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let top = u64::MAX.to_string();
    let mut clock = server
        .get_resuming("/events", top.as_bytes())
        .await
        .events();
    assert_eq!(clock.next().await.id, "1", "[{fw}] the clock after {top}");
    if target.has_counter() {
        let below = (u64::MAX - 1).to_string();
        let path = format!("/events/counter?{FAST}");
        let mut counter = server.get_resuming(&path, below.as_bytes()).await.events();
        let event = counter.next().await;
        let count = format!(r#"{{"count":{top}}}"#);
        assert_eq!((&event.id, &event.data), (&top, &count), "[{fw}]");
        counter.assert_ends().await;
    }
}

/// The paragraph: five sentences with ids 1 to 5, then `event: end` with no id, then the end.
pub async fn paragraph_sends_five_sentences_then_end_and_closes(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let mut events = server
        .get(&format!("/events/paragraph?{FAST}"))
        .await
        .events();
    let sentences = events.take(5).await;
    let data: Vec<_> = sentences.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data, SENTENCES, "[{fw}]");
    assert_eq!(ids(&sentences), ["1", "2", "3", "4", "5"], "[{fw}]");
    let end = events.next().await;
    assert_eq!(end.event, "end", "[{fw}]");
    events.assert_ends().await;
    // The parser carries the last id over to events without one, so look at the bytes.
    let raw = server
        .get(&format!("/events/paragraph?{FAST}"))
        .await
        .raw()
        .read_to_end()
        .await;
    let last_frame = raw.trim_end().rsplit("\n\n").next().unwrap_or_default();
    assert!(
        last_frame.starts_with("event: end\n"),
        "[{fw}] {last_frame:?}"
    );
    assert!(
        !last_frame.contains("id:"),
        "[{fw}] the end event has no id: {last_frame:?}"
    );
}

/// The paragraph's exact bytes: the same on every server, a space after every colon, the end
/// event without an id. Comment frames are left out: actix-web-lab writes its keep-alive even
/// while events flow when used alone (the book's frameworks chapter, `docs/src/frameworks.md`).
pub async fn paragraph_bytes_are_exact(target: Target) {
    let server = Server::start(target, &[]).await;
    let raw = server
        .get(&format!("/events/paragraph?{FAST}"))
        .await
        .raw()
        .read_to_end()
        .await;
    let frames: Vec<&str> = raw
        .split_inclusive("\n\n")
        .filter(|f| !f.starts_with(':'))
        .collect();
    assert!(
        frames
            .first()
            .is_some_and(|f| opens_with_retry_near(f, 3000)),
        "[{}] {frames:?}",
        target.framework
    );
    let mut expected = vec![frames[0].to_owned()];
    for (i, sentence) in SENTENCES.iter().enumerate() {
        expected.push(format!("id: {}\ndata: {sentence}\n\n", i + 1));
    }
    expected.push("event: end\ndata: The paragraph is complete.\n\n".to_owned());
    assert_eq!(frames, expected, "[{}]", target.framework);
}

/// After `Last-Event-ID: 3` the paragraph goes on at sentence 4, with no repeat.
pub async fn paragraph_resumes_after_last_event_id(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let mut events = server
        .get_resuming(&format!("/events/paragraph?{FAST}"), b"3")
        .await
        .events();
    let rest = events.take(2).await;
    assert_eq!(ids(&rest), ["4", "5"], "[{fw}]");
    assert_eq!(rest[0].data, SENTENCES[3], "[{fw}]");
    assert_eq!(events.next().await.event, "end", "[{fw}]");
    events.assert_ends().await;
}

/// After the last sentence, a reconnect gets 204, which stops the browser.
pub async fn reconnect_after_last_sentence_gets_204(target: Target) {
    let server = Server::start(target, &[]).await;
    let response = server.get_resuming("/events/paragraph", b"5").await;
    assert_eq!(
        response.status(),
        StatusCode::NO_CONTENT,
        "[{}]",
        target.framework
    );
    let by_query = server.get("/events/paragraph?lastEventId=5").await;
    assert_eq!(
        by_query.status(),
        StatusCode::NO_CONTENT,
        "[{}]",
        target.framework
    );
}

/// The counter sends `{"count":n}` with id n from 0, and resumes at n + 1.
pub async fn counter_counts_from_zero_as_json_and_resumes(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let mut events = server
        .get(&format!("/events/counter?{FAST}"))
        .await
        .events();
    for n in 0..3u64 {
        let event = events.next().await;
        let json: serde_json::Value = serde_json::from_str(&event.data).expect("JSON data");
        assert_eq!(json, serde_json::json!({ "count": n }), "[{fw}]");
        assert_eq!(
            (event.id, event.event),
            (n.to_string(), "message".to_owned()),
            "[{fw}]"
        );
    }
    let mut resumed = server.get_resuming("/events/counter", b"9").await.events();
    let event = resumed.next().await;
    assert_eq!(
        (event.id.as_str(), event.data.as_str()),
        ("10", r#"{"count":10}"#),
        "[{fw}]"
    );
}

/// A bad query parameter gets 400 and a `text/plain` body naming it and its allowed values.
pub async fn bad_query_parameters_get_400_naming_them(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let mut cases = Vec::new();
    for path in target.streams() {
        for value in ["abc", "99", "60001", "", "1.5"] {
            cases.push((
                format!("{path}?interval_ms={value}"),
                "interval_ms",
                "100 to 60000",
            ));
        }
    }
    cases.push((
        "/events?format=xml".to_owned(),
        "format",
        "rfc2822, rfc3339, unix-ms",
    ));
    for (path, param, allowed) in cases {
        let response = server.get(&path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "[{fw}] {path}");
        let content_type = response
            .header("content-type")
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain"),
            "[{fw}] {path}: {content_type}"
        );
        let body = response.text().await;
        assert!(
            body.contains(param) && body.contains(allowed),
            "[{fw}] {path}: {body:?}"
        );
    }
}

/// Unknown paths get 404; known paths with the wrong method get 405.
pub async fn unknown_paths_get_404_and_wrong_methods_405(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    for path in [
        "/nope",
        "/events/",
        "/events/clock",
        "/chat/",
        "/static/missing.js",
        "/static/",
    ] {
        let status = server.get(path).await.status();
        assert_eq!(status, StatusCode::NOT_FOUND, "[{fw}] GET {path}");
    }
    for (method, path) in [
        (Method::POST, "/events"),
        (Method::POST, "/events/chat"),
        (Method::GET, "/chat"),
        (Method::DELETE, "/health"),
        (Method::PUT, "/"),
    ] {
        let status = server.request(method.clone(), path, &[]).await.status();
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "[{fw}] {method} {path}"
        );
    }
}

/// `/health` names the framework and counts open streams, which drop when clients leave.
pub async fn health_reports_the_framework_and_open_streams(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let mut open = Vec::new();
    for path in target.streams() {
        let mut events = server.get(path).await.events();
        events.next().await;
        open.push(events);
    }
    let health = wait_for_open_streams(&server, open.len() as u64).await;
    assert_eq!(health["status"], "ok", "[{fw}] {health}");
    assert_eq!(health["server"], fw, "[{fw}] {health}");
    // Where the chat lives, and with Redis whether it answers (its reader connected at start).
    if target.workshop.is_none() {
        let (hub, redis) = match target.redis {
            true => ("redis", serde_json::json!("up")),
            false => ("memory", serde_json::Value::Null),
        };
        assert_eq!(health["hub"], hub, "[{fw}] {health}");
        assert_eq!(health["redis"], redis, "[{fw}] {health}");
    }
    // The contract: a client that goes away is forgotten within 5 seconds.
    drop(open);
    wait_for_open_streams(&server, 0).await;
}

/// Polls `/health` until `open_streams` is `expected`, for at most [`PATIENCE`].
pub(crate) async fn wait_for_open_streams(server: &Server, expected: u64) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let response = server.get("/health").await;
        let content_type = response
            .header("content-type")
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "[{}] {content_type}",
            server.framework
        );
        let health: serde_json::Value = serde_json::from_str(&response.text().await).expect("JSON");
        if health["open_streams"] == expected {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] open_streams never became {expected}: {health}",
            server.framework
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A stream with nothing to say writes a comment every `--keep-alive-secs`.
pub async fn idle_stream_gets_keep_alive_comments(target: Target) {
    let server = Server::start(target, &["--keep-alive-secs", "1"]).await;
    let mut body = server.get("/events?interval_ms=60000").await.raw();
    body.read_until("id: 1\n").await;
    let started = Instant::now();
    let seen = body.read_until("\n: keep-alive\n\n").await;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "[{}] keep-alive after {waited:?}",
        target.framework
    );
    assert!(
        !seen.contains("id: 2"),
        "[{}] the clock ticked early: {seen:?}",
        target.framework
    );
}

/// At the default `--keep-alive-secs` (15), no comment comes while events flow: not at the start,
/// not right after an event (as a plain interval would write), on any stream.
pub async fn no_keep_alive_comment_while_events_flow(target: Target) {
    let server = Server::start(target, &[]).await;
    for path in target.streams() {
        // About a second and a half of events, ten of them.
        let mut body = server.get(&format!("{path}?{FAST}")).await.raw();
        let needle = if path.ends_with("paragraph") {
            "event: end\n"
        } else {
            "id: 9\n"
        };
        let seen = body.read_until(needle).await;
        assert!(
            !seen.lines().any(|line| line.starts_with(':')),
            "[{}] {path}: a comment among the first events: {seen:?}",
            target.framework
        );
    }
}

/// Past `--max-streams`: 200, `retry: 5000`, a comment, the end; never 503.
pub async fn past_max_streams_a_stream_is_told_to_come_back_later(target: Target) {
    let server = Server::start(target, &["--max-streams", "2"]).await;
    let fw = target.framework;
    let (kept, body) = hold_streams_then_one_more(&server, 2, "/events").await;
    assert!(
        body.starts_with("retry: 5000\n\n: server busy"),
        "[{fw}] {body:?}"
    );
    assert!(!body.contains("data:"), "[{fw}] {body:?}");
    let metrics = operations::metrics(&server).await;
    let refused = operations::sample(&metrics, "sse_streams_refused_total", fw);
    assert_eq!(refused, 1, "[{fw}] /metrics counts the refusal");
    drop(kept);
    wait_for_open_streams(&server, 0).await;
    let mut again = server.get("/events").await.events();
    assert_eq!(again.next().await.id, "1", "[{fw}] a slot freed up");
}

/// Opens `count` streams on `path` and holds them (each has sent its first event), then opens
/// one more, which must be turned away politely: status 200 (a 503 or 429 would make a browser
/// give up for good), and over HTTP/1.1 `Connection: close`. Returns the held streams and the
/// whole body of the one turned away.
pub async fn hold_streams_then_one_more(
    server: &Server,
    count: usize,
    path: &str,
) -> (Vec<Events>, String) {
    let fw = server.framework;
    let mut kept = Vec::new();
    for _ in 0..count {
        let mut events = server.get(path).await.events();
        events.next().await;
        kept.push(events);
    }
    let refused = server.get(path).await;
    assert_eq!(
        refused.status(),
        StatusCode::OK,
        "[{fw}] never a status that makes a browser give up"
    );
    // Over HTTP/1.1 its connection is closed once it is sent, so that it gives its
    // descriptor back at once; HTTP/2 has no `Connection` header.
    let expected = (server.protocol == crate::Protocol::Http1).then_some("close");
    assert_eq!(
        refused.header("connection"),
        expected,
        "[{fw}] the busy answer's Connection"
    );
    (kept, refused.raw().read_to_end().await)
}

/// The page and its script and style are served, with their content types.
pub async fn page_and_assets_are_served(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let page = server.get("/").await;
    assert_eq!(page.status(), StatusCode::OK, "[{fw}]");
    assert!(
        page.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let html = page.text().await;
    assert!(
        html.contains("/static/app.js") && html.contains("/static/style.css"),
        "[{fw}]"
    );
    let script = server.get("/static/app.js").await;
    assert!(
        script
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/javascript")
    );
    assert!(script.text().await.contains("new EventSource("), "[{fw}]");
    let compare = server.get("/compare").await;
    assert_eq!(compare.status(), StatusCode::OK, "[{fw}] /compare");
    let html = compare.text().await;
    assert!(html.contains("/static/compare.js"), "[{fw}] /compare");
    let script = server.get("/static/compare.js").await.text().await;
    assert!(script.contains("new EventSource("), "[{fw}] compare.js");
    let style = server.get("/static/style.css").await;
    assert!(
        style
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/css"),
        "[{fw}]"
    );
}

/// SIGTERM with 300 open streams: every stream ends properly and the server exits 0 within 2 s.
pub async fn sigterm_ends_hundreds_of_streams_and_exits_zero_within_2s(target: Target) {
    stop_with_open_streams(target, "TERM", 300).await;
}

/// SIGINT (Ctrl-C) does the same as SIGTERM.
pub async fn sigint_ends_streams_and_exits_zero_within_2s(target: Target) {
    stop_with_open_streams(target, "INT", 20).await;
}

/// Opens `count` clock streams on raw sockets, signals the server, and checks that it exits 0
/// within 2 seconds and that every stream was ended properly (the chunked body's last chunk),
/// not cut off.
async fn stop_with_open_streams(target: Target, signal: &str, count: usize) {
    let server = Server::start_for_one_busy_client(target, &[]).await;
    let fw = target.framework;
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut socket = TcpStream::connect(server.addr).await.expect("connect");
        let request = "GET /events?interval_ms=60000 HTTP/1.1\r\nhost: localhost\r\n\r\n";
        socket
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        streams.push(socket);
    }
    for socket in &mut streams {
        read_until(socket, "id: 1\n", fw).await;
    }
    let signalled = Instant::now();
    let status = server.stop(signal, Duration::from_secs(2)).await;
    assert!(
        status.success(),
        "[{fw}] exit status after SIG{signal}: {status}"
    );
    for socket in &mut streams {
        let rest = read_until(socket, "", fw).await;
        assert!(
            rest.ends_with("0\r\n\r\n"),
            "[{fw}] stream cut off, not ended: {rest:?}"
        );
    }
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "[{fw}] {count} streams ended in {took:?}"
    );
}

/// Reads from `socket` until the text read contains `needle`, or until end of file when
/// `needle` is empty.
async fn read_until(socket: &mut TcpStream, needle: &str, fw: &str) -> String {
    let what = format!("{needle:?}");
    let done = |seen: &[u8]| !needle.is_empty() && contains(seen, needle);
    let seen = read_socket_until(socket, fw, &what, done).await;
    String::from_utf8_lossy(&seen).into_owned()
}
