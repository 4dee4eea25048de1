//! `sse watch URL`: a stream as the browser's `EventSource` sees it. Each event as the browser
//! would deliver it (type, `lastEventId`, data) with its arrival time and the gap since the
//! previous one; comments dimmed; `retry` when it changes. And the browser's behaviour out
//! loud: when the stream ends or the connection breaks it waits `retry` and reconnects with
//! `Last-Event-ID`; it stops for good on 204, on any other status but 200, and on a
//! `Content-Type` other than `text/event-stream`, saying so.
//!
//! `cargo run -p sse-cli -- watch http://127.0.0.1:3000/events/paragraph`

use std::time::{Duration, Instant};

use chrono::Local;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::http::{self, Ask};
use crate::parse::{Event, Item, Parser};
use crate::style::{Out, Paint};

/// What a browser waits before reconnecting until the server sends `retry` (Chromium: 3 s).
const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// What `watch` was asked to do.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The request: URL, method, headers, body.
    pub ask: Ask,
    /// `Last-Event-ID` for the first connect.
    pub last_event_id: Option<String>,
    /// Show only events of these types (empty: all, and comments).
    pub types: Vec<String>,
    /// Show the bytes as they arrive instead of events.
    pub raw: bool,
    /// One JSON object per event on stdout; the tool's own notes go to stderr.
    pub json: bool,
    /// Stop after this many events (of the types shown).
    pub max_events: Option<u64>,
    /// Stop after this long.
    pub timeout: Option<Duration>,
}

/// Why `watch` stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// 204, `--max-events`, `--timeout`, or the end of a POST stream: exit status 0.
    Done,
    /// A status or content type that makes a browser give up for good: exit status 1.
    Refused,
}

/// Watches until a reason to stop; see the module's doc.
pub async fn run(watch: Watch) -> Stop {
    let mut screen = Screen::new(&watch);
    let timeout = watch.timeout;
    let watching = watch_until_stop(watch, &mut screen);
    match timeout {
        None => watching.await,
        Some(limit) => match tokio::time::timeout(limit, watching).await {
            Ok(stop) => stop,
            Err(_) => {
                screen.note(&format!("--timeout {} s reached", limit.as_secs_f64()));
                Stop::Done
            }
        },
    }
}

/// Where a watch is, across reconnects.
struct Progress {
    /// The server's `retry:`, once it sent one.
    retry: Option<Duration>,
    /// What a browser would send as `Last-Event-ID`.
    last_event_id: String,
    /// Events shown so far, for `--max-events`.
    shown: u64,
}

async fn watch_until_stop(watch: Watch, screen: &mut Screen) -> Stop {
    let mut progress = Progress {
        retry: None,
        last_event_id: watch.last_event_id.clone().unwrap_or_default(),
        shown: 0,
    };
    loop {
        let resuming = if progress.last_event_id.is_empty() {
            String::new()
        } else {
            format!(" with Last-Event-ID: {}", progress.last_event_id)
        };
        screen.note(&format!("{} {}{resuming}", watch.ask.method, watch.ask.url));
        match http::open(&watch.ask, Some(&progress.last_event_id)).await {
            Err(e) if e.is::<http::CertificateRejected>() => {
                screen.stop(&e.to_string());
                return Stop::Refused;
            }
            Err(e) => screen.note(&format!("connection failed: {e}")),
            Ok(response) if response.status == StatusCode::NO_CONTENT => {
                screen.note("204 No Content: the server has nothing more; a browser stops here");
                return Stop::Done;
            }
            Ok(mut response) if response.status != StatusCode::OK => {
                let status = response.status;
                let body = response.text(300).await;
                screen.stop(&format!("{status} {body}"));
                screen.stop("a browser gives up for good on any status but 200 and 204");
                return Stop::Refused;
            }
            Ok(response) if !is_event_stream(response.header("content-type")) => {
                let content_type = response.header("content-type").to_owned();
                screen.stop(&format!("200 OK, but Content-Type: {content_type:?}"));
                screen
                    .stop("a browser fails the connection for good unless it is text/event-stream");
                return Stop::Refused;
            }
            Ok(response) => {
                if let Err(stop) = read_stream(&watch, screen, response, &mut progress).await {
                    return stop;
                }
            }
        }
        if watch.ask.method != Method::GET {
            screen.note("not reconnecting: that would send the request again");
            return Stop::Done;
        }
        let wait = progress.retry.unwrap_or(DEFAULT_RETRY);
        let why = if progress.retry.is_some() {
            "the server's retry"
        } else {
            "no retry from the server: Chromium's default"
        };
        screen.note(&format!("reconnecting in {} ms ({why})", wait.as_millis()));
        tokio::time::sleep(wait).await;
    }
}

/// Shows an opened stream until it ends (then notes how); `Err` when the watch stops here
/// (`--max-events`).
async fn read_stream(
    watch: &Watch,
    screen: &mut Screen,
    mut response: http::Response,
    progress: &mut Progress,
) -> Result<(), Stop> {
    let compressed = response
        .compression()
        .map_or(String::new(), |c| format!(", {c}"));
    screen.note(&format!(
        "200 OK, {}, {}{compressed}",
        response.header("content-type"),
        response.protocol()
    ));
    let mut parser = Parser::resuming(&progress.last_event_id);
    let ended = loop {
        let chunk = match response.chunk().await {
            None => break "the stream ended".to_owned(),
            Some(Err(e)) => break format!("the connection broke: {e}"),
            Some(Ok(chunk)) => chunk,
        };
        if watch.raw {
            screen.raw(&chunk);
        }
        for item in parser.feed(&chunk) {
            show(watch, screen, item, progress)?;
        }
    };
    progress.last_event_id = parser.last_event_id().to_owned();
    screen.note(&ended);
    Ok(())
}

