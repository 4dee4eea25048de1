//! Rooms spread over a real Redis Cluster: three masters of Debian's `redis-server` in cluster
//! mode, joined by `redis-cli --cluster create`, in temporary directories on free loopback ports,
//! and axum, actix-web and warp started with `--redis-cluster`. Stopped at the end of each test.
//!
//! `cargo test -p cluster-tests --test redis_cluster`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster_tests::endpoint;
use contract_tests::Endpoint;
use contract_tests::client::Events;
use contract_tests::rooms::{RoomMessage, room_message};
use contract_tests::services::RedisCluster;
use serde_json::Value;
use test_servers::Running;

/// The three servers on `cluster`.
fn start_all(cluster: &RedisCluster, args: &[&str]) -> Vec<Running> {
    let urls = cluster.urls();
    let mut all_args = vec!["--redis-cluster", &urls];
    all_args.extend_from_slice(args);
    cluster_tests::start_all(&all_args)
}

/// One room on each master: the first names `r0`, `r1`, ... whose keys' slots land there.
fn a_room_on_each_master(cluster: &RedisCluster) -> Vec<String> {
    let mut rooms: Vec<Option<String>> = vec![None; cluster.masters.len()];
    for n in 0..200 {
        let room = format!("r{n}");
        let master = cluster.master_of(&format!("sse:chat:{{{room}}}"));
        rooms[master].get_or_insert(room);
        if rooms.iter().all(Option::is_some) {
            return rooms.into_iter().flatten().collect();
        }
    }
    panic!("no room name among r0..r199 lands on every master: {rooms:?}");
}

/// `POST /chat/{room}` through `at`: the status, the JSON answer and its `Retry-After`.
async fn post(at: Endpoint, room: &str, text: &str) -> (u16, Value, Option<String>) {
    let body = serde_json::json!({ "user": at.framework, "text": text }).to_string();
    let response = at
        .post(&format!("/chat/{room}"), "application/json", body)
        .await;
    let status = response.status().as_u16();
    let retry_after = response.header("retry-after").map(str::to_owned);
    let text = response.text().await;
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text:?}: {e}"));
    (status, json, retry_after)
}

async fn post_ok(at: Endpoint, room: &str, text: &str) -> u64 {
    let (status, json, _) = post(at, room, text).await;
    assert_eq!(status, 201, "[{}] POST /chat/{room}: {json}", at.framework);
    json["id"].as_u64().expect("an id")
}

/// A stream of `rooms` on `at`, from `cursor`.
async fn follow(at: Endpoint, rooms: &[String], cursor: &str) -> Events {
    let path = format!("/events/chat?rooms={}", rooms.join(","));
    let response = at.get_resuming(&path, cursor.as_bytes()).await;
    assert_eq!(response.status().as_u16(), 200, "[{}]", at.framework);
    response.events()
}

/// A cursor at the start of every room.
fn from_the_start(rooms: &[String]) -> String {
    let pairs: Vec<String> = rooms.iter().map(|room| format!("{room}:0")).collect();
    pairs.join(",")
}

async fn messages(fw: &str, events: &mut Events, n: usize) -> Vec<RoomMessage> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(room_message(fw, &events.next().await));
    }
    out
}

/// Each room's (id, text) in the order received.
fn by_room(seen: &[RoomMessage]) -> BTreeMap<String, Vec<(u64, String)>> {
    let mut rooms: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for m in seen {
        rooms
            .entry(m.room.clone())
            .or_default()
            .push((m.id, m.text.clone()));
    }
    rooms
}

