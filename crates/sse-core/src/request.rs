//! What a stream request asks for: its query parameters and its `Last-Event-ID`, checked the
//! same way for all three servers so they answer bad input with the same words.
//!
//! Tested by `cargo test -p sse-core request`.

use std::fmt;
use std::time::Duration;

use chrono::{Local, SecondsFormat, Utc};

use crate::credentials::Credentials;
use crate::cursor::Cursor;
use crate::room::{self, Room};

/// The event streams of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// `GET /events`: the server's time.
    Clock,
    /// `GET /events/paragraph`: five sentences, once.
    Paragraph,
    /// `GET /events/counter`: `{"count":n}`.
    Counter,
    /// `GET /events/chat`: chat messages, replayed and then live.
    Chat,
    /// `POST /v1/chat/completions` and `GET /v1/streams/{id}`: an answer, token by token.
    Answer,
}

impl StreamKind {
    /// Every stream, in the order of the routes.
    pub const ALL: [Self; 5] = [
        Self::Clock,
        Self::Paragraph,
        Self::Counter,
        Self::Chat,
        Self::Answer,
    ];

    /// The name used in logs and in `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Clock => "clock",
            Self::Paragraph => "paragraph",
            Self::Counter => "counter",
            Self::Chat => "chat",
            Self::Answer => "answer",
        }
    }

    /// Whether the stream is paced by `interval_ms` (the clock, paragraph and counter: chat
    /// sends when told to, and an answer at its model's pace).
    pub fn is_paced(self) -> bool {
        matches!(self, Self::Clock | Self::Paragraph | Self::Counter)
    }
}

/// How the clock stream writes the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// `Sun, 22 Nov 2026 10:15:00 +0100`, as in the Rust seed.
    #[default]
    Rfc2822,
    /// `2026-11-22T10:15:00.123+01:00`.
    Rfc3339,
    /// Milliseconds since 1970-01-01 UTC.
    UnixMs,
}

impl TimeFormat {
    /// The server's current local time in this format.
    pub fn now(self) -> String {
        match self {
            Self::Rfc2822 => Local::now().to_rfc2822(),
            Self::Rfc3339 => Local::now().to_rfc3339_opts(SecondsFormat::Millis, false),
            Self::UnixMs => Utc::now().timestamp_millis().to_string(),
        }
    }
}

/// A checked request for one of the streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRequest {
    /// Which stream.
    pub kind: StreamKind,
    /// Time between events (`interval_ms`).
    pub interval: Duration,
    /// How the clock writes the time (`format`); the other streams ignore it.
    pub format: TimeFormat,
    /// How many past chat messages to start with when there is no `Last-Event-ID` (`history`).
    pub history: usize,
    /// The id the client saw last, when it sent one this stream can use.
    pub last_event_id: Option<u64>,
    /// The chat rooms followed (`rooms`, in the order given): the lobby when not given.
    pub rooms: Vec<Room>,
    /// A chat stream's position in each room, when `Last-Event-ID` is a cursor.
    pub cursor: Option<Cursor>,
}

/// What a stream route reads from its request's head, as the raw bytes the client sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamHead<'a> {
    /// The query, without `?`.
    pub query: Option<&'a str>,
    /// The `Last-Event-ID` header.
    pub last_event_id: Option<&'a [u8]>,
    /// `Origin`: decides the cross-origin headers with identity on.
    pub origin: Option<&'a [u8]>,
    /// The host the request was sent to: `Host`, or HTTP/2's `:authority`.
    pub host: Option<&'a [u8]>,
    /// The token, if any (read only with identity on).
    pub credentials: Credentials<'a>,
}

impl<'a> StreamHead<'a> {
    /// The head of a request with this URI and these headers, in `http`'s types (axum's and
    /// warp's).
    pub fn of(uri: &'a http::Uri, headers: &'a http::HeaderMap) -> Self {
        Self {
            query: uri.query(),
            last_event_id: headers.get(LAST_EVENT_ID).map(http::HeaderValue::as_bytes),
            origin: headers
                .get(http::header::ORIGIN)
                .map(http::HeaderValue::as_bytes),
            host: host_of(uri, headers),
            credentials: Credentials::of(headers),
        }
    }
}

