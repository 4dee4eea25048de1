//! The cases of streamed answers (issue 26): `POST /v1/chat/completions` in OpenAI's wire
//! format, streamed and whole, its errors, a generation that stops when the client goes, keep-alive
//! comments while the model thinks, and resumable answers (`GET` and `DELETE /v1/streams/{id}`).
//! They run over HTTP/1.1 and HTTP/2, where going away differs: a closed connection, or one
//! stream reset on a connection that stays.

use std::time::{Duration, Instant};

use bytes::Bytes;
use eventsource_stream::Event;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::client::{Endpoint, Events, Protocol, Response, Server, Target};
use crate::defence::connect_from;
use crate::foreign;
use crate::operations::{metrics, read_past, sample, wait_for_sample};

/// The route, and the content type it takes.
const COMPLETIONS: &str = "/v1/chat/completions";
const JSON: &str = "application/json";

/// A stand-in that answers fast: no thinking, a token every 5 ms.
const FAST: [&str; 4] = ["--think-ms", "0", "--token-ms", "5"];

/// The model's whole answer to `question`, as `sse-core`'s stand-in writes it (see
/// `sse_core::model`): the question's words quoted, their count, then the paragraph.
const PARAGRAPH_START: &str = "Hello, this is an example of a continuous text output.";

/// A request body asking `question`, with `extra` fields (`stream`, `max_tokens`...) merged in.
pub fn ask_body(question: &str, extra: Value) -> String {
    let mut body = json!({
        "model": "stand-in",
        "messages": [
            { "role": "system", "content": "You are terse." },
            { "role": "user", "content": question },
        ],
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body.to_string()
}

/// `POST /v1/chat/completions` with `body`, on a new connection.
pub async fn ask(at: &Endpoint, body: String) -> Response {
    at.post(COMPLETIONS, JSON, body).await
}

/// An event's data as a chunk: JSON, `chat.completion.chunk`, with the answer's id.
pub fn chunk(fw: &str, event: &Event) -> Value {
    let chunk: Value = serde_json::from_str(&event.data)
        .unwrap_or_else(|e| panic!("[{fw}] a chunk is JSON ({e}): {:?}", event.data));
    assert_eq!(chunk["object"], "chat.completion.chunk", "[{fw}] {chunk}");
    chunk
}

/// Reads `events` to `data: [DONE]`, which must be the last event: every event before it.
pub async fn read_to_done(fw: &str, events: &mut Events) -> Vec<Event> {
    let mut read = Vec::new();
    for _ in 0..10_000 {
        let event = events.next().await;
        if event.data == "[DONE]" {
            events.assert_ends().await;
            return read;
        }
        read.push(event);
    }
    panic!("[{fw}] no [DONE] after 10,000 events");
}

/// The content the chunks carry, in order.
pub fn content(fw: &str, events: &[Event]) -> String {
    let delta = |event| chunk(fw, event)["choices"][0]["delta"]["content"].clone();
    events
        .iter()
        .filter_map(|event| delta(event).as_str().map(str::to_owned))
        .collect()
}

/// The chunks of a streamed answer follow OpenAI's format: one id in every chunk, the model
/// echoed, the role first, a token per chunk, `finish_reason` last, usage on request, then
/// `[DONE]`; each event's `id:` is its index. `max_tokens` cuts it with `"length"`.
pub async fn answers_stream_openai_chunks_with_ids_then_done(target: Target) {
    let server = Server::start(target, &FAST).await;
    let fw = target.framework;
    let question = "What are server-sent events?";
    let extra = json!({ "stream": true, "stream_options": { "include_usage": true } });
    let response = ask(&server, ask_body(question, extra)).await;
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/event-stream"),
        "[{fw}] a streamed answer is an event stream, but this is {} with Content-Type {:?}",
        response.status(),
        content_type
    );
    assert_eq!(response.header("cache-control"), Some("no-cache"), "[{fw}]");
    let mut events = response.events();
    let read = read_to_done(fw, &mut events).await;
    for (index, event) in read.iter().enumerate() {
        assert_eq!(event.id, index.to_string(), "[{fw}] {event:?}");
    }
    let chunks: Vec<Value> = read.iter().map(|event| chunk(fw, event)).collect();
    let id = chunks[0]["id"].as_str().unwrap_or_default();
    assert!(id.starts_with("chatcmpl-") && id.len() > 20, "[{fw}] {id}");
    for chunk in &chunks {
        assert_eq!(chunk["id"], id, "[{fw}] {chunk}");
        assert_eq!(chunk["model"], "stand-in", "[{fw}] {chunk}");
        assert!(
            chunk["created"].as_u64() > Some(1_700_000_000),
            "[{fw}] {chunk}"
        );
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let text = content(fw, &read);
    let expected = format!("You asked: \"{question}\" (4 words). {PARAGRAPH_START}");
    assert!(text.starts_with(&expected), "[{fw}] {text}");
    let tokens = read.len() - 3;
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(
        finish["choices"][0]["finish_reason"], "stop",
        "[{fw}] {finish}"
    );
    assert_eq!(finish["choices"][0]["delta"], json!({}), "[{fw}] {finish}");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]), "[{fw}] {usage}");
    assert_eq!(
        usage["usage"]["completion_tokens"], tokens,
        "[{fw}] {usage}"
    );
    assert_eq!(usage["usage"]["prompt_tokens"], 7, "[{fw}] {usage}");

    let response = ask(
        &server,
        ask_body(question, json!({"stream": true, "max_tokens": 3})),
    )
    .await;
    let read = read_to_done(fw, &mut response.events()).await;
    assert_eq!(content(fw, &read), "You asked: \"What", "[{fw}]");
    let last = chunk(fw, &read[read.len() - 1]);
    assert_eq!(
        last["choices"][0]["finish_reason"], "length",
        "[{fw}] {last}"
    );
    assert_eq!(
        last.get("usage"),
        None,
        "[{fw}] usage only on request: {last}"
    );

    // Nothing reconnects a POST, and OpenAI's Python client takes a `retry:` block, which has
    // no data, for an event, and fails to read it as JSON.
    let body = ask_body(question, json!({"stream": true, "max_tokens": 1}));
    let raw = ask(&server, body).await.text().await;
    assert!(
        !raw.lines().any(|line| line.starts_with("retry")),
        "[{fw}] an answer has no `retry:` field:\n{raw}"
    );
}

