//! The Assistant panel in headless Chromium, on each server: an answer over `POST` read with
//! `fetch` as it arrives, token by token; Stop stops the generation (the server's count says
//! so); and a resumable answer survives a reload of the page, whole.
//!
//! `cargo test -p browser-tests --test assistant`.

use std::collections::BTreeSet;
use std::time::Duration;

use browser_tests::{Browser, Running, Which};
use serde_json::{Value, json};
use tokio::time::sleep;

/// A token every 100 ms, after 300 ms of thought: slow enough to watch.
const PACE: [&str; 4] = ["--think-ms", "300", "--token-ms", "100"];

/// A JavaScript expression: the text of the element `css` in the Assistant panel.
fn text_of(css: &str) -> String {
    format!("document.querySelector('.panel.assistant {css}').textContent")
}

/// Tokens the panel has read so far.
fn tokens_read() -> String {
    format!("Number({})", text_of(".tokens-read"))
}

/// A sample of `/metrics`, fetched by the page.
async fn metric(browser: &Browser, name: &str) -> u64 {
    let expression = format!(
        "fetch('/metrics').then(r => r.text()).then(t => t.split('\\n')\
         .find(l => l.startsWith('{name} '))?.split(' ')[1])"
    );
    let value = browser.eval(&expression).await;
    value
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name}: {value}"))
}

/// The whole answer to the panel's question, asked without a stream.
async fn whole_answer(browser: &Browser) -> Value {
    let expression = "fetch('/v1/chat/completions', { method: 'POST', \
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: 'm', \
        messages: [{ role: 'user', content: 'What are server-sent events?' }] }) })\
        .then(r => r.json()).then(j => j.choices[0].message.content)";
    browser.eval(expression).await
}

/// Tokens appear one by one; Stop aborts the fetch, and the server generated at most one token
/// more than the page read, by its own count.
async fn assistant_streams_token_by_token_and_stop_stops_the_server(which: Which) {
    let name = which.framework().name;
    let server = Running::start(which, &PACE);
    let browser = Browser::start(1100, 900).await;
    browser.goto(&server.url("/")).await;
    browser.click(".panel.assistant button[name=ask]").await;
    // One by one: the count is seen at four values below 10, not jumping to the end.
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        if seen.len() == 4 {
            break;
        }
        seen.insert(
            browser
                .eval(&tokens_read())
                .await
                .as_u64()
                .unwrap_or_default(),
        );
        sleep(Duration::from_millis(40)).await;
    }
    assert!(
        seen.len() == 4 && seen.iter().all(|&n| n < 10),
        "[{name}] {seen:?}"
    );
    browser
        .wait_until(&format!("{} >= 5", tokens_read()), "five tokens read")
        .await;
    browser.click(".panel.assistant .stop").await;
    browser
        .wait_until(
            &format!("{} === 'stopped'", text_of(".answer-state")),
            "the click on Stop to stop the answer",
        )
        .await;
    let generated = browser
        .wait_until(
            "document.querySelector('.panel.assistant .tokens-generated').dataset.count",
            "the server's count after Stop",
        )
        .await;
    let generated: u64 = generated
        .as_str()
        .and_then(|g| g.parse().ok())
        .unwrap_or_default();
    let read = browser
        .eval(&tokens_read())
        .await
        .as_u64()
        .unwrap_or_default();
    assert!(
        (read..=read + 1).contains(&generated),
        "[{name}] the page read {read} tokens, the server generated {generated}"
    );
    assert_eq!(
        browser.eval(&text_of(".answer-state")).await,
        json!("stopped")
    );
    assert_eq!(
        metric(&browser, "sse_answers_cancelled_total").await,
        1,
        "[{name}]"
    );
    assert_eq!(
        metric(&browser, "sse_answers_completed_total").await,
        0,
        "[{name}]"
    );
    let errors = browser.script_errors().await;
    assert!(errors.is_empty(), "[{name}] script errors {errors:?}");
    browser.close().await;
}

/// Ticked "survive a reload", the answer is finished by the server while the page reloads, and
/// the reloaded page shows it whole: what it had read, then the rest from `GET
/// /v1/streams/{id}`.
async fn assistant_a_resumable_answer_survives_a_reload(which: Which) {
    let name = which.framework().name;
    let server = Running::start(which, &PACE);
    let browser = Browser::start(1100, 900).await;
    browser.goto(&server.url("/")).await;
    browser
        .click(".panel.assistant input[name=resumable]")
        .await;
    browser.click(".panel.assistant button[name=ask]").await;
    browser
        .wait_until(&format!("{} >= 5", tokens_read()), "five tokens read")
        .await;
    browser.goto(&server.url("/")).await;
    browser
        .wait_until(
            &format!("{} === 'done'", text_of(".answer-state")),
            "the answer, resumed",
        )
        .await;
    let shown = browser.eval(&text_of(".answer")).await;
    assert_eq!(shown, whole_answer(&browser).await, "[{name}]");
    assert_eq!(
        metric(&browser, "sse_answers_cancelled_total").await,
        0,
        "[{name}]"
    );
    let kept = browser
        .eval("localStorage.getItem('sse-demo-answer')")
        .await;
    assert_eq!(kept, Value::Null, "[{name}] a finished answer is forgotten");
    let errors = browser.script_errors().await;
    assert!(errors.is_empty(), "[{name}] script errors {errors:?}");
    browser.close().await;
}

browser_tests::for_each_server!(
    assistant_streams_token_by_token_and_stop_stops_the_server,
    assistant_a_resumable_answer_survives_a_reload,
);
