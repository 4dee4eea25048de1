//! A keep-alive comment on an idle stream, for servers that send the core's encoded bytes
//! (axum and actix-web-lab have their own).
//!
//! Proxies and browsers may close a connection that has been silent for a while; a comment line
//! (`: keep-alive`) costs a few bytes and is ignored by `EventSource`. Tested with paused time by
//! `cargo test -p sse-core keep_alive`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::time::{Instant, Sleep, sleep};

use crate::event::Event;
use crate::state::KEEP_ALIVE_COMMENT;

/// Yields the events of `S`, and a keep-alive comment whenever `period` passes without one.
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

impl<S: Stream<Item = Event> + Unpin> Stream for KeepAlive<S> {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = &mut *self;
        if let Poll::Ready(next) = Pin::new(&mut this.events).poll_next(cx) {
            this.idle.as_mut().reset(Instant::now() + this.period);
            return Poll::Ready(next);
        }
        if this.idle.as_mut().poll(cx).is_ready() {
            this.idle.as_mut().reset(Instant::now() + this.period);
            return Poll::Ready(Some(Event::comment(KEEP_ALIVE_COMMENT)));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use tokio_stream::wrappers::UnboundedReceiverStream;

    #[tokio::test(start_paused = true)]
    async fn comments_fill_silence_and_events_reset_the_clock() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let start = Instant::now();
        let mut stream = KeepAlive::new(UnboundedReceiverStream::new(rx), Duration::from_secs(15));

        let first = stream.next().await.expect("a keep-alive");
        assert_eq!(first.comment_text(), Some("keep-alive"));
        assert_eq!(start.elapsed(), Duration::from_secs(15));

        tokio::time::sleep(Duration::from_secs(10)).await;
        tx.send(Event::data("news")).expect("open");
        assert_eq!(
            stream
                .next()
                .await
                .and_then(|e| e.data_text().map(String::from)),
            Some("news".into())
        );
        // The event 25 s in resets the clock: the next comment is due at 40 s, not 30 s.
        let next = stream.next().await.expect("a keep-alive");
        assert!(next.comment_text().is_some());
        assert_eq!(start.elapsed(), Duration::from_secs(40));

        drop(tx);
        assert!(stream.next().await.is_none(), "ends when the events end");
    }
}
