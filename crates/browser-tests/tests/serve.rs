//! `sse serve` read by Chromium's own `EventSource`, from a page on another origin (one of our
//! servers' pages): every event once and in order across the cuts `--drop-after` makes (so the
//! browser resumed with `Last-Event-ID` each time), then closed for good by the 204 at the end;
//! and with `--no-cors`, nothing at all.
//!
//! `cargo test -p browser-tests --test serve`.

use std::net::SocketAddr;

use browser_tests::{Browser, Running, Which};
use serde_json::{Value, json};
use sse_cli::serve::{Faults, Listening, Script, Serve};

/// Six events 100 ms apart, with ids and `retry: 200`.
fn six() -> Script {
    let mut text = String::new();
    for n in 1..=6 {
        let retry = if n == 1 { ", \"retry_ms\": 200" } else { "" };
        text += &format!("{{\"gap_ms\": 100, \"id\": \"{n}\", \"data\": \"event {n}\"{retry}}}\n");
    }
    Script::parse(&text).expect("a good script")
}

/// Serves `script` with `faults` on this test's runtime; its address.
async fn serve(faults: Faults) -> SocketAddr {
    let serve = Serve {
        script: six(),
        name: "six events".to_owned(),
        listen: ([127, 0, 0, 1], 0).into(),
        speed: 1.0,
        looping: false,
        faults,
    };
    let listening = Listening::bind(serve).await.expect("a free port");
    let addr = listening.addr();
    tokio::spawn(listening.run());
    addr
}

/// Opens an `EventSource` on `url` in the page; it notes every message and error.
async fn listen(browser: &Browser, url: &str) {
    let script = format!(
        "(() => {{ window.got = []; window.errors = 0; window.es = new EventSource('{url}'); \
         es.onmessage = e => got.push(e.lastEventId + ' ' + e.data); \
         es.onerror = () => errors++; return true; }})()"
    );
    browser.eval(&script).await;
}

/// A page of one of our servers (another origin than the replay's) listening to a replay
/// served with `faults`, once its `EventSource` has closed for good; the server is kept
/// running with it.
async fn listened_until_closed(faults: Faults, what: &str) -> (Browser, Running) {
    let page = Running::start(Which::Axum, &[]);
    let replay = serve(faults).await;
    let browser = Browser::start(800, 600).await;
    browser.goto(&page.url("/health")).await;
    listen(&browser, &format!("http://{replay}/events")).await;
    browser
        .wait_until("es.readyState === EventSource.CLOSED", what)
        .await;
    (browser, page)
}

#[tokio::test]
async fn chromium_reads_a_replay_resumes_across_its_cuts_and_stops_at_204() {
    let faults = Faults {
        drop_after: Some(2),
        ..Faults::default()
    };
    let (browser, _page) = listened_until_closed(faults, "the 204 after the script's end").await;
    let got = browser.eval("got").await;
    let every: Vec<Value> = (1..=6).map(|n| json!(format!("{n} event {n}"))).collect();
    assert_eq!(
        got,
        Value::Array(every),
        "each once, in order, across two cuts"
    );
    // An `error` for each of the two cuts, for the end of the third response, and for the 204
    // that answered its reconnect: the browser came back three times, and then stopped.
    assert_eq!(browser.eval("errors").await, json!(4));
    browser.close().await;
}

#[tokio::test]
async fn with_no_cors_a_page_on_another_origin_reads_nothing() {
    let faults = Faults {
        no_cors: true,
        ..Faults::default()
    };
    let (browser, _page) = listened_until_closed(faults, "the CORS failure").await;
    assert_eq!(browser.eval("got").await, json!([]));
    browser.close().await;
}