/// The host a request was sent to: its `Host` header (HTTP/1.1), or its URI's authority
/// (HTTP/2's `:authority`, which replaces the header).
pub fn host_of<'a>(uri: &'a http::Uri, headers: &'a http::HeaderMap) -> Option<&'a [u8]> {
    let header = headers
        .get(http::header::HOST)
        .map(http::HeaderValue::as_bytes);
    header.or_else(|| uri.authority().map(|a| a.as_str().as_bytes()))
}

/// The header a browser sends on reconnect, lower-case as HTTP/1.1 libraries look it up.
pub const LAST_EVENT_ID: &str = "last-event-id";

/// The bounds of `interval_ms`, in milliseconds.
pub const INTERVAL_MS: std::ops::RangeInclusive<u64> = 100..=60_000;
/// `interval_ms` when the query does not give it.
pub const DEFAULT_INTERVAL_MS: u64 = 1000;

/// The bounds of the chat stream's `history`.
pub const HISTORY: std::ops::RangeInclusive<usize> = 0..=1000;
/// `history` when the query does not give it.
pub const DEFAULT_HISTORY: usize = 10;

/// A query parameter that was present but unusable: answered with 400 and this text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadQuery {
    /// The parameter's name.
    pub param: &'static str,
    /// What the client sent, shortened if long.
    pub value: String,
    /// The values the parameter takes, in words.
    pub allowed: &'static str,
}

impl fmt::Display for BadQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad query parameter {}={:?}: allowed values are {}",
            self.param, self.value, self.allowed
        )
    }
}

impl std::error::Error for BadQuery {}

impl StreamRequest {
    /// Reads a request from its raw query string (without `?`) and its `Last-Event-ID` header.
    ///
    /// - Unknown parameters are ignored (caches and frameworks add their own).
    /// - `Last-Event-ID` comes from the header, or from the `lastEventId` parameter when there is
    ///   no header: a browser cannot set headers on its first connect, so a page that wants to
    ///   resume puts the id in the URL. The header, sent by the browser on every reconnect, wins.
    /// - An id that is not a number is treated as absent (the stream starts fresh): answering
    ///   400 to it would make the browser give up for good.
    pub fn parse(
        kind: StreamKind,
        query: Option<&str>,
        last_event_id_header: Option<&[u8]>,
    ) -> Result<Self, BadQuery> {
        let mut request = Self {
            kind,
            interval: Duration::from_millis(DEFAULT_INTERVAL_MS),
            format: TimeFormat::default(),
            history: DEFAULT_HISTORY,
            last_event_id: None,
            rooms: vec![Room::lobby()],
            cursor: None,
        };
        let mut query_last_event_id = None;
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*name {
                "interval_ms" if kind.is_paced() => request.interval = parse_interval(&value)?,
                "format" if kind == StreamKind::Clock => request.format = parse_format(&value)?,
                "history" if kind == StreamKind::Chat => request.history = parse_history(&value)?,
                "rooms" if kind == StreamKind::Chat => request.rooms = parse_rooms(&value)?,
                "lastEventId" => query_last_event_id = Some(value.into_owned()),
                _ => {}
            }
        }
        let last_event_id = match last_event_id_header {
            Some(bytes) => Some(bytes),
            None => query_last_event_id.as_deref().map(str::as_bytes),
        };
        request.last_event_id = last_event_id.and_then(parse_last_event_id);
        if kind == StreamKind::Chat && request.last_event_id.is_none() {
            request.cursor = last_event_id.and_then(Cursor::parse);
        }
        Ok(request)
    }

    /// Where a chat stream resumes each of its rooms: after the cursor's id for that room, or,
    /// on a stream of one room, after a plain `Last-Event-ID`; `None` starts that room with its
    /// `history`. A plain id means nothing on a stream of several rooms, and is ignored there.
    pub fn positions(&self) -> Vec<Option<u64>> {
        let plain = self.last_event_id.filter(|_| self.rooms.len() == 1);
        self.rooms
            .iter()
            .map(|room| match &self.cursor {
                Some(cursor) => cursor.position(room),
                None => plain,
            })
            .collect()
    }
}

