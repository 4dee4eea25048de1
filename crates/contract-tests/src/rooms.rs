//! The rooms cases of the contract: `POST /chat/{room}`, `GET /events/chat?rooms=a,b,c`, the
//! cursor that resumes several rooms on one `EventSource`, and `--max-rooms`.

use std::collections::BTreeMap;
use std::time::Duration;

use eventsource_stream::Event;
use hyper::StatusCode;
use serde_json::Value;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::client::{Events, Server, Target};

/// A chat message of a stream that follows rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomMessage {
    /// The event's `id:` field: a plain id on a stream of one room, else the cursor.
    pub event_id: String,
    /// Its room, from the data.
    pub room: String,
    /// Its id in its room, from the data.
    pub id: u64,
    /// What was written.
    pub text: String,
}

/// Reads `event` as a chat message of some room.
pub fn room_message(fw: &str, event: &Event) -> RoomMessage {
    assert_eq!(event.event, "chat", "[{fw}] {event:?}");
    let data: Value = serde_json::from_str(&event.data)
        .unwrap_or_else(|e| panic!("[{fw}] chat data is not JSON ({e}): {:?}", event.data));
    RoomMessage {
        event_id: event.id.clone(),
        room: data["room"].as_str().unwrap_or_default().to_owned(),
        id: data["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("[{fw}] no id: {data}")),
        text: data["text"].as_str().unwrap_or_default().to_owned(),
    }
}

/// The next `n` messages.
async fn messages(fw: &str, events: &mut Events, n: usize) -> Vec<RoomMessage> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(room_message(fw, &events.next().await));
    }
    out
}

/// Asserts that nothing arrives for a while.
pub async fn assert_quiet(fw: &str, events: &mut Events) {
    if let Ok(event) = timeout(Duration::from_millis(300), events.next()).await {
        panic!("[{fw}] expected nothing more, got {event:?}");
    }
}

/// Each room has its own messages and ids; a stream sees only its rooms; one room keeps plain
/// ids, several carry the cursor; `/chat` and `/events/chat` are the lobby.
pub async fn rooms_keep_their_messages_and_ids_apart(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let mut publisher = server.connect().await;
    assert_eq!(publisher.post_chat("ann", "in the lobby").await, 1);
    assert_eq!(
        publisher.post_to_room("news", "ann", "news 1").await,
        1,
        "[{fw}]"
    );
    assert_eq!(
        publisher.post_to_room("news", "ann", "news 2").await,
        2,
        "[{fw}]"
    );
    assert_eq!(
        publisher.post_to_room("sport", "bob", "sport 1").await,
        1,
        "[{fw}]"
    );
    assert_eq!(
        publisher.post_to_room("lobby", "bob", "lobby 2").await,
        2,
        "[{fw}]"
    );

    let mut lobby = server.get("/events/chat").await.events();
    let got = messages(fw, &mut lobby, 2).await;
    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        ["in the lobby", "lobby 2"],
        "[{fw}] /events/chat is the lobby"
    );
    assert!(got.iter().all(|m| m.room == "lobby"), "[{fw}] {got:?}");
    assert_quiet(fw, &mut lobby).await;

    let mut news = server.get("/events/chat?rooms=news").await.events();
    let got = messages(fw, &mut news, 2).await;
    let ids: Vec<(&str, u64)> = got.iter().map(|m| (m.event_id.as_str(), m.id)).collect();
    assert_eq!(ids, [("1", 1), ("2", 2)], "[{fw}] one room: plain ids");
    assert_quiet(fw, &mut news).await;

    let mut both = server.get("/events/chat?rooms=sport,news").await.events();
    let mut got = messages(fw, &mut both, 3).await;
    assert_quiet(fw, &mut both).await;
    assert!(got.iter().all(|m| m.room != "lobby"), "[{fw}] {got:?}");
    // The rooms' replays may interleave; the last cursor holds both rooms' newest ids.
    let last = got.last().map(|m| m.event_id.clone()).unwrap_or_default();
    assert_eq!(
        last, "sport:1,news:2",
        "[{fw}] the cursor, in the request's order"
    );
    got.sort_by_key(|m| (m.room.clone(), m.id));
    let rooms: Vec<(&str, u64)> = got.iter().map(|m| (m.room.as_str(), m.id)).collect();
    assert_eq!(rooms, [("news", 1), ("news", 2), ("sport", 1)], "[{fw}]");

    publisher.post_to_room("sport", "bob", "sport 2").await;
    let live = room_message(fw, &both.next().await);
    assert_eq!(
        (live.event_id.as_str(), live.id),
        ("sport:2,news:2", 2),
        "[{fw}]"
    );
    assert_quiet(fw, &mut news).await;
    assert_quiet(fw, &mut lobby).await;
}

