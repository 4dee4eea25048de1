//! The body of one chat stream, in one layer: `retry:` first, then the rooms' messages, a
//! keep-alive comment after `--keep-alive-secs` of silence, the `expired` event when the
//! stream's token ends, and the end on shutdown.
//!
//! The other streams put these together from one adapter each ([`KeepAlive`], `UntilExpired`,
//! `take_until`). A chat stream is the one that fan-out multiplies by 10,000, and there each
//! adapter costs on every message: `take_until` locks the shutdown token's two mutexes, shared
//! by every stream, and `KeepAlive` polls its timer, at each of the two polls a delivery takes
//! (one that hands the message over, one that finds nothing more). Here the three clocks
//! (shutdown, expiry, and the keep-alive's [`Silence`]) are polled once with a waker of their
//! own, an `Alarm`, that marks itself before waking the stream's task; a delivery checks that
//! mark, one atomic swap, and polls the clocks only when one of them rang. Measured in `docs/src/measured.md` ("Against
//! nchan").
//!
//! [`KeepAlive`]: crate::keep_alive::KeepAlive
//!
//! Tested with paused time by `cargo test -p sse-core chat_body`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::task::AtomicWaker;
use prometheus_client::metrics::counter::Counter;
use tokio::time::{Sleep, sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::expiry::Expiry;
use crate::keep_alive::{KEEP_ALIVE_BYTES, Silence};
use crate::room_stream::ChatStream;

/// The waker the clocks are polled with: it marks that one rang, then wakes the stream's task.
#[derive(Default)]
struct Alarm {
    rang: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Alarm {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.rang.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// The encoded bytes of one chat stream (see the module's documentation).
pub struct ChatBody {
    retry: Option<Bytes>,
    messages: ChatStream,
    /// `sse_events_sent_total{stream="chat"}`: messages, not `retry:` or comments.
    sent: Counter,
    alarm: Arc<Alarm>,
    /// [`Self::alarm`] as a waker, made once.
    alarm_waker: Waker,
    /// The clocks have not been polled yet, so none of them would wake the alarm.
    unarmed: bool,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    expiry: Option<(Pin<Box<Sleep>>, Bytes, Counter)>,
    silence: Silence,
    ended: bool,
}

impl ChatBody {
    /// `retry` (encoded), then `messages`, each counted in `sent`, with a comment after
    /// `keep_alive` of silence; ended by `shutdown`, and with an `expiry` by that.
    pub fn new(
        retry: Bytes,
        messages: ChatStream,
        sent: Counter,
        keep_alive: Duration,
        shutdown: WaitForCancellationFutureOwned,
        expiry: Option<Expiry<Bytes>>,
    ) -> Self {
        let alarm = Arc::new(Alarm::default());
        Self {
            retry: Some(retry),
            messages,
            sent,
            alarm_waker: Waker::from(Arc::clone(&alarm)),
            alarm,
            unarmed: true,
            shutdown: Box::pin(shutdown),
            expiry: expiry.map(|e| (Box::pin(sleep(e.after)), e.event, e.counted)),
            silence: Silence::new(keep_alive),
            ended: false,
        }
    }

    /// Polls the three clocks with the alarm's waker, which (re-)arms them, and says which
    /// rang.
    fn ring(&mut self) -> Rang {
        let mut alarm = Context::from_waker(&self.alarm_waker);
        if self.shutdown.as_mut().poll(&mut alarm).is_ready() {
            return Rang::Shutdown;
        }
        if let Some((at, event, counted)) = &mut self.expiry
            && at.as_mut().poll(&mut alarm).is_ready()
        {
            counted.inc();
            return Rang::Expired(event.clone());
        }
        if self.silence.poll_due(&mut alarm).is_ready() {
            // The timer is armed for its new time at the next poll.
            self.unarmed = true;
            return Rang::Silence;
        }
        Rang::Nothing
    }
}

/// Which of a chat stream's clocks rang.
enum Rang {
    Nothing,
    Shutdown,
    Expired(Bytes),
    Silence,
}

impl Stream for ChatBody {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if let Some(retry) = this.retry.take() {
            return Poll::Ready(Some(retry));
        }
        // Registered before the mark is read: a clock that rings after the read still wakes
        // this task, which then finds the mark.
        this.alarm.task.register(cx.waker());
        if std::mem::take(&mut this.unarmed) || this.alarm.rang.swap(false, Ordering::Acquire) {
            match this.ring() {
                Rang::Nothing => {}
                Rang::Silence => return Poll::Ready(Some(KEEP_ALIVE_BYTES)),
                Rang::Expired(event) => {
                    this.ended = true;
                    return Poll::Ready(Some(event));
                }
                Rang::Shutdown => {
                    this.ended = true;
                    return Poll::Ready(None);
                }
            }
        }
        match this.messages.as_mut().poll_next(cx) {
            Poll::Ready(Some(message)) => {
                this.sent.inc();
                this.silence.sent();
                Poll::Ready(Some(message))
            }
            Poll::Ready(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use tokio::time::Instant;
    use tokio_stream::wrappers::UnboundedReceiverStream;
    use tokio_util::sync::CancellationToken;

    const RETRY: Bytes = Bytes::from_static(b"retry: 1000\n\n");
    const EXPIRED: Bytes = Bytes::from_static(b"event: expired\ndata: {}\n\n");

    /// A body over a channel of messages, with a 15 s keep-alive.
    fn body(expiry: Option<Duration>) -> (ChatBody, Feed) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (shutdown, sent, expired) = (
            CancellationToken::new(),
            Counter::default(),
            Counter::default(),
        );
        let expiry = expiry.map(|after| Expiry {
            after,
            event: EXPIRED,
            counted: expired.clone(),
        });
        let body = ChatBody::new(
            RETRY,
            Box::pin(UnboundedReceiverStream::new(rx)),
            sent.clone(),
            Duration::from_secs(15),
            shutdown.clone().cancelled_owned(),
            expiry,
        );
        (
            body,
            Feed {
                tx,
                shutdown,
                sent,
                expired,
            },
        )
    }

    struct Feed {
        tx: tokio::sync::mpsc::UnboundedSender<Bytes>,
        shutdown: CancellationToken,
        sent: Counter,
        expired: Counter,
    }

    fn message(text: &'static str) -> Bytes {
        Bytes::from_static(text.as_bytes())
    }

    #[tokio::test(start_paused = true)]
    async fn retry_first_then_messages_and_comments_only_after_silence() {
        let start = Instant::now();
        let (mut body, feed) = body(None);
        assert_eq!(body.next().await, Some(RETRY));
        let first = body.next().await;
        assert_eq!(
            (first, start.elapsed()),
            (Some(KEEP_ALIVE_BYTES), Duration::from_secs(15))
        );

        tokio::time::sleep(Duration::from_secs(10)).await;
        feed.tx.send(message("data: a\n\n")).expect("open");
        assert_eq!(body.next().await, Some(message("data: a\n\n")));
        // The message 25 s in moves the silence: the next comment at 40 s, not 30 s.
        let next = body.next().await;
        assert_eq!(
            (next, start.elapsed()),
            (Some(KEEP_ALIVE_BYTES), Duration::from_secs(40))
        );
        let after = body.next().await;
        assert_eq!(
            (after, start.elapsed()),
            (Some(KEEP_ALIVE_BYTES), Duration::from_secs(55))
        );
        assert_eq!(feed.sent.get(), 1, "messages are counted, comments are not");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_a_waiting_stream() {
        let (mut body, feed) = body(None);
        assert_eq!(body.next().await, Some(RETRY));
        let shutdown = feed.shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            shutdown.cancel();
        });
        let start = Instant::now();
        assert_eq!(body.next().await, None);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert_eq!(body.next().await, None, "and stays ended");
    }

    #[tokio::test(start_paused = true)]
    async fn an_expiry_sends_its_event_then_the_end() {
        let (mut body, feed) = body(Some(Duration::from_secs(20)));
        feed.tx.send(message("data: a\n\n")).expect("open");
        let seen: Vec<Bytes> = (&mut body).collect().await;
        assert_eq!(
            seen,
            [RETRY, message("data: a\n\n"), KEEP_ALIVE_BYTES, EXPIRED]
        );
        assert_eq!(feed.expired.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_end_of_the_messages_is_the_end_of_the_body() {
        let (mut body, feed) = body(None);
        feed.tx.send(message("data: a\n\n")).expect("open");
        drop(feed.tx);
        let seen: Vec<Bytes> = (&mut body).collect().await;
        assert_eq!(seen, [RETRY, message("data: a\n\n")]);
    }
}
