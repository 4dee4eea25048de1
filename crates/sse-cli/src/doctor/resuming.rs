//! The checks of reconnecting: `retry`, `ids`, `resume` (a reconnect in the middle) and `end`
//! (a reconnect after the end).

use std::time::Duration;

use hyper::StatusCode;

use super::{Later, Seen, Status, Verdict, secs, what};
use crate::http::{self, Ask};
use crate::parse::{Item, Parser};
use crate::watch::is_event_stream;

/// How long a resumed stream may take to send its first event with an id.
const RESUME_WAIT: Duration = Duration::from_secs(5);

pub(super) fn retry(seen: &Seen) -> Verdict {
    let w = &seen.watched;
    if let Some(ms) = w.retry {
        return Verdict::pass(format!("retry: {ms}"));
    }
    if w.chunks.is_empty() {
        return Verdict::skip("nothing was sent during the watch");
    }
    Verdict::new(
        Status::Warn,
        "no retry: field",
        "Without it every browser waits its own default before reconnecting (Chromium 3 s, \
         Firefox 5 s): the server cannot slow a reconnect storm down after a restart, or speed \
         up a reconnect where seconds matter.",
        "Send `retry: <milliseconds>` at the start of the stream.",
    )
}

pub(super) fn ids(seen: &Seen) -> Verdict {
    let w = &seen.watched;
    if w.events.is_empty() {
        return Verdict::skip("no event during the watch");
    }
    let with_id = w.events.iter().filter(|e| e.event.has_id).count();
    if with_id > 0 {
        return Verdict::pass(format!(
            "{with_id} of {} events had an id (the last: {:?})",
            w.events.len(),
            w.last_event_id
        ));
    }
    Verdict::new(
        Status::Warn,
        format!("none of {} events had an id: field", w.events.len()),
        "A browser that reconnects (a dropped Wi-Fi, a proxy timeout, a server restart) sends \
         Last-Event-ID only if an event had an id; without one the server cannot resume and \
         the page gets the stream again from the start, or loses what was sent meanwhile.",
        "Give every event an `id:` the server can resume after, and read Last-Event-ID.",
    )
}

pub(super) fn resume(seen: &Seen) -> Later<'_> {
    Box::pin(async move {
        let (ask, w) = (&seen.ask, &seen.watched);

        let ids: Vec<&str> = (w.events.iter())
            .filter(|e| e.event.has_id && !e.event.last_event_id.is_empty())
            .map(|e| e.event.last_event_id.as_str())
            .collect();
        if ids.len() < 2 {
            return Verdict::skip(format!(
                "{} event(s) with an id: two are needed to test a resume",
                ids.len()
            ));
        }
        let (from, expected) = (ids[0], ids[1]);
        let got = match resumed_first_id(ask, from).await {
            Ok(got) => got,
            Err(saw) => return resume_failed(saw),
        };
        let Some(got) = got else {
            return Verdict::new(
                Status::Warn,
                format!(
                    "reconnected with Last-Event-ID: {from}; no event with an id within {} s",
                    RESUME_WAIT.as_secs()
                ),
                "A resumed stream should go on at once with what followed that id.",
                "Read Last-Event-ID (header, or a query parameter for a first connect) and send \
             what followed it.",
            );
        };
        let saw = format!("reconnected with Last-Event-ID: {from}: the next event had id {got:?}");
        if got == expected {
            return Verdict::pass(saw + ", the one that followed it the first time");
        }
        let position = ids.iter().position(|&id| id == got);
        let numbers = (
            from.parse::<u64>(),
            expected.parse::<u64>(),
            got.parse::<u64>(),
        );
        let replayed =
            position.is_some_and(|i| i == 0) || matches!(numbers, (Ok(f), _, Ok(g)) if g <= f);
        let skipped =
            position.is_some_and(|i| i > 1) || matches!(numbers, (_, Ok(e), Ok(g)) if g > e);
        if replayed {
            return Verdict::new(
                Status::Fail,
                format!("{saw}, not {expected:?}: it sent again what the browser already had"),
                "After a reconnect the page shows events twice (or the whole stream again): the \
             server ignored Last-Event-ID or resumed at the wrong place.",
                "On Last-Event-ID: n, send only what came after n.",
            );
        }
        if skipped {
            return Verdict::new(
                Status::Fail,
                format!("{saw}, not {expected:?}: what came between was lost"),
                "After a reconnect the page silently misses the events sent while it was away, or \
             the first one after the id it had.",
                "On Last-Event-ID: n, send everything after n, starting with the very next event \
             (keep enough history to cover a reconnect).",
            );
        }
        Verdict::new(
            Status::Warn,
            format!("{saw}, not seen before: the doctor cannot tell whether the stream resumed"),
            "Resuming is what makes a dropped connection invisible to the user.",
            "Use ids that say where the stream is (a sequence number), and resume after them.",
        )
    })
}

