//! The events as the load clients read them: only what they measure, scanned straight from the
//! body's bytes, with no allocation per event.
//!
//! A load client that parses every event properly (a `String` per field, the chat's JSON into
//! a tree) spends more CPU than the server it measures: at 100,000 events a second it took a
//! whole core of this two-core machine, and the server's figures paid for it. So this reader
//! keeps four things and skips the rest: the `id` (as a number), whether the type is `chat` or
//! `lagged`, the number that starts a chat message's `"text"` (the publisher's timestamp), and
//! `retry`. It follows the standard's line rules (LF, CRLF or CR; an event dispatches on a
//! blank line only if it had `data`; a comment is skipped), but it is no general parser:
//! `crates/sse-cli/src/parse.rs` is that.

use http_body_util::BodyExt;
use hyper::body::Incoming;
use sse_client::raw;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::client::Error;

/// What one event carried, of what the benchmark measures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Event {
    /// Its `id`, if it had one that is a number.
    pub id: Option<u64>,
    /// Its type, as far as the benchmark tells them apart.
    pub kind: Kind,
    /// The digits that start the `"text"` of its data, if any (the publisher's µs timestamp).
    pub stamp: Option<u64>,
}

/// The event types the benchmark tells apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kind {
    /// No `event:` field (what `onmessage` gets).
    #[default]
    Message,
    /// `event: chat`.
    Chat,
    /// `event: lagged`.
    Lagged,
    /// Any other type.
    Other,
}

/// The reader's state between chunks: the unfinished line, and the event being read.
#[derive(Debug, Default)]
pub struct Scanner {
    /// A line cut by a chunk boundary (reused: it allocates once, for the longest line).
    partial: Vec<u8>,
    /// The previous chunk ended with a CR: an LF starting this one ends no line.
    after_cr: bool,
    event: Event,
    has_data: bool,
    /// The last `retry:` in milliseconds.
    pub retry_ms: Option<u64>,
}

impl Scanner {
    /// Reads `chunk`, calling `on_event` for every event it completes.
    pub fn feed(&mut self, mut chunk: &[u8], mut on_event: impl FnMut(Event)) {
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let line = &chunk[..end];
            // CRLF is one line ending; a CR at the chunk's end may be the first half of one.
            let mut next = end + 1;
            if chunk[end] == b'\r' {
                match chunk.get(next) {
                    Some(b'\n') => next += 1,
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
            if self.partial.is_empty() {
                self.line(line, &mut on_event);
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole, &mut on_event);
                whole.clear();
                self.partial = whole;
            }
            chunk = &chunk[next..];
        }
        self.partial.extend_from_slice(chunk);
    }

    /// One line: a field, a comment, or the blank line that dispatches.
    fn line(&mut self, line: &[u8], on_event: &mut impl FnMut(Event)) {
        if line.is_empty() {
            if std::mem::take(&mut self.has_data) {
                on_event(self.event);
            }
            self.event = Event::default();
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return,
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"id" => self.event.id = number(value),
            b"event" => {
                self.event.kind = match value {
                    b"chat" => Kind::Chat,
                    b"lagged" => Kind::Lagged,
                    b"" | b"message" => Kind::Message,
                    _ => Kind::Other,
                }
            }
            b"data" => {
                self.has_data = true;
                if let Some(at) = find(value, br#""text":""#) {
                    self.event.stamp = number(&value[at + 8..]);
                }
            }
            b"retry" => self.retry_ms = number(value).or(self.retry_ms),
            _ => {}
        }
    }
}

/// The number the digits at the start of `bytes` make, if there are any.
fn number(bytes: &[u8]) -> Option<u64> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    Some(
        bytes[..digits]
            .iter()
            .fold(0, |n, b| n * 10 + u64::from(b - b'0')),
    )
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An event stream being read: its bytes, and the scanner that reads them.
pub struct Stream {
    source: Source,
    /// What has been read so far.
    pub scanner: Scanner,
}

/// Where a stream's bytes come from.
enum Source {
    /// HTTP/1.1: the socket itself, read by [`sse_client::raw`] into one buffer reused for
    /// every read (hyper's client costs two task wake-ups per event where one will do).
    Socket(raw::Body),
    /// HTTP/2 over TLS: hyper's body, frame by frame (many streams share one connection).
    Hyper(Incoming),
}

