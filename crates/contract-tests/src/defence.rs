//! The cases about hostile clients (issue 22): each does what one client can do to take the
//! server from the others, and checks both that it is stopped and that another client is still
//! served meanwhile. Every loop is bounded in count and time, and all traffic is on loopback
//! (127.0.0.2 plays a second client).

use std::time::Duration;

use hyper::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::cases;
use crate::client::{PATIENCE, Protocol, Server, Target, closed_within, contains};
use crate::operations::{metrics, raw_status, read_past, sample, wait_for_sample};

/// A raw HTTP/1.1 connection from `from` (any 127.x.y.z address is this machine).
pub(crate) async fn connect_from(server: &Server, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind((std::net::Ipv4Addr::from(from), 0).into())
        .expect("bind to a loopback address");
    socket.connect(server.addr).await.expect("connect")
}

/// One client takes all of `--max-streams-per-client`: its next stream gets the busy answer
/// (200, `retry: 5000`, a comment, the end), and a second client is still served.
pub async fn one_client_at_its_stream_limit_leaves_others_served(target: Target) {
    let server = Server::start(target, &["--max-streams-per-client", "3"]).await;
    let fw = target.framework;
    let path = "/events?interval_ms=60000";
    let (_kept, text) = cases::hold_streams_then_one_more(&server, 3, path).await;
    assert!(text.starts_with("retry: 5000\n\n"), "[{fw}] {text:?}");
    assert!(
        text.contains(": too many streams from your address"),
        "[{fw}] {text:?}"
    );
    if target.protocol == Protocol::Http1 {
        let mut other = connect_from(&server, [127, 0, 0, 2]).await;
        let request = "GET /events HTTP/1.1\r\nhost: localhost\r\n\r\n";
        other.write_all(request.as_bytes()).await.expect("send");
        read_past(&mut other, "id: 1", fw).await;
    }
    let text = metrics(&server).await;
    assert_eq!(
        sample(&text, "sse_streams_refused_per_client_total", fw),
        1,
        "[{fw}]"
    );
}

/// One client opens one connection more than `--max-connections-per-client` allows: one of
/// them is closed at once (actix hands connections to two worker threads, so not always the
/// last to connect), the others stay open, and a second client is still served.
pub async fn one_client_at_its_connection_limit_leaves_others_served(target: Target) {
    let server = Server::start(target, &["--max-connections-per-client", "5"]).await;
    let fw = target.framework;
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    // Each one open is still open after a second; a closed one reads its end well before that.
    let closed = closed_within(&mut held, Duration::from_secs(1)).await;
    assert_eq!(closed, 1, "[{fw}] connections closed of the six");
    let mut other = connect_from(&server, [127, 0, 0, 2]).await;
    let request = "GET /events HTTP/1.1\r\nhost: localhost\r\n\r\n";
    other.write_all(request.as_bytes()).await.expect("send");
    read_past(&mut other, "id: 1", fw).await;
    drop(held);
}

/// Behind a `--trusted-proxy`, the client is whom the proxy forwarded for: two users of one
/// proxy have their own limits, and a client's own `X-Forwarded-For` claims are ignored.
pub async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(target: Target) {
    let args = [
        "--max-streams-per-client",
        "1",
        "--trusted-proxy",
        "127.0.0.1",
    ];
    let server = Server::start(target, &args).await;
    let fw = target.framework;
    let open = |forwarded_for: &'static str| async {
        let headers = [("x-forwarded-for", forwarded_for.as_bytes())];
        let response = server
            .request(Method::GET, "/events?interval_ms=60000", &headers)
            .await;
        let mut events = response.events();
        let first = events.next().await;
        (first.id, events)
    };
    let (id, _ann) = open("203.0.113.1").await;
    assert_eq!(id, "1", "[{fw}] the first user's stream");
    let (id, _bob) = open("6.6.6.6, 203.0.113.2").await;
    assert_eq!(
        id, "1",
        "[{fw}] another user of the same proxy (the claim on the left ignored)"
    );
    // Two header lines: the proxy's own comes last, and the first is the client's word.
    let two_lines = [
        ("x-forwarded-for", &b"203.0.113.1"[..]),
        ("x-forwarded-for", &b"203.0.113.3"[..]),
    ];
    let response = server
        .request(Method::GET, "/events?interval_ms=60000", &two_lines)
        .await;
    let mut carol = response.events();
    assert_eq!(
        carol.next().await.id,
        "1",
        "[{fw}] the last X-Forwarded-For line names the client"
    );
    let headers = [("x-forwarded-for", &b"203.0.113.1"[..])];
    let again = server
        .request(Method::GET, "/events", &headers)
        .await
        .text()
        .await;
    assert!(
        again.contains(": too many streams from your address"),
        "[{fw}] the first user again gets the busy answer: {again:?}"
    );
}

