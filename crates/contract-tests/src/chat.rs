//! The chat cases of the contract: `POST /chat` and `GET /events/chat`, with replay after
//! `Last-Event-ID`, racing publishers, and a subscriber too slow to keep up.

use std::time::{Duration, Instant};

use eventsource_stream::Event;
use hyper::{Method, StatusCode};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::client::{Events, Server, Target};
use crate::operations;

const JSON: &str = "application/json";

/// A chat message as the stream delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    /// Its id, the same in the `id:` field and in the data.
    pub id: u64,
    /// Who wrote it.
    pub user: String,
    /// What they wrote.
    pub text: String,
}

/// Reads `event` as a chat message, checking that its `id:` and the id in its data agree.
pub fn chat(fw: &str, event: &Event) -> Chat {
    assert_eq!(event.event, "chat", "[{fw}] {event:?}");
    let data: Value = serde_json::from_str(&event.data)
        .unwrap_or_else(|e| panic!("[{fw}] chat data is not JSON ({e}): {:?}", event.data));
    let id = data["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("[{fw}] no id: {data}"));
    assert_eq!(
        event.id,
        id.to_string(),
        "[{fw}] id field and data disagree"
    );
    let time = data["time"].as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(time).is_ok(),
        "[{fw}] time is not RFC 3339: {data}"
    );
    Chat {
        id,
        user: data["user"].as_str().unwrap_or_default().to_owned(),
        text: data["text"].as_str().unwrap_or_default().to_owned(),
    }
}

/// The ids of the next `n` chat events.
pub async fn chat_ids(fw: &str, events: &mut Events, n: usize) -> Vec<u64> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(chat(fw, &events.next().await).id);
    }
    ids
}

/// Asserts that nothing arrives for a while: the replay is over and nothing live is due.
async fn assert_quiet(fw: &str, events: &mut Events) {
    if let Ok(event) = timeout(Duration::from_millis(300), events.next()).await {
        panic!("[{fw}] expected nothing more, got {event:?}");
    }
}

/// The JSON body of a `POST /chat` answer, which is `application/json` whatever the status.
async fn post(server: &Server, content_type: &str, body: impl Into<bytes::Bytes>) -> (u16, Value) {
    let fw = server.framework;
    let response = server.post("/chat", content_type, body).await;
    let status = response.status().as_u16();
    let declared = response
        .header("content-type")
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await;
    assert!(
        declared.starts_with(JSON),
        "[{fw}] {status} {declared}: {text}"
    );
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("[{fw}] {status} body is not JSON ({e}): {text:?}"));
    (status, json)
}

