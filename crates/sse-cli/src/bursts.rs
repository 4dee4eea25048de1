//! When a stream's events arrived, as the doctor's buffering and compression checks judge it:
//! the runs of events that came together (a burst), the silence before each, and what the
//! stream itself says of the pace at which they were made (timestamps in their data, and the
//! rhythm of the events that came one by one).
//!
//! A burst is not a fault by itself: a server may send a batch on purpose. Two bursts or more
//! are a buffer letting events out. One burst is one when it came after a silence much longer
//! than the stream's own spacing: everything held back, for instance until the response ended,
//! which is what a buffering proxy does to a short stream.
//!
//! Tested by `cargo test -p sse-cli bursts`, and on the wire by `tests/doctor.rs`.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};

/// Events arriving within this of each other came out of one buffer, not one by one.
pub const TOGETHER: Duration = Duration::from_millis(10);
/// What a server sends at once on connect (history, a first event) is not judged for bursts.
pub const CONNECT_BURST: Duration = Duration::from_millis(250);
/// A burst needs at least this many events.
const BURST: usize = 3;
/// A single burst after a silence shorter than this is not judged.
const HELD: Duration = Duration::from_secs(1);
/// A single burst is held back when its silence is this many times the stream's rhythm.
const MUCH_LONGER: u32 = 4;
/// Timestamps this far apart prove the events of a burst were made apart.
const MADE_APART: Duration = Duration::from_millis(500);
/// A burst this close to the end of the response came out with it.
const AT_THE_END: Duration = Duration::from_millis(100);

/// One event's arrival: when (from the request), and its data.
#[derive(Debug, Clone, Copy)]
pub struct Arrived<'a> {
    /// When it arrived.
    pub at: Duration,
    /// Its data, where a timestamp may say when it was made.
    pub data: &'a str,
}

/// One run of events that arrived together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    /// How many.
    pub events: usize,
    /// When the first arrived.
    pub at: Duration,
    /// How long nothing at all arrived before it: since the chunk before it, or since the
    /// request when it came first (the headers may have been held as well).
    pub silence: Duration,
    /// The time between the first and the last timestamp in their data, if they carry any.
    pub made_over: Option<Duration>,
    /// Whether the response ended with it.
    pub ends_response: bool,
}

/// A single burst held back: what the buffering check reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBack {
    /// The burst.
    pub burst: Burst,
    /// Whether the stream proves it was held (it ended with the response, its timestamps or
    /// the rhythm of the other events show it was made apart); if not, it may be a batch sent
    /// on purpose.
    pub proven: bool,
}

/// The bursts among the events that came after [`CONNECT_BURST`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bursts {
    /// The events counted.
    pub later: usize,
    /// The runs of three events or more.
    pub bursts: Vec<Burst>,
    /// The median time between the events that came one by one, when at least three did.
    pub rhythm: Option<Duration>,
}

impl Bursts {
    /// The bursts of `events`, given when every chunk of bytes came (`chunks`), and when the
    /// response ended, if it did.
    pub fn of(events: &[Arrived<'_>], chunks: &[Duration], ended: Option<Duration>) -> Self {
        let later: Vec<Arrived<'_>> = (events.iter().copied())
            .filter(|e| e.at >= CONNECT_BURST)
            .collect();
        let runs = runs(&later);
        let mut bursts = Vec::new();
        let mut alone = Vec::new();
        for run in runs {
            if run.len() < BURST {
                alone.extend(run.iter().map(|e| e.at));
                continue;
            }
            let at = run[0].at;
            let last = run[run.len() - 1].at;
            let before = chunks.iter().copied().filter(|&c| c < at).max();
            bursts.push(Burst {
                events: run.len(),
                at,
                silence: at.saturating_sub(before.unwrap_or_default()),
                made_over: made_over(run),
                ends_response: ended.is_some_and(|end| end.saturating_sub(last) <= AT_THE_END),
            });
        }
        Self {
            later: later.len(),
            bursts,
            rhythm: median_gap(&alone),
        }
    }

    /// The events that arrived in bursts.
    pub fn in_bursts(&self) -> usize {
        self.bursts.iter().map(|b| b.events).sum()
    }

    /// The one burst, when there is exactly one, after a silence of a second or more, and
    /// either its timestamps say its events were made apart, or the silence was
    /// four times the rhythm of the events that came one by one.
    pub fn held_back(&self) -> Option<HeldBack> {
        let [burst] = self.bursts.as_slice() else {
            return None;
        };
        let made_apart = burst.made_over.is_some_and(|over| over >= MADE_APART);
        let in_rhythm = (self.rhythm).is_some_and(|rhythm| burst.silence < rhythm * MUCH_LONGER);
        if burst.silence < HELD || (in_rhythm && !made_apart) {
            return None;
        }
        let proven = burst.ends_response || made_apart || self.rhythm.is_some();
        Some(HeldBack {
            burst: burst.clone(),
            proven,
        })
    }
}

/// The events split into runs, each event within [`TOGETHER`] of the one before.
fn runs<'a, 'b>(events: &'b [Arrived<'a>]) -> Vec<&'b [Arrived<'a>]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=events.len() {
        let apart = i == events.len() || events[i].at - events[i - 1].at >= TOGETHER;
        if apart {
            runs.push(&events[start..i]);
            start = i;
        }
    }
    runs
}

