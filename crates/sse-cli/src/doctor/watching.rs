//! The doctor's main watch: the stream opened as a browser would, and read for the watch or
//! until it ends, noting when each chunk, event, comment and `retry:` came.

use std::time::{Duration, Instant};

use hyper::StatusCode;

use super::{Doctor, Status, Verdict};
use crate::http;
use crate::parse::{Event, Item, LineEndings, Parser};
use crate::watch::is_event_stream;

/// One event and when it arrived, counted from the request.
pub(super) struct Arrival {
    pub(super) at: Duration,
    pub(super) event: Event,
}

/// What the main watch saw.
pub(super) struct Watched {
    pub(super) head_after: Duration,
    pub(super) response_status: StatusCode,
    pub(super) content_type: String,
    pub(super) cache_control: String,
    pub(super) compression: Option<&'static str>,
    pub(super) protocol: &'static str,
    /// When bytes came off the wire (even when a decompressor kept them all).
    pub(super) chunks: Vec<Duration>,
    pub(super) events: Vec<Arrival>,
    pub(super) comments: usize,
    pub(super) retry: Option<u64>,
    pub(super) endings: LineEndings,
    pub(super) bom: bool,
    /// When the stream ended, and how, if it did within the watch.
    pub(super) ended: Option<(Duration, String)>,
    /// Whether it was cut rather than ended: no last chunk over HTTP/1.1, a reset over HTTP/2.
    pub(super) broke: bool,
    /// The id a browser would send on reconnecting.
    pub(super) last_event_id: String,
    pub(super) watched: Duration,
}

/// Opens the stream and reads it for the watch, or until it ends. `Err` is the status check
/// that failed, when there is no stream to watch.
pub(super) async fn watch(doctor: &Doctor) -> Result<Watched, Verdict> {
    const WHY: &str = "A browser's EventSource accepts only status 200 with Content-Type: \
        text/event-stream. Anything else fires `error` and closes the EventSource for good: it \
        never reconnects.";
    const FIX: &str = "Answer the stream's URL with 200 and Content-Type: text/event-stream \
        (204 only to say a resumed stream has nothing left).";
    let sent = Instant::now();
    let mut response = http::open(&doctor.ask, None).await.map_err(|e| {
        let saw = format!("could not get a response: {e}");
        Verdict::new(Status::Fail, saw, WHY, FIX)
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
        return Err(Verdict::new(Status::Fail, saw, WHY, FIX));
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
        broke: false,
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
                watched.broke = true;
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
