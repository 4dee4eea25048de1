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
//! `cargo run -p sse-cli -- doctor http://127.0.0.1:3000/events`; the tests in
//! `tests/doctor.rs` serve every pitfall on its own path and expect exactly that one flagged.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde::Serialize;

use crate::bursts::{Arrived, Bursts, CONNECT_BURST, HeldBack, TOGETHER};
use crate::http::{self, Ask, Response};
use crate::parse::{Event, Item, LineEndings, Parser};
use crate::watch::is_event_stream;

/// Headers later than this keep a browser's `EventSource` in CONNECTING.
const SLOW_HEADERS: Duration = Duration::from_secs(1);
/// How long a resumed stream may take to send its first event with an id.
const RESUME_WAIT: Duration = Duration::from_secs(5);
/// The shortest common idle timeout on the way: nginx's `proxy_read_timeout` and the AWS
/// Application Load Balancer's idle timeout both default to 60 s.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// The origin the CORS check pretends to be a page on.
const OTHER_ORIGIN: &str = "https://example.com";

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
    fn pass(check: &'static str, saw: impl Into<String>) -> Self {
        Self::new(check, Status::Pass, saw, "", "")
    }

    fn skip(check: &'static str, saw: impl Into<String>) -> Self {
        Self::new(check, Status::Skip, saw, "", "")
    }

    fn new(
        check: &'static str,
        status: Status,
        saw: impl Into<String>,
        why: &'static str,
        fix: &'static str,
    ) -> Self {
        Self {
            check,
            status,
            saw: saw.into(),
            why,
            fix,
        }
    }

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

/// One event and when it arrived, counted from the request.
struct Arrival {
    at: Duration,
    event: Event,
}

/// What the main watch saw.
struct Watched {
    head_after: Duration,
    response_status: StatusCode,
    content_type: String,
    cache_control: String,
    compression: Option<&'static str>,
    protocol: &'static str,
    /// When bytes came off the wire (even when a decompressor kept them all).
    chunks: Vec<Duration>,
    events: Vec<Arrival>,
    comments: usize,
    retry: Option<u64>,
    endings: LineEndings,
    bom: bool,
    /// When the stream ended, and how, if it did within the watch.
    ended: Option<(Duration, String)>,
    /// The id a browser would send on reconnecting.
    last_event_id: String,
    watched: Duration,
}

