//! Identity in headless Chromium: two browsers (two profiles, so two cookie jars) sign in as
//! two users on a server started with `--auth-secret` and `--demo-login`; a page on another
//! origin reads with `withCredentials`, and one from an origin not allowed gets nothing.
//!
//! `cargo test -p browser-tests --test sign_in`.

use std::time::Duration;

use browser_tests::{Browser, Running, Which};
use serde_json::json;
use tokio::time::sleep;

const SECRET: &str = contract_tests::tokens::SECRET;

/// A JavaScript expression: `room:user:text` of every chat message in the log, oldest first.
const MESSAGES: &str = "[...document.querySelectorAll('.panel.chat .log li.chat')]\
    .map(li => li.querySelector('.room-tag').textContent + ':' + li.querySelector('strong').textContent \
    + ':' + li.querySelector('.text').textContent).reverse()";

/// Whether the chat's log holds `message` (`room:user:text`).
fn has(message: &str) -> String {
    format!("{MESSAGES}.includes('{message}')")
}

/// The chat panel's stream state is `state`.
fn chat_state_is(state: &str) -> String {
    format!("document.querySelector('.panel.chat .state').textContent === '{state}'")
}

/// Signs in with the page's form as `user` opening `rooms` for `ttl_secs`, and waits until the
/// page says so and its chat is open again.
async fn sign_in(browser: &Browser, user: &str, rooms: &str, ttl_secs: u32) {
    browser
        .wait_until(
            "!document.querySelector('.login-form').hidden",
            "the sign-in form",
        )
        .await;
    let fill = format!(
        "(() => {{ const f = document.querySelector('.login-form'); \
         f.elements.ttl.add(new Option('{ttl_secs} s', '{ttl_secs}', true, true)); \
         f.elements.user.value = '{user}'; f.elements.rooms.value = '{rooms}'; \
         f.requestSubmit(); return true; }})()"
    );
    browser.eval(&fill).await;
    let signed_in = format!(
        "document.querySelector('.identity .who').textContent.includes('signed in as {user}') && {}",
        chat_state_is("OPEN")
    );
    browser
        .wait_until(&signed_in, &format!("{user} signed in"))
        .await;
}

