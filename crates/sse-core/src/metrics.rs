//! `GET /metrics`: what the server is doing, in the OpenMetrics text format that Prometheus
//! scrapes, written by `prometheus-client`. Recorded here, in the core, so the three servers
//! report the same names with the same meaning:
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `sse_streams_open` | `stream` | streams open now |
//! | `sse_streams_opened_total` | `stream` | streams opened since the start |
//! | `sse_streams_refused_total` | | streams turned away by `--max-streams` |
//! | `sse_streams_refused_per_client_total` | | streams turned away by `--max-streams-per-client` |
//! | `sse_streams_write_timeouts_total` | | streams closed because their client accepted nothing for `--write-timeout-secs` |
//! | `sse_connections_refused_total` | | connections closed at once: the open-files limit or `--max-connections-per-client` was reached |
//! | `sse_events_sent_total` | `stream` | events handed to the framework to write (`retry:` and keep-alive comments not counted; chat's `lagged` notices are) |
//! | `sse_chat_messages_published_total` | | messages accepted by `POST /chat` and `POST /chat/{room}`, in every room |
//! | `sse_chat_lagged_total` | | `lagged` notices sent to chat subscribers that fell behind |
//! | `sse_chat_rooms` | | rooms in this process's memory (with Redis: the rooms followed here) |
//! | `sse_redis_up` | | with Redis: 1 while every node answers, else 0 |
//! | `sse_redis_node_up` | `node` | with Redis: 1 while this node (`host:port`; with a cluster, each master) answers, else 0 |
//! | `sse_redis_reconnects_total` | | with Redis: times Redis answered again after a node was lost |
//! | `sse_auth_refused_total` | `status` | with identity on: streams and posts refused for their token, `401` (none, or one that does not verify) or `403` (one that does not open the room) |
//! | `sse_streams_expired_total` | | with identity on: streams ended by `event: expired` |
//!
//! `stream` is `clock`, `paragraph`, `counter` or `chat`; every pair is there from the start,
//! at 0. Tested by `cargo test -p sse-core metrics`, and on each server by the contract suite.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use crate::generation::AnswerCounters;
use crate::redis_status::Status;
use crate::request::StreamKind;
use crate::rooms::Rooms;

/// The `Content-Type` of `GET /metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label of every per-stream metric: `stream="clock"` and so on.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabel {
    stream: &'static str,
}

/// The label of `sse_auth_refused_total`: `status="401"` or `status="403"`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

/// The server's metrics. Each handle is cheap to clone and shares its value.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    open: Family<StreamLabel, Gauge>,
    opened: Family<StreamLabel, Counter>,
    events: Family<StreamLabel, Counter>,
    refused: Counter,
    refused_per_client: Counter,
    write_timeouts: Counter,
    connections_refused: Counter,
    auth_refused: Family<StatusLabel, Counter>,
    expired: Counter,
    answers: AnswerCounters,
}

