//! `sse doctor URL`: watches an SSE endpoint for a few seconds as a browser would, reconnects
//! to it twice (once in the middle, once after the end), asks once from another origin, and
//! judges what it saw against the pitfalls that break SSE in production. Most of them are not
//! in the server's code but around it: a proxy that buffers, compression that holds events
//! back, a keep-alive longer than a load balancer's idle timeout, an error status that makes
//! the browser give up for good.
//!
//! Each check passes, warns, fails, or is skipped with the reason it could not run. A failure
//! is something a browser user will see go wrong; a warning is a risk or a cost.
//!
//! Every check is one entry of `CHECKS`, its name and its function: the report's order, and
//! the skips when the stream did not open, come from that list, and no name is written twice.
//! The checks live by what they look at: the head and protocol (`doctor/head.rs`), when bytes
//! came (`timing.rs`), reconnecting (`resuming.rs`) and the bytes themselves (`wire.rs`), all
//! after one watch (`watching.rs`).
//!
//! `cargo run -p sse-cli -- doctor http://127.0.0.1:3000/events`; the tests in
//! `tests/doctor.rs` serve every pitfall on its own path and expect exactly that one flagged.

mod head;
mod resuming;
mod timing;
mod watching;
mod wire;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

use crate::bursts::Bursts;
use crate::http::{Ask, Response};
use watching::Watched;

/// What to examine.
#[derive(Debug, Clone)]
pub struct Doctor {
    /// The request: URL, method, headers, body.
    pub ask: Ask,
    /// How long to watch the stream.
    pub watch: Duration,
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing wrong.
    Pass,
    /// A risk or a cost, not yet a failure.
    Warn,
    /// Browsers will see this go wrong.
    Fail,
    /// Could not be checked; `saw` says why.
    Skip,
}

/// One check: its verdict, what it saw, and, when it found a problem, why it matters and the
/// fix.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// A short name: `buffering`.
    pub check: &'static str,
    /// The verdict.
    pub status: Status,
    /// What the doctor saw, with figures.
    pub saw: String,
    /// Why it matters (for a warning or failure).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub why: &'static str,
    /// How to fix it (for a warning or failure).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub fix: &'static str,
}

impl Check {
    /// A warning or a failure.
    pub fn flagged(&self) -> bool {
        matches!(self.status, Status::Warn | Status::Fail)
    }
}

/// Everything the doctor concluded.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The URL examined.
    pub url: String,
    /// How long the stream was watched, in seconds.
    pub watched_secs: f64,
    /// Events seen in that time.
    pub events: usize,
    /// The verdicts, in the order they are printed.
    pub checks: Vec<Check>,
    /// What the checks cannot tell, printed after them.
    pub limits: &'static [&'static str],
}

/// What the checks cannot tell.
pub const LIMITS: &[&str] = &[
    "What arrives in the first 250 ms (a history, a first event) is not judged for bursts.",
    "A server that sends events in one batch on purpose looks like a proxy holding them back: \
     buffering warns then, and fails only where the stream proves the events were made apart \
     (timestamps in their data, the rhythm of the others, or the batch ending the response).",
    "One watch from one place: a proxy that buffers only some responses, or only under load, \
     may pass here.",
];

impl Report {
    /// Whether any check failed: `sse doctor` then exits with status 1.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }

    /// The names of the checks that warned or failed.
    pub fn flagged(&self) -> Vec<&'static str> {
        (self.checks.iter())
            .filter(|c| c.flagged())
            .map(|c| c.check)
            .collect()
    }
}

/// A check's verdict, before the list names it.
struct Verdict {
    status: Status,
    saw: String,
    why: &'static str,
    fix: &'static str,
}

impl Verdict {
    fn pass(saw: impl Into<String>) -> Self {
        Self::new(Status::Pass, saw, "", "")
    }

    fn skip(saw: impl Into<String>) -> Self {
        Self::new(Status::Skip, saw, "", "")
    }

    fn new(status: Status, saw: impl Into<String>, why: &'static str, fix: &'static str) -> Self {
        Self {
            status,
            saw: saw.into(),
            why,
            fix,
        }
    }

    fn named(self, check: &'static str) -> Check {
        Check {
            check,
            status: self.status,
            saw: self.saw,
            why: self.why,
            fix: self.fix,
        }
    }
}

