//! `sse-bench report FILES --out DIR`: the results of `load --json` and `fanout --json` runs as
//! one Markdown table (frameworks as columns, with the speed goals) and an SVG chart.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::answers::AnswersResult;
use crate::client::Error;
use crate::fanout::FanoutResult;
use crate::load::LoadResult;
use crate::rooms::{self, RoomsResult};
use crate::storm::StormResult;

/// One run's result, as written by `--json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "workload", rename_all = "lowercase")]
pub enum Outcome {
    /// From `sse-bench load`.
    Load(LoadResult),
    /// From `sse-bench fanout`.
    Fanout(FanoutResult),
    /// From `sse-bench storm`.
    Storm(StormResult),
    /// From `sse-bench rooms`: a table of its own, one row per run.
    Rooms(RoomsResult),
    /// From `sse-bench answers`: not in the report's table (its figures are in the book's
    /// chapter on streamed answers).
    Answers(AnswersResult),
}

/// The speed goals, each for every server. Two are set against the yardsticks of the same run
/// (issue 16): memory per stream no more than the seed's Node server's, CPU no more than
/// [`CPU_OVER_FLOOR`] times the floor's; without them in the run, these fixed figures stand in.
const FIRST_EVENT_P99_MS: f64 = 100.0;
const RSS_KIB_PER_CONN: f64 = 12.0;
const CPU_OVER_FLOOR: f64 = 1.1;
const CPU_PERCENT: f64 = 15.0;
const FANOUT_P99_MS: f64 = 100.0;
/// A server busy delivering answers its publisher within this (issue 28).
const PUBLISH_P99_MS: f64 = 100.0;

impl Outcome {
    /// The server that was measured, as its `/health` names it.
    fn server(&self) -> &str {
        match self {
            Outcome::Load(r) => &r.server,
            Outcome::Fanout(r) => &r.server,
            Outcome::Storm(r) => &r.server,
            Outcome::Rooms(r) => &r.setup,
            Outcome::Answers(r) => &r.server,
        }
    }
}

/// The columns: the servers measured, axum, actix, warp, the floor and Node first, in that
/// order.
fn columns(outcomes: &[Outcome]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let tabled = |o: &&Outcome| !matches!(o, Outcome::Rooms(_) | Outcome::Answers(_));
    for outcome in outcomes.iter().filter(tabled) {
        if !names.iter().any(|name| name == outcome.server()) {
            names.push(outcome.server().to_owned());
        }
    }
    let order = |name: &String| {
        ["axum", "actix", "warp", FLOOR, PEER, NCHAN]
            .iter()
            .position(|known| known == name)
    };
    // A stable sort: any other server keeps its place after these.
    names.sort_by_key(|name| order(name).unwrap_or(usize::MAX));
    names
}

/// The name `sse-bench floor` gives in its `/health`: a yardstick, not held to the goals.
pub const FLOOR: &str = "floor";

/// The name the seed's Node server (`crates/sse-bench/peers/node-seed.js`) gives in its
/// `/health`: a peer to measure against, not held to the goals.
pub const PEER: &str = "node";

/// The name the nchan peer (`crates/sse-bench/peers/nchan.conf`) gives in its `/health`: the
/// fan-out our servers are held to when it is in the run (issue 28), not held to goals itself.
pub const NCHAN: &str = "nchan";

/// Whether `server`'s figure meets its goal, shown after it (nothing for the yardsticks).
fn mark(server: &str, met: bool) -> &'static str {
    match (server, met) {
        (FLOOR | PEER | NCHAN, _) => "",
        (_, true) => " ✓",
        (_, false) => " ✗",
    }
}

/// The server's CPU time per delivered message while publishing, in µs: its CPU share times
/// the seconds of publishing, over the deliveries made.
fn cpu_per_delivery_us(r: &FanoutResult) -> Option<f64> {
    let delivered = (r.published * r.connected).saturating_sub(r.lost);
    let cpu = r.cpu_percent?;
    (delivered > 0).then(|| cpu / 100.0 * r.secs as f64 * 1e6 / delivered as f64)
}