impl Metrics {
    /// Registers every metric, including the chat's two counters and its rooms, and with Redis
    /// what is known of its nodes.
    pub fn new(
        published: Counter,
        lagged: Counter,
        redis: Option<Arc<Status>>,
        rooms: Arc<Rooms>,
    ) -> Self {
        let mut registry = Registry::default();
        let open = Family::<StreamLabel, Gauge>::default();
        let opened = Family::<StreamLabel, Counter>::default();
        let events = Family::<StreamLabel, Counter>::default();
        let refused = Counter::default();
        let refused_per_client = Counter::default();
        let write_timeouts = Counter::default();
        let connections_refused = Counter::default();
        let auth_refused = Family::<StatusLabel, Counter>::default();
        let expired = Counter::default();
        let answers = AnswerCounters::default();
        for status in ["401", "403"] {
            drop(auth_refused.get_or_create(&StatusLabel { status }));
        }
        // Created now, so that every stream is listed from the start, at 0.
        for kind in StreamKind::ALL {
            let label = label(kind);
            drop(open.get_or_create(&label));
            drop(opened.get_or_create(&label));
            drop(events.get_or_create(&label));
        }
        registry.register("sse_streams_open", "Streams open now", open.clone());
        registry.register("sse_streams_opened", "Streams opened", opened.clone());
        let why = "Streams turned away by --max-streams";
        registry.register("sse_streams_refused", why, refused.clone());
        let why = "Streams turned away by --max-streams-per-client";
        registry.register(
            "sse_streams_refused_per_client",
            why,
            refused_per_client.clone(),
        );
        let why = "Streams closed because their client accepted nothing for --write-timeout-secs";
        registry.register("sse_streams_write_timeouts", why, write_timeouts.clone());
        let why =
            "Connections closed at once: the open-files limit or --max-connections-per-client";
        registry.register("sse_connections_refused", why, connections_refused.clone());
        let what = "Events handed to the framework to write";
        registry.register("sse_events_sent", what, events.clone());
        let what = "Messages accepted by POST /chat";
        registry.register("sse_chat_messages_published", what, published);
        let what = "Lagged notices sent to chat subscribers that fell behind";
        registry.register("sse_chat_lagged", what, lagged);
        let why = "Streams and posts refused for their token (identity on)";
        registry.register("sse_auth_refused", why, auth_refused.clone());
        let why = "Streams ended by event: expired, their token's end (identity on)";
        registry.register("sse_streams_expired", why, expired.clone());
        let what = "Tokens generated for answers, streamed or whole, read by a client or not";
        registry.register("sse_answer_tokens", what, answers.tokens.clone());
        let what = "Answers generated to their end";
        registry.register("sse_answers_completed", what, answers.completed.clone());
        let why = "Answers stopped before their end: the client went away, DELETE, or shutdown";
        registry.register("sse_answers_cancelled", why, answers.cancelled.clone());
        registry.register_collector(Box::new(RoomsInMemory(rooms)));
        if let Some(status) = redis {
            let what = "Times Redis answered again after a node was lost";
            registry.register("sse_redis_reconnects", what, status.reconnects.clone());
            registry.register_collector(Box::new(RedisUp(status)));
        }
        Self {
            registry,
            open,
            opened,
            events,
            refused,
            refused_per_client,
            write_timeouts,
            connections_refused,
            auth_refused,
            expired,
            answers,
        }
    }

    /// The counters of streamed answers: tokens, completed, cancelled.
    pub fn answers(&self) -> AnswerCounters {
        self.answers.clone()
    }

    /// A stream or a post was refused for its token with `status`: 401 or 403 (others are
    /// not counted here).
    pub fn auth_refused(&self, status: u16) {
        let status = match status {
            401 => "401",
            403 => "403",
            _ => return,
        };
        self.auth_refused
            .get_or_create(&StatusLabel { status })
            .inc();
    }

    /// The counter of streams ended by their token's expiry.
    pub fn expired(&self) -> Counter {
        self.expired.clone()
    }

    /// A stream of `kind` opened.
    pub fn stream_opened(&self, kind: StreamKind) {
        self.opened.get_or_create(&label(kind)).inc();
        self.open.get_or_create(&label(kind)).inc();
    }

    /// A stream of `kind` closed (ended, or its client went away).
    pub fn stream_closed(&self, kind: StreamKind) {
        self.open.get_or_create(&label(kind)).dec();
    }

    /// A stream was turned away by `--max-streams`.
    pub fn stream_refused(&self) {
        self.refused.inc();
    }

    /// A stream was turned away by `--max-streams-per-client`.
    pub fn stream_refused_per_client(&self) {
        self.refused_per_client.inc();
    }

    /// A stream was closed because its client accepted nothing for `--write-timeout-secs`.
    pub fn stream_write_timed_out(&self) {
        self.write_timeouts.inc();
    }

    /// A connection was closed at once: the open-files limit left no room for it, or its
    /// client held `--max-connections-per-client`.
    pub fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    /// The counter of events sent on streams of `kind`, to increment once per event.
    pub fn events_sent(&self, kind: StreamKind) -> Counter {
        self.events.get_or_create(&label(kind)).clone()
    }

