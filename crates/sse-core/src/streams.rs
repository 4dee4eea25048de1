//! The clock, paragraph and counter streams: what each sends, at what pace, and where it
//! resumes after a reconnect.
//!
//! Each is a `Stream` of [`Event`]s that is `Send + Sync + 'static` (warp needs `Sync`), paced by
//! `ticks`: the first event goes out at once, then one per tick. The server's ticks come from its
//! [`Metronome`], one timer per interval shared by every stream. Tested with paused time by
//! `cargo test -p sse-core streams`.

use std::sync::Arc;

use futures_util::{Stream, StreamExt, stream};

use crate::event::{Event, FieldValue};
use crate::metronome::Metronome;
use crate::request::{StreamKind, StreamRequest, TimeFormat};

/// The paragraph of the Python and Go seeds, one sentence per event.
pub const SENTENCES: [&str; 5] = [
    "Hello, this is an example of a continuous text output.",
    "It contains multiple sentences, each of which will be sent to the client as an event.",
    "This is to simulate the functionality of Server-Sent Events (SSE).",
    "We can use this method to push real-time updates.",
    "End of sample text, thank you!",
];

/// The name of the event that closes the paragraph.
pub const END: FieldValue = FieldValue::from_static("end");
/// The data of the `end` event.
pub const END_DATA: &str = "The paragraph is complete.";

/// What a stream request leads to.
pub enum Plan<S> {
    /// Send this stream.
    Stream(S),
    /// Nothing is left to send: answer 204 No Content, which tells a browser to stop reconnecting.
    NoContent,
    /// Not a paced stream: subscribe to the chat hub (see `crate::hub`).
    Chat,
}

/// Builds the paced stream a request asks for, or says there is nothing left to send.
pub fn plan(
    request: &StreamRequest,
    metronome: &Arc<Metronome>,
) -> Plan<impl Stream<Item = Event> + Send + Sync + 'static> {
    let ticks = || metronome.ticks(request.interval);
    let last = request.last_event_id;
    let stream = match request.kind {
        StreamKind::Clock => clock(ticks(), request.format, last).left_stream(),
        StreamKind::Counter => counter(ticks(), last).left_stream().right_stream(),
        StreamKind::Paragraph if paragraph_is_over(last) => return Plan::NoContent,
        StreamKind::Paragraph => paragraph(ticks(), last).right_stream().right_stream(),
        StreamKind::Chat => return Plan::Chat,
        // An answer is opened by `POST /v1/chat/completions` (see `crate::answers`), never by
        // a stream route's `GET`: there is nothing to send here.
        StreamKind::Answer => return Plan::NoContent,
    };
    Plan::Stream(stream)
}

/// What paces a stream: yields at once, then once per interval.
pub trait Ticks: Stream<Item = ()> + Send + Sync + 'static {}
impl<T: Stream<Item = ()> + Send + Sync + 'static> Ticks for T {}

/// The server's local time, ids 1, 2, 3, ...; after `Last-Event-ID: n` it goes on at n + 1.
pub fn clock(
    ticks: impl Ticks,
    format: TimeFormat,
    last_event_id: Option<u64>,
) -> impl Stream<Item = Event> + Send + Sync + 'static {
    // `..=u64::MAX` rather than `..`: an open range panics when it steps past the largest id.
    let first = last_event_id.and_then(|n| n.checked_add(1)).unwrap_or(1);
    stream::iter(first..=u64::MAX)
        .zip(ticks)
        // The time is read when the tick fires, not when the id was taken.
        .map(move |(id, ())| Event::data(format.now()).with_id(id))
}