/// A `Host` this server was not given (DNS rebinding) gets 421 on every route; an HTTP/1.1
/// request with no `Host` or two gets 400; `--allowed-host` adds a name.
pub async fn a_foreign_missing_or_repeated_host_is_refused(target: Target) {
    let server = Server::start(target, &["--allowed-host", "sse.example"]).await;
    let fw = target.framework;
    for (request, expected, what) in [
        (
            "GET / HTTP/1.1\r\nhost: evil.example:3000\r\n\r\n",
            421,
            "the page",
        ),
        (
            "GET /events HTTP/1.1\r\nhost: evil.example\r\n\r\n",
            421,
            "a stream",
        ),
        (
            "POST /chat HTTP/1.1\r\nhost: evil.example\r\norigin: http://evil.example\r\n\
             content-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
            421,
            "a post",
        ),
        (
            "OPTIONS /chat HTTP/1.1\r\nhost: evil.example\r\n\r\n",
            421,
            "a preflight",
        ),
        ("GET /health HTTP/1.1\r\n\r\n", 400, "no Host"),
        (
            "GET /health HTTP/1.1\r\nhost: localhost\r\nhost: localhost\r\n\r\n",
            400,
            "two",
        ),
        (
            "GET /health HTTP/1.1\r\nhost: sse.example:8443\r\n\r\n",
            200,
            "--allowed-host",
        ),
        (
            "GET /health HTTP/1.1\r\nhost: 127.0.0.1:1\r\n\r\n",
            200,
            "loopback, any port",
        ),
    ] {
        let status = raw_status(&server, request.as_bytes()).await;
        assert_eq!(status, expected, "[{fw}] {what}");
    }
}

/// Request lines no browser sends, each on its own connection, all 360 combinations: every one
/// gets a status line or a closed connection, never a hang or a panic, and `CONNECT host:port`
/// gets the same 400 everywhere. The server answers `/health` afterwards, and its log holds no
/// panic.
pub async fn odd_request_lines_get_an_answer_and_never_a_panic(target: Target) {
    // The log, piped: the descriptor limit is only a way to get it.
    let (server, stderr) = Server::start_with_fd_limit(target, 4096, &[]).await;
    let fw = target.framework;
    let log = read_log(stderr);
    let methods = [
        "GET", "POST", "CONNECT", "OPTIONS", "PRI", "BREW", "G\u{0}T", "get",
    ];
    let targets = [
        "localhost:3000",
        "*",
        "/",
        "http://localhost/events",
        "//x",
        "/%00",
        "/events?%zz=1",
        "/events/../health",
        "https://evil.example/chat",
    ];
    let versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/9.9", ""];
    for method in methods {
        for request_target in targets {
            for version in versions {
                let line = format!("{method} {request_target} {version}");
                let request = format!("{line}\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n");
                let mut socket = TcpStream::connect(server.addr).await.expect("connect");
                let _ = socket.write_all(request.as_bytes()).await;
                let mut seen = Vec::new();
                let mut buffer = [0u8; 1024];
                let answered = tokio::time::timeout(PATIENCE, async {
                    loop {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buffer[..n]),
                        }
                        if contains(&seen, "\r\n") {
                            return;
                        }
                    }
                });
                assert!(
                    answered.await.is_ok(),
                    "[{fw}] no answer to {line:?} within {PATIENCE:?}"
                );
                let status = String::from_utf8_lossy(&seen);
                if method == "CONNECT"
                    && request_target == "localhost:3000"
                    && version == "HTTP/1.1"
                {
                    assert!(
                        status.starts_with("HTTP/1.1 400"),
                        "[{fw}] {line:?}: {status:?}"
                    );
                }
            }
        }
    }
    let health = server.get("/health").await;
    assert_eq!(health.status(), StatusCode::OK, "[{fw}] /health afterwards");
    drop(server);
    let log = log.await.expect("log reader");
    assert!(
        !log.contains("panicked"),
        "[{fw}] a request made the server panic:\n{log}"
    );
}

fn read_log(stderr: tokio::process::ChildStderr) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = tokio::io::BufReader::new(stderr)
            .read_to_string(&mut text)
            .await;
        text
    })
}

