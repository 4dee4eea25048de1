//! `sse watch` over real sockets: it resumes with `Last-Event-ID` as a browser does, stops on
//! 204 and on a response a browser refuses, prints one JSON object per event with `--json`,
//! and reads streams answered to a POST.
//!
//! `cargo test -p sse-cli --test watch`

mod pitfalls;

use std::process::Output;

use pitfalls::Pitfalls;
use serde_json::Value;
use test_servers::{Running, Which};

/// Runs `sse watch` with these arguments; at most 20 s unless they say otherwise, so that a
/// test cannot hang.
async fn watch(args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sse"));
    command.arg("watch").args(args);
    if !args.contains(&"--timeout") {
        command.args(["--timeout", "20"]);
    }
    command.output().await.expect("sse runs")
}

/// The JSON lines of stdout.
fn events(output: &Output) -> Vec<Value> {
    (String::from_utf8_lossy(&output.stdout).lines())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

#[tokio::test]
async fn it_resumes_with_last_event_id_and_stops_on_204() {
    let server = Pitfalls::start().await;
    let output = watch(&["--json", &server.url("/drop")]).await;
    let notes = String::from_utf8_lossy(&output.stderr);
    let events = events(&output);
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        ids,
        ["1", "2", "3", "4", "5"],
        "each once, in order; {notes}"
    );
    assert!(
        notes.contains("reconnecting in 200 ms (the server's retry)"),
        "{notes}"
    );
    assert!(notes.contains("with Last-Event-ID: 3"), "{notes}");
    assert!(notes.contains("with Last-Event-ID: 5"), "{notes}");
    assert!(notes.contains("204 No Content"), "{notes}");
    assert_eq!(output.status.code(), Some(0));
}

#[tokio::test]
async fn json_has_one_object_per_event_with_its_fields() {
    let server = Pitfalls::start().await;
    let output = watch(&["--json", "--max-events", "2", &server.url("/clean")]).await;
    let events = events(&output);
    assert_eq!(events.len(), 2, "--max-events 2");
    let first = &events[0];
    assert_eq!(first["event"], "message");
    assert_eq!(first["id"], "1");
    assert_eq!(first["data"], "event 1");
    assert_eq!(first["retry_ms"], 200);
    assert!(first["gap_ms"].as_f64().is_some(), "{first}");
    assert!(
        first["time"].as_str().is_some_and(|t| t.contains('T')),
        "{first}"
    );
    assert_eq!(output.status.code(), Some(0));
}

#[tokio::test]
async fn a_stream_answered_to_a_post_is_read_and_not_posted_again() {
    let server = Pitfalls::start().await;
    let body = r#"{"prompt":"hi"}"#;
    let output = watch(&["--json", "-X", "POST", "--data", body, &server.url("/post")]).await;
    let notes = String::from_utf8_lossy(&output.stderr);
    let events = events(&output);
    let data: Vec<&str> = events
        .iter()
        .map(|e| e["data"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        data,
        [body, "[DONE]"],
        "the server echoes the body it got; {notes}"
    );
    assert!(notes.contains("not reconnecting"), "{notes}");
    assert_eq!(output.status.code(), Some(0));
}

#[tokio::test]
async fn a_content_type_a_browser_refuses_stops_it_with_status_1() {
    let server = Pitfalls::start().await;
    let output = watch(&[&server.url("/wrong-type")]).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Content-Type: \"text/plain\""), "{text}");
    assert!(
        text.contains("a browser fails the connection for good"),
        "{text}"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test]
async fn our_paragraph_reads_whole_then_stops_on_204() {
    let server = Running::start(Which::Axum, &["--retry-ms", "100"]);
    let output = watch(&[&server.url("/events/paragraph?interval_ms=100")]).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("message id=1 Hello, this is an example"),
        "{text}"
    );
    assert!(
        text.contains("message id=5 End of sample text, thank you!"),
        "{text}"
    );
    assert!(
        text.contains("end id=5 "),
        "the end event carries lastEventId 5: {text}"
    );
    assert!(text.contains("with Last-Event-ID: 5"), "{text}");
    assert!(text.contains("204 No Content"), "{text}");
    assert_eq!(text.matches("Hello, this is").count(), 1, "{text}");
    assert_eq!(output.status.code(), Some(0));
}

#[tokio::test]
async fn event_filters_and_comments() {
    let server = Running::start(Which::Axum, &["--keep-alive-secs", "1"]);
    let chat = server.url("/events/chat");
    let filtered_args = ["--event", "nothing", "--timeout", "1.5", &chat];
    let all_args = ["--timeout", "1.5", &chat];
    let (filtered, all) = tokio::join!(watch(&filtered_args), watch(&all_args));
    let all = String::from_utf8_lossy(&all.stdout);
    assert!(all.contains(" : "), "a keep-alive comment is shown: {all}");
    let filtered = String::from_utf8_lossy(&filtered.stdout);
    assert!(
        !filtered.contains(" : "),
        "--event hides comments: {filtered}"
    );
    assert!(filtered.contains("--timeout 1.5 s reached"), "{filtered}");
}

#[tokio::test]
async fn raw_shows_the_bytes_as_they_arrive() {
    let server = Pitfalls::start().await;
    let output = watch(&["--raw", "--max-events", "2", &server.url("/crlf")]).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(r#""retry: 200\r\n\r\n"#),
        "the bytes, escaped: {text}"
    );
    assert!(text.contains(" bytes "), "each chunk's size: {text}");
    assert!(
        !text.contains("message id=1"),
        "no parsed events with --raw: {text}"
    );
    assert_eq!(output.status.code(), Some(0));
}

/// `sse watch -X POST` reads a streamed answer from each of our servers to its `[DONE]`, ids
/// 0 on, and does not post it again.
#[tokio::test]
async fn our_answers_over_post_read_to_done_on_every_server() {
    let body = r#"{"model":"m","messages":[{"role":"user","content":"Hi"}],"stream":true}"#;
    for which in Which::ALL {
        let server = Running::start(which, &["--think-ms", "0", "--token-ms", "1"]);
        let url = server.url("/v1/chat/completions");
        let output = watch(&["--json", "-X", "POST", "--data", body, &url]).await;
        let notes = String::from_utf8_lossy(&output.stderr);
        let events = events(&output);
        let last = events.last().map(|e| e["data"].clone());
        assert_eq!(last, Some(Value::from("[DONE]")), "{which:?}: {notes}");
        assert_eq!(events[0]["id"], "0", "{which:?}");
        assert!(events.len() > 50, "{which:?}: {} events", events.len());
        assert!(notes.contains("not reconnecting"), "{which:?}: {notes}");
        assert_eq!(output.status.code(), Some(0), "{which:?}: {notes}");
    }
}