/// Without `"stream": true`, the answer is one `chat.completion`: the same text a stream
/// carries, with its usage.
pub async fn answers_whole_is_one_chat_completion(target: Target) {
    let server = Server::start(target, &FAST).await;
    let fw = target.framework;
    let question = "And without a stream?";
    let response = ask(&server, ask_body(question, json!({}))).await;
    assert_eq!(response.status(), StatusCode::OK, "[{fw}]");
    assert_eq!(response.header("content-type"), Some(JSON), "[{fw}]");
    let whole: Value = serde_json::from_str(&response.text().await).expect("JSON");
    assert_eq!(whole["object"], "chat.completion", "[{fw}] {whole}");
    let choice = &whole["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant", "[{fw}] {whole}");
    assert_eq!(choice["finish_reason"], "stop", "[{fw}] {whole}");
    let response = ask(&server, ask_body(question, json!({"stream": true}))).await;
    let streamed = content(fw, &read_to_done(fw, &mut response.events()).await);
    assert_eq!(choice["message"]["content"], streamed, "[{fw}]");
    let usage = &whole["usage"];
    assert_eq!(usage["prompt_tokens"], 7, "[{fw}] {usage}");
    let completion = usage["completion_tokens"].as_u64().unwrap_or_default();
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(7 + completion),
        "[{fw}] {usage}"
    );
}

/// Every bad request gets OpenAI's error shape, with the status, type and field at fault, and a
/// message naming what was wrong.
pub async fn answers_bad_requests_get_openai_errors_naming_what(target: Target) {
    let server = Server::start(target, &FAST).await;
    let fw = target.framework;
    let user = |content: &str| json!([{ "role": "user", "content": content }]);
    let cases: [(&str, String, u16, Option<&str>, &str); 7] = [
        (JSON, "{not json".into(), 400, None, "not valid JSON"),
        (
            JSON,
            json!({"messages": user("hi")}).to_string(),
            400,
            Some("model"),
            "model",
        ),
        (
            JSON,
            json!({"model": "m", "messages": [{"role": "system", "content": "x"}]}).to_string(),
            400,
            Some("messages"),
            "user",
        ),
        (
            JSON,
            json!({"model": "m", "messages": [{"role": "bot", "content": "x"}]}).to_string(),
            400,
            Some("messages[0].role"),
            "\"bot\"",
        ),
        (
            JSON,
            json!({"model": "m", "messages": user("hi"), "max_tokens": 0}).to_string(),
            400,
            Some("max_tokens"),
            "max_tokens",
        ),
        (
            "text/plain",
            ask_body("hi", json!({})),
            415,
            None,
            "application/json",
        ),
        (
            JSON,
            ask_body("hi", json!({})) + &" ".repeat(70_000),
            413,
            None,
            "65536",
        ),
    ];
    for (content_type, body, status, param, says) in cases {
        let response = server.post(COMPLETIONS, content_type, body.clone()).await;
        let got = response.status().as_u16();
        let text = response.text().await;
        let shown: String = body.chars().take(60).collect();
        assert_eq!(got, status, "[{fw}] {shown}: {text}");
        let error: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("[{fw}] {shown}: not JSON ({e}): {text}"));
        let error = &error["error"];
        assert_eq!(error["type"], "invalid_request_error", "[{fw}] {text}");
        assert_eq!(error["param"].as_str(), param, "[{fw}] {text}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(says),
            "[{fw}] {shown}: {message:?} names no {says:?}"
        );
    }
}