/// One client posts faster than `--post-burst` allows: 429 with `Retry-After` and a JSON error;
/// a second client still posts, and the history holds every accepted message.
pub async fn a_publish_flood_gets_429_and_others_still_post(target: Target) {
    let server = Server::start(target, &["--post-burst", "5", "--post-rate", "1"]).await;
    let fw = target.framework;
    let mut flooder = server.connect().await;
    for n in 1..=5 {
        assert_eq!(flooder.post_chat("flood", "x").await, n, "[{fw}]");
    }
    let body = r#"{"user":"flood","text":"x"}"#;
    let refused = server.post("/chat", "application/json", body).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "[{fw}]");
    assert_eq!(refused.header("retry-after"), Some("1"), "[{fw}]");
    let error = refused.text().await;
    assert!(
        error.contains("too many posts from your address"),
        "[{fw}] {error}"
    );
    if target.protocol == Protocol::Http1 {
        let mut other = connect_from(&server, [127, 0, 0, 2]).await;
        let request = format!(
            "POST /chat HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{}",
            r#"{"user":"ann","text":"hi"}"#.len(),
            r#"{"user":"ann","text":"hi"}"#
        );
        other.write_all(request.as_bytes()).await.expect("send");
        let seen = crate::client::read_socket_until(&mut other, fw, "201", |seen| {
            contains(seen, "{\"id\":6}")
        })
        .await;
        assert!(
            contains(&seen, "201"),
            "[{fw}] {:?}",
            String::from_utf8_lossy(&seen)
        );
    }
    let mut history = server.get("/events/chat?history=1000").await.events();
    let ids: Vec<String> = history.take(5).await.into_iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        ["1", "2", "3", "4", "5"],
        "[{fw}] the accepted messages are all kept"
    );
}

/// Names that look like no one (invisible characters only) or reorder what is shown
/// (bidirectional controls) are refused with the reason.
pub async fn invisible_names_and_bidirectional_controls_are_refused(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    for (body, words) in [
        (
            r#"{"user":"\u200b\u200b","text":"hi"}"#,
            r#"\"user\" has no visible character"#,
        ),
        (
            r#"{"user":"ann\u202enib","text":"hi"}"#,
            "bidirectional control U+202E",
        ),
    ] {
        let response = server.post("/chat", "application/json", body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "[{fw}] {body}");
        let error = response.text().await;
        assert!(error.contains(words), "[{fw}] {body}: {error}");
    }
}

/// A replay sends at most `--replay-kib`: the newest messages that fit, after an
/// `event: lagged` that counts the ones left out; then the stream goes on live.
pub async fn a_replay_sends_at_most_its_byte_budget(target: Target) {
    let server = Server::start_for_one_busy_client(target, &["--replay-kib", "16"]).await;
    let fw = target.framework;
    let mut publisher = server.connect().await;
    // Each message is about 4 KB on the wire: 20 are 80 KB, five times the budget.
    let text = "é".repeat(2000);
    for _ in 0..20 {
        publisher.post_chat("ann", &text).await;
    }
    let mut events = server.get("/events/chat?history=1000").await.events();
    let lagged = events.next().await;
    assert_eq!(lagged.event, "lagged", "[{fw}] {lagged:?}");
    let missed: serde_json::Value = serde_json::from_str(&lagged.data).expect("JSON");
    let missed = missed["missed"].as_u64().expect("missed");
    assert!((16..20).contains(&missed), "[{fw}] {missed} left out");
    let replayed: Vec<String> = events
        .take(20 - missed as usize)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        replayed.last().map(String::as_str),
        Some("20"),
        "[{fw}] the newest come last"
    );
    let live = publisher.post_chat("ann", "live").await;
    assert_eq!(events.next().await.id, live.to_string(), "[{fw}] then live");
}

/// The pages say what the browser may run and load, and that no other site may frame them.
pub async fn pages_send_a_strict_content_security_policy(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    for path in ["/", "/compare"] {
        let page = server.get(path).await;
        let policy = page
            .header("content-security-policy")
            .unwrap_or_default()
            .to_owned();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "[{fw}] {path}: {policy:?}");
        }
        assert!(
            !policy.contains("unsafe-inline"),
            "[{fw}] {path}: {policy:?}"
        );
        assert_eq!(
            page.header("x-content-type-options"),
            Some("nosniff"),
            "[{fw}] {path}"
        );
    }
    let script = server.get("/static/app.js").await;
    assert_eq!(
        script.header("x-content-type-options"),
        Some("nosniff"),
        "[{fw}]"
    );
}

/// A `Content-Length` over 16 KiB is refused at once (413), before any of the body arrives.
pub async fn a_declared_body_over_the_limit_gets_413_at_once(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let request = "POST /chat HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
                   content-length: 10000000\r\n\r\n";
    let status = tokio::time::timeout(
        Duration::from_secs(2),
        raw_status(&server, request.as_bytes()),
    );
    let status = status
        .await
        .unwrap_or_else(|_| panic!("[{fw}] no answer within 2 s"));
    assert_eq!(status, 413, "[{fw}]");
}