/// `/health` on `at`, until `check` holds (at most 15 s).
async fn health_until(at: Endpoint, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let health: Value =
            serde_json::from_str(&at.get("/health").await.text().await).expect("JSON health");
        if check(&health) {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "[{}] never {what}: {health}",
            at.framework
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rooms_on_every_master_reach_every_framework_once_in_one_order() {
    let cluster = RedisCluster::start();
    let rooms = a_room_on_each_master(&cluster);
    let masters: Vec<usize> = rooms
        .iter()
        .map(|room| cluster.master_of(&format!("sse:chat:{{{room}}}")))
        .collect();
    assert_eq!(masters, [0, 1, 2], "one room per master: {rooms:?}");
    // One test client posts 90 messages at once: past --post-burst's 20 it would get 429.
    let servers = start_all(&cluster, &["--post-burst", "1000", "--post-rate", "1000"]);
    let endpoints: Vec<Endpoint> = servers.iter().map(endpoint).collect();
    for &at in &endpoints {
        let health = health_until(at, "on the cluster", |h| h["redis"] == "up").await;
        assert_eq!(
            health["hub"], "redis-cluster",
            "[{}] {health}",
            at.framework
        );
        let nodes = health["redis_nodes"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let names: Vec<&String> = nodes.keys().collect();
        assert_eq!(names.len(), 3, "[{}] {health}", at.framework);
    }
    let start = from_the_start(&rooms);
    let mut subscribers = Vec::new();
    for &at in &endpoints {
        subscribers.push((at.framework, follow(at, &rooms, &start).await));
    }
    // Every framework posts ten messages to every room, all at once.
    let mut publishers = Vec::new();
    for &at in &endpoints {
        for room in rooms.clone() {
            publishers.push(tokio::spawn(async move {
                for n in 0..10 {
                    post_ok(at, &room, &format!("{} #{n}", at.framework)).await;
                }
            }));
        }
    }
    for publisher in publishers {
        publisher.await.expect("publisher");
    }
    let mut orders = Vec::new();
    for (fw, events) in &mut subscribers {
        let seen = by_room(&messages(fw, events, 90).await);
        for (room, got) in &seen {
            let ids: Vec<u64> = got.iter().map(|m| m.0).collect();
            assert_eq!(
                ids,
                (1..=30).collect::<Vec<_>>(),
                "[{fw}] room {room}: once, in order"
            );
        }
        orders.push((fw, seen));
    }
    for (fw, order) in &orders {
        assert_eq!(order, &orders[0].1, "[{fw}] another order than axum's");
    }

    // A reader of all three rooms leaves axum half-way and resumes on actix, then on warp.
    let mut reader = follow(endpoints[0], &rooms, &start).await;
    let mut seen = messages("axum", &mut reader, 40).await;
    for (n, &at) in endpoints.iter().enumerate().skip(1) {
        let cursor = seen.last().map(|m| m.event_id.clone()).unwrap_or_default();
        let mut resumed = follow(at, &rooms, &cursor).await;
        let more = if n == 1 { 30 } else { 20 };
        seen.extend(messages(at.framework, &mut resumed, more).await);
    }
    assert_eq!(
        by_room(&seen),
        orders[0].1,
        "the resumed reader missed or repeated something"
    );
}

#[tokio::test]
async fn a_master_away_stops_only_its_rooms_which_resume_without_gap_when_it_is_back() {
    let mut cluster = RedisCluster::start();
    let rooms = a_room_on_each_master(&cluster);
    let servers = start_all(&cluster, &["--keep-alive-secs", "1"]);
    let endpoints: Vec<Endpoint> = servers.iter().map(endpoint).collect();
    for &at in &endpoints {
        health_until(at, "up", |h| h["redis"] == "up").await;
    }
    let start = from_the_start(&rooms);
    let mut subscribers = Vec::new();
    for &at in &endpoints {
        subscribers.push((at.framework, follow(at, &rooms, &start).await));
    }
    for room in &rooms {
        post_ok(endpoints[0], room, "before").await;
    }

    // The master of the first room goes away.
    let away = cluster.addresses()[0].clone();
    cluster.masters[0].stop();
    for &at in &endpoints {
        let health = health_until(at, "down", |h| h["redis_nodes"][&away] == "down").await;
        assert_eq!(health["redis"], "down", "[{}] {health}", at.framework);
        let (status, json, retry_after) = post(at, &rooms[0], "while away").await;
        assert_eq!(status, 503, "[{}] {json}", at.framework);
        assert_eq!(retry_after.as_deref(), Some("1"), "[{}]", at.framework);
        for room in &rooms[1..] {
            post_ok(at, room, &format!("{} while away", at.framework)).await;
        }
    }
    // The other rooms went on: every subscriber has their messages, and nothing of room 0.
    for (fw, events) in &mut subscribers {
        let seen = messages(fw, events, 3 + 6).await;
        let seen = by_room(&seen);
        assert_eq!(seen[&rooms[0]].len(), 1, "[{fw}] {seen:?}");
        for room in &rooms[1..] {
            let ids: Vec<u64> = seen[room].iter().map(|m| m.0).collect();
            assert_eq!(ids, [1, 2, 3, 4], "[{fw}] room {room}");
        }
    }

    cluster.masters[0].start_again();
    cluster.wait_until_ok();
    for &at in &endpoints {
        health_until(at, "up again", |h| h["redis"] == "up").await;
    }
    let id = post_ok(endpoints[2], &rooms[0], "after").await;
    assert_eq!(id, 2, "the room's ids went on from its master's data");
    for (fw, events) in &mut subscribers {
        let after = room_message(fw, &events.next().await);
        let got = (after.room.as_str(), after.id, after.text.as_str());
        assert_eq!(
            got,
            (rooms[0].as_str(), 2, "after"),
            "[{fw}] no gap, no duplicate"
        );
    }
}