/// The client goes away after three tokens: the generation stops, with at most one more token
/// generated; and it goes away while the model thinks: the generation stops before its first
/// token. Over HTTP/2 the stream is reset and the connection stays, which is what a browser's
/// Stop does; actix notices a reset at its next write, so `--keep-alive-secs 1` bounds it.
pub async fn answers_stop_when_the_client_goes_away(target: Target) {
    let args = [
        "--think-ms",
        "1500",
        "--token-ms",
        "100",
        "--keep-alive-secs",
        "1",
    ];
    let server = Server::start(target, &args).await;
    let fw = target.framework;
    let headers = [("content-type", JSON.as_bytes())];
    let body = Bytes::from(ask_body("Stop me", json!({"stream": true})));
    let mut connection = server.connect().await;
    let response = connection
        .send(Method::POST, COMPLETIONS, &headers, body.clone())
        .await;
    let mut events = response.events();
    let role = events.next().await;
    assert_eq!(role.id, "0", "[{fw}] {role:?}");
    let mut tokens = 0;
    while tokens < 3 {
        let event = events.next().await;
        tokens += usize::from(!content(fw, std::slice::from_ref(&event)).is_empty());
    }
    drop(events);
    let text = wait_for_cancelled(&server, 1, Duration::from_secs(3)).await;
    let generated = sample(&text, "sse_answer_tokens_total", fw);
    assert!(
        (3..=4).contains(&generated),
        "[{fw}] {generated} tokens generated, read 3"
    );
    assert_eq!(
        sample(&text, "sse_answers_completed_total", fw),
        0,
        "[{fw}]"
    );

    // Gone before the first token (due 1.5 s after the request): stopped within 1.2 s. Over
    // HTTP/1.1, going away closed the connection: this goes on a new one.
    if target.protocol == Protocol::Http1 {
        connection = server.connect().await;
    }
    let asked = Instant::now();
    drop(
        connection
            .send(Method::POST, COMPLETIONS, &headers, body)
            .await,
    );
    wait_for_cancelled(&server, 2, Duration::from_millis(1200)).await;
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "[{fw}] {:?}",
        asked.elapsed()
    );
    assert_no_token_after(&server, target, generated).await;
    drop(connection);

    // A whole answer, its connection closed while the model thinks: nothing was sent yet, and
    // still it stops. Not on actix over HTTP/2, which runs a handler as a task of its own and
    // tells it nothing of its client (docs/src/answers.md): the answer is generated whole. Nor
    // in the workshop, whose step teaches the streamed answer.
    let actix_h2 = target.framework == "actix" && target.protocol == Protocol::Http2;
    if actix_h2 || target.workshop.is_some() {
        return;
    }
    let whole = Bytes::from(ask_body("Stop me", json!({})));
    let mut connection = server.connect().await;
    let send = connection.send(Method::POST, COMPLETIONS, &headers, whole);
    let sent = tokio::time::timeout(Duration::from_millis(300), send).await;
    assert!(
        sent.is_err(),
        "[{fw}] a whole answer came before the model thought"
    );
    drop(connection);
    wait_for_cancelled(&server, 3, Duration::from_millis(1200)).await;
    assert_no_token_after(&server, target, generated).await;
}

/// Waits until `/metrics` counts `cancelled` answers stopped, for at most `within`.
async fn wait_for_cancelled(server: &Server, cancelled: u64, within: Duration) -> String {
    wait_for_sample(server, "sse_answers_cancelled_total", cancelled, within).await
}

/// Waits past the next token's time, then checks that `/metrics` still counts `generated`
/// tokens, and (but in the workshop, whose `/metrics` counts only the answers) no answer stream
/// open.
async fn assert_no_token_after(server: &Server, target: Target, generated: u64) {
    let fw = server.framework;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let text = metrics(server).await;
    let tokens = sample(&text, "sse_answer_tokens_total", fw);
    assert_eq!(
        tokens, generated,
        "[{fw}] tokens generated after the client went"
    );
    if target.workshop.is_none() {
        let open = sample(&text, "sse_streams_open{stream=\"answer\"}", fw);
        assert_eq!(open, 0, "[{fw}] answer streams open");
    }
}

