//! Percentiles of samples, and the server's memory and CPU read from `/proc` (Linux).

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// The median, the 99th percentile and the largest of some durations, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Half the samples are at most this.
    pub p50: f64,
    /// 99 % of the samples are at most this.
    pub p99: f64,
    /// The largest sample.
    pub max: f64,
}

/// As the report's rows show them: `p50 / p99 / max`, to a tenth.
impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1} / {:.1} / {:.1}", self.p50, self.p99, self.max)
    }
}

impl Percentiles {
    /// From durations in microseconds (nearest-rank method); all zero when there are none.
    pub fn of_micros(mut samples: Vec<u64>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let rank = |p: f64| {
            let index = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[index - 1] as f64 / 1000.0
        };
        Self {
            p50: rank(0.50),
            p99: rank(0.99),
            max: rank(1.0),
        }
    }
}

/// The server process's resident memory and CPU time at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    /// `VmRSS`, in KiB.
    pub rss_kib: u64,
    /// User plus system CPU time, in clock ticks.
    cpu_ticks: u64,
    at: Instant,
}

/// Clock ticks per second of `/proc/PID/stat`: 100 on every Linux this runs on
/// (`getconf CLK_TCK`); reading it properly would take `libc` and `unsafe` for one number.
const TICKS_PER_SEC: f64 = 100.0;

impl ProcSample {
    /// Reads `/proc/PID/status` and `/proc/PID/stat`.
    pub fn read(pid: u32) -> std::io::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let rss_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name (which may hold spaces, so split after its `)`):
        // utime and stime are the 14th and 15th fields of the line, the 12th and 13th here.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(Self {
            rss_kib,
            cpu_ticks: field(11) + field(12),
            at: Instant::now(),
        })
    }

    /// CPU used between `earlier` and this sample, in percent of one core.
    pub fn cpu_percent_since(&self, earlier: &Self) -> f64 {
        let busy = self.cpu_ticks.saturating_sub(earlier.cpu_ticks) as f64 / TICKS_PER_SEC;
        let wall = self.at.duration_since(earlier.at).as_secs_f64();
        if wall > 0.0 { 100.0 * busy / wall } else { 0.0 }
    }
}

/// The server's memory per connection (KiB) and CPU (% of a core) over a run: memory from
/// before the first connection to the end, CPU from `start` to `end`. `None` without `--pid`.
pub fn server_cost(
    before: Option<ProcSample>,
    start: Option<ProcSample>,
    end: Option<ProcSample>,
    connections: u64,
) -> (Option<f64>, Option<f64>) {
    match (before, start, end) {
        (Some(before), Some(start), Some(end)) => (
            Some(end.rss_kib.saturating_sub(before.rss_kib) as f64 / connections.max(1) as f64),
            Some(end.cpu_percent_since(&start)),
        ),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let p = Percentiles::of_micros((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!((p.p50, p.p99, p.max), (50.0, 99.0, 100.0));
        let one = Percentiles::of_micros(vec![2500]);
        assert_eq!((one.p50, one.p99, one.max), (2.5, 2.5, 2.5));
        assert_eq!(Percentiles::of_micros(Vec::new()).max, 0.0);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sample = ProcSample::read(std::process::id()).expect("/proc is readable");
        assert!(sample.rss_kib > 0);
        assert!(sample.cpu_percent_since(&sample) == 0.0);
    }
}