/// Writes `report.md` and `report.svg` into `out` and returns the Markdown.
pub fn write(outcomes: &[Outcome], out: &Path) -> Result<String, Error> {
    let names = columns(outcomes);
    let load_over = |name: &str, protocol: &str| {
        outcomes.iter().find_map(|o| match o {
            Outcome::Load(r) if r.server == name && r.protocol == protocol => Some(r),
            _ => None,
        })
    };
    let load = |name: &str| load_over(name, "http/1.1");
    let load_h2 = |name: &str| load_over(name, "h2");
    let fanout = |name: &str| {
        outcomes.iter().find_map(|o| match o {
            Outcome::Fanout(r) if r.server == name => Some(r),
            _ => None,
        })
    };
    let storms = |jitter: bool| {
        move |name: &str| {
            outcomes.iter().find_map(|o| match o {
                Outcome::Storm(r)
                    if r.server == name && (r.retry_ms.0 != r.retry_ms.1) == jitter =>
                {
                    Some(r)
                }
                _ => None,
            })
        }
    };
    // The goals that depend on the yardsticks, and how the goal column says them.
    let peer_rss = load(PEER).and_then(|r| r.rss_kib_per_conn);
    let rss_goal = peer_rss.unwrap_or(RSS_KIB_PER_CONN);
    let rss_goal_text = match peer_rss {
        Some(kib) => format!("≤ {PEER}'s ({kib:.1})"),
        None => format!("≤ {RSS_KIB_PER_CONN}"),
    };
    let floor_cpu = load(FLOOR).and_then(|r| r.cpu_percent);
    let cpu_goal = floor_cpu.map_or(CPU_PERCENT, |cpu| cpu * CPU_OVER_FLOOR);
    let cpu_goal_text = match floor_cpu {
        Some(_) => format!("≤ {CPU_OVER_FLOOR} × floor ({cpu_goal:.1})"),
        None => format!("≤ {CPU_PERCENT}"),
    };
    let mut md = String::new();
    let header: Vec<&str> = names.iter().map(String::as_str).collect();
    writeln!(md, "| | goal | {} |", header.join(" | "))?;
    writeln!(md, "|---|---|{}", "---|".repeat(names.len()))?;
    let mut row = |label: String, goal: &str, cell: &dyn Fn(&str) -> String| {
        let cells: Vec<String> = names.iter().map(|n| cell(n)).collect();
        writeln!(md, "| {label} | {goal} | {} |", cells.join(" | "))
    };
    let na = || "–".to_owned();
    // A figure to a tenth, or a dash where there is none.
    let tenths = |figure: Option<f64>| figure.map_or_else(na, |x| format!("{x:.1}"));
    if let Some(any) = names.iter().find_map(|n| load(n)) {
        let title = format!(
            "**load**: `GET /events`, {} subscribers, 1 event/s, {} s",
            any.clients, any.secs
        );
        row(title, "", &|_| String::new())?;
        row("connected / failed".into(), "all / 0", &|n| {
            load(n).map_or_else(na, |r| {
                let met = r.failed == 0 && r.connected == r.clients;
                format!("{} / {}{}", r.connected, r.failed, mark(n, met))
            })
        })?;
        row(
            "first event p50 / p99 / max (ms)".into(),
            "p99 ≤ 100",
            &|n| {
                load(n).map_or_else(na, |r| {
                    let met = r.first_event_ms.p99 <= FIRST_EVENT_P99_MS;
                    format!("{}{}", r.first_event_ms, mark(n, met))
                })
            },
        )?;
        row("events/s, id gaps".into(), "", &|n| {
            load(n).map_or_else(na, |r| format!("{:.0}, {}", r.events_per_sec, r.gaps))
        })?;
        row(
            "server RSS per connection (KiB)".into(),
            &rss_goal_text,
            &|n| {
                load(n)
                    .and_then(|r| r.rss_kib_per_conn)
                    .map_or_else(na, |kib| format!("{kib:.1}{}", mark(n, kib <= rss_goal)))
            },
        )?;
        row(
            "server CPU, steady state (% of a core)".into(),
            &cpu_goal_text,
            &|n| {
                load(n)
                    .and_then(|r| r.cpu_percent)
                    .map_or_else(na, |cpu| format!("{cpu:.1}{}", mark(n, cpu <= cpu_goal)))
            },
        )?;
        row("the load client's own CPU (% of a core)".into(), "", &|n| {
            tenths(load(n).and_then(|r| r.client_cpu_percent))
        })?;
    }
    if let Some(any) = names.iter().find_map(|n| load_h2(n)) {
        let title = format!(
            "**load over HTTP/2** (TLS): `GET /events`, {} subscribers on {} connections, 1 event/s, {} s",
            any.clients, any.connections, any.secs
        );
        row(title, "", &|_| String::new())?;
        row("connected / failed".into(), "all / 0", &|n| {
            load_h2(n).map_or_else(na, |r| {
                let met = r.failed == 0 && r.connected == r.clients;
                format!("{} / {}{}", r.connected, r.failed, mark(n, met))
            })
        })?;
        row("first event p50 / p99 / max (ms)".into(), "", &|n| {
            load_h2(n).map_or_else(na, |r| r.first_event_ms.to_string())
        })?;
        row("events/s, id gaps".into(), "", &|n| {
            load_h2(n).map_or_else(na, |r| format!("{:.0}, {}", r.events_per_sec, r.gaps))
        })?;
        row("server RSS per stream (KiB)".into(), "", &|n| {
            tenths(load_h2(n).and_then(|r| r.rss_kib_per_conn))
        })?;
        row("server CPU, steady state (% of a core)".into(), "", &|n| {
            tenths(load_h2(n).and_then(|r| r.cpu_percent))
        })?;
    }
    if let Some(any) = names.iter().find_map(|n| fanout(n)) {
        let title = format!(
            "**fan-out**: `GET /events/chat`, {} subscribers, {} messages/s, {} s",
            any.clients, any.rate, any.secs
        );
        row(title, "", &|_| String::new())?;
        row("connected / failed".into(), "all / 0", &|n| {
            fanout(n).map_or_else(na, |r| {
                let met = r.failed == 0 && r.connected == r.clients;
                format!("{} / {}{}", r.connected, r.failed, mark(n, met))
            })
        })?;
        row("messages published".into(), "", &|n| {
            fanout(n).map_or_else(na, |r| {
                format!("{} ({} errors)", r.published, r.publish_errors)
            })
        })?;
        // With nchan in the run, its figures are the goals (issue 28); else the fixed one.
        let nchan = fanout(NCHAN);
        let latency_goal = nchan.map_or(format!("p99 ≤ {FANOUT_P99_MS}"), |r| {
            format!(
                "≤ nchan's ({:.1} / {:.1})",
                r.latency_ms.p50, r.latency_ms.p99
            )
        });
        row(
            "publish to receive p50 / p99 / max (ms)".into(),
            &latency_goal,
            &|n| {
                fanout(n).map_or_else(na, |r| {
                    let met = match nchan {
                        Some(peer) => {
                            r.latency_ms.p50 <= peer.latency_ms.p50
                                && r.latency_ms.p99 <= peer.latency_ms.p99
                        }
                        None => r.latency_ms.p99 <= FANOUT_P99_MS,
                    };
                    format!("{}{}", r.latency_ms, mark(n, met))
                })
            },
        )?;
        let per_delivery = nchan.and_then(cpu_per_delivery_us);
        let cpu_goal = per_delivery.map_or(String::new(), |us| format!("≤ nchan's ({us:.2})"));
        row("server CPU per delivery (µs)".into(), &cpu_goal, &|n| {
            let mine = fanout(n).and_then(cpu_per_delivery_us);
            mine.map_or_else(na, |us| {
                let met = per_delivery.is_none_or(|goal| us <= goal);
                let shown = if per_delivery.is_some() {
                    mark(n, met)
                } else {
                    ""
                };
                format!("{us:.2}{shown}")
            })
        })?;
        row(
            "the publisher's own POST p50 / p99 / max (ms)".into(),
            "p99 ≤ 100",
            &|n| {
                fanout(n).map_or_else(na, |r| {
                    let met = r.publish_ms.p99 <= PUBLISH_P99_MS;
                    format!("{}{}", r.publish_ms, mark(n, met))
                })
            },
        )?;
        row("deliveries lost, lagged".into(), "0", &|n| {
            fanout(n).map_or_else(na, |r| {
                format!("{}, {}{}", r.lost, r.lagged, mark(n, r.lost == 0))
            })
        })?;
        row("server RSS per subscriber (KiB)".into(), "", &|n| {
            tenths(fanout(n).and_then(|r| r.rss_kib_per_conn))
        })?;
        row(
            "server CPU while publishing (% of a core)".into(),
            "",
            &|n| tenths(fanout(n).and_then(|r| r.cpu_percent)),
        )?;
        row(
            "the fan-out client's own CPU (% of a core)".into(),
            "",
            &|n| tenths(fanout(n).and_then(|r| r.client_cpu_percent)),
        )?;
    }
    for jitter in [true, false] {
        let storm = storms(jitter);
        let Some(any) = names.iter().find_map(|n| storm(n)) else {
            continue;
        };
        let how = if jitter {
            "`retry` spread per stream (`--retry-jitter`)"
        } else {
            "one `retry` for all (`--retry-jitter 0`)"
        };
        let title = format!(
            "**restart storm**: `GET /events`, {} subscribers, SIGTERM and a restart; {how}",
            any.clients
        );
        row(title, "", &|_| String::new())?;
        row("retry given (ms)".into(), "", &|n| {
            storm(n).map_or_else(na, |r| match r.retry_ms {
                (low, high) if low == high => format!("{low}"),
                (low, high) => format!("{low} to {high}"),
            })
        })?;
        row("stopped, started again in (ms)".into(), "", &|n| {
            storm(n).map_or_else(na, |r| format!("{:.0}, {:.0}", r.shutdown_ms, r.restart_ms))
        })?;
        row("all back, from SIGTERM (s)".into(), "all", &|n| {
            storm(n).map_or_else(na, |r| match r.all_back_ms {
                Some(ms) => format!("{:.2}{}", ms / 1000.0, mark(n, true)),
                None => format!("{} not back{}", r.not_back, mark(n, false)),
            })
        })?;
        row(
            "first event after reconnecting p50 / p99 / max (ms)".into(),
            "",
            &|n| storm(n).map_or_else(na, |r| r.first_event_ms.to_string()),
        )?;
        row("failed connects".into(), "", &|n| {
            storm(n).map_or_else(na, |r| r.failed_connects.to_string())
        })?;
        row("ids missed / repeated".into(), "0 / 0", &|n| {
            storm(n).map_or_else(na, |r| {
                let met = r.ids_missed == 0 && r.ids_repeated == 0;
                format!("{} / {}{}", r.ids_missed, r.ids_repeated, mark(n, met))
            })
        })?;
    }
    if names.iter().any(|n| n == FLOOR) {
        writeln!(
            md,
            "\n*floor*: `sse-bench floor`, no framework: blocking sockets, one `write` per \
             event. What the kernel charges for the same work, not held to the goals."
        )?;
    }
    if names.iter().any(|n| n == PEER) {
        writeln!(
            md,
            "\n*node*: the seed's plain Node server (`crates/sse-bench/peers/node-seed.js`), \
             a peer to measure against on the load workload, not held to the goals."
        )?;
    }
    if names.iter().any(|n| n == NCHAN) {
        writeln!(
            md,
            "\n*nchan*: nginx with its pub/sub module, one worker process \
             (`crates/sse-bench/peers/nchan.conf`), the server one would deploy instead for \
             fan-out: its figures are the fan-out goals of the run, and it is held to none."
        )?;
    }
    if names.is_empty() {
        // Only `rooms` runs: no frameworks table.
        md.clear();
    }
    let room_runs: Vec<&RoomsResult> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Rooms(r) => Some(r),
            _ => None,
        })
        .collect();
    if !room_runs.is_empty() {
        md.push_str(&rooms::table(&room_runs));
    }
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("report.md"), &md)?;

    let panels: [(&str, f64, Vec<f64>); 4] = [
        (
            "first event p99 (ms)",
            FIRST_EVENT_P99_MS,
            names
                .iter()
                .map(|n| load(n).map_or(0.0, |r| r.first_event_ms.p99))
                .collect(),
        ),
        (
            "RSS per connection (KiB)",
            rss_goal,
            names
                .iter()
                .map(|n| load(n).and_then(|r| r.rss_kib_per_conn).unwrap_or(0.0))
                .collect(),
        ),
        (
            "CPU, steady state (%)",
            cpu_goal,
            names
                .iter()
                .map(|n| load(n).and_then(|r| r.cpu_percent).unwrap_or(0.0))
                .collect(),
        ),
        (
            "fan-out p99 (ms)",
            FANOUT_P99_MS,
            names
                .iter()
                .map(|n| fanout(n).map_or(0.0, |r| r.latency_ms.p99))
                .collect(),
        ),
    ];
    chart(&out.join("report.svg"), &names, &panels)?;
    Ok(md)
}