/// Runs every check; see the module's doc.
pub async fn examine(doctor: &Doctor) -> Report {
    let url = doctor.ask.url.to_string();
    let watched = match watch(doctor).await {
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
    let mut checks = vec![
        Check::pass(
            "status",
            format!(
                "{}, Content-Type: {}",
                watched.response_status, watched.content_type
            ),
        ),
        cache_control(&watched),
        first_bytes(&watched),
    ];
    // Both judge the same arrival pattern: reckon it once.
    let bursts = bursts_of(&watched);
    let compression = compression(&watched, &bursts);
    checks.push(buffering(
        &watched,
        &bursts,
        compression.status == Status::Fail,
    ));
    checks.push(compression);
    checks.push(retry(&watched));
    checks.push(ids(&watched));
    checks.push(resume(&doctor.ask, &watched).await);
    checks.push(idle(&watched));
    checks.push(end(&doctor.ask, &watched).await);
    checks.push(cors(&doctor.ask).await);
    checks.push(http2(&doctor.ask, &watched));
    checks.push(line_endings(&watched));
    checks.push(bom(&watched));
    Report {
        url,
        watched_secs: watched.watched.as_secs_f64(),
        events: watched.events.len(),
        checks,
        limits: LIMITS,
    }
}

/// Opens the stream and reads it for the watch, or until it ends. `Err` is the status check
/// that failed, when there is no stream to watch.
async fn watch(doctor: &Doctor) -> Result<Watched, Check> {
    const WHY: &str = "A browser's EventSource accepts only status 200 with Content-Type: \
        text/event-stream. Anything else fires `error` and closes the EventSource for good: it \
        never reconnects.";
    const FIX: &str = "Answer the stream's URL with 200 and Content-Type: text/event-stream \
        (204 only to say a resumed stream has nothing left).";
    let sent = Instant::now();
    let mut response = http::open(&doctor.ask, None).await.map_err(|e| {
        let saw = format!("could not get a response: {e}");
        Check::new("status", Status::Fail, saw, WHY, FIX)
    })?;
    let head_after = sent.elapsed();
    let content_type = response.header("content-type").to_owned();
    if response.status != StatusCode::OK || !is_event_stream(&content_type) {
        let body = response.text(200).await;
        let saw = format!(
            "{}, Content-Type: {content_type:?}{}",
            response.status,
            if body.is_empty() {
                String::new()
            } else {
                format!(", body: {body:?}")
            }
        );
        return Err(Check::new("status", Status::Fail, saw, WHY, FIX));
    }

    let mut watched = Watched {
        head_after,
        response_status: response.status,
        cache_control: response.header("cache-control").to_owned(),
        compression: response.compression(),
        protocol: response.protocol(),
        content_type,
        chunks: Vec::new(),
        events: Vec::new(),
        comments: 0,
        retry: None,
        endings: LineEndings::default(),
        bom: false,
        ended: None,
        last_event_id: String::new(),
        watched: Duration::ZERO,
    };
    let mut parser = Parser::new();
    let deadline = tokio::time::Instant::from_std(sent + doctor.watch);
    loop {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => break,
            Ok(None) => {
                watched.ended = Some((sent.elapsed(), "the server ended the response".into()));
                break;
            }
            Ok(Some(Err(e))) => {
                watched.ended = Some((sent.elapsed(), format!("the connection broke: {e}")));
                break;
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let at = sent.elapsed();
        watched.chunks.push(at);
        for item in parser.feed(&chunk) {
            match item {
                Item::Event(event) => watched.events.push(Arrival { at, event }),
                Item::Comment(_) => watched.comments += 1,
                Item::Retry(ms) => watched.retry = Some(ms),
            }
        }
    }
    watched.watched = sent.elapsed().min(doctor.watch);
    watched.endings = parser.endings;
    watched.bom = parser.bom;
    watched.last_event_id = parser.last_event_id().to_owned();
    Ok(watched)
}

/// The report when the stream did not open: the status check, and every other skipped.
fn not_open(status: Check) -> Vec<Check> {
    let others = [
        "cache-control",
        "first-bytes",
        "buffering",
        "compression",
        "retry",
        "ids",
        "resume",
        "idle",
        "end",
        "cors",
        "http2",
        "line-endings",
        "bom",
    ];
    let skipped = others.map(|name| Check::skip(name, "no stream to examine (see status)"));
    std::iter::once(status).chain(skipped).collect()
}

fn cache_control(w: &Watched) -> Check {
    let value = w.cache_control.to_ascii_lowercase();
    if value.contains("no-cache") || value.contains("no-store") {
        return Check::pass(
            "cache-control",
            format!("Cache-Control: {}", w.cache_control),
        );
    }
    let saw = if w.cache_control.is_empty() {
        "no Cache-Control header".to_owned()
    } else {
        format!("Cache-Control: {}", w.cache_control)
    };
    Check::new(
        "cache-control",
        Status::Warn,
        saw,
        "Without it, a cache or CDN between the server and the browser may store the stream or \
         hold it back as it would a page, and a reconnect may be answered from the cache.",
        "Send Cache-Control: no-cache on the stream.",
    )
}

fn first_bytes(w: &Watched) -> Check {
    let first_event = w
        .events
        .first()
        .map_or("no event during the watch".to_owned(), |e| {
            format!("first event after {}", ms(e.at))
        });
    let saw = format!("headers after {}, {first_event}", ms(w.head_after));
    if w.head_after <= SLOW_HEADERS {
        return Check::pass("first-bytes", saw);
    }
    Check::new(
        "first-bytes",
        Status::Warn,
        saw,
        "Until the headers arrive, EventSource stays CONNECTING and `open` does not fire; a \
         page cannot tell a slow stream from a dead one, and some proxies give up waiting.",
        "Send the headers (and a `retry:` or a comment) as soon as the request arrives, before \
         waiting for the first event; if the server does, a proxy on the way holds them.",
    )
}

/// The arrival pattern of the events the main watch saw.
fn bursts_of(w: &Watched) -> Bursts {
    let arrived: Vec<Arrived<'_>> = (w.events.iter())
        .map(|e| Arrived {
            at: e.at,
            data: &e.event.data,
        })
        .collect();
    let ended = w.ended.as_ref().map(|(at, _)| *at);
    Bursts::of(&arrived, &w.chunks, ended)
}

/// What the buffering check says of its failures, and the fix.
const HELD_WHY: &str = "Something between the server and here holds events and lets them \
    out in batches: users see nothing, then everything at once. The usual cause is a proxy \
    buffering the response (nginx does by default), or a server that does not flush each event.";
const HELD_FIX: &str = "Flush after every event, and turn buffering off on the way: send the \
    header X-Accel-Buffering: no (nginx honours it), or `proxy_buffering off;` in nginx's \
    location; other proxies and CDNs have a similar switch.";

fn buffering(w: &Watched, bursts: &Bursts, compression_held: bool) -> Check {
    if compression_held {
        return Check::skip(
            "buffering",
            "the compression check below explains the delays; see it",
        );
    }
    let later = bursts.later;
    if later < 4 {
        return Check::skip(
            "buffering",
            format!(
                "{later} event(s) after the first {}: too few to judge; watch a stream with \
                 more events, or longer (--secs)",
                ms(CONNECT_BURST)
            ),
        );
    }
    let (longest, _) = silences(&w.chunks, None);
    if bursts.bursts.len() >= 2 {
        let saw = format!(
            "{} of {later} events arrived in {} bursts (each within {} of each other), with \
             silences of up to {} between",
            bursts.in_bursts(),
            bursts.bursts.len(),
            ms(TOGETHER),
            ms(longest)
        );
        return Check::new("buffering", Status::Fail, saw, HELD_WHY, HELD_FIX);
    }
    if let Some(held) = bursts.held_back() {
        return held_back(w, &held);
    }
    let saw = match bursts.bursts.first() {
        Some(burst) => format!(
            "{later} events arrived one by one but for one batch of {} after {} of silence, in \
             the stream's own rhythm",
            burst.events,
            secs(burst.silence)
        ),
        None => format!(
            "{later} events arrived one by one, silences of up to {}",
            ms(longest)
        ),
    };
    Check::pass("buffering", saw)
}

/// One burst after a long silence: "5 events made over 2.4 s arrived together after 3.0 s of
/// silence". A failure when the stream proves they were made apart, else a warning, since a
/// server may send a batch on purpose.
fn held_back(w: &Watched, held: &HeldBack) -> Check {
    let burst = &held.burst;
    let made = match burst.made_over {
        Some(over) => format!(" made over {} (their timestamps say so)", secs(over)),
        None => String::new(),
    };
    let mut saw = format!(
        "{} events{made} arrived together after {} of silence",
        burst.events,
        secs(burst.silence)
    );
    if burst.ends_response {
        saw += ", as the response ended";
    }
    let first_held = w.events.first().is_some_and(|e| e.at >= burst.at);
    if first_held && w.head_after >= SLOW_HEADERS {
        saw += &format!("; even the headers came only after {}", secs(w.head_after));
    } else if first_held {
        saw += &format!(
            "; the first event came {} after the headers",
            secs(burst.at.saturating_sub(w.head_after))
        );
    }
    if held.proven {
        saw += ": something between the server and you holds them back";
        return Check::new("buffering", Status::Fail, saw, HELD_WHY, HELD_FIX);
    }
    saw += ": something on the way may hold them back, unless the server sends them as one \
             batch on purpose";
    Check::new("buffering", Status::Warn, saw, HELD_WHY, HELD_FIX)
}

fn compression(w: &Watched, bursts: &Bursts) -> Check {
    let Some(encoding) = w.compression else {
        return Check::pass("compression", "not compressed");
    };
    let (later, in_bursts) = (bursts.later, bursts.in_bursts());
    let bursts = bursts.bursts.len();
    if bursts >= 1 {
        return Check::new(
            "compression",
            Status::Fail,
            format!(
                "Content-Encoding: {encoding}, and {in_bursts} of {later} events arrived in \
                 {bursts} burst(s): the compressor held them"
            ),
            "A compressor waits for enough bytes to compress well before it writes any; small \
             events sit in its buffer for seconds or until the stream ends.",
            "Do not compress text/event-stream (in nginx, leave it out of gzip_types), or flush \
             the compressor after every event (a sync flush).",
        );
    }
    if w.events.is_empty() {
        return Check::skip(
            "compression",
            format!(
                "Content-Encoding: {encoding}, but no event came to tell whether it holds them"
            ),
        );
    }
    Check::pass(
        "compression",
        format!("Content-Encoding: {encoding}, and the events still arrived as sent (flushed)"),
    )
}

fn retry(w: &Watched) -> Check {
    if let Some(ms) = w.retry {
        return Check::pass("retry", format!("retry: {ms}"));
    }
    if w.chunks.is_empty() {
        return Check::skip("retry", "nothing was sent during the watch");
    }
    Check::new(
        "retry",
        Status::Warn,
        "no retry: field",
        "Without it every browser waits its own default before reconnecting (Chromium 3 s, \
         Firefox 5 s): the server cannot slow a reconnect storm down after a restart, or speed \
         up a reconnect where seconds matter.",
        "Send `retry: <milliseconds>` at the start of the stream.",
    )
}

fn ids(w: &Watched) -> Check {
    if w.events.is_empty() {
        return Check::skip("ids", "no event during the watch");
    }
    let with_id = w.events.iter().filter(|e| e.event.has_id).count();
    if with_id > 0 {
        return Check::pass(
            "ids",
            format!(
                "{with_id} of {} events had an id (the last: {:?})",
                w.events.len(),
                w.last_event_id
            ),
        );
    }
    Check::new(
        "ids",
        Status::Warn,
        format!("none of {} events had an id: field", w.events.len()),
        "A browser that reconnects (a dropped Wi-Fi, a proxy timeout, a server restart) sends \
         Last-Event-ID only if an event had an id; without one the server cannot resume and \
         the page gets the stream again from the start, or loses what was sent meanwhile.",
        "Give every event an `id:` the server can resume after, and read Last-Event-ID.",
    )
}

async fn resume(ask: &Ask, w: &Watched) -> Check {
    let ids: Vec<&str> = (w.events.iter())
        .filter(|e| e.event.has_id && !e.event.last_event_id.is_empty())
        .map(|e| e.event.last_event_id.as_str())
        .collect();
    if ids.len() < 2 {
        return Check::skip(
            "resume",
            format!(
                "{} event(s) with an id: two are needed to test a resume",
                ids.len()
            ),
        );
    }
    let (from, expected) = (ids[0], ids[1]);
    let got = match resumed_first_id(ask, from).await {
        Ok(got) => got,
        Err(saw) => return resume_failed(saw),
    };
    let Some(got) = got else {
        return Check::new(
            "resume",
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
        return Check::pass("resume", saw + ", the one that followed it the first time");
    }
    let position = ids.iter().position(|&id| id == got);
    let numbers = (
        from.parse::<u64>(),
        expected.parse::<u64>(),
        got.parse::<u64>(),
    );
    let replayed =
        position.is_some_and(|i| i == 0) || matches!(numbers, (Ok(f), _, Ok(g)) if g <= f);
    let skipped = position.is_some_and(|i| i > 1) || matches!(numbers, (_, Ok(e), Ok(g)) if g > e);
    if replayed {
        return Check::new(
            "resume",
            Status::Fail,
            format!("{saw}, not {expected:?}: it sent again what the browser already had"),
            "After a reconnect the page shows events twice (or the whole stream again): the \
             server ignored Last-Event-ID or resumed at the wrong place.",
            "On Last-Event-ID: n, send only what came after n.",
        );
    }
    if skipped {
        return Check::new(
            "resume",
            Status::Fail,
            format!("{saw}, not {expected:?}: what came between was lost"),
            "After a reconnect the page silently misses the events sent while it was away, or \
             the first one after the id it had.",
            "On Last-Event-ID: n, send everything after n, starting with the very next event \
             (keep enough history to cover a reconnect).",
        );
    }
    Check::new(
        "resume",
        Status::Warn,
        format!("{saw}, not seen before: the doctor cannot tell whether the stream resumed"),
        "Resuming is what makes a dropped connection invisible to the user.",
        "Use ids that say where the stream is (a sequence number), and resume after them.",
    )
}

fn resume_failed(saw: String) -> Check {
    Check::new(
        "resume",
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

/// The longest time without bytes between the chunks, and the time from the last chunk (or
/// the start, with none) to `until`.
fn silences(chunks: &[Duration], until: Option<Duration>) -> (Duration, Duration) {
    let inner = chunks
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let last = chunks.last().copied().unwrap_or_default();
    let tail = until.map_or(Duration::ZERO, |end| end.saturating_sub(last));
    (inner, tail)
}

fn idle(w: &Watched) -> Check {
    const WHY: &str = "Proxies and load balancers close a connection that carries nothing for \
        a while: nginx after its proxy_read_timeout (default 60 s, nginx docs), the AWS \
        Application Load Balancer after its idle timeout (default 60 s, AWS docs), Cloudflare \
        after 100 s (Cloudflare docs, error 524). The browser then reconnects, and without ids \
        loses what was sent meanwhile.";
    const FIX: &str = "Send a comment line (`: keep-alive`) whenever nothing was sent for 15 to \
        30 s, well under the shortest timeout on the way.";
    let open_until = w.ended.is_none().then_some(w.watched);
    let (inner, tail) = silences(&w.chunks, open_until);
    let longest = inner.max(tail);
    let comments = match w.comments {
        0 => "no comment".to_owned(),
        n => format!("{n} comment(s) (keep-alive)"),
    };
    let saw = format!(
        "longest silence {}, {comments} in {}",
        secs(longest),
        secs(w.watched)
    );
    if longest >= IDLE_LIMIT {
        return Check::new("idle", Status::Fail, saw, WHY, FIX);
    }
    let silent_to_the_end = tail >= Duration::from_secs(5) && tail >= w.watched / 2;
    if w.comments == 0 && silent_to_the_end {
        return Check::new(
            "idle",
            Status::Warn,
            format!(
                "silent for the last {} of the watch, and no comment (keep-alive) came: if it \
                 stays silent for 60 s, a proxy on the way may cut it (watch longer with --secs \
                 70 to be sure)",
                secs(tail)
            ),
            WHY,
            FIX,
        );
    }
    Check::pass("idle", saw)
}

async fn end(ask: &Ask, w: &Watched) -> Check {
    let Some((at, how)) = &w.ended else {
        return Check::pass(
            "end",
            format!("stayed open for the whole watch ({})", secs(w.watched)),
        );
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
    match http::open(ask, Some(&w.last_event_id)).await {
        Err(e) => Check::new(
            "end",
            Status::Warn,
            format!("{ended} failed: {e}"),
            "A browser keeps trying every `retry` milliseconds, forever.",
            "Answer the reconnect, with 204 if there is nothing left.",
        ),
        Ok(r) if r.status == StatusCode::NO_CONTENT => Check::pass(
            "end",
            format!("{ended} got 204 No Content: a browser stops there, as meant"),
        ),
        Ok(r) if r.status == StatusCode::OK && is_event_stream(r.header("content-type")) => {
            Check::pass(
                "end",
                format!("{ended} got a new stream: a browser goes on (answer 204 to stop it)"),
            )
        }
        Ok(r) => Check::new(
            "end",
            Status::Fail,
            format!("{ended} got {}", what(&r)),
            WHY,
            FIX,
        ),
    }
}

fn what(r: &Response) -> String {
    format!("{}, Content-Type: {:?}", r.status, r.header("content-type"))
}

async fn cors(ask: &Ask) -> Check {
    let mut from_elsewhere = ask.clone();
    if let Err(e) = from_elsewhere.header_line(&format!("Origin: {OTHER_ORIGIN}")) {
        return Check::skip("cors", e.to_string());
    }
    let response = match http::open(&from_elsewhere, None).await {
        Ok(response) => response,
        Err(e) => return Check::skip("cors", format!("the request with an Origin failed: {e}")),
    };
    let allowed = response.header("access-control-allow-origin");
    let saw = format!("asked from Origin: {OTHER_ORIGIN}: {}", what(&response));
    if allowed == "*" || allowed == OTHER_ORIGIN {
        return Check::pass(
            "cors",
            format!("{saw}, Access-Control-Allow-Origin: {allowed}"),
        );
    }
    Check::new(
        "cors",
        Status::Warn,
        if allowed.is_empty() {
            format!("{saw}, no Access-Control-Allow-Origin")
        } else {
            format!("{saw}, Access-Control-Allow-Origin: {allowed}")
        },
        "A page served from another origin (another port counts) gets only an `error` event: \
         the browser hides the stream from it. Fine if only same-origin pages use the stream.",
        "Send Access-Control-Allow-Origin: * (or the pages' origin; with credentials, the exact \
         origin and Access-Control-Allow-Credentials: true).",
    )
}

fn http2(ask: &Ask, w: &Watched) -> Check {
    if w.protocol == "h2" {
        return Check::pass("http2", "HTTP/2 (ALPN h2)");
    }
    if !ask.is_tls() && ask.is_loopback() {
        return Check::skip(
            "http2",
            "plain http:// on this machine: browsers speak HTTP/2 only over TLS, so check the \
             https:// address you deploy (or run the server with TLS)",
        );
    }
    Check::new(
        "http2",
        Status::Warn,
        format!("{}, no HTTP/2", w.protocol),
        "Over HTTP/1.1 a browser opens at most 6 connections per origin, shared by all its \
         tabs: the 7th EventSource (or any other request) waits until one closes. HTTP/2 \
         carries 100 or more streams on one connection.",
        "Serve over https:// with HTTP/2 (ALPN h2), in the server or the proxy in front.",
    )
}

fn line_endings(w: &Watched) -> Check {
    let LineEndings { lf, crlf, cr } = w.endings;
    if lf + crlf + cr == 0 {
        return Check::skip("line-endings", "no complete line during the watch");
    }
    if crlf == 0 && cr == 0 {
        return Check::pass("line-endings", format!("{lf} lines, all ending in LF"));
    }
    Check::new(
        "line-endings",
        Status::Warn,
        format!("lines ending in LF: {lf}, CRLF: {crlf}, CR alone: {cr}"),
        "Browsers accept all three, but many hand-written and library parsers split on \"\\n\\n\" \
         and never see an event end with CRLF, or read a stray CR into the data.",
        "End every line with LF alone.",
    )
}

fn bom(w: &Watched) -> Check {
    if w.chunks.is_empty() {
        return Check::skip("bom", "nothing was sent during the watch");
    }
    if !w.bom {
        return Check::pass("bom", "no byte-order mark");
    }
    Check::new(
        "bom",
        Status::Warn,
        "the stream starts with a UTF-8 byte-order mark (EF BB BF)",
        "Browsers drop one at the start, but most other clients do not: their first field name \
         becomes \"\\u{feff}retry\" or \"\\u{feff}data\", and the first field or event is lost.",
        "Write no byte-order mark; the stream is always UTF-8.",
    )
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