fn parse_rooms(value: &str) -> Result<Vec<Room>, BadQuery> {
    room::parse_list(value).ok_or_else(|| BadQuery {
        param: "rooms",
        value: shorten(value),
        allowed: room::LIST_RULE,
    })
}

fn parse_interval(value: &str) -> Result<Duration, BadQuery> {
    value
        .parse::<u64>()
        .ok()
        .filter(|ms| INTERVAL_MS.contains(ms) && is_plain_number(value))
        .map(Duration::from_millis)
        .ok_or_else(|| BadQuery {
            param: "interval_ms",
            value: shorten(value),
            allowed: "whole numbers from 100 to 60000 (milliseconds)",
        })
}

fn parse_history(value: &str) -> Result<usize, BadQuery> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| HISTORY.contains(n) && is_plain_number(value))
        .ok_or_else(|| BadQuery {
            param: "history",
            value: shorten(value),
            allowed: "whole numbers from 0 to 1000 (messages)",
        })
}

fn parse_format(value: &str) -> Result<TimeFormat, BadQuery> {
    match value {
        "rfc2822" => Ok(TimeFormat::Rfc2822),
        "rfc3339" => Ok(TimeFormat::Rfc3339),
        "unix-ms" => Ok(TimeFormat::UnixMs),
        _ => Err(BadQuery {
            param: "format",
            value: shorten(value),
            allowed: "rfc2822, rfc3339, unix-ms",
        }),
    }
}

/// Reads a `Last-Event-ID` value: the header's bytes as UTF-8 (not `HeaderValue::to_str`, which
/// refuses anything outside visible ASCII), then a plain decimal number. Anything else is `None`.
pub fn parse_last_event_id(bytes: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if !is_plain_number(text) {
        return None;
    }
    text.parse().ok()
}