/// What every check may look at: the request, what the watch saw, and its arrival pattern.
struct Seen {
    ask: Ask,
    watched: Watched,
    bursts: Bursts,
}

/// A check that asks the server again (a reconnect, a request from another origin).
type Later<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// How a check runs: on what was seen, or asking the server again.
#[derive(Clone, Copy)]
enum Run {
    Now(fn(&Seen) -> Verdict),
    Later(for<'a> fn(&'a Seen) -> Later<'a>),
}

/// One check of the list: its name, how it runs, and, for a check about what a browser does
/// when it reconnects, why it does not apply to a stream answered to a `POST`.
#[derive(Clone, Copy)]
struct Entry {
    name: &'static str,
    run: Run,
    not_for_post: Option<&'static str>,
}

const fn now(name: &'static str, check: fn(&Seen) -> Verdict) -> Entry {
    Entry {
        name,
        run: Run::Now(check),
        not_for_post: None,
    }
}

const fn later(name: &'static str, check: for<'a> fn(&'a Seen) -> Later<'a>) -> Entry {
    Entry {
        name,
        run: Run::Later(check),
        not_for_post: None,
    }
}

impl Entry {
    /// Skipped for a `POST`, saying `why`.
    const fn reconnects(self, why: &'static str) -> Self {
        Self {
            not_for_post: Some(why),
            ..self
        }
    }
}

/// Every check, in the report's order. The first, `status`, is the one a stream that did not
/// open fails; every other is then skipped.
const CHECKS: [Entry; 14] = [
    now("status", head::status),
    now("cache-control", head::cache_control),
    now("first-bytes", head::first_bytes),
    now("buffering", timing::buffering),
    now("compression", timing::compression),
    now("retry", resuming::retry).reconnects(
        "a POST's stream is read with fetch, and a browser never sends a POST again by \
         itself: nothing reads retry:",
    ),
    now("ids", resuming::ids).reconnects(
        "ids let a browser resume after a reconnect, and a browser never reconnects a POST \
         (an API may offer its own resume, as this project's GET /v1/streams/{id})",
    ),
    later("resume", resuming::resume).reconnects(
        "a browser never sends a POST again by itself, so nothing resumes it with \
         Last-Event-ID; and asking again would generate the answer again",
    ),
    now("idle", timing::idle),
    later("end", resuming::end).reconnects(
        "after its end a POST's stream is not asked for again: there is no reconnect to \
         answer",
    ),
    later("cors", head::cors),
    now("http2", head::http2),
    now("line-endings", wire::line_endings),
    now("bom", wire::bom),
];

/// Runs every check; see the module's doc.
pub async fn examine(doctor: &Doctor) -> Report {
    let url = doctor.ask.url.to_string();
    let watched = match watching::watch(doctor).await {
        Ok(watched) => watched,
        Err(status) => {
            return Report {
                url,
                watched_secs: 0.0,
                events: 0,
                checks: not_open(status),
                limits: LIMITS,
            };
        }
    };
    let bursts = timing::bursts_of(&watched);
    let seen = Seen {
        ask: doctor.ask.clone(),
        watched,
        bursts,
    };
    let post = seen.ask.method == hyper::Method::POST;
    let mut checks = Vec::with_capacity(CHECKS.len());
    for entry in CHECKS {
        let verdict = match (entry.run, entry.not_for_post) {
            (_, Some(why)) if post => Verdict::skip(format!("does not apply: {why}")),
            (Run::Now(check), _) => check(&seen),
            (Run::Later(check), _) => check(&seen).await,
        };
        checks.push(verdict.named(entry.name));
    }
    Report {
        url,
        watched_secs: seen.watched.watched.as_secs_f64(),
        events: seen.watched.events.len(),
        checks,
        limits: LIMITS,
    }
}

/// The report when the stream did not open: the status check, and every other skipped.
fn not_open(status: Verdict) -> Vec<Check> {
    let mut status = Some(status);
    (CHECKS.iter())
        .map(|entry| match status.take() {
            Some(status) => status.named(entry.name),
            None => Verdict::skip("no stream to examine (see status)").named(entry.name),
        })
        .collect()
}

/// A response in a few words, for what a check saw.
fn what(r: &Response) -> String {
    format!("{}, Content-Type: {:?}", r.status, r.header("content-type"))
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