/// A chat subscriber that stops reading (its receive buffer is tiny and never read): the
/// kernel holds at most a bounded amount for it, the server closes it after
/// `--write-timeout-secs` and counts it, and a reading subscriber gets every message.
pub async fn a_subscriber_that_stops_reading_is_closed_after_the_write_timeout(target: Target) {
    let server = Server::start_for_one_busy_client(target, &["--write-timeout-secs", "2"]).await;
    let fw = target.framework;
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stalled = socket.connect(server.addr).await.expect("connect");
    let request = "GET /events/chat HTTP/1.1\r\nhost: localhost\r\n\r\n";
    stalled.write_all(request.as_bytes()).await.expect("send");
    let mut reader = server.get("/events/chat?history=0").await.events();
    wait_for_sample(&server, r#"sse_streams_open{stream="chat"}"#, 2, PATIENCE).await;
    let mut publisher = server.connect().await;
    let text = "y".repeat(1000);
    // 1 MB: more than every buffer between the server and the stalled client holds. The reader
    // reads while the posts go out: left unread for longer than the write timeout, it would be
    // closed as a stalled client too.
    let publish = async {
        for _ in 0..1000 {
            publisher.post_chat("ann", &text).await;
        }
    };
    let ((), received) = tokio::join!(publish, reader.take(1000));
    assert_eq!(received.len(), 1000, "[{fw}] the reading subscriber");
    let (queued, ss) = send_queue_bytes(&server, stalled.local_addr().expect("addr").port());
    assert!(
        queued <= 256 * 1024,
        "[{fw}] {queued} bytes queued in the kernel for the stalled client: {ss}"
    );
    let text = wait_for_sample(
        &server,
        "sse_streams_write_timeouts_total",
        1,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        sample(&text, r#"sse_streams_open{stream="chat"}"#, fw),
        1,
        "[{fw}] only the reader is left"
    );
    drop(stalled);
}

/// The bytes the kernel holds queued for sending on the server's end of the connection to
/// `client_port`, read from `ss` (its `skmem` `w`).
fn send_queue_bytes(server: &Server, client_port: u16) -> (u64, String) {
    let port = server.addr.port();
    let filter = format!("( sport = :{port} and dport = :{client_port} )");
    let output = std::process::Command::new("ss")
        .args(["-tmnH", "state", "established", &filter])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let queued = text
        .split("skmem:(")
        .skip(1)
        .filter_map(|fields| {
            let w = fields.split(',').find(|field| field.starts_with('w'))?;
            w[1..].trim_end_matches(')').parse().ok()
        })
        .max()
        .unwrap_or(0);
    (queued, text)
}

/// How long the server takes to close `socket`, which sends nothing more (at most 30 s).
async fn closed_after(mut socket: impl tokio::io::AsyncRead + Unpin) -> Duration {
    let start = tokio::time::Instant::now();
    let mut buffer = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(n @ 1..) = socket.read(&mut buffer).await {
            let _ = n;
        }
    });
    let _ = closed.await;
    start.elapsed()
}

/// A connection that says nothing holds a descriptor: closed after 10 s (`serve.rs`'s
/// `REQUEST_HEAD_TIMEOUT`), whether it never starts its TLS handshake or finishes it and then
/// never sends HTTP/2's preface.
pub async fn connections_that_say_nothing_are_closed_after_10s(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let silent = TcpStream::connect(server.addr).await.expect("connect");
    let after_handshake = async {
        let origin = server.origin();
        let tls = crate::tls::client()
            .tls(&origin)
            .await
            .expect("TLS handshake");
        closed_after(tls).await
    };
    let (before, after) = tokio::join!(closed_after(silent), after_handshake);
    for (what, took) in [("no handshake", before), ("no preface", after)] {
        let window = Duration::from_secs(8)..Duration::from_secs(16);
        assert!(
            window.contains(&took),
            "[{fw}] {what}: closed after {took:?}"
        );
    }
}

/// A chat body sent a byte a second is answered 408 once the whole body has taken 10 s, on
/// every server (the core's `BODY_TIMEOUT`).
pub async fn a_body_that_trickles_gets_408(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let mut socket = TcpStream::connect(server.addr).await.expect("connect");
    let head = "POST /chat HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
                content-length: 100\r\n\r\n";
    socket.write_all(head.as_bytes()).await.expect("send");
    let start = tokio::time::Instant::now();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while start.elapsed() < Duration::from_secs(20) && !contains(&seen, "\r\n") {
        let _ = socket.write_all(b" ").await;
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_secs(1), socket.read(&mut buffer)).await
        {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buffer[..n]);
        }
    }
    let answer = String::from_utf8_lossy(&seen);
    assert!(answer.starts_with("HTTP/1.1 408"), "[{fw}] {answer:?}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(16),
        "[{fw}] after {took:?}"
    );
}
