//! `sse-bench`: a load tool for SSE servers, since ordinary HTTP benchmarks wait for a response
//! that never ends. `load` holds thousands of subscribers, `fanout` measures chat delivery,
//! `storm` restarts a server under them, and `report` turns results into a table and a chart
//! `answers` times streamed answers over `POST` and their stop (to watch one stream by hand, `sse watch`, in `crates/sse-cli`). Run the client and the
//! server as separate processes: each side of 10,000 connections needs 10,000 file descriptors.
//!
//! `cargo run --release -p sse-bench -- --help`; `scripts/compare.sh` runs it on all three servers.

mod answers;
mod client;
mod fanout;
mod floor;
mod load;
mod publish;
mod ramp;
mod report;
mod rooms;
mod scan;
mod soak;
mod stats;
mod storm;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::client::Error;
use crate::report::Outcome;

/// A load tool for SSE servers.
#[derive(Debug, Parser)]
#[command(name = "sse-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Hold N subscribers on a stream and measure connects, first events and server cost.
    Load {
        /// The stream, e.g. http://127.0.0.1:3000/events (https:// for HTTP/2 over TLS; the
        /// certificate is not checked)
        url: String,
        /// With https://: the HTTP/2 connections that carry the subscribers.
        #[arg(long, default_value_t = 100)]
        connections: u64,
        #[command(flatten)]
        run: Run,
    },
    /// N chat subscribers and a publisher at R messages/s: delivery latency and losses.
    Fanout {
        /// The server, e.g. http://127.0.0.1:3000
        base: String,
        /// Messages per second.
        #[arg(long, default_value_t = 10)]
        rate: u64,
        /// Deal the subscribers out over this server too (repeat for more); the publisher still
        /// posts to BASE. For servers that share one chat through Redis (`--redis`).
        #[arg(long, value_name = "BASE")]
        spread: Vec<String>,
        #[command(flatten)]
        run: Run,
    },
    /// Fan-out over rooms: N subscribers dealt out over K rooms, one publisher per room at R
    /// messages/s: delivery latency, losses and each server's CPU.
    Rooms {
        /// The server, e.g. http://127.0.0.1:3000
        base: String,
        /// Rooms (`r0`, `r1`, ...).
        #[arg(long, default_value_t = 100)]
        rooms: u64,
        /// Messages per second per room.
        #[arg(long, default_value_t = 10)]
        rate: u64,
        /// Deal the subscribers out over this server too (repeat for more), and the publishers:
        /// servers that share their rooms through Redis.
        #[arg(long, value_name = "BASE")]
        spread: Vec<String>,
        /// What to call the run in the report.
        #[arg(long, default_value = "in memory")]
        setup: String,
        /// Each server's process id, to read its CPU from /proc (repeat for each).
        #[arg(long = "server-pid")]
        pids: Vec<u32>,
        #[command(flatten)]
        run: Run,
    },
    /// N streamed answers at once (`POST /v1/chat/completions`): time to first token, token
    /// gaps, server CPU; with `--abort`, all dropped after their first token, and how long
    /// until the server stopped generating every one.
    Answers {
        /// The server, e.g. http://127.0.0.1:3000 (started with the pace to measure, such as
        /// `--token-ms 40`: 25 tokens a second)
        base: String,
        /// Answers at once, one connection each.
        #[arg(short, long, default_value_t = 1000)]
        clients: u64,
        /// Drop every answer after its first token, and time the server's stop.
        #[arg(long)]
        abort: bool,
        /// The server's process id, to read its CPU from /proc.
        #[arg(long)]
        pid: Option<u32>,
        /// Also write the result to this file as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The restart storm: start a server, hold N subscribers on it, stop it with SIGTERM and
    /// start it again; every subscriber reconnects after `retry` with `Last-Event-ID`, as
    /// `EventSource` does. Measures the time until all are back, failed connects, and ids
    /// missed or repeated.
    Storm {
        /// The stream's path.
        #[arg(long, default_value = "/events")]
        path: String,
        /// Subscribers.
        #[arg(short, long, default_value_t = 1000)]
        clients: u64,
        /// Connects in flight at once while opening the streams (the reconnects after the
        /// restart are not held back: that is the storm).
        #[arg(long, default_value_t = ramp::CONNECTS_IN_FLIGHT)]
        connects_in_flight: usize,
        /// Also write the result to this file as JSON, for `report`.
        #[arg(long)]
        json: Option<PathBuf>,
        /// The server and its options, after `--`; this tool adds `--port P`.
        #[arg(last = true, required = true, value_name = "SERVER")]
        server: Vec<String>,
    },
    /// The least a server can do for `load` and `fanout` (plain threads, one write per event,
    /// no framework): a yardstick for the frameworks' numbers. Runs until killed.
    Floor {
        /// The port on 127.0.0.1; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Churn against one server for a while (visitors come and go on every stream, a publisher
    /// posts, witnesses and a resumer follow the chat), then check that every stream was
    /// released, the memory came back and no chat message was lost. Exits 1 if not.
    Soak {
        /// The server, e.g. http://127.0.0.1:3000
        base: String,
        /// How long to churn.
        #[arg(long, default_value_t = 5.0)]
        minutes: f64,
        /// Visitors at a time.
        #[arg(short, long, default_value_t = 200)]
        clients: usize,
        /// The server's process id, to read its memory from /proc.
        #[arg(long)]
        pid: u32,
    },
    /// Turn `--json` results into report.md (one table) and report.svg (a chart).
    Report {
        /// Result files written by `load --json` and `fanout --json`.
        files: Vec<PathBuf>,
        /// Where to write report.md and report.svg.
        #[arg(long)]
        out: PathBuf,
    },
}

/// What `load` and `fanout` share.
#[derive(Debug, Args)]
struct Run {
    /// Subscribers.
    #[arg(short, long, default_value_t = 1000)]
    clients: u64,
    /// Seconds to measure: of steady state (load), of publishing (fanout).
    #[arg(short = 'd', long, default_value_t = 15)]
    secs: u64,
    /// Connects in flight at once.
    #[arg(long, default_value_t = ramp::CONNECTS_IN_FLIGHT)]
    connects_in_flight: usize,
    /// The server's process id, to read its memory and CPU from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Also write the result to this file as JSON, for `report`.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    match Cli::parse().command {
        Command::Load {
            url,
            connections,
            run,
        } => {
            let (clients, secs, in_flight) = (run.clients, run.secs, run.connects_in_flight);
            let result = load::run(&url, clients, connections, secs, in_flight, run.pid);
            finish(Outcome::Load(result.await?), run.json)
        }
        Command::Fanout {
            base,
            rate,
            spread,
            run,
        } => {
            let (clients, secs, in_flight) = (run.clients, run.secs, run.connects_in_flight);
            let result = fanout::run(&base, &spread, clients, rate, secs, in_flight, run.pid);
            finish(Outcome::Fanout(result.await?), run.json)
        }
        Command::Rooms {
            base,
            rooms,
            rate,
            spread,
            setup,
            pids,
            run,
        } => {
            let work = rooms::Workload {
                bases: std::iter::once(base).chain(spread).collect(),
                setup: &setup,
                rooms,
                clients: run.clients,
                rate,
                secs: run.secs,
                in_flight: run.connects_in_flight,
                pids,
            };
            finish(Outcome::Rooms(rooms::run(work).await?), run.json)
        }
        Command::Answers {
            base,
            clients,
            abort,
            pid,
            json,
        } => {
            let result = answers::run(&base, clients, abort, pid).await?;
            finish(Outcome::Answers(result), json)
        }
        Command::Storm {
            path,
            clients,
            connects_in_flight,
            json,
            server,
        } => {
            let result = storm::run(&path, clients, connects_in_flight, &server).await?;
            finish(Outcome::Storm(result), json)
        }
        Command::Floor { port } => floor::run(port),
        Command::Soak {
            base,
            minutes,
            clients,
            pid,
        } => soak::run(&base, minutes, clients, pid).await,
        Command::Report { files, out } => {
            let mut outcomes = Vec::new();
            for file in &files {
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                outcomes.push(
                    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?,
                );
            }
            print!("{}", report::write(&outcomes, &out)?);
            Ok(())
        }
    }
}

/// Prints a result as pretty JSON, and writes it to `json` when asked.
fn finish(outcome: Outcome, json: Option<PathBuf>) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(&outcome)?;
    println!("{text}");
    if let Some(path) = json {
        std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