/// Digits only: `u64::from_str` would also take a leading `+`.
fn is_plain_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Echoing a client's value helps them, but not a whole megabyte of it.
fn shorten(value: &str) -> String {
    const MAX_CHARS: usize = 40;
    match value.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(kind: StreamKind, query: &str) -> Result<StreamRequest, BadQuery> {
        StreamRequest::parse(kind, Some(query), None)
    }

    #[test]
    fn defaults_when_the_query_is_empty() {
        let request = StreamRequest::parse(StreamKind::Clock, None, None).expect("valid");
        assert_eq!(request.interval, Duration::from_millis(1000));
        assert_eq!(request.format, TimeFormat::Rfc2822);
        assert_eq!(request.last_event_id, None);
    }

    #[test]
    fn reads_interval_and_format() {
        let request = parse(StreamKind::Clock, "interval_ms=250&format=unix-ms").expect("valid");
        assert_eq!(request.interval, Duration::from_millis(250));
        assert_eq!(request.format, TimeFormat::UnixMs);
    }

    #[test]
    fn bad_interval_names_the_parameter_and_the_allowed_values() {
        for value in ["abc", "99", "60001", "", "+500", "1e3", "-1"] {
            let err = parse(StreamKind::Counter, &format!("interval_ms={value}")).expect_err(value);
            assert_eq!(err.param, "interval_ms");
            let text = err.to_string();
            assert!(
                text.contains("interval_ms") && text.contains("100 to 60000"),
                "{text}"
            );
        }
        assert!(parse(StreamKind::Counter, "interval_ms=100").is_ok());
        assert!(parse(StreamKind::Counter, "interval_ms=60000").is_ok());
    }

    #[test]
    fn bad_format_lists_the_formats() {
        let err = parse(StreamKind::Clock, "format=xml").expect_err("xml");
        assert_eq!(
            err.to_string(),
            r#"bad query parameter format="xml": allowed values are rfc2822, rfc3339, unix-ms"#
        );
    }

    #[test]
    fn format_is_a_clock_parameter_only() {
        assert!(parse(StreamKind::Counter, "format=xml").is_ok());
    }

    #[test]
    fn chat_reads_history_and_ignores_interval() {
        fn chat(query: &str) -> Result<StreamRequest, BadQuery> {
            parse(StreamKind::Chat, query)
        }
        assert_eq!(chat("").expect("valid").history, 10);
        assert_eq!(chat("history=0").expect("valid").history, 0);
        assert_eq!(chat("history=1000").expect("valid").history, 1000);
        for value in ["1001", "-1", "ten", "", "+5"] {
            let err = chat(&format!("history={value}")).expect_err(value);
            assert!(err.to_string().contains("history") && err.to_string().contains("0 to 1000"));
        }
        assert!(chat("interval_ms=5").is_ok(), "chat is not paced");
        assert!(
            parse(StreamKind::Clock, "history=nope").is_ok(),
            "history is chat's only"
        );
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        assert!(parse(StreamKind::Clock, "_=123&foo").is_ok());
    }

    #[test]
    fn long_values_are_shortened_in_the_message() {
        let err = parse(StreamKind::Clock, &format!("format={}", "x".repeat(10_000)));
        assert!(err.expect_err("long").to_string().len() < 200);
    }

    #[test]
    fn last_event_id_comes_from_the_header_before_the_query() {
        let header = StreamRequest::parse(StreamKind::Clock, Some("lastEventId=3"), Some(b"7"));
        assert_eq!(header.expect("valid").last_event_id, Some(7));
        let query = StreamRequest::parse(StreamKind::Clock, Some("lastEventId=3"), None);
        assert_eq!(query.expect("valid").last_event_id, Some(3));
    }

    #[test]
    fn unusable_last_event_ids_are_absent() {
        for bad in [
            &b"abc"[..],
            b"",
            b"-1",
            b"+1",
            b" 1",
            b"\xff\xfe",
            "٣".as_bytes(),
            b"99999999999999999999999",
        ] {
            assert_eq!(parse_last_event_id(bad), None, "{bad:?}");
        }
        assert_eq!(parse_last_event_id(b"0042"), Some(42));
    }

    #[test]
    fn chat_reads_rooms_and_their_cursor() {
        let lobby = StreamRequest::parse(StreamKind::Chat, None, Some(b"7")).expect("valid");
        assert_eq!(
            (lobby.positions(), lobby.rooms),
            (vec![Some(7)], vec![Room::lobby()])
        );
        let two = StreamRequest::parse(StreamKind::Chat, Some("rooms=news,lobby"), Some(b"7"));
        assert_eq!(
            two.expect("valid").positions(),
            [None, None],
            "a plain id names no room"
        );
        let query = "rooms=news,lobby,sport&lastEventId=lobby%3A3%2Cnews%3A9%2Cgone%3A1";
        let resumed = StreamRequest::parse(StreamKind::Chat, Some(query), None).expect("valid");
        assert_eq!(resumed.positions(), [Some(9), Some(3), None]);
        let one = StreamRequest::parse(StreamKind::Chat, Some("rooms=news"), Some(b"news:4"));
        assert_eq!(one.expect("valid").positions(), [Some(4)]);
        let bad = StreamRequest::parse(StreamKind::Chat, Some("rooms=a,a"), None);
        let text = bad.expect_err("a repeated room").to_string();
        assert!(
            text.contains("rooms") && text.contains("1 to 16 different"),
            "{text}"
        );
        let clock = StreamRequest::parse(StreamKind::Clock, Some("rooms=A"), Some(b"a:1"));
        assert_eq!(clock.expect("rooms is chat's only").cursor, None);
    }

    #[test]
    fn time_formats_look_right() {
        assert!(TimeFormat::Rfc2822.now().contains(' '));
        assert!(TimeFormat::Rfc3339.now().contains('T'));
        assert!(TimeFormat::UnixMs.now().bytes().all(|b| b.is_ascii_digit()));
    }
}