/// 415 for other content types, 413 past 16 KiB, 400 naming the field, 201 with the id.
pub async fn chat_post_answers_name_what_was_wrong(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let valid = r#"{"user":"ann","text":"hi"}"#;
    let long_text = format!(r#"{{"user":"ann","text":"{}"}}"#, "x".repeat(2001));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("text/plain", valid.into(), 415, "application/json"),
        (
            "application/x-www-form-urlencoded",
            "user=ann&text=hi".into(),
            415,
            "application/json",
        ),
        (
            JSON,
            format!(r#"{{"user":"ann","text":"{}"}}"#, "x".repeat(17 * 1024)),
            413,
            "16384",
        ),
        (JSON, "{not json".into(), 400, "JSON"),
        (JSON, r#"{"text":"hi"}"#.into(), 400, "user"),
        (JSON, r#"{"user":"  ","text":"hi"}"#.into(), 400, "user"),
        (
            JSON,
            format!(r#"{{"user":"{}","text":"hi"}}"#, "u".repeat(33)),
            400,
            "user",
        ),
        (JSON, r#"{"user":"ann"}"#.into(), 400, "text"),
        (JSON, r#"{"user":"ann","text":""}"#.into(), 400, "text"),
        (JSON, long_text, 400, "text"),
    ];
    for (content_type, body, status, names) in cases {
        let shown: String = body.chars().take(60).collect();
        let (got, reply) = post(&server, content_type, body).await;
        assert_eq!(got, status, "[{fw}] {content_type} {shown}: {reply}");
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(error.contains(names), "[{fw}] {shown}: {reply}");
    }
    // Nothing refused was published: the first good message gets id 1.
    assert_eq!(
        post(&server, JSON, valid).await,
        (201, serde_json::json!({"id": 1}))
    );
    let with_charset = "application/json; charset=utf-8";
    assert_eq!(
        post(&server, with_charset, valid).await.1["id"],
        2,
        "[{fw}]"
    );
    let get = server.get("/chat").await;
    assert_eq!(
        get.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "[{fw}] GET /chat"
    );
}

/// `/compare` on one port posts to the others: a preflight from a page on the same host is
/// allowed, one from another site is not, and `/health` may be read by any page.
pub async fn chat_cross_origin_posts_are_allowed_from_the_same_host_only(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    // The test client sends `Host: localhost`.
    let neighbour = "http://localhost:3000";
    for (origin, allowed) in [(neighbour, true), ("http://evil.example", false)] {
        let preflight = [
            ("origin", origin.as_bytes()),
            ("access-control-request-method", &b"POST"[..]),
            ("access-control-request-headers", &b"content-type"[..]),
        ];
        let answer = server.request(Method::OPTIONS, "/chat", &preflight).await;
        assert!(
            answer.status().is_success(),
            "[{fw}] preflight from {origin}: {}",
            answer.status()
        );
        let allow_origin = answer.header("access-control-allow-origin");
        assert_eq!(
            allow_origin,
            allowed.then_some(origin),
            "[{fw}] preflight from {origin}"
        );
        if allowed {
            let methods = answer
                .header("access-control-allow-methods")
                .unwrap_or_default();
            let headers = answer
                .header("access-control-allow-headers")
                .unwrap_or_default();
            assert!(methods.contains("POST"), "[{fw}] {methods}");
            assert!(
                headers.to_ascii_lowercase().contains("content-type"),
                "[{fw}] {headers}"
            );
        }
    }
    let mut connection = server.connect().await;
    let headers = [
        ("content-type", &b"application/json"[..]),
        ("origin", neighbour.as_bytes()),
    ];
    let body = r#"{"user":"ann","text":"from another port"}"#;
    let posted = connection
        .send(Method::POST, "/chat", &headers, body.into())
        .await;
    assert_eq!(posted.status(), StatusCode::CREATED, "[{fw}]");
    assert_eq!(
        posted.header("access-control-allow-origin"),
        Some(neighbour),
        "[{fw}]"
    );
    let health = server.get("/health").await;
    assert_eq!(
        health.header("access-control-allow-origin"),
        Some("*"),
        "[{fw}] /health"
    );
}

/// Text with CR, LF, field-like lines and HTML arrives byte for byte, as exactly one event.
pub async fn chat_hostile_text_arrives_intact_as_one_event(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let mut events = server.get("/events/chat").await.events();
    let texts = [
        "line one\nline two",
        "carriage\rreturn",
        "crlf\r\nand\n\nblank lines\n",
        "event: forged\ndata: forged\nid: 999\n\n",
        "\r\n\r\ndata: {\"id\":1}\r\n\r\n",
        "<script>alert('x')</script><img src=x onerror=alert(1)>",
        ": not a comment",
        "tab\tnul\u{0}bell\u{7} line separator\u{2028}end",
        "emoji 😀, accents é, CJK 漢字, RTL עברית",
    ];
    let mut publisher = server.connect().await;
    for text in texts {
        publisher.post_chat("mallory\n<b>", text).await;
    }
    for (n, text) in texts.iter().enumerate() {
        let message = chat(fw, &events.next().await);
        assert_eq!(message.id, n as u64 + 1, "[{fw}] one event per message");
        assert_eq!(message.text, *text, "[{fw}] text changed on the way");
        assert_eq!(message.user, "mallory\n<b>", "[{fw}]");
    }
    // Had any text forged an extra event, it would come before this one.
    let last = publisher.post_chat("ann", "the end").await;
    assert_eq!(chat(fw, &events.next().await).id, last, "[{fw}]");
}

/// Four publishers race while readers resume from different ids: every reader sees exactly
/// the ids after its resume point, each once, in order.
pub async fn chat_racing_publishers_and_resuming_readers_miss_nothing(target: Target) {
    const PUBLISHERS: u64 = 4;
    const EACH: u64 = 150;
    const TOTAL: usize = (PUBLISHERS * EACH) as usize;
    let server = Server::start_for_one_busy_client(target, &[]).await;
    let fw = target.framework;
    let mut watcher = server.get("/events/chat?history=0").await.events();
    let mut publishers = JoinSet::new();
    for p in 0..PUBLISHERS {
        let mut connection = server.connect().await;
        publishers.spawn(async move {
            for n in 0..EACH {
                connection
                    .post_chat(&format!("p{p}"), &format!("{n}"))
                    .await;
                // Spread publishing out, so that readers join while it goes on.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
    }
    // Join mid-way: resume points already published, messages still coming.
    assert_eq!(
        chat_ids(fw, &mut watcher, 100).await,
        (1..=100).collect::<Vec<_>>()
    );
    let mut readers = Vec::new();
    for resume in [0u64, 17, 50, 99] {
        let header = resume.to_string();
        let by_header = server.get_resuming("/events/chat", header.as_bytes()).await;
        readers.push((resume, by_header.events()));
    }
    let by_query = server.get("/events/chat?lastEventId=42&history=0").await;
    readers.push((42, by_query.events()));
    for (resume, mut reader) in readers {
        let expected: Vec<u64> = (resume + 1..=TOTAL as u64).collect();
        let ids = chat_ids(fw, &mut reader, expected.len()).await;
        assert_eq!(ids, expected, "[{fw}] reader resuming after {resume}");
        assert_quiet(fw, &mut reader).await;
    }
    while let Some(done) = publishers.join_next().await {
        done.expect("publisher task");
    }
    let rest = chat_ids(fw, &mut watcher, TOTAL - 100).await;
    assert_eq!(
        rest,
        (101..=TOTAL as u64).collect::<Vec<_>>(),
        "[{fw}] live reader"
    );
}

/// Without `Last-Event-ID` a stream starts with the last `history` messages (default 10).
pub async fn chat_history_parameter_sets_how_many_past_messages_come_first(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let mut publisher = server.connect().await;
    for n in 0..15 {
        publisher.post_chat("ann", &format!("message {n}")).await;
    }
    for (query, first) in [("", 6), ("?history=3", 13), ("?history=1000", 1)] {
        let mut events = server.get(&format!("/events/chat{query}")).await.events();
        let expected: Vec<u64> = (first..=15).collect();
        assert_eq!(
            chat_ids(fw, &mut events, expected.len()).await,
            expected,
            "[{fw}] {query}"
        );
        assert_quiet(fw, &mut events).await;
    }
    let mut live_only = server.get("/events/chat?history=0").await.events();
    assert_quiet(fw, &mut live_only).await;
    publisher.post_chat("ann", "live").await;
    assert_eq!(
        chat_ids(fw, &mut live_only, 1).await,
        [16],
        "[{fw}] history=0"
    );
    for bad in ["1001", "-1", "all"] {
        let response = server.get(&format!("/events/chat?history={bad}")).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "[{fw}] history={bad}"
        );
        let body = response.text().await;
        assert!(
            body.contains("history") && body.contains("0 to 1000"),
            "[{fw}] {body}"
        );
    }
}

/// An idle chat stream gets keep-alive comments.
pub async fn chat_idle_stream_gets_keep_alive_comments(target: Target) {
    let server = Server::start(target, &["--keep-alive-secs", "1"]).await;
    let mut body = server.get("/events/chat").await.raw();
    body.read_until("\n\n").await;
    let started = Instant::now();
    body.read_until("\n: keep-alive\n\n").await;
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "[{}] keep-alive after {waited:?}",
        target.framework
    );
}

/// A subscriber that stops reading while thousands of messages are published does not make
/// the server buffer them: its memory stays bounded, and when the subscriber reads again it
/// gets `event: lagged` saying how many it lost, then the rest with no gap.
pub async fn chat_slow_subscriber_leaves_memory_bounded_and_gets_lagged(target: Target) {
    const MESSAGES: u64 = 4000;
    const HISTORY: u64 = 100;
    // The whole history may be replayed (800 KB; the replay budget has its own case).
    let history = ["--history", &HISTORY.to_string(), "--replay-kib", "1024"];
    let server = Server::start_for_one_busy_client(target, &history).await;
    let fw = target.framework;
    // 2000 four-byte characters: each message is 8 KB, 32 MB in all, far more than the socket
    // buffers between the server and the stalled reader can hold.
    let text = "😀".repeat(2000);
    // Subscribed once the headers are in; from then on its body is not read.
    let mut stalled = server.get("/events/chat").await.events();
    let rss_before = rss_kib(&server);

    let mut publishers = JoinSet::new();
    for _ in 0..4 {
        let (mut connection, text) = (server.connect().await, text.clone());
        publishers.spawn(async move {
            for _ in 0..MESSAGES / 4 {
                connection.post_chat("flood", &text).await;
            }
        });
    }
    let flood = async {
        while let Some(done) = publishers.join_next().await {
            done.expect("publisher task");
        }
    };
    timeout(Duration::from_secs(60), flood)
        .await
        .unwrap_or_else(|_| panic!("[{fw}] {MESSAGES} posts took over a minute"));
    let grown = rss_kib(&server).saturating_sub(rss_before);
    assert!(
        grown < 16 * 1024,
        "[{fw}] server memory grew by {grown} KiB while a reader stalled"
    );

    // The stalled reader resumes: what was already on its way, then `lagged`, then the kept
    // messages up to the last, with ids adding up exactly.
    let mut last = 0;
    let missed = loop {
        let event = stalled.next().await;
        if event.event == "lagged" {
            let data: Value = serde_json::from_str(&event.data).expect("lagged data is JSON");
            break data["missed"]
                .as_u64()
                .expect("lagged says how many were missed");
        }
        let id = chat(fw, &event).id;
        assert_eq!(id, last + 1, "[{fw}] a gap before lagged");
        last = id;
    };
    assert!(missed > 0, "[{fw}] lagged with nothing missed");
    let rest: Vec<u64> = (last + missed + 1..=MESSAGES).collect();
    assert!(
        rest.len() as u64 <= HISTORY,
        "[{fw}] more than the history after lagged"
    );
    assert_eq!(chat_ids(fw, &mut stalled, rest.len()).await, rest, "[{fw}]");

    // A browser coming back with an id older than the history is told the same.
    let mut late = server.get_resuming("/events/chat", b"1").await.events();
    let lagged = late.next().await;
    assert_eq!(lagged.event, "lagged", "[{fw}] {lagged:?}");
    let missed: Value = serde_json::from_str(&lagged.data).expect("lagged data is JSON");
    assert_eq!(
        missed["missed"],
        MESSAGES - HISTORY - 1,
        "[{fw}] ids 2 to 3900 are gone"
    );
    let kept: Vec<u64> = (MESSAGES - HISTORY + 1..=MESSAGES).collect();
    assert_eq!(chat_ids(fw, &mut late, kept.len()).await, kept, "[{fw}]");

    // Both lagged notices and every message are counted in /metrics.
    let metrics = operations::metrics(&server).await;
    let count = |name| operations::sample(&metrics, name, fw);
    assert_eq!(count("sse_chat_lagged_total"), 2, "[{fw}] {metrics}");
    assert_eq!(
        count("sse_chat_messages_published_total"),
        MESSAGES,
        "[{fw}]"
    );
}

/// The server's resident memory, in KiB, from `/proc` (Linux).
fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("reading /proc/PID/status (Linux only)");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}
