//! A keep-alive comment on an idle stream, written only after `--keep-alive-secs` without an
//! event: for bodies of the core's encoded bytes (every warp stream, and the chat stream on all
//! three servers), and for actix's streams of core events, whose own keep-alive (actix-web-lab's)
//! is a plain interval that also fires at the start and while events flow. axum's `KeepAlive`
//! already waits for silence. Its clock, [`Silence`], is also the chat body's
//! ([`crate::chat_body`]).
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

/// The clock of one stream's silence: due `period` after the last item it was told of.
///
/// An item does not move the timer (that would be a trip through the runtime's timer wheel
/// for every event, 2 % of a server's CPU in a fan-out): when it fires, it looks at the time
/// of the last item and sets itself again if one went out meanwhile, once per period at most.
pub struct Silence {
    idle: Pin<Box<Sleep>>,
    period: Duration,
    last_sent: Instant,
}

impl Silence {
    /// A silence that is due `period` from now.
    pub fn new(period: Duration) -> Self {
        Self {
            idle: Box::pin(sleep(period)),
            period,
            last_sent: Instant::now(),
        }
    }

    /// An item went out: the silence starts again from now.
    pub fn sent(&mut self) {
        self.last_sent = Instant::now();
    }

    /// Ready when `period` has passed since the last item (or the last time it was ready);
    /// the timer then starts the next period. `cx`'s waker is woken when it is due.
    pub fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while self.idle.as_mut().poll(cx).is_ready() {
            let (due, now) = (self.last_sent + self.period, Instant::now());
            if due > now {
                // An item went out since the timer was set: silence is due later.
                self.idle.as_mut().reset(due);
                continue;
            }
            self.last_sent = now;
            self.idle.as_mut().reset(now + self.period);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// Yields the items of `S` (encoded events, or core events), and a keep-alive comment whenever
/// `period` passes without one.
pub struct KeepAlive<S: Stream> {
    events: S,
    silence: Silence,
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
            silence: Silence::new(period),
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
            this.silence.sent();
            return Poll::Ready(next);
        }
        match this.silence.poll_due(cx) {
            Poll::Ready(()) => Poll::Ready(Some(this.comment.clone())),
            Poll::Pending => Poll::Pending,
        }
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
