//! The event type every server sends, and its encoder to the exact bytes of the wire format.
//!
//! An SSE stream is a text protocol of `field: value` lines, with a blank line ending each event
//! (WHATWG HTML, "Server-sent events"). The parser on the other end splits lines on LF, CR *and*
//! CRLF, so a single stray CR in a value would end the line early and let the rest of the value
//! pose as a field of its own. This module makes that impossible by construction:
//!
//! - `id` and `event` are [`FieldValue`]s, which refuse CR, LF and NUL when built;
//! - data and comments may hold any text: each of their lines becomes a `data:` (or `:`) line of
//!   its own, whichever of LF, CR or CRLF ended it;
//! - `retry` is a number, so it is digits only.
//!
//! Run `cargo test -p sse-core event` for the unit tests and the property test against an
//! independent SSE parser.

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// A value for the single-line `id:` or `event:` field: text without CR, LF or NUL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldValue(Cow<'static, str>);

/// Why a text cannot be an `id` or `event` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    /// The character that was refused.
    pub found: char,
}

impl fmt::Display for InvalidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an SSE id or event name cannot contain {:?}", self.found)
    }
}

impl std::error::Error for InvalidField {}

/// The characters the wire format gives a meaning to inside a single-line field.
/// CR and LF end the line; NUL makes a browser ignore the whole `id` field.
const fn is_forbidden(byte: u8) -> bool {
    matches!(byte, b'\r' | b'\n' | b'\0')
}

impl FieldValue {
    /// Checks `text` and wraps it, refusing CR, LF and NUL.
    pub fn new(text: impl Into<String>) -> Result<Self, InvalidField> {
        let text = text.into();
        match text
            .chars()
            .find(|c| c.is_ascii() && is_forbidden(*c as u8))
        {
            Some(found) => Err(InvalidField { found }),
            None => Ok(Self(Cow::Owned(text))),
        }
    }

    /// Wraps a literal, checked when the program is compiled if used in a `const`.
    ///
    /// # Panics
    /// Panics if `text` holds CR, LF or NUL (at compile time when used in a `const`).
    pub const fn from_static(text: &'static str) -> Self {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            assert!(
                !is_forbidden(bytes[i]),
                "SSE field values cannot hold CR, LF or NUL"
            );
            i += 1;
        }
        Self(Cow::Borrowed(text))
    }

    /// The checked text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<u64> for FieldValue {
    /// Numeric ids, the kind every stream here uses, are always valid.
    fn from(id: u64) -> Self {
        Self(Cow::Owned(id.to_string()))
    }
}

/// One server-sent event, independent of any web framework.
///
/// Build it with [`Event::data`], [`Event::comment`] or [`Event::retry`], then add an id or an
/// event name. Every value it can hold encodes to exactly the fields it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    id: Option<FieldValue>,
    event: Option<FieldValue>,
    data: Option<String>,
    retry_ms: Option<u64>,
    comment: Option<String>,
}

