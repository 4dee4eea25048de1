//! `sse-bench load URL -c N -d SECS`: N subscribers hold a stream open; how many connect, how
//! soon each gets its first event, how many events arrive, and what it costs the server.
//!
//! Over `http://`, each subscriber has a connection of its own (HTTP/1.1, as a browser). Over
//! `https://`, HTTP/2: the subscribers are dealt out over `--connections` connections, as the
//! streams of many tabs share one connection to a server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{self, Connection, Error, Target};
use crate::ramp::{self, Counters};
use crate::scan::{Event, Followed};
use crate::stats::{self, Percentiles, ProcSample};

/// What `load` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadResult {
    /// The server's name, from its `/health`.
    pub server: String,
    /// `http/1.1` (a connection per stream) or `h2` (streams sharing connections).
    #[serde(default = "http1")]
    pub protocol: String,
    /// Connections carrying the streams: one per subscriber over HTTP/1.1.
    #[serde(default)]
    pub connections: u64,
    /// Subscribers asked for.
    pub clients: u64,
    /// Seconds of steady state measured.
    pub secs: u64,
    /// Subscribers that got their first event.
    pub connected: u64,
    /// Subscribers that did not.
    pub failed: u64,
    /// Streams the server ended during the run.
    pub dropped: u64,
    /// From starting to connect to the first event, per subscriber.
    pub first_event_ms: Percentiles,
    /// Events received per second in steady state, all subscribers together.
    pub events_per_sec: f64,
    /// Events whose id was not the one after the previous event's.
    pub gaps: u64,
    /// Server memory added per open stream (KiB), with `--pid`.
    pub rss_kib_per_conn: Option<f64>,
    /// Server CPU in steady state, in percent of one core, with `--pid`.
    pub cpu_percent: Option<f64>,
    /// This client's own CPU over the same seconds, in percent of one core: on one machine,
    /// what the measurement took from the server.
    #[serde(default)]
    pub client_cpu_percent: Option<f64>,
}

fn http1() -> String {
    "http/1.1".to_owned()
}

/// Runs the workload and prints what it measured; over `https://`, on `connections` HTTP/2
/// connections.
pub async fn run(
    url: &str,
    clients: u64,
    connections: u64,
    secs: u64,
    in_flight: usize,
    pid: Option<u32>,
) -> Result<LoadResult, Error> {
    let target = Target::parse(url)?;
    let server = client::server_name(&target).await?;
    let before = pid.map(ProcSample::read).transpose()?;
    // Over HTTP/2, the shared connections, opened first; over HTTP/1.1, none.
    let mut shared = Vec::new();
    if target.tls() {
        for _ in 0..connections.max(1) {
            shared.push(client::connect(&target).await?);
        }
    }
    let connections = if target.tls() {
        shared.len() as u64
    } else {
        clients
    };
    eprintln!(
        "load: {clients} subscribers to {url} ({server}, {} on {connections} connections) for {secs} s",
        target.protocol()
    );
    let counters = Arc::new(Counters::default());
    let stop = CancellationToken::new();
    let subscribers = {
        let (counters, stop) = (counters.clone(), stop.clone());
        let (target, shared) = (Arc::new(target.clone()), Arc::new(shared));
        let dealt = Arc::new(AtomicUsize::new(0));
        ramp::spawn_subscribers(clients, in_flight, move |permit| async move {
            let connection = match shared.len() {
                0 => None,
                n => Some(&shared[dealt.fetch_add(1, Ordering::Relaxed) % n]),
            };
            subscriber(&target, connection, &counters, &stop, permit).await
        })
    };
    ramp::wait_until_all_settled(&counters, clients, Duration::from_secs(120)).await;

    let start = pid.map(ProcSample::read).transpose()?;
    let client_start = ProcSample::read(std::process::id())?;
    let events_at_start = Counters::get(&counters.events);
    let started = Instant::now();
    ramp::hold(secs, "steady").await;
    let end = pid.map(ProcSample::read).transpose()?;
    let client_cpu = ProcSample::read(std::process::id())?.cpu_percent_since(&client_start);
    let events = Counters::get(&counters.events) - events_at_start;
    let elapsed = started.elapsed().as_secs_f64();
    stop.cancel();

    let mut first_events = Vec::new();
    let mut gaps = 0;
    let mut subscribers = subscribers;
    while let Some(outcome) = subscribers.join_next().await {
        if let Ok(Some((first_event, subscriber_gaps))) = outcome {
            first_events.push(first_event);
            gaps += subscriber_gaps;
        }
    }
    let connected = Counters::get(&counters.connected);
    let (rss_kib_per_conn, cpu_percent) = stats::server_cost(before, start, end, connected);
    Ok(LoadResult {
        server,
        protocol: target.protocol().to_owned(),
        connections,
        clients,
        secs,
        connected,
        failed: Counters::get(&counters.failed),
        dropped: Counters::get(&counters.dropped),
        first_event_ms: Percentiles::of_micros(first_events),
        events_per_sec: events as f64 / elapsed,
        gaps,
        rss_kib_per_conn,
        cpu_percent,
        client_cpu_percent: Some(client_cpu),
    })
}

/// One subscriber: connects, waits for its first event, then counts events until `stop`.
/// Returns its time to first event (µs) and its id gaps, or `None` if it failed.
async fn subscriber(
    target: &Target,
    connection: Option<&Connection>,
    counters: &Counters,
    stop: &CancellationToken,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Option<(u64, u64)> {
    let started = Instant::now();
    // Reads until the first event, whose id it returns.
    let first = async {
        let mut stream = match connection {
            Some(shared) => client::scan_on(shared, target, None).await?,
            None => client::scan(target, None).await?,
        };
        let mut first = None;
        while first.is_none() {
            if !stream
                .read(|event| first = first.or(Some(event.id)))
                .await?
            {
                return Err::<_, Error>("the stream ended before its first event".into());
            }
        }
        Ok((stream, first.flatten()))
    };
    let (mut stream, mut last_id) = ramp::opened(counters, permit, first).await?;
    let first_event = started.elapsed().as_micros() as u64;
    Counters::add(&counters.events);
    let mut gaps = 0;
    let on_event = |event: Event| {
        Counters::add(&counters.events);
        if let (Some(last), Some(id)) = (last_id, event.id)
            && id != last + 1
        {
            gaps += 1;
        }
        last_id = event.id;
    };
    if stream.follow(stop, on_event).await == Followed::Ended {
        Counters::add(&counters.dropped);
    }
    Some((first_event, gaps))
}