    /// The body of `GET /metrics`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// `sse_redis_up`, read from the reader's state at each scrape.
#[derive(Debug)]
struct RedisUp(Arc<Status>);

impl Collector for RedisUp {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let up = ConstGauge::new(i64::from(self.0.is_up()));
        let help = "1 while every Redis node answers, else 0";
        let metric = encoder.encode_descriptor("sse_redis_up", help, None, up.metric_type())?;
        up.encode(metric)?;
        let help = "1 while this Redis node answers, else 0";
        let gauge = ConstGauge::new(0i64);
        let mut family =
            encoder.encode_descriptor("sse_redis_node_up", help, None, gauge.metric_type())?;
        for (node, up) in self.0.nodes() {
            let labels = [("node", node)];
            let sample = family.encode_family(&labels)?;
            ConstGauge::new(i64::from(up)).encode(sample)?;
        }
        Ok(())
    }
}

/// `sse_chat_rooms`, read at each scrape.
struct RoomsInMemory(Arc<Rooms>);

impl std::fmt::Debug for RoomsInMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RoomsInMemory({})", self.0.len())
    }
}

impl Collector for RoomsInMemory {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let rooms = ConstGauge::new(self.0.len() as i64);
        let help = "Chat rooms in this process's memory";
        let metric =
            encoder.encode_descriptor("sse_chat_rooms", help, None, rooms.metric_type())?;
        rooms.encode(metric)
    }
}

fn label(kind: StreamKind) -> StreamLabel {
    StreamLabel {
        stream: kind.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_rooms() -> Arc<Rooms> {
        let limits = crate::rooms::Limits {
            history: 1,
            max_rooms: 1,
            idle: std::time::Duration::from_secs(1),
        };
        Arc::new(Rooms::new(limits))
    }

    /// The value of the sample line that starts with `name` (labels included), if any.
    fn sample(text: &str, name: &str) -> Option<f64> {
        let line = text
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))?;
        line.rsplit(' ').next()?.parse().ok()
    }

    #[test]
    fn every_stream_is_listed_from_the_start_at_zero() {
        let metrics = Metrics::new(Counter::default(), Counter::default(), None, any_rooms());
        let text = metrics.render();
        for stream in ["clock", "paragraph", "counter", "chat"] {
            for name in ["sse_streams_open", "sse_streams_opened_total"] {
                let name = format!(r#"{name}{{stream="{stream}"}}"#);
                assert_eq!(sample(&text, &name), Some(0.0), "{name} in:\n{text}");
            }
        }
        assert_eq!(sample(&text, "sse_streams_refused_total"), Some(0.0));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn opening_closing_and_sending_are_counted_per_stream() {
        let (published, lagged) = (Counter::default(), Counter::default());
        let metrics = Metrics::new(published.clone(), lagged.clone(), None, any_rooms());
        metrics.stream_opened(StreamKind::Clock);
        metrics.stream_opened(StreamKind::Clock);
        metrics.stream_closed(StreamKind::Clock);
        metrics.stream_opened(StreamKind::Chat);
        metrics.stream_refused();
        metrics.events_sent(StreamKind::Clock).inc_by(3);
        published.inc_by(2);
        lagged.inc();
        let text = metrics.render();
        let value = |name: &str| sample(&text, name);
        assert_eq!(value(r#"sse_streams_open{stream="clock"}"#), Some(1.0));
        assert_eq!(
            value(r#"sse_streams_opened_total{stream="clock"}"#),
            Some(2.0)
        );
        assert_eq!(value(r#"sse_streams_open{stream="chat"}"#), Some(1.0));
        assert_eq!(value(r#"sse_events_sent_total{stream="clock"}"#), Some(3.0));
        assert_eq!(
            value(r#"sse_events_sent_total{stream="counter"}"#),
            Some(0.0)
        );
        assert_eq!(value("sse_streams_refused_total"), Some(1.0));
        assert_eq!(value("sse_chat_messages_published_total"), Some(2.0));
        assert_eq!(value("sse_chat_lagged_total"), Some(1.0));
    }
}