/// While the model thinks, the headers and the role chunk go out at once, then a keep-alive
/// comment every `--keep-alive-secs`, so that no proxy sees an idle response.
pub async fn answers_keep_alive_while_the_model_thinks(target: Target) {
    let args = ["--think-ms", "2500", "--keep-alive-secs", "1"];
    let server = Server::start(target, &args).await;
    let fw = target.framework;
    let asked = Instant::now();
    let response = ask(&server, ask_body("Take your time", json!({"stream": true}))).await;
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "[{fw}] headers after {:?}",
        asked.elapsed()
    );
    let mut body = response.raw();
    let text = body.read_until("\"content\":\"You\"").await;
    let thought = text.split("id: 1\n").next().unwrap_or_default();
    let comments = thought.matches(": keep-alive\n\n").count();
    assert!(
        comments >= 2,
        "[{fw}] {comments} keep-alive comments while it thought: {thought:?}"
    );
    assert!(thought.starts_with("id: 0\ndata: {"), "[{fw}] {thought:?}");
}

/// A resumable answer is finished though its client went, then `GET /v1/streams/{id}` with
/// `Last-Event-ID` sends the rest, `[DONE]` last; 204 once all is read, 404 for an unknown id;
/// `DELETE` cancels one.
pub async fn answers_resume_after_a_drop_and_delete_cancels(target: Target) {
    let args = ["--think-ms", "0", "--token-ms", "20"];
    let server = Server::start(target, &args).await;
    let fw = target.framework;
    let resumable = json!({"stream": true, "stream_options": {"resumable": true}});
    let question = "Will you wait for me?";
    let response = ask(&server, ask_body(question, resumable.clone())).await;
    let mut events = response.events();
    let first = events.take(5).await;
    drop(events);
    let id = chunk(fw, &first[0])["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    wait_for_sample(
        &server,
        "sse_answers_completed_total",
        1,
        Duration::from_secs(5),
    )
    .await;
    let path = format!("/v1/streams/{id}");
    let response = server.get_resuming(&path, b"4").await;
    let rest = read_to_done(fw, &mut response.events()).await;
    assert_eq!(rest[0].id, "5", "[{fw}] {:?}", rest[0]);
    let resumed = content(fw, &first) + &content(fw, &rest);
    let whole = ask(&server, ask_body(question, json!({"stream": true}))).await;
    let whole = read_to_done(fw, &mut whole.events()).await;
    assert_eq!(resumed, content(fw, &whole), "[{fw}]");
    let done_id = whole.len().to_string();
    let read_all = server.get(&format!("{path}?lastEventId={done_id}")).await;
    assert_eq!(read_all.status(), StatusCode::NO_CONTENT, "[{fw}]");
    let unknown = server.get("/v1/streams/chatcmpl-unknown").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND, "[{fw}]");
    let unknown: Value = serde_json::from_str(&unknown.text().await).expect("JSON");
    assert_eq!(
        unknown["error"]["type"], "not_found_error",
        "[{fw}] {unknown}"
    );

    // A slow answer, cancelled while it is generated.
    let response = ask(&server, ask_body("Never mind", resumable)).await;
    let role = response.events().next().await;
    let id = chunk(fw, &role)["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = format!("/v1/streams/{id}");
    let deleted = server.request(Method::DELETE, &path, &[]).await;
    assert_eq!(deleted.status(), StatusCode::OK, "[{fw}]");
    let deleted: Value = serde_json::from_str(&deleted.text().await).expect("JSON");
    assert_eq!(deleted["deleted"], true, "[{fw}] {deleted}");
    wait_for_sample(
        &server,
        "sse_answers_cancelled_total",
        1,
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(
        server.get(&path).await.status(),
        StatusCode::NOT_FOUND,
        "[{fw}]"
    );
    let again = server.request(Method::DELETE, &path, &[]).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND, "[{fw}]");
}

