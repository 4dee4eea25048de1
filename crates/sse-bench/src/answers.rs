//! `sse-bench answers BASE -c N`: N streamed answers at once (`POST /v1/chat/completions`, one
//! connection each), read to `[DONE]`: the time from each `POST` to its first token, the gaps
//! between tokens, and the server's CPU. With `--abort`, the N answers are dropped together
//! once each has its first token, and `/metrics` is read until the server has stopped every
//! generation: how long that took, and how many tokens it generated after the drop.
//!
//! The server sets the pace (`--think-ms`, `--token-ms`): `--token-ms 40` is 25 tokens a
//! second per answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper::{Method, Request, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

use crate::client::{self, Connection, Error, Target};
use crate::stats::{Percentiles, ProcSample};

/// What `answers` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnswersResult {
    /// The server's name, from its `/health`.
    pub server: String,
    /// Answers asked for at once.
    pub clients: u64,
    /// Answers whose stream opened (200).
    pub answered: u64,
    /// Answers refused, or whose connection failed.
    pub failed: u64,
    /// From sending the `POST` to the first token, every answer.
    pub first_token_ms: Percentiles,
    /// Between two tokens of one answer, every gap of every answer (without `--abort`).
    pub token_gap_ms: Percentiles,
    /// Tokens read, all answers together.
    pub tokens_read: u64,
    /// Server CPU from the first `POST` to the last `[DONE]` (or the drop), in percent of one
    /// core, with `--pid`.
    pub cpu_percent: Option<f64>,
    /// With `--abort`: from dropping every answer to `sse_answers_cancelled_total` counting
    /// them all.
    pub all_stopped_ms: Option<f64>,
    /// With `--abort`: tokens the server generated after the drop, all answers together.
    pub tokens_after_drop: Option<u64>,
}

/// What one answer saw.
#[derive(Default)]
struct Seen {
    first_token_us: Option<u64>,
    gaps_us: Vec<u64>,
    tokens: u64,
}

/// Runs the workload: `clients` answers to `base`, read whole, or dropped with `abort`.
pub async fn run(
    base: &str,
    clients: u64,
    abort: bool,
    pid: Option<u32>,
) -> Result<AnswersResult, Error> {
    let base = Target::parse(base)?;
    let server = client::server_name(&base).await?;
    let how = if abort {
        "dropped after their first token"
    } else {
        "read to [DONE]"
    };
    eprintln!("answers: {clients} streamed answers at once, {how} ({server})");
    let completions = base.with_path("/v1/chat/completions");
    let metrics = base.with_path("/metrics");
    let cancelled_before = sample(&metrics, "sse_answers_cancelled_total").await?;
    // Every answer starts together, and with --abort is dropped together.
    let start = Arc::new(Barrier::new(clients as usize + 1));
    let drop = Arc::new(DropAll::default());
    let mut answers = JoinSet::new();
    for _ in 0..clients {
        let (target, start, drop) = (completions.clone(), start.clone(), drop.clone());
        answers.spawn(async move { answer(&target, &start, abort.then_some(&*drop)).await });
    }
    start.wait().await;
    let cpu_start = pid.map(ProcSample::read).transpose()?;
    let (mut all_stopped_ms, mut tokens_after_drop) = (None, None);
    if abort {
        // Each answer has its first token, or has failed: then all are dropped at once.
        let deadline = Instant::now() + Duration::from_secs(60);
        while drop.settled.load(Ordering::Relaxed) < clients && Instant::now() < deadline {
            sleep(Duration::from_millis(5)).await;
        }
        let tokens_at_drop = sample(&metrics, "sse_answer_tokens_total").await?;
        let dropped = Instant::now();
        drop.now.cancel();
        let target = cancelled_before + clients;
        while sample(&metrics, "sse_answers_cancelled_total").await? < target
            && dropped.elapsed() < Duration::from_secs(60)
        {
            sleep(Duration::from_millis(5)).await;
        }
        all_stopped_ms = Some(dropped.elapsed().as_secs_f64() * 1000.0);
        sleep(Duration::from_millis(500)).await;
        let tokens = sample(&metrics, "sse_answer_tokens_total").await?;
        tokens_after_drop = Some(tokens.saturating_sub(tokens_at_drop));
    }
    let (mut answered, mut first, mut gaps, mut tokens_read) = (0, Vec::new(), Vec::new(), 0);
    while let Some(outcome) = answers.join_next().await {
        if let Ok(Ok(seen)) = outcome {
            answered += 1;
            first.extend(seen.first_token_us);
            gaps.extend(seen.gaps_us);
            tokens_read += seen.tokens;
        }
    }
    let cpu_end = pid.map(ProcSample::read).transpose()?;
    let cpu_percent = cpu_start
        .zip(cpu_end)
        .map(|(start, end)| end.cpu_percent_since(&start));
    Ok(AnswersResult {
        server,
        clients,
        answered,
        failed: clients - answered,
        first_token_ms: Percentiles::of_micros(first),
        token_gap_ms: Percentiles::of_micros(gaps),
        tokens_read,
        cpu_percent,
        all_stopped_ms,
        tokens_after_drop,
    })
}