/// A room name is 1 to 32 of `a-z 0-9 - _`; a list is 1 to 16 different names. Anything else
/// is 400 with the rule; a path below a room is 404.
pub async fn rooms_outside_the_rules_get_400_naming_the_rule(target: Target) {
    let server = Server::start(target, &[]).await;
    let fw = target.framework;
    let long = "x".repeat(33);
    for bad in [
        "News",
        "a%20b",
        "caf%C3%A9",
        "a.b",
        "%7Ba%7D",
        long.as_str(),
    ] {
        let body = r#"{"user":"ann","text":"hi"}"#;
        let response = server
            .post(&format!("/chat/{bad}"), "application/json", body)
            .await;
        let status = response.status();
        let text = response.text().await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "[{fw}] POST /chat/{bad}: {text}"
        );
        assert!(
            text.contains("1 to 32 characters of a-z, 0-9, - and _"),
            "[{fw}] POST /chat/{bad}: {text}"
        );
    }
    let response = server.post("/chat/a/b", "application/json", "{}").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND, "[{fw}] /chat/a/b");
    let seventeen: Vec<String> = (0..17).map(|n| format!("r{n}")).collect();
    let seventeen = seventeen.join(",");
    for bad in ["", "a,a", "a,,b", "A", "a%20b", seventeen.as_str()] {
        let response = server.get(&format!("/events/chat?rooms={bad}")).await;
        let status = response.status();
        let text = response.text().await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "[{fw}] rooms={bad}: {text}"
        );
        assert!(
            text.contains("rooms") && text.contains("1 to 16 different room names"),
            "[{fw}] rooms={bad}: {text}"
        );
    }
    let sixteen: Vec<String> = (0..16).map(|n| format!("r{n}")).collect();
    let response = server
        .get(&format!("/events/chat?rooms={}", sixteen.join(",")))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "[{fw}] 16 rooms");
}

