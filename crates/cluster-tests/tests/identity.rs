//! Identity across instances: axum, actix-web and warp with the same `--auth-secret`, their
//! rooms on a real three-master Redis Cluster. A token minted once is good on every instance,
//! a private room stays closed to others on every instance, and a stream that expired on one
//! instance resumes exactly on another.
//!
//! `cargo test -p cluster-tests --test identity`

use contract_tests::client::Events;
use contract_tests::rooms::room_message;
use contract_tests::services::RedisCluster;
use contract_tests::tokens::{SECRET, bearer, claims, cookie, sign, token};
use contract_tests::{Endpoint, client::Response};
use hyper::Method;
use test_servers::Running;

use cluster_tests::endpoint;

/// `POST /chat/{room}` through `at` with `token`: the status.
async fn post(at: Endpoint, room: &str, token: &str, text: &str) -> u16 {
    let body = serde_json::json!({ "user": "mallory", "text": text }).to_string();
    let auth = bearer(token);
    let headers = [
        ("content-type", &b"application/json"[..]),
        ("authorization", &auth[..]),
    ];
    let response = at
        .send(
            Method::POST,
            &format!("/chat/{room}"),
            &headers,
            body.into(),
        )
        .await;
    response.status().as_u16()
}

/// `GET path` through `at` with `token` in the cookie, from `last_event_id`.
async fn get(at: Endpoint, path: &str, token: &str, last_event_id: &str) -> Response {
    let cookie = cookie(token);
    let mut headers = vec![("cookie", &cookie[..])];
    if !last_event_id.is_empty() {
        headers.push(("last-event-id", last_event_id.as_bytes()));
    }
    at.request(Method::GET, path, &headers).await
}

async fn follow(at: Endpoint, path: &str, token: &str, last_event_id: &str) -> Events {
    let response = get(at, path, token, last_event_id).await;
    assert_eq!(response.status().as_u16(), 200, "[{}] {path}", at.framework);
    response.events()
}

#[tokio::test]
async fn a_token_private_rooms_and_expiry_hold_across_instances_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let urls = cluster.urls();
    let args = [
        "--redis-cluster",
        &urls,
        "--auth-secret",
        SECRET,
        "--auth-leeway-secs",
        "0",
    ];
    let servers: Vec<Running> = cluster_tests::start_all(&args);
    let [axum, actix, warp] = [0, 1, 2].map(|i| endpoint(&servers[i]));
    let (alice, bob) = (token("alice", &["_ops"]), token("bob", &[]));
    assert_eq!(post(axum, "_ops", &alice, "minted once").await, 201);
    assert_eq!(post(actix, "_ops", &bob, "not bob's").await, 403);
    let path = "/events/chat?rooms=lobby,_ops&history=0";
    assert_eq!(get(warp, path, &bob, "").await.status().as_u16(), 403);

    let short = sign(&claims("alice", &["_ops"], 5));
    let mut stream = follow(actix, path, &short, "").await;
    assert_eq!(post(warp, "_ops", &alice, "one").await, 201);
    let one = room_message("actix", &stream.next().await);
    assert_eq!((one.room.as_str(), one.text.as_str()), ("_ops", "one"));
    // The token lives 4 to 5 s: the stream ends within the wait of `next` from here.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let expired = stream.next().await;
    assert_eq!(expired.event, "expired", "{expired:?}");
    stream.assert_ends().await;
    assert_eq!(post(axum, "_ops", &alice, "two").await, 201);
    assert_eq!(post(actix, "lobby", &alice, "three").await, 201);

    let mut resumed = follow(warp, path, &alice, &one.event_id).await;
    let mut got = [
        room_message("warp", &resumed.next().await),
        room_message("warp", &resumed.next().await),
    ]
    .map(|m| (m.room, m.text));
    got.sort();
    let want = [("_ops", "two"), ("lobby", "three")].map(|(r, t)| (r.to_owned(), t.to_owned()));
    assert_eq!(
        got, want,
        "resumed on another instance: no gap, no duplicate"
    );
    drop(servers);
}