/// With `--abort`: how many answers have their first token (or failed), and the moment to
/// drop them all.
#[derive(Default)]
struct DropAll {
    settled: AtomicU64,
    now: CancellationToken,
}

/// One answer on a connection of its own: connects, waits at `start`, posts, and reads to
/// `[DONE]`; with `abort`, it stops after its first token and waits for the drop.
async fn answer(target: &Target, start: &Barrier, abort: Option<&DropAll>) -> Result<Seen, Error> {
    let connection = client::connect(target).await;
    start.wait().await;
    let read = read_answer(target, connection, abort).await;
    if let Some(drop) = abort
        && read
            .as_ref()
            .map_or(true, |seen| seen.first_token_us.is_none())
    {
        drop.settled.fetch_add(1, Ordering::Relaxed);
    }
    read
}

/// Posts the question on `connection` and reads the answer's events, timing its tokens.
async fn read_answer(
    target: &Target,
    connection: Result<Connection, Error>,
    abort: Option<&DropAll>,
) -> Result<Seen, Error> {
    let body =
        r#"{"model":"bench","messages":[{"role":"user","content":"How fast?"}],"stream":true}"#;
    let request = Request::builder()
        .method(Method::POST)
        .header("content-type", "application/json");
    let asked = Instant::now();
    let body = Bytes::from_static(body.as_bytes());
    let response = client::send(&connection?, target, request, body).await?;
    if response.status() != StatusCode::OK {
        return Err(format!("answered {}", response.status()).into());
    }
    let mut events = response.into_body().into_data_stream().eventsource();
    let (mut seen, mut last) = (Seen::default(), None);
    while let Some(event) = events.next().await {
        let event = event?;
        if event.data == "[DONE]" {
            break;
        }
        // The role (id 0) and the finish carry no content.
        if event.id == "0" || !event.data.contains("\"content\":") {
            continue;
        }
        let now = Instant::now();
        match last {
            None => seen.first_token_us = Some(micros(now - asked)),
            Some(before) => seen.gaps_us.push(micros(now - before)),
        }
        last = Some(now);
        seen.tokens += 1;
        if let Some(drop) = abort {
            drop.settled.fetch_add(1, Ordering::Relaxed);
            drop.now.cancelled().await;
            return Ok(seen);
        }
    }
    Ok(seen)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// One sample of the server's `/metrics`, such as `sse_answers_cancelled_total`.
async fn sample(metrics: &Target, name: &str) -> Result<u64, Error> {
    let response = client::get(metrics, None).await?;
    let body = response.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .ok_or_else(|| format!("/metrics has no {name}").into())
}
