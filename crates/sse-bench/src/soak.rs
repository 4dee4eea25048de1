//! `sse-bench soak BASE --minutes M --pid PID`: churn against one server for M minutes, then
//! check that nothing leaked and nothing was lost.
//!
//! While it runs:
//! - `--clients` visitors at a time each open a random stream (clock, paragraph, counter or
//!   chat), read it for a random 0.2 to 3 s, leave, and are replaced by a new visitor;
//! - a publisher posts chat messages at random moments, 20 a second on average;
//! - three witnesses stay subscribed to the chat the whole time, and a resumer leaves every
//!   second or two and comes back with `Last-Event-ID`.
//!
//! Then it checks: every witness and the resumer got every published message exactly once, in
//! order; `/health` shows 0 open streams within 5 s; and the server's RSS after the run is near
//! its value once warmed up, a quarter of the way in (within 4 MiB). Not its value before the
//! first client: glibc keeps the pages freed by the busiest moment for reuse, so RSS after a
//! churn stays near its high-water mark, whereas a leak keeps growing for the whole run. It
//! exits non-zero if a check fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;

use crate::client::{self, Error, Target};
use crate::stats::ProcSample;

/// How much more RSS than when warmed up is still "near".
const RSS_SLACK_KIB: u64 = 4 * 1024;

/// The stream routes a visitor picks from.
const ROUTES: [&str; 4] = [
    "/events?interval_ms=200",
    "/events/paragraph?interval_ms=200",
    "/events/counter?interval_ms=200",
    "/events/chat",
];

/// What the soak saw.
#[derive(Debug, Default)]
struct Tally {
    visits: AtomicU64,
    failed_visits: AtomicU64,
    events: AtomicU64,
}

/// Runs the soak; `Ok` only if every check passed.
pub async fn run(base: &str, minutes: f64, clients: usize, pid: u32) -> Result<(), Error> {
    let base = Target::parse(base)?;
    let server = client::server_name(&base).await?;
    let before = ProcSample::read(pid)?;
    eprintln!(
        "soak: {minutes} min against {server}, {clients} visitors at a time; RSS before {} KiB",
        before.rss_kib
    );
    let stop = CancellationToken::new();
    let tally = Arc::new(Tally::default());

    let chat = base.with_path("/events/chat?history=0");
    let mut witnesses = JoinSet::new();
    for _ in 0..3 {
        let (chat, stop) = (chat.clone(), stop.clone());
        witnesses.spawn(async move { witness(&chat, &stop).await });
    }
    let resumer = {
        let (chat, stop) = (chat.clone(), stop.clone());
        tokio::spawn(async move { resumer(&chat, &stop).await })
    };
    // The witnesses must be subscribed before the first message.
    sleep(Duration::from_millis(500)).await;

    let mut visitors = JoinSet::new();
    for _ in 0..clients {
        let (base, stop, tally) = (base.clone(), stop.clone(), tally.clone());
        visitors.spawn(async move { visitor(&base, &stop, &tally).await });
    }
    let run = Duration::from_secs_f64(minutes * 60.0);
    let warm = tokio::spawn(async move {
        sleep(run / 4).await;
        ProcSample::read(pid)
    });
    let published = publish(&base.with_path("/chat"), Instant::now() + run).await?;
    let warm = warm.await??;
    let churned = ProcSample::read(pid)?;
    stop.cancel();
    while visitors.join_next().await.is_some() {}

    let mut failures = Vec::new();
    let mut witnessed = Vec::new();
    while let Some(seen) = witnesses.join_next().await {
        witnessed.push(seen?);
    }
    witnessed.push(resumer.await?);
    for (i, seen) in witnessed.iter().enumerate() {
        let who = if i < 3 {
            format!("witness {}", i + 1)
        } else {
            "the resumer".to_owned()
        };
        if let Err(problem) = seen.check(published) {
            failures.push(format!("{who}: {problem}"));
        }
    }

    let open = wait_for_no_open_streams(&base).await?;
    if open != 0 {
        failures.push(format!(
            "{open} streams still open 5 s after every client left"
        ));
    }
    let after = ProcSample::read(pid)?;
    if after.rss_kib > warm.rss_kib + RSS_SLACK_KIB {
        failures.push(format!(
            "RSS {} KiB after, {} when warmed up: it grew by more than {RSS_SLACK_KIB} KiB",
            after.rss_kib, warm.rss_kib
        ));
    }
    println!(
        "soak: {server}, {minutes} min: {} visits ({} failed), {} events read by visitors, \
         {published} chat messages published, each seen once and in order by 3 witnesses and \
         a resumer that reconnected {} times; open streams after: {open}; RSS before {} KiB, \
         warmed up {} KiB, at the end of the churn {} KiB, after {} KiB",
        tally.visits.load(Ordering::Relaxed),
        tally.failed_visits.load(Ordering::Relaxed),
        tally.events.load(Ordering::Relaxed),
        witnessed.last().map_or(0, |r| r.reconnects),
        before.rss_kib,
        warm.rss_kib,
        churned.rss_kib,
        after.rss_kib,
    );
    if failures.is_empty() {
        println!("soak: passed");
        Ok(())
    } else {
        Err(format!("soak failed:\n- {}", failures.join("\n- ")).into())
    }
}

