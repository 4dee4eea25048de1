//! `sse-bench fanout BASE -c N --rate R -d SECS`: N chat subscribers, and one publisher posting
//! R messages a second; how long a message takes from `POST /chat` to each subscriber, and how
//! many never arrive.
//!
//! Each message's text is the time it was posted (µs since 1970); publisher and subscribers
//! share this process's clock, so a subscriber's latency is its arrival time minus that.
//!
//! With `--spread BASE2 --spread BASE3`, the subscribers are dealt out over BASE and those
//! servers in turn while the publisher still posts to BASE: the fan-out across instances that
//! share one chat through Redis (`scripts/compare.sh --redis`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

use crate::client::{self, Error, Target};
use crate::publish::{self, Posted};
use crate::ramp::{self, Counters};
use crate::scan::{Event, Followed, Kind};
use crate::stats::{self, Percentiles, ProcSample};

/// What `fanout` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutResult {
    /// The server's name, from its `/health`; with `--spread`, every server's, joined by `+`,
    /// then "on Redis".
    pub server: String,
    /// Subscribers asked for.
    pub clients: u64,
    /// Messages per second asked for.
    pub rate: u64,
    /// Seconds of publishing.
    pub secs: u64,
    /// Subscribers whose stream opened.
    pub connected: u64,
    /// Subscribers whose stream did not.
    pub failed: u64,
    /// Messages the server accepted (201; nchan's 202 too).
    pub published: u64,
    /// Messages the publisher could not post.
    pub publish_errors: u64,
    /// The publisher's own `POST`s, from sending to the answer, during the fan-out.
    #[serde(default)]
    pub publish_ms: Percentiles,
    /// Message deliveries expected but missing: published x connected - received.
    pub lost: u64,
    /// `event: lagged` received, all subscribers together.
    pub lagged: u64,
    /// From posting to arrival, every delivery.
    pub latency_ms: Percentiles,
    /// Server memory added per open stream (KiB), with `--pid`.
    pub rss_kib_per_conn: Option<f64>,
    /// Server CPU while publishing, in percent of one core, with `--pid`.
    pub cpu_percent: Option<f64>,
    /// This client's own CPU while publishing (subscribers and publisher), in percent of one
    /// core: on one machine, what the measurement took from the server.
    #[serde(default)]
    pub client_cpu_percent: Option<f64>,
}

/// What one subscriber saw.
#[derive(Default)]
pub struct Seen {
    /// Chat messages received.
    pub received: u64,
    /// `lagged` notices received.
    pub lagged: u64,
    /// From posting to arrival, each message, in µs.
    pub latencies: Vec<u64>,
}

/// Runs the workload.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    base: &str,
    spread: &[String],
    clients: u64,
    rate: u64,
    secs: u64,
    in_flight: usize,
    pid: Option<u32>,
) -> Result<FanoutResult, Error> {
    let base = Target::parse(base)?;
    let mut streams = vec![base.with_path("/events/chat?history=0")];
    let mut names = vec![client::server_name(&base).await?];
    for other in spread {
        let other = Target::parse(other)?;
        names.push(client::server_name(&other).await?);
        streams.push(other.with_path("/events/chat?history=0"));
    }
    let server = match spread.len() {
        0 => names.join("+"),
        _ => format!("{} on Redis", names.join("+")),
    };
    eprintln!("fanout: {clients} chat subscribers, {rate} messages/s for {secs} s ({server})");
    let before = pid.map(ProcSample::read).transpose()?;
    let counters = Arc::new(Counters::default());
    let stop = CancellationToken::new();
    let subscribers = {
        let (counters, stop) = (counters.clone(), stop.clone());
        // Dealt out in turn: subscriber n listens to server n % servers.
        let (streams, dealt) = (Arc::new(streams), Arc::new(AtomicUsize::new(0)));
        ramp::spawn_subscribers(clients, in_flight, move |permit| async move {
            let stream = &streams[dealt.fetch_add(1, Ordering::Relaxed) % streams.len()];
            subscriber(stream, rate * secs, &counters, &stop, permit).await
        })
    };
    ramp::wait_until_all_settled(&counters, clients, Duration::from_secs(120)).await;
    let connected = Counters::get(&counters.connected);

    let start = pid.map(ProcSample::read).transpose()?;
    let client_start = ProcSample::read(std::process::id())?;
    let posted = publish(&base.with_path("/chat"), rate, secs).await?;
    let published = posted.published;
    let end = pid.map(ProcSample::read).transpose()?;
    let client_cpu = ProcSample::read(std::process::id())?.cpu_percent_since(&client_start);
    // Let the last messages arrive: every subscriber should end with every message.
    let expected = published * connected;
    let settle = Instant::now() + Duration::from_secs(10);
    while Counters::get(&counters.events) < expected && Instant::now() < settle {
        sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();

    let mut received = 0;
    let mut lagged = 0;
    let mut latencies = Vec::new();
    let mut subscribers = subscribers;
    while let Some(outcome) = subscribers.join_next().await {
        if let Ok(Some(seen)) = outcome {
            received += seen.received;
            lagged += seen.lagged;
            latencies.extend(seen.latencies);
        }
    }
    let (rss_kib_per_conn, cpu_percent) = stats::server_cost(before, start, end, connected);
    Ok(FanoutResult {
        server,
        clients,
        rate,
        secs,
        connected,
        failed: Counters::get(&counters.failed),
        published,
        publish_errors: posted.errors,
        publish_ms: Percentiles::of_micros(posted.latencies),
        lost: expected.saturating_sub(received),
        lagged,
        latency_ms: Percentiles::of_micros(latencies),
        rss_kib_per_conn,
        cpu_percent,
        client_cpu_percent: Some(client_cpu),
    })
}

/// Posts `rate` messages a second for `secs` seconds, with a progress bar.
async fn publish(chat: &Target, rate: u64, secs: u64) -> Result<Posted, Error> {
    let bar = ramp::bar(rate * secs, "publishing");
    let posted = publish::paced(chat, rate, secs, Some(&bar)).await;
    bar.finish_and_clear();
    posted
}

/// One chat subscriber: counts messages (`expected` of them, if none is lost) and their
/// latencies until `stop`.
async fn subscriber(
    stream: &Target,
    expected: u64,
    counters: &Counters,
    stop: &CancellationToken,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Option<Seen> {
    // Subscribed once the headers came: the server registers the subscriber before it sends them.
    let stream = ramp::opened(counters, permit, client::scan(stream, None)).await?;
    Some(count_chat(stream, expected, counters, stop).await)
}

/// Follows an open chat stream until `stop`, counting its messages (`expected` of them, if none
/// is lost), their latencies and its `lagged` notices; `rooms` does the same per room.
pub async fn count_chat(
    mut stream: crate::scan::Stream,
    expected: u64,
    counters: &Counters,
    stop: &CancellationToken,
) -> Seen {
    let mut seen = Seen {
        latencies: Vec::with_capacity(expected as usize),
        ..Seen::default()
    };
    let on_event = |event: Event| match event.kind {
        Kind::Chat => {
            if let Some(sent) = event.stamp {
                seen.latencies
                    .push(client::unix_micros().saturating_sub(sent));
            }
            seen.received += 1;
            Counters::add(&counters.events);
        }
        Kind::Lagged => seen.lagged += 1,
        Kind::Message | Kind::Other => {}
    };
    if stream.follow(stop, on_event).await == Followed::Ended {
        Counters::add(&counters.dropped);
    }
    seen
}
