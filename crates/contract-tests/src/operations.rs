//! The cases about running a server for real (issue 7): `/metrics`, clients that vanish by the
//! hundred, and requests no browser would send.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{PATIENCE, Server, Target, closed_within, contains, read_socket_until};

/// The four stream routes, each with a query that makes it send at once and then stay open.
const ROUTES: [(&str, &str); 4] = [
    ("clock", "/events"),
    ("paragraph", "/events/paragraph?interval_ms=60000"),
    ("counter", "/events/counter"),
    ("chat", "/events/chat"),
];

/// The value of one sample of `/metrics`, e.g. `sse_streams_open{stream="clock"}`; panics when
/// the text has no such line.
pub fn sample(metrics: &str, name: &str, fw: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("[{fw}] no sample {name} in /metrics:\n{metrics}"))
}

/// `GET /metrics`, checked to be OpenMetrics text.
pub(crate) async fn metrics(server: &Server) -> String {
    let fw = server.framework;
    let response = server.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK, "[{fw}] GET /metrics");
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "[{fw}] /metrics content type {content_type:?}"
    );
    response.text().await
}

/// Polls `/metrics` until `name` reads `expected`, for at most `within`; returns the text.
pub(crate) async fn wait_for_sample(
    server: &Server,
    name: &str,
    expected: u64,
    within: Duration,
) -> String {
    let fw = server.framework;
    let deadline = Instant::now() + within;
    loop {
        let text = metrics(server).await;
        let value = sample(&text, name, fw);
        if value == expected {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "[{fw}] {name} is {value}, not {expected}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `/metrics` lists every stream at 0 from the start, then counts what happens: streams opened
/// and open, events sent, chat messages published.
pub async fn metrics_count_streams_events_and_chat(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let text = metrics(&server).await;
    for (stream, _) in ROUTES {
        let open = format!(r#"sse_streams_open{{stream="{stream}"}}"#);
        assert_eq!(sample(&text, &open, fw), 0, "[{fw}] {open}");
    }
    assert!(text.ends_with("# EOF\n"), "[{fw}] {text}");

    let mut clock = server.get("/events?interval_ms=100").await.events();
    clock.take(3).await;
    let mut chat = server.get("/events/chat").await.events();
    let mut publisher = server.connect().await;
    publisher.post_chat("ada", "one").await;
    publisher.post_chat("ada", "two").await;
    chat.take(2).await;

    let text = metrics(&server).await;
    let value = |name: &str| sample(&text, name, fw);
    assert_eq!(value(r#"sse_streams_open{stream="clock"}"#), 1, "[{fw}]");
    assert_eq!(value(r#"sse_streams_open{stream="chat"}"#), 1, "[{fw}]");
    assert_eq!(
        value(r#"sse_streams_opened_total{stream="clock"}"#),
        1,
        "[{fw}]"
    );
    assert_eq!(value(r#"sse_streams_open{stream="counter"}"#), 0, "[{fw}]");
    assert!(
        value(r#"sse_events_sent_total{stream="clock"}"#) >= 3,
        "[{fw}] {text}"
    );
    assert_eq!(
        value(r#"sse_events_sent_total{stream="chat"}"#),
        2,
        "[{fw}]"
    );
    assert_eq!(value("sse_chat_messages_published_total"), 2, "[{fw}]");

    drop((clock, chat));
    let name = r#"sse_streams_open{stream="clock"}"#;
    wait_for_sample(&server, name, 0, PATIENCE).await;
    let name = r#"sse_streams_open{stream="chat"}"#;
    wait_for_sample(&server, name, 0, PATIENCE).await;
}

/// 400 clients, 100 on each stream, vanish at once: half of them abruptly (their socket closed
/// with unread data, which resets the connection), half cleanly once they have read what was
/// sent at once (a plain FIN, as a browser's closed tab sends, which a server that allows
/// half-closed connections may not notice until it next writes). Within 5 seconds the server
/// has released every stream, as `/metrics` and `/health` both show.
pub async fn hundreds_of_vanished_clients_are_released_within_5s(target: Target) {
    let server = Server::start_for_one_busy_client(target, &[]).await;
    let fw = target.framework;
    let mut readers = Vec::new();
    for (stream, path) in ROUTES {
        for _ in 0..100 {
            let mut socket = TcpStream::connect(server.addr).await.expect("connect");
            let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n");
            socket.write_all(request.as_bytes()).await.expect("send");
            // What each stream sends at once ends with its first event's data (chat: `retry:`).
            let last = if stream == "chat" {
                "retry: "
            } else {
                "data: "
            };
            readers.push(tokio::spawn(async move {
                read_past(&mut socket, last, fw).await;
                socket
            }));
        }
    }
    let mut sockets = Vec::new();
    for reader in readers {
        sockets.push(reader.await.expect("reader"));
    }
    for (stream, _) in ROUTES {
        let open = format!(r#"sse_streams_open{{stream="{stream}"}}"#);
        wait_for_sample(&server, &open, 100, PATIENCE).await;
    }
    let gone = Instant::now();
    for (i, mut socket) in sockets.into_iter().enumerate() {
        if i % 2 == 0 {
            socket.shutdown().await.expect("FIN");
        }
        drop(socket);
    }
    for (stream, _) in ROUTES {
        let open = format!(r#"sse_streams_open{{stream="{stream}"}}"#);
        let left = PATIENCE.saturating_sub(gone.elapsed());
        wait_for_sample(&server, &open, 0, left).await;
    }
    let health: serde_json::Value =
        serde_json::from_str(&server.get("/health").await.text().await).expect("JSON");
    assert_eq!(health["open_streams"], 0, "[{fw}] {health}");
}

/// Reads from `socket` until the end of the field that starts with `field` (its blank line).
pub(crate) async fn read_past(socket: &mut TcpStream, field: &str, fw: &str) {
    let done = |seen: &[u8]| {
        let seen = String::from_utf8_lossy(seen);
        seen.find(field)
            .is_some_and(|at| seen[at..].contains("\n\n"))
    };
    let seen = read_socket_until(socket, fw, &format!("{field:?}"), done).await;
    let seen = String::from_utf8_lossy(&seen);
    assert!(
        done(seen.as_bytes()),
        "[{fw}] the stream ended before {field:?}: {seen:?}"
    );
}

/// Sends `request` as it is on a new connection; returns the status line's code, or 0 when the
/// server closed the connection without an answer.
pub(crate) async fn raw_status(server: &Server, request: &[u8]) -> u16 {
    let fw = server.framework;
    let mut socket = TcpStream::connect(server.addr).await.expect("connect");
    // The server may answer, and close, before it has read the whole request.
    let _ = socket.write_all(request).await;
    let start = String::from_utf8_lossy(&request[..request.len().min(80)]);
    let what = format!("status line in answer to {start:?}");
    let head = read_socket_until(&mut socket, fw, &what, |seen| contains(seen, "\r\n")).await;
    let line = String::from_utf8_lossy(&head);
    line.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Headers no browser sends, and the same clean answer from every server: a 64 KiB or invalid
/// UTF-8 `Last-Event-ID` is an unusable id, so the stream starts fresh (200); a NUL or a bare CR
/// in a header is not HTTP, refused by the framework's parser (400); 64 KiB of headers are too
/// many (431). Never a hang or a crash: the server answers `/health` afterwards.
pub async fn odd_headers_get_a_clean_answer_and_the_server_goes_on(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let with_id = |id: &[u8]| {
        let mut request = b"GET /events HTTP/1.1\r\nhost: localhost\r\nlast-event-id: ".to_vec();
        request.extend_from_slice(id);
        request.extend_from_slice(b"\r\n\r\n");
        request
    };
    let many_headers = {
        let mut request = b"GET /events HTTP/1.1\r\nhost: localhost\r\n".to_vec();
        for i in 0..1024 {
            request.extend_from_slice(format!("x-filler-{i}: {}\r\n", "z".repeat(50)).as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        request
    };
    let cases: [(&str, Vec<u8>, u16); 5] = [
        ("a 64 KiB Last-Event-ID", with_id(&[b'7'; 64 * 1024]), 200),
        (
            "an invalid UTF-8 Last-Event-ID",
            with_id(b"\xff\xfe12"),
            200,
        ),
        ("a NUL in Last-Event-ID", with_id(b"12\x0034"), 400),
        ("a bare CR in Last-Event-ID", with_id(b"12\r34"), 400),
        ("64 KiB of headers", many_headers, 431),
    ];
    for (what, request, expected) in cases {
        let status = raw_status(&server, &request).await;
        assert_eq!(status, expected, "[{fw}] {what}");
    }
    // A usable id still resumes: the odd ones did not disturb the server.
    let mut events = server.get_resuming("/events", b"41").await.events();
    assert_eq!(events.next().await.id, "42", "[{fw}]");
    let health = server.get("/health").await;
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "[{fw}] /health after odd headers"
    );
}

/// A low open-files limit: the server is started with `ulimit -n 128` (soft and hard, so it
/// cannot raise it). It lowers `--max-streams` to what the descriptors allow (128, less 32 kept
/// for itself, less 32 kept for answers: 64) and says so; past that, streams get the busy
/// answer at once rather than hang, `/health` still answers while all of them are held, and a
/// connection past the limit is closed at once.
pub async fn at_the_open_files_limit_streams_are_turned_away_and_health_answers(target: Target) {
    let args = crate::client::ONE_BUSY_CLIENT;
    let (server, stderr) = Server::start_with_fd_limit(target, 128, &args).await;
    let fw = target.framework;
    let log = tokio::spawn(async move {
        let mut text = String::new();
        let _ = tokio::io::BufReader::new(stderr)
            .read_to_string(&mut text)
            .await;
        text
    });
    let request = "GET /events?interval_ms=200 HTTP/1.1\r\nhost: localhost\r\n\r\n";
    let mut held = Vec::new();
    for n in 0..80 {
        let mut socket = TcpStream::connect(server.addr).await.expect("connect");
        socket.write_all(request.as_bytes()).await.expect("send");
        // The first 64 are streams; the rest are told at once that the server is busy.
        let expected = if n < 64 { "id: 1" } else { ": server busy" };
        read_past(&mut socket, expected, fw).await;
        held.push(socket);
    }
    let health = server.get("/health").await;
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "[{fw}] /health at the limit"
    );
    let health: serde_json::Value = serde_json::from_str(&health.text().await).expect("JSON");
    assert_eq!(health["max_streams"], 64, "[{fw}] {health}");
    // Past the connection limit (96), a connection is closed at once: 60 more, all
    // opened before any is read (an idle one is itself closed after 10 s).
    let mut extra = Vec::new();
    for _ in 0..60 {
        extra.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    let closed = closed_within(&mut extra, PATIENCE).await;
    held.extend(extra);
    assert!(
        closed >= 10,
        "[{fw}] only {closed} of 60 connections past the limit were closed at once"
    );
    // Closing the streams gives their places back, once the server has seen them close.
    drop(held);
    let mut served = false;
    for _ in 0..50 {
        let mut again = TcpStream::connect(server.addr).await.expect("connect");
        let _ = again.write_all(request.as_bytes()).await;
        let mut seen = Vec::new();
        let mut buffer = [0u8; 1024];
        let read = tokio::time::timeout(Duration::from_millis(500), async {
            while let Ok(n @ 1..) = again.read(&mut buffer).await {
                seen.extend_from_slice(&buffer[..n]);
                if contains(&seen, "id: 1") {
                    return true;
                }
            }
            false
        });
        if read.await.unwrap_or(false) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "[{fw}] no stream served after the others closed");
    drop(server);
    let log = log.await.expect("log reader");
    assert!(
        log.contains("--max-streams 10000 lowered to 64"),
        "[{fw}] the lowered --max-streams was not logged; the log:\n{log}"
    );
}

/// A second server on a port already taken: one sentence on stderr that names the port and says
/// what to do, no `Debug` dump, and a non-zero exit.
pub async fn a_port_in_use_is_one_sentence_and_a_non_zero_exit(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let port = server.addr.port().to_string();
    let second = tokio::process::Command::new(target.binary)
        .args(["--host", "127.0.0.1", "--port", &port])
        .env("RUST_LOG", "warn")
        .output();
    let output = tokio::time::timeout(PATIENCE, second)
        .await
        .unwrap_or_else(|_| panic!("[{fw}] a second server on a taken port did not exit"))
        .expect("running the server");
    assert!(
        !output.status.success(),
        "[{fw}] exit status {}",
        output.status
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "[{fw}] one line: {stderr:?}");
    let line = lines[0];
    assert!(line.contains(&format!("port {port}")), "[{fw}] {line}");
    assert!(
        line.contains("already in use") && line.contains("--port"),
        "[{fw}] {line}"
    );
    assert!(
        !line.contains("Os {") && !line.contains("kind:"),
        "[{fw}] a Debug dump: {line}"
    );
}