/// Shows one item as `watch` asks; `Err` once `--max-events` are shown.
fn show(
    watch: &Watch,
    screen: &mut Screen,
    item: Item,
    progress: &mut Progress,
) -> Result<(), Stop> {
    match item {
        Item::Retry(ms) => {
            let new = Duration::from_millis(ms);
            if progress.retry != Some(new) {
                screen.note(&format!("retry: {ms} ms"));
            }
            progress.retry = Some(new);
        }
        Item::Comment(text) if watch.types.is_empty() && !watch.raw => screen.comment(&text),
        Item::Comment(_) => {}
        Item::Event(event) => {
            if !watch.types.is_empty() && !watch.types.contains(&event.event) {
                return Ok(());
            }
            if !watch.raw {
                screen.event(&event, progress.retry);
            }
            progress.shown += 1;
            if watch.max_events.is_some_and(|max| progress.shown >= max) {
                screen.note(&format!("--max-events {} reached", progress.shown));
                return Err(Stop::Done);
            }
        }
    }
    Ok(())
}

/// `text/event-stream`, perhaps with parameters, in any case: what a browser accepts.
pub fn is_event_stream(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("text/event-stream")
}

/// Where the lines go: stdout, as text or JSON; notes to stderr with `--json`.
struct Screen {
    out: Out,
    json: bool,
    started: Instant,
    previous: Option<Instant>,
}

impl Screen {
    fn new(watch: &Watch) -> Self {
        Self {
            out: Out::stdout(),
            json: watch.json,
            started: Instant::now(),
            previous: None,
        }
    }

    /// The wall-clock time and the gap since the previous event (or chunk).
    fn stamp(&mut self) -> (String, Duration) {
        let now = Instant::now();
        let gap = now - self.previous.unwrap_or(self.started);
        self.previous = Some(now);
        (Local::now().format("%H:%M:%S%.3f").to_string(), gap)
    }

    fn note(&self, text: &str) {
        self.say(Paint::Note, text);
    }

    fn stop(&self, text: &str) {
        self.say(Paint::Bad, text);
    }

    fn say(&self, paint: Paint, text: &str) {
        let time = Local::now().format("%H:%M:%S%.3f");
        if self.json {
            eprintln!("{time} {text}");
        } else {
            let line = format!("{time} -- {text}");
            self.out.line(&self.out.paint(paint, &line));
        }
    }

    fn comment(&mut self, text: &str) {
        let (time, gap) = self.stamp();
        let line = format!("{time} {:>9} : {text}", seconds(gap));
        if !self.json {
            self.out.line(&self.out.paint(Paint::Dim, &line));
        }
    }

    fn raw(&mut self, chunk: &[u8]) {
        let (time, gap) = self.stamp();
        let text = String::from_utf8_lossy(chunk);
        if self.json {
            let gap_ms = gap.as_secs_f64() * 1e3;
            let line = json!({"time": time, "gap_ms": gap_ms, "bytes": text});
            self.out.line(&line.to_string());
        } else {
            let head = format!("{time} {:>9} {:>5} bytes", seconds(gap), chunk.len());
            self.out
                .line(&format!("{} {text:?}", self.out.paint(Paint::Dim, &head)));
        }
    }

    fn event(&mut self, event: &Event, retry: Option<Duration>) {
        let (time, gap) = self.stamp();
        if self.json {
            let line = json!({
                "time": Local::now().to_rfc3339(),
                "gap_ms": (gap.as_secs_f64() * 1e6).round() / 1e3,
                "event": event.event,
                "id": event.last_event_id,
                "data": event.data,
                "retry_ms": retry.map(|r| r.as_millis() as u64),
            });
            self.out.line(&line.to_string());
            return;
        }
        let out = self.out;
        let head = out.paint(Paint::Dim, &format!("{time} {:>9}", seconds(gap)));
        let id = if event.last_event_id.is_empty() {
            String::new()
        } else {
            out.paint(Paint::Id, &format!(" id={}", event.last_event_id))
        };
        let kind = out.paint(Paint::Kind, &event.event);
        let mut lines = event.data.split('\n');
        let first = lines.next().unwrap_or_default();
        out.line(&format!("{head} {kind}{id} {first}"));
        // Further data lines line up under the first, so a multi-line event reads as one.
        for line in lines {
            out.line(&format!("{:22} {} {line}", "", out.paint(Paint::Dim, "|")));
        }
    }
}

/// `+1.002s`.
fn seconds(gap: Duration) -> String {
    format!("+{:.3}s", gap.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_type_a_browser_accepts() {
        assert!(is_event_stream("text/event-stream"));
        assert!(is_event_stream("Text/Event-Stream; charset=utf-8"));
        assert!(!is_event_stream("text/plain"));
        assert!(!is_event_stream(""));
    }
}
