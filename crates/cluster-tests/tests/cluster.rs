//! Many instances, one chat, with the real parts: axum, actix-web and warp on one
//! `redis-server`, and behind `nginx` running `deploy/nginx.conf`. Every Redis and nginx is the
//! test's own, on a free loopback port, stopped at the end of the test.
//!
//! `cargo test -p cluster-tests`

use std::time::{Duration, Instant};

use cluster_tests::endpoint;
use contract_tests::chat::{Chat, chat, chat_ids};
use contract_tests::client::{Events, Response};
use contract_tests::rooms::room_message;
use contract_tests::services::{Nginx, Redis};
use contract_tests::slow_link::SlowLink;
use contract_tests::{Endpoint, Protocol};
use serde_json::Value;
use test_servers::{Running, Which};
use tokio::time::timeout;

/// The three servers, each started with `--redis` on `redis` and `args`, trusting nginx (on
/// this machine) to say who its clients are, as `scripts/cluster.sh` starts them.
fn start_all(redis: &Redis, args: &[&str]) -> Vec<Running> {
    let url = redis.url();
    let mut all_args = vec!["--redis", &url, "--trusted-proxy", "127.0.0.1"];
    all_args.extend_from_slice(args);
    cluster_tests::start_all(&all_args)
}

/// nginx, spoken to as a browser would: HTTP/1.1.
fn through(nginx: &Nginx) -> Endpoint {
    Endpoint {
        addr: nginx.addr,
        framework: "nginx",
        protocol: Protocol::Http1,
    }
}

/// `POST /chat` through `at`: the status and the JSON answer, with its `Retry-After`.
async fn post(at: Endpoint, user: &str, text: &str) -> (u16, Value, Option<String>) {
    let body = serde_json::json!({ "user": user, "text": text }).to_string();
    let response = at.post("/chat", "application/json", body).await;
    let status = response.status().as_u16();
    let retry_after = response.header("retry-after").map(str::to_owned);
    let text = response.text().await;
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text:?}: {e}"));
    (status, json, retry_after)
}

/// Posts and asserts 201; returns the id.
async fn post_ok(at: Endpoint, user: &str, text: &str) -> u64 {
    let (status, json, _) = post(at, user, text).await;
    assert_eq!(status, 201, "[{}] {json}", at.framework);
    json["id"].as_u64().expect("an id")
}

/// A chat stream on `at` that starts with nothing from the past (or after `last_event_id`).
async fn subscribe(at: Endpoint, last_event_id: Option<u64>) -> Events {
    let response: Response = match last_event_id {
        Some(id) => {
            at.get_resuming("/events/chat", id.to_string().as_bytes())
                .await
        }
        None => at.get("/events/chat?history=0").await,
    };
    assert_eq!(response.status().as_u16(), 200, "[{}]", at.framework);
    response.events()
}

/// The next `n` chat messages.
async fn messages(fw: &str, events: &mut Events, n: usize) -> Vec<Chat> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(chat(fw, &events.next().await));
    }
    out
}

