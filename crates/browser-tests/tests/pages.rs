//! The demo page and `/compare` in headless Chromium. Each page case runs against each server
//! (`axum::paragraph_appears_once_and_the_204_stops_the_browser`, ...); the `/compare` cases
//! run the three servers at once. Every case also checks that no script threw an error.
//!
//! `cargo test -p browser-tests`; the screenshots of the README and the book come from
//! `cargo test -p browser-tests -- --ignored screenshots`.

use std::time::Duration;

use browser_tests::{Browser, Running, Which};
use fantoccini::wd::WindowHandle;
use serde_json::{Value, json};
use tokio::time::sleep;

/// The CSS selector of the panel showing `path`.
fn panel(path: &str) -> String {
    format!(r#".panel[data-path="{path}"]"#)
}

/// A JavaScript expression: the ids in a panel's log, oldest first.
fn ids_in(path: &str) -> String {
    let panel = panel(path);
    format!(
        r#"[...document.querySelectorAll('{panel} .log li[data-id]')].map(li => li.dataset.id).reverse()"#
    )
}

/// A JavaScript expression: the text of the element `css` matches.
fn text_of(css: &str) -> String {
    format!("document.querySelector('{css}')?.textContent")
}

/// Sets a panel's `interval_ms` and presses its Connect button.
async fn connect(browser: &Browser, path: &str, interval_ms: u32) {
    let panel = panel(path);
    browser
        .eval(&format!(
            r#"document.querySelector('{panel} .interval').value = "{interval_ms}""#
        ))
        .await;
    browser.click(&format!("{panel} .connect")).await;
}

async fn assert_no_script_errors(browser: &Browser, what: &str) {
    let errors = browser.script_errors().await;
    assert!(errors.is_empty(), "{what}: script errors {errors:?}");
}

/// The page says which framework served it, and shows events of every stream.
async fn page_shows_every_stream_and_the_framework(which: Which) {
    let name = which.framework().name;
    let server = Running::start(which, &[]);
    let browser = Browser::start(1100, 900).await;
    browser.goto(&server.url("/")).await;
    let shown = browser
        .wait_until(
            &format!("{} === '{name}'", text_of("#framework")),
            "the framework's name",
        )
        .await;
    assert_eq!(shown, json!(true));
    let clock = ids_in("/events");
    browser
        .wait_until(&format!("{clock}.length >= 2"), "two clock ticks")
        .await;
    let chat_state = text_of(&format!("{} .state", panel("/events/chat")));
    browser
        .wait_until(&format!("{chat_state} === 'OPEN'"), "the chat stream open")
        .await;
    // Over HTTP/1.1 the paragraph plays by itself (it ends after five sentences); the counter
    // waits for a click, to leave connections free.
    let paragraph = ids_in("/events/paragraph");
    browser
        .wait_until(&format!("{paragraph}.length >= 1"), "a sentence on load")
        .await;
    let counter_state = text_of(&format!("{} .state", panel("/events/counter")));
    assert_eq!(
        browser.eval(&counter_state).await,
        json!("CLOSED"),
        "[{name}]"
    );
    assert_eq!(
        browser.eval(&text_of("#protocol")).await,
        json!("http/1.1"),
        "[{name}]"
    );
    connect(&browser, "/events/counter", 100).await;
    let counter = ids_in("/events/counter");
    browser
        .wait_until(&format!("{counter}.length >= 3"), "three counts")
        .await;
    assert_no_script_errors(&browser, name).await;
    browser.close().await;
}

/// The five sentences appear once; then the browser reconnects, gets 204 and stops for good.
async fn paragraph_appears_once_and_the_204_stops_the_browser(which: Which) {
    let name = which.framework().name;
    let server = Running::start(which, &["--retry-ms", "300"]);
    let browser = Browser::start(1100, 900).await;
    browser.goto(&server.url("/")).await;
    connect(&browser, "/events/paragraph", 100).await;
    let panel = panel("/events/paragraph");
    let stopped = format!(
        "{} === 'CLOSED' && {}.includes('204 No Content')",
        text_of(&format!("{panel} .state")),
        text_of(&format!("{panel} .log"))
    );
    browser
        .wait_until(&stopped, "the 204 to stop the browser")
        .await;
    // Stopped for good: nothing more arrives, however long we wait.
    sleep(Duration::from_secs(1)).await;
    let ids = browser.eval(&ids_in("/events/paragraph")).await;
    assert_eq!(ids, json!(["1", "2", "3", "4", "5"]), "[{name}]");
    let log = browser.eval(&text_of(&format!("{panel} .log"))).await;
    let log = log.as_str().unwrap_or_default();
    for sentence in sse_core::streams::SENTENCES {
        assert_eq!(log.matches(sentence).count(), 1, "[{name}] {sentence}");
    }
    let reconnects = browser
        .eval(&text_of(&format!("{panel} .reconnects")))
        .await;
    assert_eq!(
        reconnects,
        json!("1"),
        "[{name}] one reconnect, answered 204"
    );
    assert_no_script_errors(&browser, name).await;
    browser.close().await;
}

/// Disconnect, wait, reconnect: the counter goes on where it stopped, no gap, no repeat.
async fn counter_resumes_after_disconnect_without_gap_or_repeat(which: Which) {
    let name = which.framework().name;
    let server = Running::start(which, &[]);
    let browser = Browser::start(1100, 900).await;
    browser.goto(&server.url("/")).await;
    connect(&browser, "/events/counter", 100).await;
    let ids = ids_in("/events/counter");
    browser
        .wait_until(&format!("{ids}.length >= 3"), "three counts")
        .await;
    browser
        .click(&format!("{} .disconnect", panel("/events/counter")))
        .await;
    sleep(Duration::from_millis(500)).await;
    connect(&browser, "/events/counter", 100).await;
    browser
        .wait_until(&format!("{ids}.length >= 8"), "eight counts")
        .await;
    let seen: Vec<u64> = serde_json::from_value::<Vec<String>>(browser.eval(&ids).await)
        .expect("ids are strings")
        .iter()
        .map(|id| id.parse().expect("numeric ids"))
        .collect();
    let expected: Vec<u64> = (0..seen.len() as u64).collect();
    assert_eq!(seen, expected, "[{name}] counts across the reconnect");
    let log = browser
        .eval(&text_of(&format!("{} .log", panel("/events/counter"))))
        .await;
    assert!(
        log.as_str().is_some_and(|log| log.contains("lastEventId=")),
        "[{name}] {log}"
    );
    assert_no_script_errors(&browser, name).await;
    browser.close().await;
}

/// Waits until the current tab's chat stream is open; returns the tab.
async fn chat_open(browser: &Browser, tab: &str) -> WindowHandle {
    let state = text_of(&format!("{} .state", panel("/events/chat")));
    let what = format!("{tab}'s chat open");
    browser
        .wait_until(&format!("{state} === 'OPEN'"), &what)
        .await;
    browser.current_tab().await
}

/// Two tabs: a message sent in one appears in the other, its HTML shown as text.
async fn chat_message_from_one_tab_appears_in_the_other_as_text(which: Which) {
    let name = which.framework().name;
    let server = Running::start(which, &[]);
    let browser = Browser::start(1100, 900).await;
    let chat = panel("/events/chat");
    browser.goto(&server.url("/")).await;
    let tab_a = chat_open(&browser, "tab A").await;
    browser.open_tab(&server.url("/")).await;
    let tab_b = chat_open(&browser, "tab B").await;

    let hostile = "<img src=x onerror=\"window.pwned = 1\"><b>bold?</b>\n  second line";
    browser.switch_to(&tab_a).await;
    let fill = format!(
        "(() => {{ const f = document.querySelector('.chat-form'); \
         f.elements.user.value = 'mallory'; f.elements.text.value = {}; return true; }})()",
        Value::String(hostile.to_owned())
    );
    browser.eval(&fill).await;
    browser.click(".chat-form button[type=submit]").await;

    browser.switch_to(&tab_b).await;
    let message = format!("{chat} .log li.chat .text");
    browser
        .wait_until(&text_of(&message), "the message in tab B")
        .await;
    assert_eq!(
        browser.eval(&text_of(&message)).await,
        json!(hostile),
        "[{name}]"
    );
    let markup = format!("document.querySelector('{chat} .log img, {chat} .log b') === null");
    assert_eq!(
        browser.eval(&markup).await,
        json!(true),
        "[{name}] HTML was inserted as HTML"
    );
    assert_eq!(
        browser.eval("window.pwned === undefined").await,
        json!(true),
        "[{name}]"
    );
    assert_no_script_errors(&browser, name).await;
    browser.close().await;
}

/// Joins `room` in the current tab's chat panel, and waits until the panel follows it.
async fn join_room(browser: &Browser, room: &str) {
    let join = format!(
        "(() => {{ const f = document.querySelector('.join-form'); \
         f.elements.room.value = '{room}'; f.requestSubmit(); return true; }})()"
    );
    browser.eval(&join).await;
    let chat = panel("/events/chat");
    let following = format!(
        "[...document.querySelectorAll('{chat} .log li.info')].some(li => \
         li.textContent.includes('connecting to') && li.textContent.includes('{room}')) \
         && {} === 'OPEN'",
        text_of(&format!("{chat} .state"))
    );
    browser
        .wait_until(&following, &format!("the chat following {room}"))
        .await;
}

/// Selects `room` and sends `text` to it from the current tab; waits for the 201.
async fn send_to_room(browser: &Browser, room: &str, text: &str) {
    browser
        .click(&format!(r#".rooms li[data-room="{room}"] .room"#))
        .await;
    let send = format!(
        "(() => {{ const f = document.querySelector('.chat-form'); f.elements.user.value = 'ann'; \
         f.elements.text.value = '{text}'; f.requestSubmit(); return true; }})()"
    );
    browser.eval(&send).await;
    let sent = "document.querySelector('.chat-form').elements.text.value === ''";
    browser.wait_until(sent, &format!("{text} sent")).await;
}

/// A JavaScript expression: `room:text` of every chat message in the log, oldest first.
const ROOM_MESSAGES: &str = "[...document.querySelectorAll('.panel.chat .log li.chat')]\
    .map(li => li.querySelector('.room-tag').textContent + ':' + li.querySelector('.text').textContent)\
    .reverse()";

/// Two tabs join different rooms and a shared one: each sees only its rooms. One disconnects,
/// the other posts to the shared room and the lobby, and on Connect the first gets exactly
/// what it missed, once, through the cursor of its rooms.
async fn chat_rooms_each_tab_sees_its_rooms_and_catches_up_once(which: Which) {
    let name = which.framework().name;
    let server = Running::start(which, &[]);
    let browser = Browser::start(1100, 900).await;
    let chat = panel("/events/chat");
    browser.goto(&server.url("/")).await;
    let tab_a = chat_open(&browser, "tab A").await;
    join_room(&browser, "alpha").await;
    join_room(&browser, "shared").await;
    browser.open_tab(&server.url("/")).await;
    let tab_b = chat_open(&browser, "tab B").await;
    join_room(&browser, "beta").await;
    join_room(&browser, "shared").await;

    send_to_room(&browser, "beta", "b1").await;
    send_to_room(&browser, "shared", "b2").await;
    browser.switch_to(&tab_a).await;
    let has = |text: &str| format!("{ROOM_MESSAGES}.includes('{text}')");
    browser.wait_until(&has("shared:b2"), "b2 in tab A").await;
    send_to_room(&browser, "alpha", "a1").await;
    send_to_room(&browser, "shared", "a2").await;
    browser.wait_until(&has("shared:a2"), "a2 in tab A").await;
    let a_saw = browser.eval(ROOM_MESSAGES).await;
    assert_eq!(
        a_saw,
        json!(["shared:b2", "alpha:a1", "shared:a2"]),
        "[{name}] tab A"
    );
    browser.switch_to(&tab_b).await;
    browser.wait_until(&has("shared:a2"), "a2 in tab B").await;
    let b_saw = browser.eval(ROOM_MESSAGES).await;
    assert_eq!(
        b_saw,
        json!(["beta:b1", "shared:b2", "shared:a2"]),
        "[{name}] tab B"
    );

    browser.switch_to(&tab_a).await;
    browser.click(&format!("{chat} .disconnect")).await;
    browser.switch_to(&tab_b).await;
    send_to_room(&browser, "shared", "b3").await;
    send_to_room(&browser, "lobby", "b4").await;
    send_to_room(&browser, "shared", "b5").await;
    browser.switch_to(&tab_a).await;
    browser.click(&format!("{chat} .connect")).await;
    let caught_up = format!("{} && {}", has("shared:b5"), has("lobby:b4"));
    browser.wait_until(&caught_up, "tab A caught up").await;
    sleep(Duration::from_millis(500)).await;
    let saw = browser.eval(ROOM_MESSAGES).await;
    let mut saw: Vec<String> = serde_json::from_value(saw).expect("a list of messages");
    // The replays of two rooms may interleave; within a room the order is kept.
    let shared: Vec<&String> = saw.iter().filter(|m| m.starts_with("shared:")).collect();
    assert_eq!(
        shared,
        ["shared:b2", "shared:a2", "shared:b3", "shared:b5"],
        "[{name}]"
    );
    saw.sort();
    let all = [
        "alpha:a1",
        "lobby:b4",
        "shared:a2",
        "shared:b2",
        "shared:b3",
        "shared:b5",
    ];
    assert_eq!(saw, all, "[{name}] what tab A missed, once");
    for tab in [&tab_a, &tab_b] {
        browser.switch_to(tab).await;
        assert_no_script_errors(&browser, name).await;
    }
    browser.close().await;
}

/// Over HTTP/2 (`--tls`, the browser accepting the self-signed certificate), three tabs of the
/// page: every panel of every tab connects on load, twelve streams at once on one connection,
/// and the page says it got h2.
async fn over_http2_every_panel_of_three_tabs_runs_at_once(which: Which) {
    let name = which.framework().name;
    let server = Running::start(which, &["--tls"]);
    let browser = Browser::start(1100, 900).await;
    // Every stream paced at 2 s, so that the paragraph (five sentences) outlasts opening the tabs.
    let page = server.url("/?interval_ms=2000");
    browser.goto(&page).await;
    let mut tabs = vec![browser.current_tab().await];
    for _ in 0..2 {
        tabs.push(browser.open_tab(&page).await);
    }
    let every_panel = [
        "/events",
        "/events/paragraph",
        "/events/counter",
        "/events/chat",
    ]
    .map(|path| format!("{} === 'OPEN'", text_of(&format!("{} .state", panel(path)))))
    .join(" && ");
    for (n, tab) in tabs.iter().enumerate() {
        browser.switch_to(tab).await;
        browser
            .wait_until(
                &every_panel,
                &format!("[{name}] every panel of tab {n} open"),
            )
            .await;
        let protocol = "performance.getEntriesByType('navigation')[0].nextHopProtocol";
        assert_eq!(
            browser.eval(protocol).await,
            json!("h2"),
            "[{name}] tab {n}"
        );
        assert!(
            browser
                .eval(&text_of("#protocol"))
                .await
                .as_str()
                .is_some_and(|p| p.starts_with("HTTP/2")),
            "[{name}] the page shows the protocol"
        );
    }
    let health = browser.eval("fetch('/health').then(r => r.json())").await;
    let open = health["open_streams"].as_u64().unwrap_or_default();
    assert!(open >= 12, "[{name}] {open} streams open at once: {health}");
    for tab in &tabs {
        browser.switch_to(tab).await;
        assert_no_script_errors(&browser, name).await;
    }
    browser.close().await;
}

browser_tests::for_each_server!(
    page_shows_every_stream_and_the_framework,
    paragraph_appears_once_and_the_204_stops_the_browser,
    counter_resumes_after_disconnect_without_gap_or_repeat,
    chat_message_from_one_tab_appears_in_the_other_as_text,
    chat_rooms_each_tab_sees_its_rooms_and_catches_up_once,
    over_http2_every_panel_of_three_tabs_runs_at_once,
);

/// `/compare?ports=...` pointed at the three servers.
fn compare_url(page: &Running, ports: &[u16]) -> String {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    page.url(&format!("/compare?ports={}", ports.join(",")))
}

fn column(port: u16) -> String {
    format!(r#".column[data-port="{port}"]"#)
}

/// Three live columns, one per server; a chat message appears only on its own server.
#[tokio::test]
async fn compare_shows_three_live_columns_and_chat_per_server() {
    let servers: Vec<Running> = Which::ALL.iter().map(|&w| Running::start(w, &[])).collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let browser = Browser::start(1200, 900).await;
    browser.goto(&compare_url(&servers[0], &ports)).await;
    browser
        .eval("document.getElementById('interval').value = '200'")
        .await;
    browser.click("#reconnect").await;
    for server in &servers {
        let column = column(server.port);
        let name = server.which.framework().name;
        let live = format!(
            "{} === 'OPEN' && Number({}) >= 3 && {}.startsWith('{name} ') && {}.endsWith(' ms')",
            text_of(&format!("{column} .state")),
            text_of(&format!("{column} .count")),
            text_of(&format!("{column} .served-by")),
            text_of(&format!("{column} .jitter-max")),
        );
        browser
            .wait_until(&live, &format!("{name}'s column live"))
            .await;
    }
    // Posted from the axum page to actix's port: a cross-origin request, preflight and all.
    let actix = column(servers[1].port);
    // The tick log grows until it holds its 8 entries, pushing the chat form down as it does:
    // a click while it moves can land beside the button. Click once it has stopped.
    let settled = format!("document.querySelectorAll('{actix} .ticks li').length >= 8");
    browser
        .wait_until(&settled, "actix's tick log full, the layout still")
        .await;
    browser
        .eval(&format!(
            "document.querySelector('{actix} .chat-form input').value = 'only on actix'"
        ))
        .await;
    browser.click(&format!("{actix} .chat-form button")).await;
    let arrived = format!(
        "{}.includes('only on actix')",
        text_of(&format!("{actix} .chat-log"))
    );
    browser
        .wait_until(&arrived, "the message in actix's column")
        .await;
    sleep(Duration::from_millis(500)).await;
    for other in [&servers[0], &servers[2]] {
        let log = browser
            .eval(&text_of(&format!("{} .chat-log", column(other.port))))
            .await;
        assert!(
            !log.as_str().unwrap_or_default().contains("only on actix"),
            "{log}"
        );
    }
    assert_no_script_errors(&browser, "/compare").await;
    browser.close().await;
}

/// A server that is not running gets a hint to start it, and the others carry on.
#[tokio::test]
async fn compare_hints_at_run_all_when_a_server_is_down() {
    let axum = Running::start(Which::Axum, &[]);
    let warp = Running::start(Which::Warp, &[]);
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let browser = Browser::start(1200, 900).await;
    browser
        .goto(&compare_url(&axum, &[axum.port, closed, warp.port]))
        .await;
    let down = column(closed);
    let hint = format!("document.querySelector('{down} .hint').hidden === false");
    browser
        .wait_until(&hint, "the hint in the missing server's column")
        .await;
    let text = browser.eval(&text_of(&format!("{down} .hint"))).await;
    assert!(
        text.as_str()
            .unwrap_or_default()
            .contains("scripts/run-all.sh"),
        "{text}"
    );
    for up in [axum.port, warp.port] {
        let open = format!("{} === 'OPEN'", text_of(&format!("{} .state", column(up))));
        browser
            .wait_until(&open, "the running servers' columns")
            .await;
        let hidden = format!("document.querySelector('{} .hint').hidden", column(up));
        assert_eq!(browser.eval(&hidden).await, json!(true), "port {up}");
    }
    assert_no_script_errors(&browser, "/compare with a server down").await;
    browser.close().await;
}

/// Writes `docs/src/img/demo.png` and `docs/src/img/compare.png` for the README and the book.
#[tokio::test]
#[ignore = "writes the book's screenshots: cargo test -p browser-tests -- --ignored screenshots"]
async fn screenshots() {
    // On the default ports, as a reader will see them.
    let servers: Vec<Running> = Which::ALL
        .iter()
        .map(|&w| Running::start_on(w, w.framework().default_port, &[]))
        .collect();
    let ports: Vec<u16> = servers.iter().map(|s| s.port).collect();
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/src/img");
    std::fs::create_dir_all(&docs).expect("docs/src/img/");

    let browser = Browser::start(1200, 1250).await;
    browser.goto(&servers[0].url("/")).await;
    connect(&browser, "/events/paragraph", 500).await;
    connect(&browser, "/events/counter", 1000).await;
    let fill = "(() => { const f = document.querySelector('.chat-form'); \
        f.elements.user.value = 'ann'; f.elements.text.value = 'Hello from the demo page!\\nTwo lines, as sent.'; \
        return true; })()";
    browser.eval(fill).await;
    browser.click(".chat-form button[type=submit]").await;
    sleep(Duration::from_secs(4)).await;
    std::fs::write(docs.join("demo.png"), browser.screenshot().await)
        .expect("docs/src/img/demo.png");
    browser.close().await;

    let browser = Browser::start(1200, 820).await;
    browser.goto(&compare_url(&servers[0], &ports)).await;
    sleep(Duration::from_secs(5)).await;
    std::fs::write(docs.join("compare.png"), browser.screenshot().await)
        .expect("docs/src/img/compare.png");
    browser.close().await;
}
