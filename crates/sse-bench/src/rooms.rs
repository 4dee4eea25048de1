//! `sse-bench rooms BASE --rooms K -c N --rate R -d SECS`: fan-out over rooms. N subscribers,
//! each following one of K rooms (`r0` ... `r{K-1}`, dealt out in turn), and one publisher per
//! room posting R messages a second to `POST /chat/{room}`: how long a message takes to reach
//! each subscriber of its room, and how many never arrive.
//!
//! With `--spread BASE2 --spread BASE3`, the subscribers are dealt out over BASE and those
//! servers too, and the publishers post to all of them in turn: instances that share their rooms
//! through Redis or a Redis Cluster (`scripts/compare.sh --rooms`). `--pid` (repeatable) names
//! each server's process, for its CPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

use crate::client::{self, Error, Target};
use crate::fanout::{self, Seen};
use crate::ramp::{self, Counters};
use crate::stats::{Percentiles, ProcSample};

/// What `rooms` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomsResult {
    /// What was measured: the servers, and where their rooms live.
    pub setup: String,
    /// Rooms.
    pub rooms: u64,
    /// Subscribers asked for, all rooms together.
    pub clients: u64,
    /// Messages per second per room.
    pub rate: u64,
    /// Seconds of publishing.
    pub secs: u64,
    /// Subscribers whose stream opened.
    pub connected: u64,
    /// Messages the servers accepted (201), all rooms together.
    pub published: u64,
    /// Posts that were refused or failed.
    pub publish_errors: u64,
    /// The publishers' own `POST`s, from sending to the answer, during the fan-out.
    #[serde(default)]
    pub publish_ms: Percentiles,
    /// Deliveries expected but missing: each room's published x its subscribers - received.
    pub lost: u64,
    /// `event: lagged` received.
    pub lagged: u64,
    /// From posting to arrival, every delivery.
    pub latency_ms: Percentiles,
    /// Each server's CPU while publishing, in percent of one core, in the order of `--pid`.
    pub cpu_percent: Vec<f64>,
}

/// The workload, as asked for on the command line.
pub struct Workload<'a> {
    /// The servers: the first, then those of `--spread`.
    pub bases: Vec<String>,
    /// What to call this run in the report.
    pub setup: &'a str,
    /// Rooms.
    pub rooms: u64,
    /// Subscribers, all rooms together.
    pub clients: u64,
    /// Messages per second per room.
    pub rate: u64,
    /// Seconds of publishing.
    pub secs: u64,
    /// Connects in flight at once.
    pub in_flight: usize,
    /// The servers' processes.
    pub pids: Vec<u32>,
}

