//! `sse serve --script` as a user runs it, the real binary over real sockets: a capture of our
//! clock replays as it was watched; a reconnect resumes within the script (header or query) and
//! gets 204 at the end; and `sse doctor` flags each injected fault, exactly that one, and
//! nothing on a clean replay.
//!
//! `cargo test -p sse-cli --test serve`

use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use test_servers::{Running, Which};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};

/// How far a replayed gap may be from the captured one, on a loaded two-core machine.
const TOLERANCE_MS: f64 = 150.0;

/// A running `sse serve`, killed when dropped.
struct Serving {
    _child: Child,
    url: String,
}

/// Writes `script` to a file of its own and serves it with `args`; waits for the first line.
async fn serve(name: &str, script: &str, args: &[&str]) -> Serving {
    let path = std::env::temp_dir().join(format!("sse-serve-{}-{name}.jsonl", std::process::id()));
    std::fs::write(&path, script).expect("writing the script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sse"))
        .args(["serve", "--script"])
        .arg(&path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("sse runs");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), stdout.read_line(&mut line))
        .await
        .expect("a first line within 10 s")
        .expect("reading stdout");
    let addr = line
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(line.contains("events from"), "{line}");
    Serving {
        url: format!("http://{addr}/events"),
        _child: child,
    }
}

/// `sse watch --json`, at most 30 s.
async fn watch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sse"))
        .args(["watch", "--json", "--timeout", "30"])
        .args(args)
        .output()
        .await
        .expect("sse runs")
}