/// `{"count":n}` with id n, from 0; after `Last-Event-ID: n` it goes on at n + 1.
pub fn counter(
    ticks: impl Ticks,
    last_event_id: Option<u64>,
) -> impl Stream<Item = Event> + Send + Sync + 'static {
    let first = last_event_id.and_then(|n| n.checked_add(1)).unwrap_or(0);
    stream::iter(first..=u64::MAX)
        .zip(ticks)
        .map(|(n, ())| Event::data(format!(r#"{{"count":{n}}}"#)).with_id(n))
}

/// The five sentences with ids 1 to 5, then `event: end` with no id, then the end of the stream.
///
/// After `Last-Event-ID: k` (1 to 4) it resumes at sentence k + 1, so a page shows the paragraph
/// once even across a dropped connection. After 5 nothing is left (see [`paragraph_is_over`]).
/// Any other id is one this stream never sent, so it starts from the top.
pub fn paragraph(
    ticks: impl Ticks,
    last_event_id: Option<u64>,
) -> impl Stream<Item = Event> + Send + Sync + 'static {
    let already_sent = match last_event_id {
        Some(k) if k < SENTENCES.len() as u64 => k as usize,
        _ => 0,
    };
    let sentences = (1..).zip(SENTENCES).skip(already_sent);
    let events = sentences
        .map(|(id, text): (u64, _)| Event::data(text).with_id(id))
        // No id on the end event: the browser's last id stays 5, so its reconnect gets 204.
        // It carries data because a browser silently drops an event without any `data:` line.
        .chain([Event::data(END_DATA).with_event(END)]);
    stream::iter(events).zip(ticks).map(|(event, ())| event)
}

/// Whether a browser that saw `last_event_id` has the whole paragraph (its last sentence, id 5):
/// the server answers 204, which tells a browser to stop reconnecting.
pub fn paragraph_is_over(last_event_id: Option<u64>) -> bool {
    last_event_id == Some(SENTENCES.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::time::Duration;
    use tokio::time::Instant;

    /// Collects up to `count` events with the paused-clock time (since the start) each arrived.
    async fn timed(stream: impl Stream<Item = Event>, count: usize) -> Vec<(Duration, Event)> {
        let start = Instant::now();
        let mut stream = pin!(stream);
        let mut out = Vec::new();
        while out.len() < count {
            match stream.next().await {
                Some(event) => out.push((start.elapsed(), event)),
                None => break,
            }
        }
        out
    }

    fn ids(events: &[(Duration, Event)]) -> Vec<Option<&str>> {
        events.iter().map(|(_, e)| e.id()).collect()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A fresh metronome's ticks: the first at once, then every `every_ms`.
    fn ticks(every_ms: u64) -> impl Ticks {
        Metronome::new().ticks(ms(every_ms))
    }

    #[tokio::test(start_paused = true)]
    async fn clock_sends_at_once_then_once_per_interval() {
        let events = timed(clock(ticks(250), TimeFormat::UnixMs, None), 4).await;
        let times: Vec<_> = events.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, [ms(0), ms(250), ms(500), ms(750)]);
        assert_eq!(ids(&events), [Some("1"), Some("2"), Some("3"), Some("4")]);
        let data = events[0].1.data_text().expect("data");
        assert!(data.parse::<u64>().is_ok(), "{data}");
    }

    #[tokio::test(start_paused = true)]
    async fn clock_resumes_after_last_event_id() {
        let events = timed(clock(ticks(1000), TimeFormat::Rfc3339, Some(41)), 2).await;
        assert_eq!(ids(&events), [Some("42"), Some("43")]);
    }

    #[tokio::test(start_paused = true)]
    async fn clock_starts_fresh_when_the_next_id_would_overflow() {
        let events = timed(clock(ticks(1000), TimeFormat::Rfc2822, Some(u64::MAX)), 1).await;
        assert_eq!(ids(&events), [Some("1")]);
    }

    #[tokio::test(start_paused = true)]
    async fn counter_counts_from_zero_as_json() {
        let events = timed(counter(ticks(1000), None), 3).await;
        let data: Vec<_> = events.iter().map(|(_, e)| e.data_text()).collect();
        assert_eq!(
            data,
            [
                Some(r#"{"count":0}"#),
                Some(r#"{"count":1}"#),
                Some(r#"{"count":2}"#)
            ]
        );
        assert_eq!(ids(&events), [Some("0"), Some("1"), Some("2")]);
        assert_eq!(events[2].0, ms(2000));
    }

    #[tokio::test(start_paused = true)]
    async fn counter_resumes_after_last_event_id() {
        let events = timed(counter(ticks(1000), Some(9)), 1).await;
        assert_eq!(events[0].1.data_text(), Some(r#"{"count":10}"#));
    }

    #[tokio::test(start_paused = true)]
    async fn paragraph_sends_five_sentences_then_end_then_closes() {
        let stream = paragraph(ticks(1000), None);
        let events = timed(stream, 100).await;
        assert_eq!(
            events.len(),
            6,
            "five sentences and the end event, then the stream ends"
        );
        for (i, (at, event)) in events.iter().take(5).enumerate() {
            assert_eq!(event.data_text(), Some(SENTENCES[i]));
            assert_eq!(event.id(), Some((i + 1).to_string().as_str()));
            assert_eq!(*at, ms(1000 * i as u64));
        }
        let (at, end) = &events[5];
        assert_eq!((end.event(), end.id(), *at), (Some("end"), None, ms(5000)));
    }

    #[tokio::test(start_paused = true)]
    async fn paragraph_resumes_after_last_event_id() {
        let stream = paragraph(ticks(1000), Some(3));
        let events = timed(stream, 100).await;
        assert_eq!(ids(&events), [Some("4"), Some("5"), None]);
        assert_eq!(events[0].1.data_text(), Some(SENTENCES[3]));
        assert_eq!(
            events[0].0,
            ms(0),
            "the first event after a resume is not delayed"
        );
    }

    #[test]
    fn reconnect_after_last_sentence_gets_no_content() {
        assert!(paragraph_is_over(Some(5)));
        assert!(!paragraph_is_over(Some(4)) && !paragraph_is_over(None));
    }

    #[tokio::test(start_paused = true)]
    async fn paragraph_starts_over_for_ids_it_never_sent() {
        for id in [0, 6, 1_000_000] {
            let events = timed(paragraph(ticks(1000), Some(id)), 1).await;
            assert_eq!(ids(&events), [Some("1")], "Last-Event-ID {id}");
        }
    }
}
