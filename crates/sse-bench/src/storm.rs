//! `sse-bench storm -c N -- SERVER [ARGS]`: the restart storm. N subscribers hold a stream of a
//! server this tool starts; the server is stopped with SIGTERM and started again on the same
//! port; every subscriber then does what `EventSource` does: waits the server's `retry`,
//! reconnects with `Last-Event-ID`, and waits `retry` again after a failed connect. Measured:
//! how long until every subscriber has an event again, how long each waited for it once it
//! reconnected, how many connects failed, and whether any id was missed or repeated across the
//! restart.
//!
//! The tool starts the server itself (adding `--port P`, a port it found free) because it must
//! stop it and start it again on the same port; the servers' `--port` is the contract's.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;

use crate::client::{self, Error, Target};
use crate::ramp::{self, Counters};
use crate::scan::{Event, Followed};
use crate::stats::Percentiles;

/// What `storm` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StormResult {
    /// The server's name, from its `/health`.
    pub server: String,
    /// Subscribers asked for.
    pub clients: u64,
    /// Subscribers whose stream opened before the restart.
    pub connected: u64,
    /// The smallest and the largest `retry` the subscribers were given before the restart
    /// (ms): one value for every stream, or a spread (`--retry-jitter`).
    pub retry_ms: (u64, u64),
    /// From SIGTERM until the server process exited.
    pub shutdown_ms: f64,
    /// From starting the server again until it answered `/health`.
    pub restart_ms: f64,
    /// From SIGTERM until the last subscriber had its first event after the restart.
    pub all_back_ms: Option<f64>,
    /// Subscribers with no event after the restart by the end of the run.
    pub not_back: u64,
    /// For each subscriber, from its first reconnect attempt (its `retry` after the stream
    /// ended) to its first event on the new stream: the wait the herd adds.
    pub first_event_ms: Percentiles,
    /// Reconnect attempts that failed (refused, timed out, or answered with another status
    /// than 200), each followed by another `retry`.
    pub failed_connects: u64,
    /// Ids skipped across the restart or after it, all subscribers together.
    pub ids_missed: u64,
    /// Ids received twice across the restart or after it.
    pub ids_repeated: u64,
}

/// How long the subscribers have to come back once the server is up again.
const BACK_WITHIN: Duration = Duration::from_secs(60);

/// How the subscribers fare, counted as they go.
#[derive(Default)]
struct Tally {
    counters: Counters,
    /// Subscribers that have had an event since the restart.
    back: AtomicU64,
    failed_connects: AtomicU64,
    missed: AtomicU64,
    repeated: AtomicU64,
}

/// Starts the server, opens the subscribers, restarts the server, and measures.
pub async fn run(
    path: &str,
    clients: u64,
    in_flight: usize,
    server: &[String],
) -> Result<StormResult, Error> {
    let port = free_port()?;
    let target = Target::parse(&format!("http://127.0.0.1:{port}{path}"))?;
    let mut child = start(server, port, &target).await?;
    let name = client::server_name(&target).await?;
    eprintln!("storm: {clients} subscribers to {path} of {name}, then SIGTERM and a restart");

    let tally = Arc::new(Tally::default());
    let stop = CancellationToken::new();
    let subscribers = {
        let (tally, stop, target) = (tally.clone(), stop.clone(), Arc::new(target.clone()));
        ramp::spawn_subscribers(clients, in_flight, move |permit| async move {
            subscriber(&target, &tally, &stop, permit).await
        })
    };
    ramp::wait_until_all_settled(&tally.counters, clients, Duration::from_secs(120)).await;
    let connected = Counters::get(&tally.counters.connected);
    // Every stream has had a few events: each subscriber knows its last id and the retry.
    ramp::hold(3, "steady").await;

    let sigterm = Instant::now();
    stop_server(&mut child)?;
    let exited = wait_for_exit(child).await?;
    let mut child = start(server, port, &target).await?;
    let ready = Instant::now();
    let bar = ramp::bar(connected, "back");
    while Counters::get(&tally.back) < connected && ready.elapsed() < BACK_WITHIN {
        bar.set_position(Counters::get(&tally.back));
        sleep(Duration::from_millis(50)).await;
    }
    bar.finish_and_clear();
    let back = Counters::get(&tally.back);
    // A few more events on every stream: ids after the first one are checked too.
    ramp::hold(3, "after").await;
    stop.cancel();

    let (mut retries, mut reconnect_waits, mut last_back) = (Vec::new(), Vec::new(), sigterm);
    let mut subscribers = subscribers;
    while let Some(outcome) = subscribers.join_next().await {
        if let Ok(Some(seen)) = outcome {
            retries.push(seen.retry_ms.unwrap_or(DEFAULT_RETRY_MS));
            if let Some((attempt, first_event)) = seen.back {
                reconnect_waits.push(first_event.duration_since(attempt).as_micros() as u64);
                last_back = last_back.max(first_event);
            }
        }
    }
    stop_server(&mut child)?;
    wait_for_exit(child).await?;

    let fewest = retries.iter().min().copied().unwrap_or(DEFAULT_RETRY_MS);
    let most = retries.iter().max().copied().unwrap_or(DEFAULT_RETRY_MS);
    Ok(StormResult {
        server: name,
        clients,
        connected,
        retry_ms: (fewest, most),
        shutdown_ms: ms(exited.duration_since(sigterm)),
        restart_ms: ms(ready.duration_since(exited)),
        all_back_ms: (back == connected && connected > 0)
            .then(|| ms(last_back.duration_since(sigterm))),
        not_back: connected - back,
        first_event_ms: Percentiles::of_micros(reconnect_waits),
        failed_connects: Counters::get(&tally.failed_connects),
        ids_missed: Counters::get(&tally.missed),
        ids_repeated: Counters::get(&tally.repeated),
    })
}

