//! What `load`, `fanout` and `storm` share: many subscribers opened with a bounded number of
//! connects in flight (so the server's listen backlog is not the thing measured), counted as
//! they succeed or fail, with a progress bar on the terminal.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

/// How many subscribers are connected, how many failed, and what they received.
#[derive(Debug, Default)]
pub struct Counters {
    /// Subscribers whose stream is open.
    pub connected: AtomicU64,
    /// Subscribers that could not connect, got another status than 200, or no first event.
    pub failed: AtomicU64,
    /// Streams the server ended while the run went on.
    pub dropped: AtomicU64,
    /// Events received, all subscribers together.
    pub events: AtomicU64,
}

impl Counters {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Adds one to a counter.
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Connects at most this many subscribers at a time unless told otherwise.
pub const CONNECTS_IN_FLIGHT: usize = 200;

/// Starts `clients` subscribers, at most `in_flight` of them connecting at once: each starts
/// holding a permit, and drops it once connected so that the next may start.
pub fn spawn_subscribers<F, Fut, T>(clients: u64, in_flight: usize, subscriber: F) -> JoinSet<T>
where
    F: FnOnce(OwnedSemaphorePermit) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    let permits = Arc::new(Semaphore::new(in_flight.max(1)));
    let mut subscribers = JoinSet::new();
    for _ in 0..clients {
        let (permits, subscriber) = (permits.clone(), subscriber.clone());
        subscribers.spawn(async move {
            let permit = permits.acquire_owned().await.expect("never closed");
            subscriber(permit).await
        });
    }
    subscribers
}

/// How long a subscriber's stream may take to open.
pub const OPEN_WITHIN: Duration = Duration::from_secs(30);

/// Waits for one subscriber's stream to open (at most [`OPEN_WITHIN`]) and counts it: connected,
/// with its permit dropped so that the next subscriber may start; or failed, and `None`.
pub async fn opened<T, E>(
    counters: &Counters,
    permit: OwnedSemaphorePermit,
    open: impl Future<Output = Result<T, E>>,
) -> Option<T> {
    let Ok(Ok(opened)) = timeout(OPEN_WITHIN, open).await else {
        Counters::add(&counters.failed);
        return None;
    };
    drop(permit);
    Counters::add(&counters.connected);
    Some(opened)
}

/// A bar on stderr (hidden when stderr is not a terminal, as in `scripts/compare.sh` logs).
pub fn bar(len: u64, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len).with_message(message);
    let style = ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({elapsed})")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Waits until every one of `clients` subscribers has connected or failed, at most `limit`.
pub async fn wait_until_all_settled(counters: &Counters, clients: u64, limit: Duration) {
    let bar = bar(clients, "connecting");
    let deadline = Instant::now() + limit;
    loop {
        let settled = Counters::get(&counters.connected) + Counters::get(&counters.failed);
        bar.set_position(settled);
        if settled >= clients || Instant::now() > deadline {
            break;
        }
        sleep(Duration::from_millis(100)).await;
    }
    bar.finish_and_clear();
}

/// Sleeps `secs` seconds with a bar counting them.
pub async fn hold(secs: u64, message: &'static str) {
    let bar = bar(secs, message);
    for _ in 0..secs {
        sleep(Duration::from_secs(1)).await;
        bar.inc(1);
    }
    bar.finish_and_clear();
}