/// Polls `/health` on `at` until `redis` is `want` ("up" or "down"), for at most 10 s.
async fn wait_for_redis(at: Endpoint, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health: Value =
            serde_json::from_str(&at.get("/health").await.text().await).expect("JSON health");
        assert_eq!(health["hub"], "redis", "[{}] {health}", at.framework);
        if health["redis"] == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] redis never {want}: {health}",
            at.framework
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn posts_to_any_framework_reach_every_subscriber_once_in_one_order() {
    let redis = Redis::start();
    let servers = start_all(&redis, &[]);
    let endpoints: Vec<Endpoint> = servers.iter().map(endpoint).collect();
    let mut subscribers = Vec::new();
    for &at in endpoints.iter().chain(&endpoints) {
        subscribers.push((at.framework, subscribe(at, None).await));
    }
    // Three publishers at once, one per framework, ten messages each.
    let publishers: Vec<_> = endpoints
        .iter()
        .map(|&at| {
            tokio::spawn(async move {
                for n in 0..10 {
                    post_ok(at, at.framework, &format!("{} #{n}", at.framework)).await;
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.await.expect("publisher");
    }
    let mut orders = Vec::new();
    for (fw, events) in &mut subscribers {
        let seen = messages(fw, events, 30).await;
        let ids: Vec<u64> = seen.iter().map(|m| m.id).collect();
        assert_eq!(
            ids,
            (1..=30).collect::<Vec<_>>(),
            "[{fw}] one global sequence"
        );
        orders.push((fw, seen));
    }
    let (_, first) = &orders[0];
    for (fw, order) in &orders {
        assert_eq!(
            order, first,
            "[{fw}] delivers in a different order than axum"
        );
    }
    // A subscriber that leaves one framework after message 12 and resumes on each of the
    // others misses nothing and repeats nothing.
    for &at in &endpoints {
        let mut resumed = subscribe(at, Some(12)).await;
        assert_eq!(
            chat_ids(at.framework, &mut resumed, 18).await,
            (13..=30).collect::<Vec<_>>(),
            "[{}] resume after 12",
            at.framework
        );
    }
    // The same with a message that arrives after the resume.
    let mut resumed = subscribe(endpoints[2], Some(30)).await;
    let id = post_ok(endpoints[1], "ann", "late").await;
    assert_eq!(chat_ids("warp", &mut resumed, 1).await, [id]);
}

/// A room nobody on an instance follows yet, with Redis 100 ms away (each way): the stream's
/// head comes only once the instance has read the room, so a message posted elsewhere the moment
/// the head arrives is delivered. Were the head sent first, the room's first read (two round
/// trips, 400 ms) would find the message already there and count it as history.
#[tokio::test]
async fn a_new_room_s_stream_gets_what_is_posted_once_its_head_arrived_even_with_redis_far_away() {
    let redis = Redis::start();
    let link = SlowLink::to(redis.addr(), Duration::from_millis(100));
    let far = format!("redis://{}", link.addr);
    let followers = cluster_tests::start_all(&["--redis", &far]);
    let near = Running::start(Which::Axum, &["--redis", &redis.url()]);
    for follower in &followers {
        let at = endpoint(follower);
        let room = format!("far-{}", at.framework);
        let response = at
            .get(&format!("/events/chat?rooms={room}&history=0"))
            .await;
        assert_eq!(response.status().as_u16(), 200, "[{}]", at.framework);
        let mut events = response.events();
        let body = serde_json::json!({ "user": "ann", "text": "just after the head" });
        let posted = endpoint(&near)
            .post(
                &format!("/chat/{room}"),
                "application/json",
                body.to_string(),
            )
            .await;
        assert_eq!(posted.status().as_u16(), 201, "[{}]", at.framework);
        let message = room_message(at.framework, &events.next().await);
        assert_eq!(
            (message.room.as_str(), message.text.as_str()),
            (room.as_str(), "just after the head"),
            "[{}]",
            at.framework
        );
    }
}

#[tokio::test]
async fn redis_stopped_and_started_again_loses_nothing_and_repeats_nothing() {
    let mut redis = Redis::start_persistent();
    let servers = start_all(&redis, &["--keep-alive-secs", "1"]);
    let endpoints: Vec<Endpoint> = servers.iter().map(endpoint).collect();
    let mut subscribers = Vec::new();
    for &at in &endpoints {
        subscribers.push((at.framework, subscribe(at, None).await));
    }
    let mut acknowledged = Vec::new();
    for (n, &at) in endpoints.iter().enumerate() {
        acknowledged.push(post_ok(at, "ann", &format!("before {n}")).await);
    }

    redis.stop();
    for &at in &endpoints {
        wait_for_redis(at, "down").await;
        let (status, json, retry_after) = post(at, "ann", "while down").await;
        assert_eq!(status, 503, "[{}] {json}", at.framework);
        assert!(
            json["error"].as_str().is_some_and(|e| e.contains("Redis")),
            "[{}] {json}",
            at.framework
        );
        assert_eq!(retry_after.as_deref(), Some("1"), "[{}]", at.framework);
    }
    // The streams stay open meanwhile (keep-alive comments, every second here).
    tokio::time::sleep(Duration::from_secs(2)).await;
    for &at in &endpoints {
        let health: Value =
            serde_json::from_str(&at.get("/health").await.text().await).expect("JSON");
        assert_eq!(health["open_streams"], 1, "[{}] {health}", at.framework);
    }

    redis.start_again();
    for &at in &endpoints {
        wait_for_redis(at, "up").await;
    }
    for (n, &at) in endpoints.iter().enumerate() {
        acknowledged.push(post_ok(at, "ann", &format!("after {n}")).await);
    }
    assert_eq!(acknowledged, [1, 2, 3, 4, 5, 6], "the ids went on");
    for (fw, events) in &mut subscribers {
        let seen = messages(fw, events, 6).await;
        let ids: Vec<u64> = seen.iter().map(|m| m.id).collect();
        assert_eq!(ids, acknowledged, "[{fw}] every acknowledged message, once");
        assert!(seen[3].text.starts_with("after"), "[{fw}] {seen:?}");
    }
    // And a client that comes back after the outage resumes from Redis's history.
    let mut resumed = subscribe(endpoints[0], Some(2)).await;
    assert_eq!(chat_ids("axum", &mut resumed, 4).await, [3, 4, 5, 6]);
}

#[tokio::test]
async fn redis_restarted_empty_tells_subscribers_they_lagged_and_goes_on() {
    let mut redis = Redis::start();
    let servers = start_all(&redis, &[]);
    let endpoints: Vec<Endpoint> = servers.iter().map(endpoint).collect();
    let mut subscribers = Vec::new();
    for &at in &endpoints {
        subscribers.push((at.framework, subscribe(at, None).await));
    }
    for &at in &endpoints {
        post_ok(at, "ann", "before").await;
    }
    for (fw, events) in &mut subscribers {
        assert_eq!(chat_ids(fw, events, 3).await, [1, 2, 3], "[{fw}]");
    }

    redis.restart_empty();
    for &at in &endpoints {
        wait_for_redis(at, "up").await;
    }
    let id = post_ok(endpoints[1], "bob", "after").await;
    assert_eq!(id, 1, "the new Redis counts from 1");
    for (fw, events) in &mut subscribers {
        let lagged = events.next().await;
        assert_eq!(lagged.event, "lagged", "[{fw}] {lagged:?}");
        let after = chat(fw, &events.next().await);
        assert_eq!((after.id, after.text.as_str()), (1, "after"), "[{fw}]");
    }
}

/// How long the first three events of a stream through nginx take (a clock ticking every
/// 200 ms: 400 ms when nothing holds them back), or `None` past 2 s.
async fn three_events_through(nginx: &Nginx) -> Option<Duration> {
    let at = through(nginx);
    let start = Instant::now();
    let mut events = at.get("/events?interval_ms=200").await.events();
    let ids = timeout(Duration::from_secs(2), events.take(3)).await.ok()?;
    let ids: Vec<String> = ids.into_iter().map(|event| event.id).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    Some(start.elapsed())
}

#[tokio::test]
async fn through_nginx_events_arrive_as_they_are_sent() {
    let redis = Redis::start();
    let servers = start_all(&redis, &[]);
    let upstreams: Vec<_> = servers.iter().map(|s| endpoint(s).addr).collect();
    let nginx = Nginx::start(&upstreams, |conf| conf);
    let took = three_events_through(&nginx)
        .await
        .expect("three events within 2 s");
    assert!(took < Duration::from_millis(1000), "{took:?}");
}

#[tokio::test]
async fn through_nginx_a_client_whose_server_dies_resumes_on_another_and_misses_nothing() {
    let redis = Redis::start();
    let mut servers = start_all(&redis, &[]);
    let upstreams: Vec<_> = servers.iter().map(|s| endpoint(s).addr).collect();
    let nginx = Nginx::start(&upstreams, |conf| conf);
    let proxy = through(&nginx);

    let mut events = subscribe(proxy, None).await;
    for n in 0..3 {
        post_ok(proxy, "ann", &format!("first {n}")).await;
    }
    assert_eq!(chat_ids("nginx", &mut events, 3).await, [1, 2, 3]);
    // Which server holds the stream? The one that counts an open stream.
    let mut holder = None;
    for (index, server) in servers.iter().enumerate() {
        let health: Value =
            serde_json::from_str(&endpoint(server).get("/health").await.text().await)
                .expect("JSON");
        if health["open_streams"] == 1 {
            holder = Some(index);
        }
    }
    let holder = holder.expect("one server holds the stream");
    let killed = servers.remove(holder);
    let killed_name = killed.which.framework().name;
    drop(killed); // its streams end, and it stops listening

    // The stream ends; the browser would reconnect with Last-Event-ID: 3.
    events.assert_ends().await;
    for n in 0..3 {
        post_ok(proxy, "bob", &format!("meanwhile {n}")).await;
    }
    let mut resumed = subscribe(proxy, Some(3)).await;
    assert_eq!(
        chat_ids("nginx", &mut resumed, 3).await,
        [4, 5, 6],
        "after {killed_name} died"
    );
    let mut survivors_open = 0;
    for server in &servers {
        let health: Value =
            serde_json::from_str(&endpoint(server).get("/health").await.text().await)
                .expect("JSON");
        survivors_open += health["open_streams"].as_u64().unwrap_or(0);
    }
    assert_eq!(
        survivors_open, 1,
        "the resumed stream is on a surviving server"
    );
}

#[tokio::test]
async fn through_nginx_an_idle_stream_outlives_the_read_timeout_thanks_to_keep_alive() {
    let redis = Redis::start();
    // nginx closes a stream after 2 s without a byte here; the servers write a comment every
    // second of silence.
    let short_timeout =
        |conf: String| conf.replace("proxy_read_timeout 1h;", "proxy_read_timeout 2s;");
    let servers = start_all(&redis, &["--keep-alive-secs", "1"]);
    let upstreams: Vec<_> = servers.iter().map(|s| endpoint(s).addr).collect();
    let nginx = Nginx::start(&upstreams, short_timeout);
    let proxy = through(&nginx);
    let mut events = subscribe(proxy, None).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let id = post_ok(proxy, "ann", "still there?").await;
    assert_eq!(chat_ids("nginx", &mut events, 1).await, [id]);
    drop((nginx, servers));

    // The control: keep-alive comments only every 15 s, and nginx ends the idle stream.
    let servers = start_all(&redis, &["--keep-alive-secs", "15"]);
    let upstreams: Vec<_> = servers.iter().map(|s| endpoint(s).addr).collect();
    let nginx = Nginx::start(&upstreams, short_timeout);
    let proxy = through(&nginx);
    let mut events = subscribe(proxy, None).await;
    let start = Instant::now();
    events.assert_closed().await;
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

/// `sse doctor` on `path` through `nginx`, watched for `secs`: the checks it flagged.
async fn doctor_through(nginx: &Nginx, path: &str, secs: u64) -> (Vec<&'static str>, String) {
    use sse_cli::doctor::{Doctor, examine};
    let url = format!("http://{}{path}", nginx.addr);
    let ask = sse_cli::http::Ask::get(&url).expect("a URL");
    let report = examine(&Doctor {
        ask,
        watch: Duration::from_secs(secs),
    })
    .await;
    let json = serde_json::to_string_pretty(&report).expect("JSON");
    (report.flagged(), json)
}

/// The clock, fast enough to judge in a few seconds.
const CLOCK: &str = "/events?interval_ms=100";

#[tokio::test]
async fn through_nginx_the_doctor_passes_the_checked_in_config_and_flags_buffering() {
    let servers: Vec<Running> = (Which::ALL.iter())
        .map(|&which| Running::start(which, &[]))
        .collect();
    let upstreams: Vec<_> = servers.iter().map(|s| endpoint(s).addr).collect();
    let nginx = Nginx::start(&upstreams, |conf| conf);
    let (flagged, report) = doctor_through(&nginx, CLOCK, 3).await;
    assert!(flagged.is_empty(), "deploy/nginx.conf: {report}");
    drop(nginx);

    // The control: nginx's defaults (HTTP/1.0 to the server, buffering on), with small buffers
    // so that they fill in about 2 s, and the server's X-Accel-Buffering: no ignored, as if it
    // did not send it.
    let buffering = |conf: String| {
        (conf.replace("proxy_http_version 1.1;", "")).replace(
            "proxy_buffering off;",
            "proxy_buffering on; proxy_ignore_headers X-Accel-Buffering; \
                 proxy_buffer_size 1k; proxy_buffers 4 1k;",
        )
    };
    let nginx = Nginx::start(&upstreams, buffering);
    let (flagged, report) = doctor_through(&nginx, CLOCK, 6).await;
    assert!(flagged.contains(&"buffering"), "{report}");
    // The paragraph is shorter than nginx's buffers: it comes in one burst, as it ends.
    let paragraph = "/events/paragraph?interval_ms=400";
    let (flagged, report) = doctor_through(&nginx, paragraph, 4).await;
    assert!(flagged.contains(&"buffering"), "{report}");
    assert!(report.contains("arrived together after"), "{report}");
}

#[tokio::test]
async fn through_nginx_an_answer_that_thinks_long_outlives_the_read_timeout() {
    use contract_tests::answers::{ask, ask_body, read_to_done};
    // nginx cuts a response after 2 s without a byte here; the model thinks for 3.5 s, and the
    // servers write a comment every second of silence. Three answers at once: nginx's
    // least_conn sends one to each server.
    let short_timeout =
        |conf: String| conf.replace("proxy_read_timeout 1h;", "proxy_read_timeout 2s;");
    let body = ask_body("Are you there?", serde_json::json!({ "stream": true }));
    let pace = ["--think-ms", "3500", "--token-ms", "5"];
    let servers = cluster_tests::start_all(&[&pace[..], &["--keep-alive-secs", "1"]].concat());
    let upstreams: Vec<_> = servers.iter().map(|s| endpoint(s).addr).collect();
    let nginx = Nginx::start(&upstreams, short_timeout);
    let proxy = through(&nginx);
    let answer = || async {
        let mut events = ask(&proxy, body.clone()).await.events();
        read_to_done("nginx", &mut events).await.len()
    };
    let answers = tokio::join!(answer(), answer(), answer());
    for events in [answers.0, answers.1, answers.2] {
        assert!(events > 50, "{events} events before [DONE]");
    }
    drop((nginx, servers));

    // The control: keep-alive comments only every 15 s, and nginx cuts the answer after its
    // first chunk, the role.
    let servers = cluster_tests::start_all(&[&pace[..], &["--keep-alive-secs", "15"]].concat());
    let upstreams: Vec<_> = servers.iter().map(|s| endpoint(s).addr).collect();
    let nginx = Nginx::start(&upstreams, short_timeout);
    let mut events = ask(&through(&nginx), body).await.events();
    let role = events.next().await;
    assert_eq!(role.id, "0", "{role:?}");
    events.assert_closed().await;
}