/// What one subscriber reports at the end.
struct Seen {
    retry_ms: Option<u64>,
    /// If it came back: when it first tried to reconnect, and when its first event came.
    back: Option<(Instant, Instant)>,
}

/// `EventSource`'s reconnection delay before a server has sent `retry` (the standard leaves it
/// to the browser; Chrome and Firefox wait about 3 s).
const DEFAULT_RETRY_MS: u64 = 3000;

/// One subscriber: opens its stream, follows it through the restart as `EventSource` would,
/// and checks each id against the one before until `stop`. `None` if it never connected.
async fn subscriber(
    target: &Target,
    tally: &Tally,
    stop: &CancellationToken,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Option<Seen> {
    let mut stream = ramp::opened(&tally.counters, permit, client::scan(target, None)).await?;
    let mut last_id = None;
    let check = |event: Event, last_id: &mut Option<u64>| {
        if let (Some(last), Some(id)) = (*last_id, event.id) {
            if id <= last {
                tally.repeated.fetch_add(last - id + 1, Ordering::Relaxed);
            } else if id > last + 1 {
                tally.missed.fetch_add(id - last - 1, Ordering::Relaxed);
            }
        }
        *last_id = event.id.or(*last_id);
    };
    // Until the server ends the stream (or the run ends, if it never does).
    let followed = stream
        .follow(stop, |event| check(event, &mut last_id))
        .await;
    let retry_ms = stream.scanner.retry_ms;
    if followed == Followed::Stopped {
        return Some(Seen {
            retry_ms,
            back: None,
        });
    }
    let retry = Duration::from_millis(retry_ms.unwrap_or(DEFAULT_RETRY_MS));
    drop(stream);

    // As `EventSource`: wait `retry`, reconnect with the last id; after a failure, again.
    sleep(retry).await;
    let first_attempt = Instant::now();
    let mut stream = loop {
        let attempt = timeout(ramp::OPEN_WITHIN, client::scan(target, last_id));
        tokio::select! {
            () = stop.cancelled() => return Some(Seen { retry_ms, back: None }),
            opened = attempt => match opened {
                Ok(Ok(stream)) => break stream,
                _ => {
                    tally.failed_connects.fetch_add(1, Ordering::Relaxed);
                    sleep(retry).await;
                }
            },
        }
    };
    let mut first_event = None;
    stream
        .follow(stop, |event| {
            if first_event.is_none() {
                first_event = Some(Instant::now());
                tally.back.fetch_add(1, Ordering::Relaxed);
            }
            check(event, &mut last_id);
        })
        .await;
    Some(Seen {
        retry_ms,
        back: first_event.map(|at| (first_attempt, at)),
    })
}

/// A port on 127.0.0.1 that is free now.
fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `server --port PORT` and waits (at most 10 s) until it answers `/health`.
async fn start(server: &[String], port: u16, target: &Target) -> Result<Child, Error> {
    let (program, args) = server.split_first().ok_or("no server command was given")?;
    let mut child = Command::new(program)
        .args(args)
        .args(["--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let health = target.with_path("/health");
    while client::get(&health, None).await.is_err() {
        if let Some(status) = child.try_wait()? {
            return Err(format!("{program} exited at start ({status})").into());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!("{program} did not answer on port {port} within 10 s").into());
        }
        sleep(Duration::from_millis(5)).await;
    }
    Ok(child)
}

/// Sends the server SIGTERM, as a service manager or `docker stop` does.
fn stop_server(child: &mut Child) -> Result<(), Error> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    if !status.success() {
        return Err(format!("kill -TERM {} failed", child.id()).into());
    }
    Ok(())
}

/// Waits (at most 30 s, then kills it) for the server to exit; when it did.
async fn wait_for_exit(mut child: Child) -> Result<Instant, Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("the server did not exit within 30 s of SIGTERM".into());
        }
        sleep(Duration::from_millis(1)).await;
    }
    Ok(Instant::now())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
