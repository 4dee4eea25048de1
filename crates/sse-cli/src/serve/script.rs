//! The script `sse serve` replays: one JSON object per line, as `sse watch --json` prints them
//! (or as a person writes them), each an event and the pause before it.
//!
//! ```text
//! {"gap_ms": 0, "retry_ms": 2000, "id": "1", "data": "first"}
//! {"gap_ms": 1000, "event": "price", "id": "2", "data": "{\"eur\": 12.5}"}
//! {"gap_ms": 500, "data": "line one\nline two"}
//! ```
//!
//! Every field may be left out: `gap_ms` 0, `event` `message`, `data` empty. `id` and
//! `retry_ms` are what the browser holds after the event, as `sse watch` reports them: an
//! `id:` or `retry:` field is written only where they change, so a capture replays as it was
//! sent. Other fields (`time`) are read past. An `event` or `id` with a line break, or an `id`
//! with a NUL, could never have come through a stream: the line is refused, and so no script
//! can forge a field.

use std::time::Duration;

use serde::Deserialize;

use crate::http::Error;

/// One line of a script.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Line {
    gap_ms: f64,
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
    retry_ms: Option<u64>,
}

/// One event of the script, and how long to wait before sending it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The pause before it, at speed 1.
    pub gap: Duration,
    /// The event as bytes on the wire, fields and the blank line that ends it.
    pub wire: String,
    /// The browser's `lastEventId` after it: where a reconnect resumes.
    pub last_event_id: String,
    /// The `retry` in effect after it, sent again first to a reconnect that resumes here.
    pub retry_ms: Option<u64>,
}

/// A whole script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Its events, in order.
    pub steps: Vec<Step>,
}

impl Script {
    /// Reads a script; an error names the line and what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut steps = Vec::new();
        let (mut id, mut retry) = (String::new(), None);
        for (n, text) in text.lines().enumerate() {
            if text.trim().is_empty() {
                continue;
            }
            let line: Line =
                serde_json::from_str(text).map_err(|e| format!("line {}: {e}", n + 1))?;
            let step =
                encode(&line, &mut id, &mut retry).map_err(|e| format!("line {}: {e}", n + 1))?;
            steps.push(step);
        }
        if steps.is_empty() {
            return Err("no events: give one JSON object per line".into());
        }
        Ok(Self { steps })
    }

    /// What a response starting at step `from` sends first: the `retry` in effect there, when
    /// an earlier step set one (a fresh client never saw it).
    pub fn preamble(&self, from: usize) -> Option<String> {
        let retry = self.steps[..from].last()?.retry_ms?;
        Some(format!("retry: {retry}\n\n"))
    }

    /// Where a reconnect sending `last_event_id` resumes: after the first event that left the
    /// browser holding that id; from the start when no event did (or the id is empty).
    pub fn resume_at(&self, last_event_id: &str) -> usize {
        if last_event_id.is_empty() {
            return 0;
        }
        self.steps
            .iter()
            .position(|step| step.last_event_id == last_event_id)
            .map_or(0, |at| at + 1)
    }
}

/// The wire form of `line`, given the `id` and `retry` the browser holds before it (updated).
fn encode(line: &Line, id: &mut String, retry: &mut Option<u64>) -> Result<Step, String> {
    if !line.gap_ms.is_finite() || line.gap_ms < 0.0 {
        return Err(format!(
            "gap_ms {}: give a number of milliseconds, 0 or more",
            line.gap_ms
        ));
    }
    let mut wire = String::new();
    if line.retry_ms.is_some() && line.retry_ms != *retry {
        *retry = line.retry_ms;
        wire += &format!("retry: {}\n", line.retry_ms.unwrap_or_default());
    }
    if let Some(new) = &line.id {
        if new.contains(['\r', '\n', '\0']) {
            return Err(format!("id {new:?}: an id has no line break and no NUL"));
        }
        if new != id {
            wire += &format!("id: {new}\n");
            id.clone_from(new);
        }
    }
    if let Some(event) = line.event.as_deref().filter(|e| *e != "message") {
        if event.contains(['\r', '\n']) {
            return Err(format!("event {event:?}: a type has no line break"));
        }
        wire += &format!("event: {event}\n");
    }
    // Every line of the data its own `data:` field, whichever line break it used.
    let data = line.data.as_deref().unwrap_or_default();
    let data = data.replace("\r\n", "\n").replace('\r', "\n");
    for text in data.split('\n') {
        wire += &format!("data: {text}\n");
    }
    wire.push('\n');
    Ok(Step {
        gap: Duration::from_secs_f64(line.gap_ms / 1e3),
        wire,
        last_event_id: id.clone(),
        retry_ms: *retry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_replays_with_its_fields_written_only_where_they_change() {
        let capture = r#"{"time":"2026-12-03T12:00:00+00:00","gap_ms":3.5,"event":"message","id":"1","data":"a","retry_ms":2000}
{"gap_ms":1000,"event":"tick","id":"1","data":"b\nc","retry_ms":2000}

{"gap_ms":1000,"id":"2","data":""}"#;
        let script = Script::parse(capture).expect("a good script");
        let wires: Vec<&str> = script.steps.iter().map(|s| s.wire.as_str()).collect();
        assert_eq!(
            wires,
            [
                "retry: 2000\nid: 1\ndata: a\n\n",
                "event: tick\ndata: b\ndata: c\n\n",
                "id: 2\ndata: \n\n"
            ]
        );
        assert_eq!(script.steps[0].gap, Duration::from_micros(3500));
        assert_eq!(
            (
                script.resume_at(""),
                script.resume_at("1"),
                script.resume_at("2")
            ),
            (0, 1, 3)
        );
        assert_eq!(script.resume_at("never sent"), 0);
        assert_eq!(script.preamble(0), None);
        assert_eq!(script.preamble(2).as_deref(), Some("retry: 2000\n\n"));
    }

    #[test]
    fn a_line_that_would_forge_a_field_is_refused_by_line_number() {
        for (text, says) in [
            (
                "{\"data\":\"a\"}\n{\"id\":\"1\\ndata: forged\"}",
                "line 2: id",
            ),
            ("{\"event\":\"x\\r\\nid: 9\"}", "line 1: event"),
            ("{\"id\":\"a\\u0000b\"}", "NUL"),
            ("{\"gap_ms\":-5}", "gap_ms -5"),
            ("not json", "line 1:"),
            ("\n\n", "no events"),
        ] {
            let error = Script::parse(text).expect_err("a bad script");
            assert!(error.to_string().contains(says), "{error} for {text:?}");
        }
    }
}