/// Posts messages at random moments (on average 20 a second) until `deadline`; returns how many
/// the server accepted, which are also the ids 1 to n it gave them.
async fn publish(chat: &Target, deadline: Instant) -> Result<u64, Error> {
    let sender = client::connect(chat).await?;
    let mut published = 0;
    while Instant::now() < deadline {
        sleep(Duration::from_millis(fastrand::u64(0..100))).await;
        let body = serde_json::json!({ "user": "soak", "text": format!("message {published}") });
        let (status, _) = client::post_json(&sender, chat, body.to_string()).await?;
        if status.as_u16() != 201 {
            return Err(format!("POST /chat answered {status}").into());
        }
        published += 1;
    }
    Ok(published)
}

/// One visitor after another until `stop`: a random stream, read for a random while, left.
async fn visitor(base: &Target, stop: &CancellationToken, tally: &Tally) {
    while !stop.is_cancelled() {
        let route = ROUTES[fastrand::usize(..ROUTES.len())];
        let stay = Duration::from_millis(fastrand::u64(200..3000));
        tally.visits.fetch_add(1, Ordering::Relaxed);
        let Ok(mut events) = client::subscribe(&base.with_path(route)).await else {
            tally.failed_visits.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let read = async {
            while let Some(Ok(_)) = events.next().await {
                tally.events.fetch_add(1, Ordering::Relaxed);
            }
        };
        tokio::select! {
            _ = timeout(stay, read) => {}
            () = stop.cancelled() => {}
        }
    }
}

/// The chat ids one subscriber received, checked against what was published.
#[derive(Debug, Default)]
struct Witnessed {
    /// The id of the last message received.
    last: u64,
    /// Ids that were not the one after the previous (a gap, a repeat or a reorder).
    out_of_order: Vec<(u64, u64)>,
    reconnects: u64,
}

impl Witnessed {
    fn saw(&mut self, id: u64) {
        if id != self.last + 1 {
            self.out_of_order.push((self.last, id));
        }
        self.last = self.last.max(id);
    }

    fn check(&self, published: u64) -> Result<(), String> {
        if let Some((after, got)) = self.out_of_order.first() {
            return Err(format!("got id {got} after {after}"));
        }
        if self.last != published {
            return Err(format!(
                "last id {}, but {published} were published",
                self.last
            ));
        }
        Ok(())
    }
}

/// A chat subscriber for the whole run; after `stop`, it reads on until the chat is quiet for
/// 2 s, so that the last messages arrive.
async fn witness(chat: &Target, stop: &CancellationToken) -> Witnessed {
    let mut seen = Witnessed::default();
    let Ok(mut events) = client::subscribe(chat).await else {
        return seen;
    };
    loop {
        let next = if stop.is_cancelled() {
            match timeout(Duration::from_secs(2), events.next()).await {
                Ok(next) => next,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                next = events.next() => next,
                () = stop.cancelled() => continue,
            }
        };
        match next {
            Some(Ok(event)) if event.event == "chat" => {
                if let Ok(id) = event.id.parse() {
                    seen.saw(id);
                }
            }
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    seen
}

/// A chat subscriber that leaves every 0.5 to 2 s and comes back with `Last-Event-ID`, as a
/// browser does after a dropped connection.
async fn resumer(chat: &Target, stop: &CancellationToken) -> Witnessed {
    let mut seen = Witnessed::default();
    loop {
        let last = (seen.last > 0).then(|| seen.last.to_string());
        let Ok(response) = client::get(chat, last.as_deref()).await else {
            break;
        };
        let mut events = response.into_body().into_data_stream().eventsource();
        let stay = Duration::from_millis(fastrand::u64(500..2000));
        let quiet = if stop.is_cancelled() {
            Duration::from_secs(2)
        } else {
            stay
        };
        let read = async {
            while let Some(Ok(event)) = events.next().await {
                if event.event == "chat"
                    && let Ok(id) = event.id.parse()
                {
                    seen.saw(id);
                }
            }
        };
        let finished = stop.is_cancelled();
        let _ = timeout(quiet, read).await;
        if finished {
            break;
        }
        seen.reconnects += 1;
    }
    seen
}

/// Polls `/health` for up to 5 s until no stream is open; returns the last count seen.
async fn wait_for_no_open_streams(base: &Target) -> Result<u64, Error> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let open = client::open_streams(base).await?;
        if open == 0 || Instant::now() > deadline {
            return Ok(open);
        }
        sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn witnessed(ids: &[u64]) -> Witnessed {
        let mut seen = Witnessed::default();
        for &id in ids {
            seen.saw(id);
        }
        seen
    }

    #[test]
    fn every_message_once_in_order_passes() {
        assert_eq!(witnessed(&[1, 2, 3]).check(3), Ok(()));
        assert_eq!(witnessed(&[]).check(0), Ok(()));
    }

    #[test]
    fn a_gap_a_repeat_or_a_missing_tail_fails() {
        assert!(witnessed(&[1, 3]).check(3).is_err(), "gap");
        assert!(witnessed(&[1, 2, 2, 3]).check(3).is_err(), "repeat");
        assert!(witnessed(&[2, 1, 3]).check(3).is_err(), "reorder");
        assert!(
            witnessed(&[1, 2]).check(3).is_err(),
            "the last one never came"
        );
    }
}
