//! Resumable answers across instances: axum, actix-web and warp on one real `redis-server`, then
//! on a real three-master Redis Cluster. An answer generated on one instance resumes on the
//! next from the event after `Last-Event-ID`, byte for byte what its own instance keeps; it is
//! read through on a third (204); and a `DELETE` on another instance stops its generation.
//!
//! `cargo test -p cluster-tests --test answers`

use std::time::{Duration, Instant};

use contract_tests::answers::{ask, ask_body, chunk, content, read_to_done};
use contract_tests::client::Events;
use contract_tests::operations::sample;
use contract_tests::services::{Redis, RedisCluster};
use contract_tests::{Endpoint, client::Response};
use eventsource_stream::Event;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use cluster_tests::endpoint;

/// A stand-in that answers at once, a token every 20 ms: about 2 s an answer.
const PACE: [&str; 4] = ["--think-ms", "0", "--token-ms", "20"];

fn resumable() -> Value {
    json!({"stream": true, "stream_options": {"resumable": true}})
}

/// A resumable answer asked of `at`, and its id, read from its first event.
async fn ask_resumable(at: &Endpoint, question: &str) -> (Events, String) {
    let response = ask(at, ask_body(question, resumable())).await;
    assert_eq!(response.status(), StatusCode::OK, "[{}]", at.framework);
    let mut events = response.events();
    let first = events.next().await;
    let id = chunk(at.framework, &first)["id"]
        .as_str()
        .map(str::to_owned);
    (events, id.unwrap_or_default())
}

async fn resume(at: &Endpoint, id: &str, last_event_id: &str) -> Response {
    let path = format!("/v1/streams/{id}");
    at.request(
        Method::GET,
        &path,
        &[("last-event-id", last_event_id.as_bytes())],
    )
    .await
}

async fn delete(at: &Endpoint, id: &str) -> StatusCode {
    let path = format!("/v1/streams/{id}");
    at.request(Method::DELETE, &path, &[]).await.status()
}

/// `sse_answers_cancelled_total` of `at`, once it reads `want`, within 3 s.
async fn wait_for_cancelled(at: &Endpoint, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let text = at.get("/metrics").await.text().await;
        let cancelled = sample(&text, "sse_answers_cancelled_total", at.framework);
        if cancelled == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] {cancelled} answers cancelled, not {want}",
            at.framework
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each event as its `id` and `data`.
fn lines(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{}\n{}", e.id, e.data))
        .collect()
}

/// Generated on `servers[0]`: dropped after 5 events, resumed on `servers[1]` while it is still
/// generated, read through on `servers[2]`.
async fn resumes_on_another_instance(servers: [&Endpoint; 3]) {
    let [generator, resumer, third] = servers;
    let fw = format!("{} to {}", generator.framework, resumer.framework);
    let (mut events, id) = ask_resumable(generator, "Will you wait for me?").await;
    let first = events.take(4).await;
    drop(events);
    let response = resume(resumer, &id, "4").await;
    assert_eq!(response.status(), StatusCode::OK, "[{fw}]");
    let rest = read_to_done(&fw, &mut response.events()).await;
    assert_eq!(rest.first().map(|e| e.id.as_str()), Some("5"), "[{fw}]");
    // What the generating instance keeps, from the start: the same events, byte for byte.
    let kept = generator
        .request(Method::GET, &format!("/v1/streams/{id}"), &[])
        .await;
    let whole = read_to_done(&fw, &mut kept.events()).await;
    assert_eq!(lines(&whole[5..]), lines(&rest), "[{fw}]");
    assert!(
        content(&fw, &whole).starts_with(&content(&fw, &first)),
        "[{fw}]"
    );
    let done_id = whole.len().to_string();
    let read_all = resume(third, &id, &done_id).await;
    assert_eq!(read_all.status(), StatusCode::NO_CONTENT, "[{fw}]");
}

/// Generated on `servers[0]`, cancelled through `servers[1]`: the generation stops, and the
/// answer is gone from every instance. Each server generates one such answer.
async fn cancels_from_another_instance(servers: [&Endpoint; 3]) {
    let [generator, canceller, third] = servers;
    let fw = format!("{} from {}", generator.framework, canceller.framework);
    let (_events, id) = ask_resumable(generator, "Never mind").await;
    assert_eq!(delete(canceller, &id).await, StatusCode::OK, "[{fw}]");
    wait_for_cancelled(generator, 1).await;
    for at in servers {
        let response = resume(at, &id, "0").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "[{fw}]");
    }
    assert_eq!(delete(third, &id).await, StatusCode::NOT_FOUND, "[{fw}]");
}

/// The cases above with each server generating once, on servers started with `args`.
async fn every_instance_resumes_and_cancels_the_others_answers(args: &[&str]) {
    let servers = cluster_tests::start_all(&[args, &PACE[..]].concat());
    let at: Vec<Endpoint> = servers.iter().map(endpoint).collect();
    let ring = |i: usize| [&at[i], &at[(i + 1) % 3], &at[(i + 2) % 3]];
    for i in 0..3 {
        resumes_on_another_instance(ring(i)).await;
        cancels_from_another_instance(ring(i)).await;
    }
    // A well-formed id that no instance gave is asked of Redis, and unknown there.
    let unknown = format!("chatcmpl-{}", "0".repeat(32));
    let response = resume(&at[0], &unknown, "0").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let error: Value = serde_json::from_str(&response.text().await).expect("JSON");
    assert_eq!(error["error"]["code"], "answer_not_found", "{error}");
}

#[tokio::test]
async fn on_one_redis_any_instance_resumes_or_cancels_an_answer() {
    let redis = Redis::start();
    let url = redis.url();
    every_instance_resumes_and_cancels_the_others_answers(&["--redis", &url]).await;
}

#[tokio::test]
async fn on_a_redis_cluster_any_instance_resumes_or_cancels_an_answer() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls();
    every_instance_resumes_and_cancels_the_others_answers(&["--redis-cluster", &urls]).await;
}
