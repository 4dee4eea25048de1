//! A stream opened with a token ends when the token does: [`UntilExpired`] passes its stream's
//! items on until the token's end, then sends one `event: expired` and ends. A stream that
//! ends first (a paragraph finished, a shutdown) ends as it would have, with no `expired`.
//!
//! Tested by `cargo test -p sse-core expiry`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use prometheus_client::metrics::counter::Counter;
use serde_json::json;
use tokio::time::Sleep;

use crate::event::{Event, FieldValue};
use crate::identity::User;

/// The event that ends a stream opened with a token when the token expires: its data is
/// `{"user":"...","exp":n}`, and it has no `id:`, so the browser's `lastEventId` still names
/// the last message and a reconnect with a fresh token resumes exactly there.
pub const EXPIRED: FieldValue = FieldValue::from_static("expired");

/// The `expired` event of `user`'s token.
pub fn expired_event(user: &User) -> Event {
    let data = json!({ "user": user.name, "exp": user.expires }).to_string();
    Event::data(data).with_event(EXPIRED)
}

/// When a stream opened with a token ends: after `after`, with `event` (the `expired` event,
/// encoded or not), counted in `counted` when it is handed over.
pub struct Expiry<T> {
    /// Time left on the token.
    pub after: Duration,
    /// The `expired` event.
    pub event: T,
    /// `sse_streams_expired_total`.
    pub counted: Counter,
}

/// `inner` until `after` has passed; then `last` (the `expired` event, encoded or not), then
/// the end.
pub struct UntilExpired<S: Stream> {
    inner: Pin<Box<S>>,
    expiry: Pin<Box<Sleep>>,
    /// `None` once the stream has ended, either way.
    last: Option<S::Item>,
    /// `sse_streams_expired_total`, counted when `last` is handed over.
    expired: Counter,
}

impl<S: Stream> UntilExpired<S> {
    /// `inner`, ended after `after` with `last`, counted in `expired`.
    pub fn new(inner: S, after: Duration, last: S::Item, expired: Counter) -> Self {
        Self {
            inner: Box::pin(inner),
            expiry: Box::pin(tokio::time::sleep(after)),
            last: Some(last),
            expired,
        }
    }
}

impl<S: Stream> Stream for UntilExpired<S>
where
    S::Item: Unpin,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        if this.last.is_none() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = this.inner.as_mut().poll_next(cx) {
            if item.is_none() {
                this.last = None;
            }
            return Poll::Ready(item);
        }
        match this.expiry.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired.inc();
                Poll::Ready(this.last.take())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{StreamExt, stream};

    #[tokio::test(start_paused = true)]
    async fn items_flow_until_the_expiry_then_its_event_then_the_end() {
        let ticks = stream::unfold(0, |n| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((n + 1, n + 1))
        });
        let start = tokio::time::Instant::now();
        let expired = Counter::default();
        let seen: Vec<u32> =
            UntilExpired::new(ticks, Duration::from_millis(3500), 0, expired.clone())
                .collect()
                .await;
        assert_eq!(seen, [1, 2, 3, 0], "three ticks, then the last item");
        assert_eq!(start.elapsed(), Duration::from_millis(3500));
        assert_eq!(expired.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_that_ends_first_ends_without_the_event() {
        let short = stream::iter([1, 2]);
        let expired = Counter::default();
        let seen: Vec<u32> = UntilExpired::new(short, Duration::from_secs(60), 0, expired.clone())
            .collect()
            .await;
        assert_eq!((seen, expired.get()), (vec![1, 2], 0));
    }
}