fn lines(output: &Output) -> Vec<Value> {
    (String::from_utf8_lossy(&output.stdout).lines())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

#[tokio::test]
async fn a_capture_of_our_clock_replays_the_same_events_in_order_and_time() {
    let server = Running::start(Which::Axum, &[]);
    let capture = watch(&["--max-events", "4", &server.url("/events")]).await;
    let captured = lines(&capture);
    assert_eq!(
        captured.len(),
        4,
        "{}",
        String::from_utf8_lossy(&capture.stderr)
    );

    let script = String::from_utf8_lossy(&capture.stdout).into_owned();
    let replay = serve("clock", &script, &[]).await;
    let output = watch(&[&replay.url]).await;
    let notes = String::from_utf8_lossy(&output.stderr);
    let replayed = lines(&output);
    let fields = |e: &Value| (e["event"].clone(), e["id"].clone(), e["data"].clone());
    assert_eq!(
        replayed.iter().map(fields).collect::<Vec<_>>(),
        captured.iter().map(fields).collect::<Vec<_>>(),
        "{notes}"
    );
    assert_eq!(replayed[0]["retry_ms"], captured[0]["retry_ms"]);
    // The pace: every gap after the first (the first counts the connect) as captured.
    for (was, is) in captured.iter().zip(&replayed).skip(1) {
        let (was, is) = (was["gap_ms"].as_f64(), is["gap_ms"].as_f64());
        let (was, is) = (was.expect("gap_ms"), is.expect("gap_ms"));
        assert!(
            (was - is).abs() < TOLERANCE_MS,
            "captured {was} ms, replayed {is} ms"
        );
    }
    // After the last event the watch reconnects, gets 204 and stops, as a browser does.
    assert!(notes.contains("with Last-Event-ID: 4"), "{notes}");
    assert!(notes.contains("204 No Content"), "{notes}");
    assert_eq!(output.status.code(), Some(0));
}

/// Twenty events 100 ms apart with ids and `retry: 200`, as the doctor's pitfall streams.
fn twenty() -> String {
    let mut script =
        String::from("{\"gap_ms\": 0, \"retry_ms\": 200, \"id\": \"1\", \"data\": \"event 1\"}\n");
    for n in 2..=20 {
        script += &format!("{{\"gap_ms\": 100, \"id\": \"{n}\", \"data\": \"event {n}\"}}\n");
    }
    script
}

/// Sends `request` to the server and returns the whole answer.
async fn raw(url: &str, request: &str) -> String {
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("an address");
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    socket.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn it_resumes_on_the_header_or_the_query_and_answers_204_and_preflights() {
    let replay = serve("resume", &twenty(), &["--speed", "20"]).await;
    let from_query = raw(
        &replay.url,
        "GET /events?lastEventId=18 HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(from_query.starts_with("HTTP/1.1 200 OK"), "{from_query}");
    assert!(
        from_query.contains("access-control-allow-origin: *")
            || from_query.contains("Access-Control-Allow-Origin: *"),
        "{from_query}"
    );
    // The retry in effect is sent again, then events 19 and 20, then the last chunk.
    let body = from_query.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(body.contains("retry: 200\n\n"), "{from_query}");
    assert!(
        !from_query.contains("id: 18\n") && from_query.contains("id: 19\n"),
        "{from_query}"
    );
    assert!(from_query.ends_with("0\r\n\r\n"), "{from_query}");

    let header_wins = "GET /events?lastEventId=1 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 20\r\n\r\n";
    let over = raw(&replay.url, header_wins).await;
    assert!(over.starts_with("HTTP/1.1 204 No Content"), "{over}");

    let preflight = "OPTIONS /events HTTP/1.1\r\nHost: x\r\nOrigin: http://localhost:5173\r\n\
        Access-Control-Request-Headers: last-event-id\r\n\r\n";
    let preflight = raw(&replay.url, preflight).await.to_ascii_lowercase();
    assert!(preflight.starts_with("http/1.1 204"), "{preflight}");
    assert!(
        preflight.contains("access-control-allow-headers: last-event-id"),
        "{preflight}"
    );
}

#[tokio::test]
async fn a_script_that_would_forge_a_field_is_refused_naming_the_line() {
    let path = std::env::temp_dir().join(format!("sse-serve-{}-forged.jsonl", std::process::id()));
    std::fs::write(&path, "{\"data\": \"a\"}\n{\"id\": \"1\\ndata: forged\"}\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_sse"))
        .args(["serve", "--script"])
        .arg(&path)
        .output()
        .await
        .expect("sse runs");
    let error = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(error.contains("line 2: id"), "{error}");
}

/// Doctors a replay of [`twenty`] served with `fault`, and returns the flagged checks with
/// their verdicts, and the exit status.
async fn doctor_with(name: &str, fault: &[&str]) -> (Vec<(String, String)>, i32) {
    let replay = serve(name, &twenty(), fault).await;
    let output = Command::new(env!("CARGO_BIN_EXE_sse"))
        .args(["doctor", "--json", "--secs", "4", &replay.url])
        .output()
        .await
        .expect("sse runs");
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let checks = report["checks"].as_array().expect("checks");
    let flagged = (checks.iter())
        .filter(|c| c["status"] == "warn" || c["status"] == "fail")
        .map(|c| {
            (
                c["check"].as_str().unwrap_or_default().to_owned(),
                c["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (flagged, output.status.code().unwrap_or(-1))
}

fn named(check: &str, verdict: &str) -> Vec<(String, String)> {
    vec![(check.to_owned(), verdict.to_owned())]
}

#[tokio::test]
async fn the_doctor_finds_nothing_wrong_with_a_clean_replay() {
    assert_eq!(doctor_with("clean", &[]).await, (vec![], 0));
}

#[tokio::test]
async fn the_doctor_warns_of_a_replay_cut_short() {
    assert_eq!(
        doctor_with("drop", &["--drop-after", "5"]).await,
        (named("end", "warn"), 0)
    );
}

#[tokio::test]
async fn the_doctor_fails_an_error_status_after_the_end() {
    let found = doctor_with("status", &["--status-after-end", "503"]).await;
    assert_eq!(found, (named("end", "fail"), 1));
}

#[tokio::test]
async fn the_doctor_fails_a_replay_held_back_to_the_end() {
    assert_eq!(
        doctor_with("buffer", &["--buffer"]).await,
        (named("buffering", "fail"), 1)
    );
}

#[tokio::test]
async fn the_doctor_fails_a_replay_gzipped_without_flushing() {
    assert_eq!(
        doctor_with("gzip", &["--gzip"]).await,
        (named("compression", "fail"), 1)
    );
}

#[tokio::test]
async fn the_doctor_warns_of_a_replay_without_cors() {
    assert_eq!(
        doctor_with("cors", &["--no-cors"]).await,
        (named("cors", "warn"), 0)
    );
}
