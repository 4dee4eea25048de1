//! `sse doctor` against every pitfall, each served alone on its own path by `pitfalls`: the
//! doctor must flag exactly that one problem, and nothing on a good stream or on our three
//! servers. The real binary, over real sockets.
//!
//! `cargo test -p sse-cli --test doctor`

mod pitfalls;

use pitfalls::Pitfalls;
use serde_json::Value;
use test_servers::{Running, Which};

/// Runs `sse doctor --json` for `secs` and returns its report and exit status.
async fn doctor(url: &str, secs: f64, extra: &[&str]) -> (Value, i32) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sse"))
        .args(["doctor", "--json", "--secs", &secs.to_string()])
        .args(extra)
        .arg(url)
        .output()
        .await
        .expect("sse runs");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{url}: not a JSON report ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (report, output.status.code().unwrap_or(-1))
}

/// The checks that warned or failed.
fn flagged(report: &Value) -> Vec<String> {
    let checks = report["checks"].as_array().expect("checks");
    (checks.iter())
        .filter(|c| c["status"] == "warn" || c["status"] == "fail")
        .map(|c| c["check"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// One check of the report.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    let checks = report["checks"].as_array().expect("checks");
    let found = checks.iter().find(|c| c["check"] == name);
    found.unwrap_or_else(|| panic!("no check {name}: {report:#}"))
}

/// The status of one check.
fn status<'a>(report: &'a Value, name: &str) -> &'a str {
    check(report, name)["status"].as_str().unwrap_or_default()
}

/// Doctors a pitfall path and asserts that exactly `check` was flagged, with `verdict`.
async fn only(path: &str, name: &str, verdict: &str) {
    let server = Pitfalls::start().await;
    let secs = if path == "/no-keep-alive" { 11.0 } else { 3.0 };
    let (report, code) = doctor(&server.url(path), secs, &[]).await;
    assert_eq!(flagged(&report), [name], "{path}: {report:#}");
    assert_eq!(status(&report, name), verdict, "{path}: {report:#}");
    let expected = if verdict == "fail" { 1 } else { 0 };
    assert_eq!(code, expected, "{path}: exit status");
}

#[tokio::test]
async fn a_good_stream_passes_every_check() {
    let server = Pitfalls::start().await;
    let (report, code) = doctor(&server.url("/clean"), 3.0, &[]).await;
    assert_eq!(flagged(&report), Vec::<String>::new(), "{report:#}");
    for name in ["buffering", "resume", "end"] {
        assert_eq!(status(&report, name), "pass", "{name} ran: {report:#}");
    }
    assert_eq!(code, 0);
}

#[tokio::test]
async fn compression_flushed_per_event_is_fine() {
    let server = Pitfalls::start().await;
    let (report, code) = doctor(&server.url("/gzip-flushed"), 3.0, &[]).await;
    assert_eq!(flagged(&report), Vec::<String>::new(), "{report:#}");
    let compression = check(&report, "compression");
    assert_eq!(compression["status"], "pass", "{compression}");
    assert!(
        compression["saw"]
            .as_str()
            .unwrap_or_default()
            .contains("gzip")
    );
    assert_eq!(status(&report, "buffering"), "pass", "{report:#}");
    assert_eq!(code, 0);
}

#[tokio::test]
async fn buffered_events_are_flagged() {
    only("/buffered", "buffering", "fail").await;
}

#[tokio::test]
async fn events_held_until_the_response_ends_are_flagged_in_words() {
    only("/at-end", "buffering", "fail").await;
    let server = Pitfalls::start().await;
    let (report, _) = doctor(&server.url("/at-end"), 3.0, &[]).await;
    let saw = check(&report, "buffering")["saw"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for says in [
        "20 events made over 1.9 s (their timestamps say so) arrived together after 2.",
        "of silence, as the response ended; the first event came 2.",
        "after the headers: something between the server and you holds them back",
    ] {
        assert!(saw.contains(says), "{says:?} not in {saw:?}");
    }
}

#[tokio::test]
async fn compression_that_holds_events_is_flagged() {
    only("/gzip", "compression", "fail").await;
}

#[tokio::test]
async fn events_without_ids_are_flagged() {
    only("/no-ids", "ids", "warn").await;
}

#[tokio::test]
async fn a_resume_that_replays_is_flagged() {
    only("/replays", "resume", "fail").await;
}

#[tokio::test]
async fn a_resume_that_skips_is_flagged() {
    only("/skips", "resume", "fail").await;
}

#[tokio::test]
async fn a_wrong_content_type_is_flagged_and_the_rest_skipped() {
    only("/wrong-type", "status", "fail").await;
}

#[tokio::test]
async fn an_error_status_at_the_end_is_flagged() {
    only("/503-at-end", "end", "fail").await;
}

#[tokio::test]
async fn silence_without_keep_alive_is_flagged() {
    only("/no-keep-alive", "idle", "warn").await;
}

#[tokio::test]
async fn crlf_line_endings_are_flagged() {
    only("/crlf", "line-endings", "warn").await;
}

#[tokio::test]
async fn a_byte_order_mark_is_flagged() {
    only("/bom", "bom", "warn").await;
}

#[tokio::test]
async fn a_stream_without_cors_is_flagged() {
    only("/no-cors", "cors", "warn").await;
}

#[tokio::test]
async fn a_server_that_is_not_there_fails_the_status_check() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("an address").port()
    };
    let (report, code) = doctor(&format!("http://127.0.0.1:{port}/events"), 1.0, &[]).await;
    assert_eq!(flagged(&report), ["status"], "{report:#}");
    assert!(
        report["checks"][0]["saw"]
            .as_str()
            .unwrap_or_default()
            .contains("connect")
    );
    assert_eq!(code, 1);
}

