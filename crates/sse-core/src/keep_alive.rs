//! A keep-alive comment on an idle stream, for bodies of the core's encoded bytes: every warp
//! stream, and the chat stream on all three servers (axum's and actix-web-lab's SSE responses
//! have their own).
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

/// The keep-alive comment on the wire: `Event::comment(KEEP_ALIVE_COMMENT).encode()`.
pub const KEEP_ALIVE_BYTES: Bytes = Bytes::from_static(b": keep-alive\n\n");

/// Yields the encoded events of `S`, and a keep-alive comment whenever `period` passes without
/// one.
pub struct KeepAlive<S> {
    events: S,
    period: Duration,
    idle: Pin<Box<Sleep>>,
}

impl<S> KeepAlive<S> {
    /// Wraps `events`.
    pub fn new(events: S, period: Duration) -> Self {
        Self {
            events,
            period,
            idle: Box::pin(sleep(period)),
        }
    }
}

impl<S: Stream<Item = Bytes> + Unpin> Stream for KeepAlive<S> {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        if let Poll::Ready(next) = Pin::new(&mut this.events).poll_next(cx) {
            this.idle.as_mut().reset(Instant::now() + this.period);
            return Poll::Ready(next);
        }
        if this.idle.as_mut().poll(cx).is_ready() {
            this.idle.as_mut().reset(Instant::now() + this.period);
            return Poll::Ready(Some(KEEP_ALIVE_BYTES));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
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