impl Event {
    /// An event carrying `data`, which may hold several lines ended by LF, CR or CRLF.
    ///
    /// The line breaks are stored as LF, which is what a browser hands to `onmessage` for any of
    /// the three, so nothing the client can observe is lost.
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            data: Some(normalize_line_breaks(data.into())),
            ..Self::default()
        }
    }

    /// A comment: ignored by the browser, useful to keep a connection alive or to explain.
    pub fn comment(text: impl Into<String>) -> Self {
        Self {
            comment: Some(normalize_line_breaks(text.into())),
            ..Self::default()
        }
    }

    /// A `retry:` field alone: tells the browser how long to wait before reconnecting.
    pub fn retry(ms: u64) -> Self {
        Self {
            retry_ms: Some(ms),
            ..Self::default()
        }
    }

    /// Sets the `id:` field, which the browser sends back as `Last-Event-ID` when it reconnects.
    pub fn with_id(mut self, id: impl Into<FieldValue>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the `event:` field, the name a page listens for with `addEventListener`.
    pub fn with_event(mut self, name: FieldValue) -> Self {
        self.event = Some(name);
        self
    }

    /// The `id:` value, if any.
    pub fn id(&self) -> Option<&str> {
        self.id.as_ref().map(FieldValue::as_str)
    }

    /// The `event:` name, if any (none means the browser's default, `message`).
    pub fn event(&self) -> Option<&str> {
        self.event.as_ref().map(FieldValue::as_str)
    }

    /// The data, with its line breaks as LF.
    pub fn data_text(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The `retry:` value in milliseconds, if any.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// The comment, with its line breaks as LF.
    pub fn comment_text(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The exact bytes of this event on the wire, ending with the blank line that dispatches it.
    ///
    /// Field order is comment, `retry`, `id`, `event`, `data` (the order used by the frameworks'
    /// own encoders, so that all three servers send the same bytes), and a space follows every
    /// colon: a parser strips exactly one, so a value's own leading space survives.
    pub fn encode(&self) -> Bytes {
        let data_len = self.data.as_ref().map_or(0, String::len);
        let mut out = BytesMut::with_capacity(data_len + 64);
        if let Some(comment) = &self.comment {
            put_lines(&mut out, ": ", comment);
        }
        if let Some(ms) = self.retry_ms {
            put_line(&mut out, "retry: ", &ms.to_string());
        }
        if let Some(id) = &self.id {
            put_line(&mut out, "id: ", id.as_str());
        }
        if let Some(event) = &self.event {
            put_line(&mut out, "event: ", event.as_str());
        }
        if let Some(data) = &self.data {
            put_lines(&mut out, "data: ", data);
        }
        out.put_u8(b'\n');
        out.freeze()
    }
}

/// Events whose encoding is easy to get wrong: mixed line breaks, a leading space, blank lines,
/// data that looks like fields, multi-line comments. Each server's test of its conversion to its
/// framework's event type checks that the framework writes exactly [`Event::encode`] for these.
pub fn tricky_events() -> Vec<Event> {
    vec![
        Event::data("plain"),
        Event::data("a\r\nb\rc\nd").with_id(7),
        Event::data(" leading space\n\nblank line").with_event(FieldValue::from_static("chat")),
        Event::data("x\r\nid: 99\r\ndata: forged"),
        Event::comment("keep-alive"),
        Event::comment("two\nlines"),
    ]
}

/// Turns CRLF and lone CR into LF; text without CR (the usual case) is returned as it is.
fn normalize_line_breaks(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Writes `prefix value\n`. The caller guarantees `value` is a single line.
fn put_line(out: &mut BytesMut, prefix: &str, value: &str) {
    out.put_slice(prefix.as_bytes());
    out.put_slice(value.as_bytes());
    out.put_u8(b'\n');
}

/// Writes one `prefix line` per line of `text`, which holds LF line breaks only.
fn put_lines(out: &mut BytesMut, prefix: &str, text: &str) {
    for line in text.split('\n') {
        put_line(out, prefix, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_field_with_a_space_after_the_colon() {
        let event = Event::data("hello")
            .with_id(7)
            .with_event(FieldValue::from_static("chat"));
        assert_eq!(event.encode(), "id: 7\nevent: chat\ndata: hello\n\n");
    }

    #[test]
    fn writes_one_data_line_per_line_whatever_ended_it() {
        let event = Event::data("a\nb\rc\r\nd");
        assert_eq!(event.encode(), "data: a\ndata: b\ndata: c\ndata: d\n\n");
        assert_eq!(event.data_text(), Some("a\nb\nc\nd"));
    }

    #[test]
    fn keeps_a_leading_space_and_empty_lines() {
        assert_eq!(Event::data(" x").encode(), "data:  x\n\n");
        assert_eq!(
            Event::data("a\n\nb").encode(),
            "data: a\ndata: \ndata: b\n\n"
        );
        assert_eq!(Event::data("").encode(), "data: \n\n");
    }

    #[test]
    fn data_cannot_forge_a_field_or_an_event() {
        let event = Event::data("x\r\nid: 99\r\rdata: forged\n\nevent: evil");
        assert_eq!(
            event.encode(),
            "data: x\ndata: id: 99\ndata: \ndata: data: forged\ndata: \ndata: event: evil\n\n"
        );
    }

    #[test]
    fn comments_and_retry_encode_alone() {
        assert_eq!(Event::comment("keep-alive").encode(), ": keep-alive\n\n");
        assert_eq!(Event::comment("a\rb").encode(), ": a\n: b\n\n");
        assert_eq!(Event::retry(3000).encode(), "retry: 3000\n\n");
    }

    #[test]
    fn field_values_refuse_cr_lf_and_nul() {
        for bad in ["a\rb", "a\nb", "a\0b", "\r\n"] {
            let err = FieldValue::new(bad).expect_err(bad);
            assert!(err.to_string().contains("cannot contain"), "{err}");
        }
        assert_eq!(
            FieldValue::new("ünïcode id").map(|v| v.0),
            Ok("ünïcode id".into())
        );
    }
}