/// Our servers: the clock and the paragraph over HTTP/1.1, the clock over HTTP/2 with TLS.
async fn nothing_flagged_on(which: Which) {
    let plain = Running::start(which, &[]);
    let tls = Running::start(which, &["--tls"]);
    let clock = plain.url("/events?interval_ms=200");
    let paragraph = plain.url("/events/paragraph?interval_ms=200");
    let h2 = tls.url("/events?interval_ms=200");
    let (clock, paragraph, h2) = tokio::join!(
        doctor(&clock, 3.0, &[]),
        doctor(&paragraph, 3.0, &[]),
        doctor(&h2, 3.0, &["--insecure"]),
    );
    for (report, code) in [&clock, &paragraph, &h2] {
        assert_eq!(
            flagged(report),
            Vec::<String>::new(),
            "{which:?}: {report:#}"
        );
        assert_eq!(*code, 0);
    }
    assert_eq!(status(&clock.0, "buffering"), "pass", "{:#}", clock.0);
    assert_eq!(status(&clock.0, "resume"), "pass", "{:#}", clock.0);
    let end = check(&paragraph.0, "end");
    assert_eq!(end["status"], "pass", "{end}");
    assert!(
        end["saw"].as_str().unwrap_or_default().contains("204"),
        "{end}"
    );
    assert_eq!(status(&h2.0, "http2"), "pass", "{:#}", h2.0);
}

#[tokio::test]
async fn nothing_is_flagged_on_axum() {
    nothing_flagged_on(Which::Axum).await;
}

#[tokio::test]
async fn nothing_is_flagged_on_actix() {
    nothing_flagged_on(Which::Actix).await;
}

#[tokio::test]
async fn nothing_is_flagged_on_warp() {
    nothing_flagged_on(Which::Warp).await;
}

#[tokio::test]
async fn a_stream_answered_to_a_post_is_examined_and_the_reconnect_checks_say_why_not() {
    let server = Running::start(Which::Axum, &["--think-ms", "0", "--token-ms", "40"]);
    let body =
        r#"{"model": "m", "messages": [{"role": "user", "content": "Hi?"}], "stream": true}"#;
    let url = server.url("/v1/chat/completions");
    let (report, code) = doctor(&url, 3.0, &["-X", "POST", "--data", body]).await;
    for name in ["retry", "ids", "resume", "end"] {
        let skipped = check(&report, name);
        assert_eq!(skipped["status"], "skip", "{skipped}");
        let saw = skipped["saw"].as_str().unwrap_or_default();
        assert!(
            saw.starts_with("does not apply") && saw.contains("POST"),
            "{saw}"
        );
    }
    for name in ["status", "idle", "line-endings"] {
        assert_eq!(status(&report, name), "pass", "{name}: {report:#}");
    }
    let _ = code; // buffering may judge a loaded machine: not this test's point
}

#[tokio::test]
async fn the_report_for_a_person_says_why_and_how_to_fix() {
    let server = Pitfalls::start().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sse"))
        .args(["doctor", "--secs", "2", &server.url("/buffered")])
        .output()
        .await
        .expect("sse runs");
    let text = String::from_utf8_lossy(&output.stdout);
    println!("{text}");
    assert!(text.contains("FAIL  buffering"), "{text}");
    assert!(
        text.contains("why  Something between the server and here holds events"),
        "{text}"
    );
    assert!(text.contains("fix  Flush after every event"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no colours when stdout is not a terminal: {text}"
    );
    assert_eq!(output.status.code(), Some(1));
}