/// Runs the workload.
pub async fn run(work: Workload<'_>) -> Result<RoomsResult, Error> {
    let bases: Vec<Target> = work
        .bases
        .iter()
        .map(|b| Target::parse(b))
        .collect::<Result<_, _>>()?;
    let rooms = work.rooms.max(1);
    eprintln!(
        "rooms: {} subscribers over {rooms} rooms, {} messages/s per room for {} s ({})",
        work.clients, work.rate, work.secs, work.setup
    );
    let counters = Arc::new(Counters::default());
    let followers: Arc<Vec<AtomicU64>> = Arc::new((0..rooms).map(|_| AtomicU64::new(0)).collect());
    let stop = CancellationToken::new();
    let dealt = Arc::new(AtomicU64::new(0));
    let subscribers = {
        let (counters, stop, bases) = (counters.clone(), stop.clone(), Arc::new(bases.clone()));
        let followers = followers.clone();
        ramp::spawn_subscribers(work.clients, work.in_flight, move |permit| async move {
            let n = dealt.fetch_add(1, Ordering::Relaxed);
            let room = n % rooms;
            let base = &bases[(n / rooms) as usize % bases.len()];
            // From the start of the room (a cursor at 0): every message posted once it is open.
            let path = format!("/events/chat?rooms=r{room}&lastEventId=r{room}%3A0");
            let stream = base.with_path(&path);
            subscriber(&stream, room, &followers, &counters, &stop, permit).await
        })
    };
    ramp::wait_until_all_settled(&counters, work.clients, Duration::from_secs(120)).await;

    let start: Vec<ProcSample> = work
        .pids
        .iter()
        .map(|&p| ProcSample::read(p))
        .collect::<Result<_, _>>()?;
    let published = publish(&bases, rooms, work.rate, work.secs).await?;
    let cpu_percent = work
        .pids
        .iter()
        .zip(&start)
        .map(|(&pid, start)| ProcSample::read(pid).map(|end| end.cpu_percent_since(start)))
        .collect::<Result<Vec<_>, _>>()?;
    let expected: u64 = (0..rooms as usize)
        .map(|r| published.per_room[r] * followers[r].load(Ordering::Relaxed))
        .sum();
    let settle = Instant::now() + Duration::from_secs(10);
    while Counters::get(&counters.events) < expected && Instant::now() < settle {
        sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    let (mut received, mut lagged, mut latencies) = (0, 0, Vec::new());
    let mut subscribers = subscribers;
    while let Some(outcome) = subscribers.join_next().await {
        if let Ok(Some(seen)) = outcome {
            received += seen.received;
            lagged += seen.lagged;
            latencies.extend(seen.latencies);
        }
    }
    Ok(RoomsResult {
        setup: work.setup.to_owned(),
        rooms,
        clients: work.clients,
        rate: work.rate,
        secs: work.secs,
        connected: Counters::get(&counters.connected),
        published: published.per_room.iter().sum(),
        publish_errors: published.errors,
        publish_ms: Percentiles::of_micros(published.latencies),
        lost: expected.saturating_sub(received),
        lagged,
        latency_ms: Percentiles::of_micros(latencies),
        cpu_percent,
    })
}

/// What the publishers posted.
struct Published {
    per_room: Vec<u64>,
    errors: u64,
    /// Every accepted post's time to its answer, in µs.
    latencies: Vec<u64>,
}

/// One publisher per room, each on its own kept-alive connection to one of `bases` in turn,
/// posting `rate` messages a second for `secs` seconds.
async fn publish(bases: &[Target], rooms: u64, rate: u64, secs: u64) -> Result<Published, Error> {
    let mut publishers = JoinSet::new();
    for room in 0..rooms {
        let chat = bases[room as usize % bases.len()].with_path(&format!("/chat/r{room}"));
        publishers.spawn(async move {
            let posted = crate::publish::paced(&chat, rate, secs, None).await?;
            Ok::<_, Error>((room, posted))
        });
    }
    let mut out = Published {
        per_room: vec![0; rooms as usize],
        errors: 0,
        latencies: Vec::new(),
    };
    while let Some(done) = publishers.join_next().await {
        if let Ok(Ok((room, posted))) = done {
            out.per_room[room as usize] = posted.published;
            out.errors += posted.errors;
            out.latencies.extend(posted.latencies);
        }
    }
    Ok(out)
}

/// The runs as one Markdown table, a row each.
pub fn table(runs: &[&RoomsResult]) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let mut md = format!(
        "\n**fan-out over rooms**: {} subscribers over {} rooms ({} each), {} messages/s per \
         room, {} s\n\n| run | connected | published (errors) | publish to receive p50 / p99 / max \
         (ms) | the publishers' POST p50 / p99 / max (ms) | lost, lagged | each server's CPU (% of \
         a core) |\n|---|---|---|---|---|---|---|\n",
        first.clients,
        first.rooms,
        first.clients / first.rooms.max(1),
        first.rate,
        first.secs
    );
    for r in runs {
        let cpu: Vec<String> = r.cpu_percent.iter().map(|c| format!("{c:.1}")).collect();
        md.push_str(&format!(
            "| {} | {} | {} ({}) | {} | {} | {}, {} | {} |\n",
            r.setup,
            r.connected,
            r.published,
            r.publish_errors,
            r.latency_ms,
            r.publish_ms,
            r.lost,
            r.lagged,
            cpu.join(" + ")
        ));
    }
    md
}

/// One subscriber of `room`: counted among the room's followers once its stream is open, then
/// counts its messages and their latencies until `stop`.
async fn subscriber(
    stream: &Target,
    room: u64,
    followers: &[AtomicU64],
    counters: &Counters,
    stop: &CancellationToken,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Option<Seen> {
    let stream = ramp::opened(counters, permit, client::scan(stream, None)).await?;
    followers[room as usize].fetch_add(1, Ordering::Relaxed);
    Some(fanout::count_chat(stream, 0, counters, stop).await)
}
