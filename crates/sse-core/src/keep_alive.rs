//! A keep-alive comment on an idle stream, written only after `--keep-alive-secs` without an
//! event: for bodies of the core's encoded bytes (every warp stream, and the chat stream on all
//! three servers), and for actix's streams of core events, whose own keep-alive (actix-web-lab's)
//! is a plain interval that also fires at the start and while events flow. axum's `KeepAlive`
//! already waits for silence.
//!
//! Proxies and browsers may close a connection that has been silent for a while; a comment line
//! (`: keep-alive`) costs a few bytes and is ignored by `EventSource`. Tested with paused time by
//! `cargo test -p sse-core keep_alive`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep, sleep};

use crate::event::Event;
use crate::state::KEEP_ALIVE_COMMENT;

/// The keep-alive comment on the wire: `Event::comment(KEEP_ALIVE_COMMENT).encode()`.
pub const KEEP_ALIVE_BYTES: Bytes = Bytes::from_static(b": keep-alive\n\n");

/// Yields the items of `S` (encoded events, or core events), and a keep-alive comment whenever
/// `period` passes without one.
pub struct KeepAlive<S: Stream> {
    events: S,
    period: Duration,
    /// Due `period` after the last item it was told of. An event does not move it (that would
    /// be a trip through the runtime's timer wheel for every event, 2 % of a server's CPU in a
    /// fan-out): when it fires, it looks at `last_sent` and sets itself again if an event went
    /// out meanwhile, once per period at most.
    idle: Pin<Box<Sleep>>,
    last_sent: Instant,
    comment: S::Item,
}

impl<S: Stream<Item = Bytes>> KeepAlive<S> {
    /// Wraps a stream of encoded events; the comment is [`KEEP_ALIVE_BYTES`].
    pub fn new(events: S, period: Duration) -> Self {
        Self::with_comment(events, period, KEEP_ALIVE_BYTES)
    }
}

impl<S: Stream<Item = Event>> KeepAlive<S> {
    /// Wraps a stream of core events; the comment is `Event::comment(KEEP_ALIVE_COMMENT)`.
    pub fn events(events: S, period: Duration) -> Self {
        Self::with_comment(events, period, Event::comment(KEEP_ALIVE_COMMENT))
    }
}

impl<S: Stream> KeepAlive<S> {
    fn with_comment(events: S, period: Duration, comment: S::Item) -> Self {
        Self {
            events,
            period,
            idle: Box::pin(sleep(period)),
            last_sent: Instant::now(),
            comment,
        }
    }
}

impl<S: Stream + Unpin> Stream for KeepAlive<S>
where
    S::Item: Clone + Unpin,
{
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = &mut *self;
        if let Poll::Ready(next) = Pin::new(&mut this.events).poll_next(cx) {
            this.last_sent = Instant::now();
            return Poll::Ready(next);
        }
        while this.idle.as_mut().poll(cx).is_ready() {
            let due = this.last_sent + this.period;
            let now = Instant::now();
            if due > now {
                // An event went out since the timer was set: silence is due later.
                this.idle.as_mut().reset(due);
                continue;
            }
            this.last_sent = now;
            this.idle.as_mut().reset(now + this.period);
            return Poll::Ready(Some(this.comment.clone()));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::KEEP_ALIVE_COMMENT;
    use futures_util::StreamExt;
    use tokio_stream::wrappers::UnboundedReceiverStream;

    #[test]
    fn the_comment_bytes_are_the_core_encoding_of_the_comment() {
        assert_eq!(
            KEEP_ALIVE_BYTES,
            Event::comment(KEEP_ALIVE_COMMENT).encode()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn comments_fill_silence_and_events_reset_the_clock() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let start = Instant::now();
        let mut stream = KeepAlive::new(UnboundedReceiverStream::new(rx), Duration::from_secs(15));

        let first = stream.next().await.expect("a keep-alive");
        assert_eq!(first, KEEP_ALIVE_BYTES);
        assert_eq!(start.elapsed(), Duration::from_secs(15));

        tokio::time::sleep(Duration::from_secs(10)).await;
        tx.send(Bytes::from("data: news\n\n")).expect("open");
        assert_eq!(stream.next().await, Some(Bytes::from("data: news\n\n")));
        // The event 25 s in resets the clock: the next comment is due at 40 s, not 30 s.
        let next = stream.next().await.expect("a keep-alive");
        assert_eq!(next, KEEP_ALIVE_BYTES);
        assert_eq!(start.elapsed(), Duration::from_secs(40));

        drop(tx);
        assert!(stream.next().await.is_none(), "ends when the events end");
    }
}