impl Stream {
    /// Reads an HTTP/2 response's body.
    pub fn hyper(body: Incoming) -> Self {
        Self {
            source: Source::Hyper(body),
            scanner: Scanner::default(),
        }
    }

    /// Sends `GET path` on `socket` (with `Last-Event-ID` when given) and reads the response
    /// head: a stream to read, or an error for any status but 200.
    pub async fn get(
        socket: TcpStream,
        authority: &str,
        path: &str,
        last_event_id: Option<u64>,
    ) -> Result<Self, Error> {
        let id = last_event_id.map(|id| id.to_string());
        let mut headers = vec![("accept", "text/event-stream")];
        if let Some(id) = &id {
            headers.push(("last-event-id", id));
        }
        Ok(Self {
            source: Source::Socket(raw::get(socket, authority, path, &headers).await?),
            scanner: Scanner::default(),
        })
    }

    /// Waits for the next bytes and calls `on_event` for each event they complete;
    /// `Ok(false)` when the stream has ended.
    pub async fn read(&mut self, mut on_event: impl FnMut(Event)) -> Result<bool, Error> {
        match &mut self.source {
            Source::Socket(body) => {
                let scanner = &mut self.scanner;
                body.read(|data| scanner.feed(data, &mut on_event)).await
            }
            Source::Hyper(body) => loop {
                let Some(frame) = body.frame().await.transpose()? else {
                    return Ok(false);
                };
                // Trailers carry no events.
                if let Ok(data) = frame.into_data() {
                    self.scanner.feed(&data, on_event);
                    return Ok(true);
                }
            },
        }
    }
}

/// Why [`Stream::follow`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// The stream ended, or failed.
    Ended,
    /// The run is over (`stop` was cancelled).
    Stopped,
}

impl Stream {
    /// Reads the stream, calling `on_event` for each event, until it ends or `stop` is
    /// cancelled.
    pub async fn follow(
        &mut self,
        stop: &CancellationToken,
        mut on_event: impl FnMut(Event),
    ) -> Followed {
        loop {
            tokio::select! {
                () = stop.cancelled() => return Followed::Stopped,
                more = self.read(&mut on_event) => if !matches!(more, Ok(true)) {
                    return Followed::Ended;
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> (Vec<Event>, Option<u64>) {
        let mut scanner = Scanner::default();
        let mut events = Vec::new();
        for chunk in chunks {
            scanner.feed(chunk, |event| events.push(event));
        }
        (events, scanner.retry_ms)
    }

    #[test]
    fn reads_ids_types_retry_and_skips_comments() {
        let (events, retry) = scan(&[b"retry: 3000\n\n: keep-alive\n\nid: 7\ndata: a\n\n"]);
        assert_eq!(retry, Some(3000));
        let want = Event {
            id: Some(7),
            ..Event::default()
        };
        assert_eq!(events, [want]);
    }

    #[test]
    fn reads_a_chat_message_s_timestamp() {
        let chat = br#"id: 3
event: chat
data: {"id":3,"user":"bench","text":"1764000000123456","time":"2026-11-26T12:00:00.000Z"}

event: lagged
data: {"missed":2}

"#;
        let (events, _) = scan(&[chat]);
        assert_eq!(
            events,
            [
                Event {
                    id: Some(3),
                    kind: Kind::Chat,
                    stamp: Some(1_764_000_000_123_456)
                },
                Event {
                    kind: Kind::Lagged,
                    ..Event::default()
                }
            ]
        );
    }

    #[test]
    fn any_line_ending_and_any_cut_between_chunks_read_the_same() {
        let lf: &[u8] = b"retry: 10\nid: 1\ndata: x\n\nid: 2\nevent: other\ndata: y\n\n";
        let (want, _) = scan(&[lf]);
        assert_eq!(want.len(), 2);
        for text in [
            lf.to_vec(),
            String::from_utf8_lossy(lf)
                .replace('\n', "\r\n")
                .into_bytes(),
            String::from_utf8_lossy(lf).replace('\n', "\r").into_bytes(),
        ] {
            for cut in 0..=text.len() {
                let (head, tail) = text.split_at(cut);
                assert_eq!(
                    scan(&[head, tail]),
                    (want.clone(), Some(10)),
                    "cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        let (events, _) = scan(&[b"id: 4\n\nevent: chat\n\n"]);
        assert!(events.is_empty());
    }
}