/// Four small bar charts side by side, one bar per server, the goal as a red line.
fn chart(path: &Path, names: &[String], panels: &[(&str, f64, Vec<f64>)]) -> Result<(), Error> {
    let root = SVGBackend::new(path, (1200, 300)).into_drawing_area();
    root.fill(&WHITE)?;
    let colors = [
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x2c, 0xa0, 0x2c),
    ];
    for (area, (title, goal, values)) in root.split_evenly((1, panels.len())).iter().zip(panels) {
        let top = values.iter().copied().fold(*goal, f64::max) * 1.2;
        let mut chart = ChartBuilder::on(area)
            .caption(*title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(40)
            .build_cartesian_2d((0..names.len() as u32).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_label_formatter(&|x| match x {
                // "axum+actix+warp on Redis" would cover its neighbours' names.
                SegmentValue::Exact(i) | SegmentValue::CenterOf(i) => {
                    match names.get(*i as usize) {
                        Some(name) if name.ends_with(" on Redis") => "Redis".to_owned(),
                        Some(name) => name.clone(),
                        None => String::new(),
                    }
                }
                SegmentValue::Last => String::new(),
            })
            .draw()?;
        chart.draw_series(values.iter().enumerate().map(|(i, &value)| {
            let i = i as u32;
            let color = colors[i as usize % colors.len()];
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), value),
                ],
                color.filled(),
            );
            bar.set_margin(0, 0, 12, 12);
            bar
        }))?;
        let goal_line = [(SegmentValue::Exact(0), *goal), (SegmentValue::Last, *goal)];
        chart.draw_series([PathElement::new(goal_line, RED.stroke_width(2))])?;
    }
    root.present()?;
    Ok(())
}