/// Sends `text` to `room` from the page, with `mallory` in the (hidden) name field; waits for
/// the 201.
async fn send(browser: &Browser, room: &str, text: &str) {
    browser
        .click(&format!(r#".rooms li[data-room="{room}"] .room"#))
        .await;
    let send = format!(
        "(() => {{ const f = document.querySelector('.chat-form'); f.elements.user.value = 'mallory'; \
         f.elements.text.value = '{text}'; f.requestSubmit(); return true; }})()"
    );
    browser.eval(&send).await;
    let sent = "document.querySelector('.chat-form').elements.text.value === ''";
    browser.wait_until(sent, &format!("{text} sent")).await;
}

/// Two browsers, two users: alice's private room is invisible to bob even when he asks for it;
/// every post shows its author's signed name; alice's token expires, the page says so and goes
/// on with the public rooms, and signing in again brings back exactly what was posted to the
/// private room meanwhile.
async fn two_users_a_private_room_and_an_expiry(which: Which) {
    let name = which.framework().name;
    let args = [
        "--auth-secret",
        SECRET,
        "--demo-login",
        "--auth-leeway-secs",
        "0",
    ];
    let server = Running::start(which, &args);
    let (alice, bob) = (
        Browser::start(1100, 900).await,
        Browser::start(1100, 900).await,
    );
    alice.goto(&server.url("/")).await;
    sign_in(&alice, "alice", "_ops", 12).await;
    alice
        .wait_until(
            r#"document.querySelector('.rooms li[data-room="_ops"]')"#,
            "_ops joined",
        )
        .await;
    send(&alice, "_ops", "ops 1").await;
    alice
        .wait_until(&has("_ops:alice:ops 1"), "ops 1 signed by alice")
        .await;

    bob.goto(&server.url("/")).await;
    sign_in(&bob, "bob", "", 600).await;
    send(&bob, "lobby", "hi from bob").await;
    alice
        .wait_until(&has("lobby:bob:hi from bob"), "bob's post, signed bob")
        .await;
    let join = "(() => { const f = document.querySelector('.join-form'); \
                f.elements.room.value = '_ops'; f.requestSubmit(); return true; })()";
    bob.eval(join).await;
    bob.wait_until(&chat_state_is("CLOSED"), "bob's stream refused")
        .await;
    sleep(Duration::from_millis(500)).await;
    assert_eq!(
        bob.eval(&format!("{MESSAGES}.some(m => m.startsWith('_ops'))"))
            .await,
        json!(false),
        "[{name}] bob saw _ops"
    );

    // alice's 12 s token ends her stream; the page goes on with the lobby.
    let expired = "[...document.querySelectorAll('.panel.chat .log li.info')].some(li => li.textContent.startsWith('expired') || li.textContent.includes(' expired: '))";
    sleep(Duration::from_secs(10)).await;
    alice.wait_until(expired, "alice's stream expired").await;
    alice
        .wait_until(&chat_state_is("OPEN"), "alice on the public rooms")
        .await;
    let ops_bot = contract_tests::tokens::token("ops-bot", &["_ops"]);
    let post = format!(
        "fetch('/chat/_ops', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json', \
         Authorization: 'Bearer {ops_bot}' }}, body: JSON.stringify({{ text: 'while you were out' }}) }}).then(r => r.status)"
    );
    assert_eq!(
        bob.eval(&post).await,
        json!(201),
        "[{name}] a post with a Bearer token"
    );
    sign_in(&alice, "alice", "_ops", 600).await;
    alice
        .wait_until(&has("_ops:ops-bot:while you were out"), "the missed post")
        .await;
    sleep(Duration::from_millis(500)).await;
    let ops: Vec<String> = serde_json::from_value(
        alice
            .eval(&format!("{MESSAGES}.filter(m => m.startsWith('_ops'))"))
            .await,
    )
    .expect("a list");
    assert_eq!(
        ops,
        ["_ops:alice:ops 1", "_ops:ops-bot:while you were out"],
        "[{name}] nothing lost, nothing twice"
    );
    for browser in [alice, bob] {
        let errors = browser.script_errors().await;
        assert!(
            errors
                .iter()
                .all(|e| e.contains("401") || e.contains("403")),
            "[{name}] {errors:?}"
        );
        browser.close().await;
    }
}

mod axum {
    #[tokio::test]
    async fn two_users_a_private_room_and_an_expiry() {
        super::two_users_a_private_room_and_an_expiry(super::Which::Axum).await;
    }
}
mod actix {
    #[tokio::test]
    async fn two_users_a_private_room_and_an_expiry() {
        super::two_users_a_private_room_and_an_expiry(super::Which::Actix).await;
    }
}
mod warp {
    #[tokio::test]
    async fn two_users_a_private_room_and_an_expiry() {
        super::two_users_a_private_room_and_an_expiry(super::Which::Warp).await;
    }
}

/// Opens an `EventSource` with `withCredentials` on `url` from the current page; its chat
/// messages' texts collect in `window.got`, its state in `window.es`.
async fn listen_with_credentials(browser: &Browser, url: &str) {
    let open = format!(
        "(() => {{ window.got = []; window.es = new EventSource('{url}', {{ withCredentials: true }}); \
         es.addEventListener('chat', (e) => got.push(JSON.parse(e.data).text)); return true; }})()"
    );
    browser.eval(&open).await;
}

/// A page on `http://localhost:P1`, named with `--allow-origin`, reads a private room of the
/// server on `http://127.0.0.1:P2` with its cookie (`--cookie-same-site none`: the two are
/// different sites); a page on `http://localhost:P3`, not named, gets nothing, its browser
/// refusing the answer. The cookie is invisible to the page's scripts.
#[tokio::test]
async fn a_page_on_an_allowed_origin_reads_with_its_cookie_and_another_gets_nothing() {
    let (listed, unlisted) = (
        Running::start(Which::Axum, &[]),
        Running::start(Which::Axum, &[]),
    );
    let origin = format!("http://localhost:{}", listed.port);
    let args = [
        "--auth-secret",
        SECRET,
        "--demo-login",
        "--allow-origin",
        &origin,
        "--cookie-same-site",
        "none",
    ];
    let api = Running::start(Which::Axum, &args);
    let browser = Browser::start_allowing_third_party_cookies(1100, 900).await;
    browser.goto(&api.url("/")).await;
    let sign_in = "fetch('/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, \
                   body: JSON.stringify({ user: 'carol', rooms: ['_ops'] }) }).then(r => r.status)";
    assert_eq!(browser.eval(sign_in).await, json!(200));
    let post = "fetch('/chat/_ops', { method: 'POST', headers: { 'Content-Type': 'application/json' }, \
                body: JSON.stringify({ text: 'for carol' }) }).then(r => r.status)";
    assert_eq!(browser.eval(post).await, json!(201));
    assert_eq!(
        browser.eval("document.cookie.includes('sse_token')").await,
        json!(false),
        "HttpOnly"
    );

    let stream = api.url("/events/chat?rooms=_ops");
    // The pages are other servers' `/health`: a document without the demo page's CSP, which
    // lets a page connect to its own origin only.
    browser
        .goto(&format!("http://localhost:{}/health", listed.port))
        .await;
    listen_with_credentials(&browser, &stream).await;
    browser
        .wait_until(
            "got.includes('for carol')",
            "the private room, read from the allowed origin",
        )
        .await;

    browser
        .goto(&format!("http://localhost:{}/health", unlisted.port))
        .await;
    listen_with_credentials(&browser, &stream).await;
    browser
        .wait_until(
            "es.readyState === EventSource.CLOSED",
            "the browser refusing the answer",
        )
        .await;
    assert_eq!(
        browser.eval("got").await,
        json!([]),
        "an origin not allowed read the room"
    );
    browser.close().await;
}

/// Signed in on one port, `/compare` posts as that user to all three servers: the cookie of
/// `127.0.0.1` goes to every port (cookies do not care about ports), once the page asks for
/// credentials.
#[tokio::test]
async fn compare_signed_in_on_one_port_is_signed_in_on_all_three() {
    let args = ["--auth-secret", SECRET, "--demo-login"];
    let servers: Vec<Running> = Which::ALL
        .iter()
        .map(|&which| Running::start(which, &args))
        .collect();
    let ports: Vec<String> = servers.iter().map(|s| s.port.to_string()).collect();
    let browser = Browser::start(1200, 900).await;
    browser.goto(&servers[0].url("/")).await;
    let sign_in = "fetch('/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, \
                   body: JSON.stringify({ user: 'carol' }) }).then(r => r.status)";
    assert_eq!(browser.eval(sign_in).await, json!(200));
    let compare = format!("/compare?ports={}", ports.join(","));
    browser.goto(&servers[0].url(&compare)).await;
    for server in &servers {
        let column = format!(r#".column[data-port="{}"]"#, server.port);
        let open = format!("document.querySelector('{column} .state').textContent === 'OPEN'");
        browser.wait_until(&open, "the column open").await;
        let text = format!("from carol on {}", server.port);
        let send = format!(
            "(() => {{ const f = document.querySelector('{column} .chat-form'); \
             f.elements.text.value = '{text}'; f.requestSubmit(); return true; }})()"
        );
        browser.eval(&send).await;
        let arrived = format!(
            "document.querySelector('{column} .chat-log').textContent.includes('carol: {text}')"
        );
        let what = format!("{}'s post signed carol", server.which.framework().name);
        browser.wait_until(&arrived, &what).await;
    }
    let errors = browser.script_errors().await;
    assert!(errors.is_empty(), "/compare signed in: {errors:?}");
    browser.close().await;
}

/// The picture of the book's chapter "Who may read what": the chat signed in as alice, with
/// her private room. `cargo test -p browser-tests --test sign_in -- --ignored`.
#[tokio::test]
#[ignore = "writes docs/src/img/sign-in.png"]
async fn screenshot_of_the_chat_signed_in() {
    let server = Running::start(Which::Axum, &["--auth-secret", SECRET, "--demo-login"]);
    let browser = Browser::start(1100, 760).await;
    browser.goto(&server.url("/")).await;
    sign_in(&browser, "alice", "_ops", 600).await;
    send(&browser, "lobby", "Good morning, everyone").await;
    send(&browser, "_ops", "Deploy at 5: who is on call?").await;
    browser
        .wait_until(&has("_ops:alice:Deploy at 5: who is on call?"), "the post")
        .await;
    browser
        .eval("document.querySelector('.panel.chat').scrollIntoView()")
        .await;
    sleep(Duration::from_millis(500)).await;
    let img =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/img/sign-in.png");
    std::fs::write(&img, browser.screenshot().await).expect("docs/src/img/sign-in.png");
    browser.close().await;
}