fn resume_failed(saw: String) -> Verdict {
    Verdict::new(
        Status::Fail,
        saw,
        "A browser that reconnects after a dropped connection gets an error instead of the \
         rest of the stream, and gives up for good.",
        "Answer a reconnect with Last-Event-ID with 200 and what followed that id, or 204 \
         when nothing will.",
    )
}

/// Reconnects with `Last-Event-ID: from` and returns the first id the stream sends, if any
/// within [`RESUME_WAIT`]. `Err` is what went wrong, as a sentence.
async fn resumed_first_id(ask: &Ask, from: &str) -> Result<Option<String>, String> {
    let with = format!("reconnected with Last-Event-ID: {from}");
    let mut response = http::open(ask, Some(from))
        .await
        .map_err(|e| format!("{with}; it failed: {e}"))?;
    if response.status == StatusCode::NO_CONTENT {
        return Err(format!(
            "{with}; got 204 No Content, though more had followed"
        ));
    }
    if response.status != StatusCode::OK {
        return Err(format!("{with}; got {}", response.status));
    }
    let mut parser = Parser::resuming(from);
    let first_id = async {
        while let Some(Ok(chunk)) = response.chunk().await {
            for item in parser.feed(&chunk) {
                if let Item::Event(event) = item
                    && event.has_id
                {
                    return Some(event.last_event_id);
                }
            }
        }
        None
    };
    Ok(tokio::time::timeout(RESUME_WAIT, first_id)
        .await
        .ok()
        .flatten())
}

pub(super) fn end(seen: &Seen) -> Later<'_> {
    Box::pin(async move {
        let (ask, w) = (&seen.ask, &seen.watched);

        let Some((at, how)) = &w.ended else {
            return Verdict::pass(format!(
                "stayed open for the whole watch ({})",
                secs(w.watched)
            ));
        };
        const WHY: &str = "When a stream ends, the browser reconnects after `retry`. A 204 tells it \
        to stop; any other error status makes EventSource fire `error` and close for good, and \
        a page waiting for more is stranded with no way to know why.";
        const FIX: &str = "When there is nothing left to send, answer the reconnect with 204 No \
        Content; keep error statuses for real errors.";
        let with = if w.last_event_id.is_empty() {
            String::new()
        } else {
            format!(" with Last-Event-ID: {}", w.last_event_id)
        };
        let ended = format!("{how} after {}; the reconnect{with}", secs(*at));
        let verdict = match http::open(ask, Some(&w.last_event_id)).await {
            Err(e) => Verdict::new(
                Status::Warn,
                format!("{ended} failed: {e}"),
                "A browser keeps trying every `retry` milliseconds, forever.",
                "Answer the reconnect, with 204 if there is nothing left.",
            ),
            Ok(r) if r.status == StatusCode::NO_CONTENT => Verdict::pass(format!(
                "{ended} got 204 No Content: a browser stops there, as meant"
            )),
            Ok(r) if r.status == StatusCode::OK && is_event_stream(r.header("content-type")) => {
                Verdict::pass(format!(
                    "{ended} got a new stream: a browser goes on (answer 204 to stop it)"
                ))
            }
            Ok(r) => Verdict::new(Status::Fail, format!("{ended} got {}", what(&r)), WHY, FIX),
        };
        if w.broke && verdict.status == Status::Pass {
            return Verdict::new(Status::Warn, verdict.saw, CUT_WHY, CUT_FIX);
        }
        verdict
    })
}

/// Why a stream cut short is a warning even when the reconnect goes well.
const CUT_WHY: &str = "The response was cut, not ended (no last chunk over HTTP/1.1, a reset \
over HTTP/2). The browser reconnects and resumes, but something cuts streams: a proxy's or a \
load balancer's timeout, a crash, a deploy. Every cut costs a reconnect after `retry`, and \
events, where they have no ids.";
const CUT_FIX: &str = "Find what cuts it (a proxy's read timeout, an idle timeout shorter than \
the keep-alive, restarts); a server that means to stop ends the response, and answers the \
reconnect with 204.";