/// One client keeps `--max-kept-answers-per-client` resumable answers: its next gets 429 with
/// OpenAI's `rate_limit_error`, and a second client (127.0.0.2) is still answered.
pub async fn answers_one_client_at_its_kept_limit_leaves_others_served(target: Target) {
    let args = ["--think-ms", "60000", "--max-kept-answers-per-client", "2"];
    let server = Server::start(target, &args).await;
    let fw = target.framework;
    let body = ask_body(
        "Keep it",
        json!({"stream": true, "stream_options": {"resumable": true}}),
    );
    for _ in 0..2 {
        let response = ask(&server, body.clone()).await;
        assert_eq!(response.status(), StatusCode::OK, "[{fw}]");
    }
    let refused = ask(&server, body.clone()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "[{fw}]");
    let refused: Value = serde_json::from_str(&refused.text().await).expect("JSON");
    assert_eq!(
        refused["error"]["type"], "rate_limit_error",
        "[{fw}] {refused}"
    );
    assert_eq!(
        refused["error"]["code"], "too_many_kept_answers",
        "[{fw}] {refused}"
    );
    if target.protocol == Protocol::Http1 {
        let mut other = connect_from(&server, [127, 0, 0, 2]).await;
        let request = format!(
            "POST {COMPLETIONS} HTTP/1.1\r\nhost: localhost\r\ncontent-type: {JSON}\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        other.write_all(request.as_bytes()).await.expect("send");
        read_past(&mut other, "\"role\":\"assistant\"", fw).await;
    }
}

/// The official `openai` packages, clients we did not write, each run on a script of
/// `clients/` that prints one JSON line per answer.
#[derive(Debug, Clone, Copy)]
enum OpenAiPackage {
    Python,
    Node,
}

impl OpenAiPackage {
    fn script(self) -> &'static str {
        match self {
            Self::Python => "openai_answers.py",
            Self::Node => "openai_answers.cjs",
        }
    }

    /// Runs its script in `mode` against `server`'s `/v1`; asserts it exits 0. Its lines.
    async fn run(self, server: &Server, mode: &str) -> Vec<String> {
        let (fw, script) = (server.framework, self.script());
        let (scheme, port) = (server.protocol.scheme(), server.addr.port());
        let base_url = format!("{scheme}://127.0.0.1:{port}/v1");
        let args = [base_url.as_str(), mode];
        let (status, lines) = match self {
            Self::Python => foreign::python_script(fw, script, &args).await,
            Self::Node => foreign::node_script(fw, script, &args).await,
        };
        assert_eq!(status, 0, "[{fw}] {script} {mode}: {lines:?}");
        assert!(!lines.is_empty(), "[{fw}] {script} {mode} printed nothing");
        lines
    }
}

/// The official `openai` packages, for Python and for JavaScript on Node, `base_url` pointed at
/// the server (Python over HTTP/2 when the server speaks it; Node's `fetch` speaks HTTP/1.1):
/// each streams an answer, gets the same one whole, and when it closes a stream after three
/// tokens the server stops generating it.
pub async fn answers_the_openai_packages_for_python_and_node_stream_ask_whole_and_abort(
    target: Target,
) {
    // A token every 100 ms while it aborts: a client reads ahead what is already on its way.
    let slow = Server::start(target, &["--think-ms", "0", "--token-ms", "100"]).await;
    let fast = Server::start(target, &FAST).await;
    let fw = target.framework;
    let line = |script: &str, line: &String| -> Value {
        serde_json::from_str(line).unwrap_or_else(|e| panic!("[{fw}] {script}: {line:?}: {e}"))
    };
    for (cancelled, package) in (1..).zip([OpenAiPackage::Python, OpenAiPackage::Node]) {
        let script = package.script();
        let before = sample(&metrics(&slow).await, "sse_answer_tokens_total", fw);
        let aborted = line(script, &package.run(&slow, "abort").await[0]);
        assert_eq!(aborted["tokens"], 3, "[{fw}] {script}: {aborted}");
        let name = "sse_answers_cancelled_total";
        let text = wait_for_sample(&slow, name, cancelled, Duration::from_secs(3)).await;
        let generated = sample(&text, "sse_answer_tokens_total", fw) - before;
        assert!(
            (3..=4).contains(&generated),
            "[{fw}] {script}: {generated} generated, 3 read"
        );

        let lines = package.run(&fast, "answer").await;
        let (streamed, whole) = (line(script, &lines[0]), line(script, &lines[1]));
        let content = streamed["content"].as_str().unwrap_or_default();
        let expected = "You asked: \"What does the openai package see?\" (6 words). Hello,";
        assert!(content.starts_with(expected), "[{fw}] {script}: {streamed}");
        assert_eq!(
            streamed["finish_reason"], "stop",
            "[{fw}] {script}: {streamed}"
        );
        assert_eq!(whole["content"], streamed["content"], "[{fw}] {script}");
        assert_eq!(
            whole["tokens"], streamed["tokens"],
            "[{fw}] {script}: {whole}"
        );
    }
}