/// From the first timestamp to the last in the events' data, if at least two carry one.
fn made_over(events: &[Arrived<'_>]) -> Option<Duration> {
    let stamps: Vec<DateTime<FixedOffset>> =
        events.iter().filter_map(|e| timestamp(e.data)).collect();
    let (first, last) = (stamps.iter().min()?, stamps.iter().max()?);
    if stamps.len() < 2 {
        return None;
    }
    (*last - *first).to_std().ok()
}

/// The median of the gaps between `times`, when there are two gaps or more.
fn median_gap(times: &[Duration]) -> Option<Duration> {
    let mut gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.len() < 2 {
        return None;
    }
    gaps.sort();
    Some(gaps[gaps.len() / 2])
}

/// A time an event's data gives: the whole data as RFC 3339 or RFC 2822 (our clock's), or a
/// JSON object's `time`, `timestamp` or `created_at` field in RFC 3339.
pub fn timestamp(data: &str) -> Option<DateTime<FixedOffset>> {
    let data = data.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(data) {
        return Some(time);
    }
    if let Ok(time) = DateTime::parse_from_rfc2822(data) {
        return Some(time);
    }
    let json: serde_json::Value = serde_json::from_str(data).ok()?;
    ["time", "timestamp", "created_at"]
        .iter()
        .find_map(|field| json.get(field)?.as_str())
        .and_then(|time| DateTime::parse_from_rfc3339(time).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn at(times: &[u64]) -> Vec<Arrived<'static>> {
        times
            .iter()
            .map(|&t| Arrived {
                at: ms(t),
                data: "x",
            })
            .collect()
    }

    #[test]
    fn events_one_by_one_make_no_burst() {
        let events = at(&[300, 400, 500, 600, 700]);
        let chunks: Vec<Duration> = events.iter().map(|e| e.at).collect();
        let bursts = Bursts::of(&events, &chunks, None);
        assert_eq!((bursts.later, bursts.bursts.len()), (5, 0));
        assert_eq!(bursts.rhythm, Some(ms(100)));
        assert_eq!(bursts.held_back(), None);
    }

    #[test]
    fn everything_at_the_end_of_the_response_is_held_back() {
        let events = at(&[3000, 3001, 3001, 3002, 3002]);
        let bursts = Bursts::of(&events, &[ms(3000)], Some(ms(3003)));
        let held = bursts.held_back().expect("held back");
        assert_eq!(held.burst.events, 5);
        assert_eq!(held.burst.silence, ms(3000));
        assert!(held.burst.ends_response && held.proven);
    }

    #[test]
    fn timestamps_say_how_long_the_events_took_to_make() {
        let data = [
            r#"{"n": 1, "time": "2026-12-03T10:00:00Z"}"#,
            r#"{"n": 2, "time": "2026-12-03T10:00:01.200Z"}"#,
            r#"{"n": 3, "time": "2026-12-03T10:00:02.400Z"}"#,
        ];
        let events: Vec<Arrived<'_>> = (data.iter())
            .map(|data| Arrived { at: ms(3000), data })
            .collect();
        let bursts = Bursts::of(&events, &[ms(1), ms(3000)], None);
        let held = bursts.held_back().expect("held back");
        assert_eq!(held.burst.made_over, Some(ms(2400)));
        assert!(held.proven, "the timestamps prove it");
    }

    #[test]
    fn a_batch_after_a_short_or_rhythmic_silence_is_not_held_back() {
        // Half a second of silence: too short to judge.
        let events = at(&[300, 310, 320, 800, 801, 802]);
        let chunks = [ms(300), ms(310), ms(320), ms(800)];
        let bursts = Bursts::of(&events, &chunks, None);
        assert_eq!(bursts.bursts.len(), 1, "{bursts:?}");
        assert_eq!(bursts.held_back(), None);
        // A stream whose events come 2 s apart, then three at once after 2.5 s: its rhythm.
        let events = at(&[2000, 4000, 6000, 8500, 8501, 8502]);
        let chunks: Vec<Duration> = events.iter().map(|e| e.at).collect();
        let bursts = Bursts::of(&events, &chunks, None);
        assert_eq!(bursts.held_back(), None, "{bursts:?}");
    }

    #[test]
    fn a_burst_with_no_proof_may_be_a_batch_on_purpose() {
        let events = at(&[2000, 2001, 2002, 2003]);
        let bursts = Bursts::of(&events, &[ms(2000)], None);
        let held = bursts.held_back().expect("held back");
        assert!(!held.proven);
    }

    #[test]
    fn timestamps_are_read_from_the_data_or_its_json() {
        assert!(timestamp("Thu, 3 Dec 2026 10:00:00 +0000").is_some());
        assert!(timestamp("2026-12-03T10:00:00+01:00").is_some());
        assert!(timestamp(r#"{"id":1,"user":"a","time":"2026-12-03T10:00:00Z"}"#).is_some());
        assert!(timestamp("event 3").is_none());
        assert!(timestamp(r#"{"time": 17}"#).is_none());
    }
}