/// Publishers post to three rooms at once while a reader of all three keeps reconnecting with
/// its last cursor (by header, and once by `lastEventId`): in the end it has had every message
/// of every room once, in order. A cursor naming a room not followed is ignored for it, a room
/// added on reconnect starts with its history, and a malformed cursor starts fresh.
pub async fn rooms_resume_exactly_from_the_cursor_under_concurrent_posts(target: Target) {
    const ROOMS: [&str; 3] = ["red", "green", "blue"];
    const EACH: u64 = 60;
    let server = Server::start_for_one_busy_client(target, &[]).await;
    let fw = target.framework;
    let mut publishers = JoinSet::new();
    for room in ROOMS {
        let mut connection = server.connect().await;
        publishers.spawn(async move {
            for n in 1..=EACH {
                connection.post_to_room(room, "p", &n.to_string()).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }
    let path = "/events/chat?rooms=red,green,blue&history=0";
    let mut seen: Vec<RoomMessage> = Vec::new();
    // From the very start of each room, whenever this first request is served.
    let mut cursor = "red:0,green:0,blue:0".to_owned();
    for round in 0..8 {
        let mut events = if round == 4 {
            let query = format!("{path}&lastEventId={}", urlencode(&cursor));
            server.get(&query).await.events()
        } else {
            server.get_resuming(path, cursor.as_bytes()).await.events()
        };
        for message in messages(fw, &mut events, 15).await {
            cursor.clone_from(&message.event_id);
            seen.push(message);
        }
    }
    while let Some(done) = publishers.join_next().await {
        done.expect("publisher task");
    }
    let mut last = server.get_resuming(path, cursor.as_bytes()).await.events();
    let left = ROOMS.len() * EACH as usize - seen.len();
    for message in messages(fw, &mut last, left).await {
        cursor.clone_from(&message.event_id);
        seen.push(message);
    }
    assert_quiet(fw, &mut last).await;
    let mut by_room: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for message in &seen {
        by_room
            .entry(message.room.as_str())
            .or_default()
            .push(message.id);
    }
    for room in ROOMS {
        let ids = by_room.get(room).cloned().unwrap_or_default();
        assert_eq!(
            ids,
            (1..=EACH).collect::<Vec<_>>(),
            "[{fw}] room {room}: each once, in order"
        );
    }

    // Resumed with another set of rooms: `blue` dropped (its part of the cursor ignored),
    // `lobby` added (it starts with its history: the last two of three).
    let mut lobby = server.connect().await;
    for n in 1..=3 {
        lobby.post_chat("ann", &format!("lobby {n}")).await;
    }
    let mut red = server.connect().await;
    red.post_to_room("red", "p", "after").await;
    let changed = "/events/chat?rooms=red,lobby&history=2";
    let mut events = server
        .get_resuming(changed, cursor.as_bytes())
        .await
        .events();
    let mut got = messages(fw, &mut events, 3).await;
    assert_quiet(fw, &mut events).await;
    got.sort_by_key(|m| (m.room.clone(), m.id));
    let got: Vec<(&str, u64)> = got.iter().map(|m| (m.room.as_str(), m.id)).collect();
    assert_eq!(
        got,
        [("lobby", 2), ("lobby", 3), ("red", EACH + 1)],
        "[{fw}]"
    );

    // A malformed cursor is no cursor: 200, and each room starts with its history.
    let garbage = [&b"red:1,red:2"[..], b"red:x", b"\xff\xfe", b"red:1;green:2"];
    for bad in garbage {
        let mut fresh = server
            .get_resuming("/events/chat?rooms=red,green&history=1", bad)
            .await
            .events();
        let mut got = messages(fw, &mut fresh, 2).await;
        got.sort_by_key(|m| m.room.clone());
        let got: Vec<(&str, u64)> = got.iter().map(|m| (m.room.as_str(), m.id)).collect();
        assert_eq!(got, [("green", EACH), ("red", EACH + 1)], "[{fw}] {bad:?}");
    }
}

/// With `--max-rooms 3`, a post to a fourth room with messages gets 507 and a JSON error naming
/// the option; the rooms there still take posts.
pub async fn past_max_rooms_a_new_room_gets_507(target: Target) {
    let server = Server::start(target, &["--max-rooms", "3"]).await;
    let fw = target.framework;
    let mut publisher = server.connect().await;
    publisher.post_chat("ann", "the lobby is a room too").await;
    publisher.post_to_room("one", "ann", "x").await;
    publisher.post_to_room("two", "ann", "x").await;
    let body = r#"{"user":"ann","text":"x"}"#;
    let refused = server.post("/chat/three", "application/json", body).await;
    let status = refused.status();
    let content_type = refused
        .header("content-type")
        .unwrap_or_default()
        .to_owned();
    let text = refused.text().await;
    assert_eq!(status.as_u16(), 507, "[{fw}] {text}");
    assert!(
        content_type.starts_with("application/json"),
        "[{fw}] {content_type}"
    );
    let error: Value = serde_json::from_str(&text).unwrap_or_default();
    let error = error["error"].as_str().unwrap_or_default();
    assert!(error.contains("--max-rooms"), "[{fw}] {text}");
    assert_eq!(publisher.post_to_room("two", "ann", "y").await, 2, "[{fw}]");
    // Following a room that has no message yet is not refused.
    let response = server.get("/events/chat?rooms=four").await;
    assert_eq!(response.status(), StatusCode::OK, "[{fw}]");
}

/// The few characters a cursor holds that a query must escape.
fn urlencode(text: &str) -> String {
    text.replace(':', "%3A").replace(',', "%2C")
}
