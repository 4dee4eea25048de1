//! The event stream parser of the WHATWG HTML standard ("Server-sent events", section 9.2.6),
//! rule by rule, fed with bytes as they arrive. Unlike a parser written for an application, it
//! also reports what a browser reads but never shows: comments, `retry`, the line endings and a
//! byte-order mark. `sse watch` prints them and `sse doctor` judges them.
//!
//! `cargo test -p sse-cli parse` runs the standard's own examples against it.

/// A UTF-8 byte-order mark, which a browser drops once at the very start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One event, as `EventSource` dispatches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type: `message` unless an `event:` field said otherwise.
    pub event: String,
    /// The data, lines joined with LF.
    pub data: String,
    /// `lastEventId` as the browser reports it. It persists: an event without an `id:` field
    /// carries the previous id.
    pub last_event_id: String,
    /// Whether this event itself had an `id:` field.
    pub has_id: bool,
}

/// What the parser read, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A complete event.
    Event(Event),
    /// A comment line (`: text`), without its colon and one leading space. Servers send them as
    /// keep-alives; a browser ignores them.
    Comment(String),
    /// A valid `retry:` field: the browser's reconnection delay from now on, in milliseconds.
    Retry(u64),
}

/// How many lines ended in each of the three ways the standard allows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LineEndings {
    /// `\n`.
    pub lf: u64,
    /// `\r\n`.
    pub crlf: u64,
    /// `\r` alone.
    pub cr: u64,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of a line not ended yet.
    line: Vec<u8>,
    /// The previous chunk ended with CR: an LF starting this one belongs to it.
    after_cr: bool,
    /// Fewer than three bytes seen so far: a byte-order mark may still be coming.
    start: Vec<u8>,
    started: bool,
    /// The standard's buffers.
    data: String,
    event: String,
    id_buffer: String,
    has_id: bool,
    /// The "last event ID string": the id buffer as it was at the last blank line.
    last_event_id: String,
    /// What was seen, for the doctor.
    pub endings: LineEndings,
    /// The stream opened with a byte-order mark.
    pub bom: bool,
}

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser for a reconnection: the last event id survives, as in a browser.
    pub fn resuming(last_event_id: &str) -> Self {
        Self {
            id_buffer: last_event_id.to_owned(),
            last_event_id: last_event_id.to_owned(),
            ..Self::default()
        }
    }

    /// Reads a chunk; returns what it completed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Item> {
        let mut items = Vec::new();
        if !self.started {
            // The byte-order mark may be split over chunks: hold up to three bytes.
            self.start.extend_from_slice(bytes);
            if self.start.len() < BOM.len() && BOM.starts_with(&self.start) {
                return items;
            }
            self.started = true;
            let start = std::mem::take(&mut self.start);
            let rest = match start.strip_prefix(BOM) {
                Some(rest) => {
                    self.bom = true;
                    rest
                }
                None => &start,
            };
            self.lines(rest, &mut items);
            return items;
        }
        if self.after_cr && bytes.first() == Some(&b'\n') {
            // The LF of a CRLF split over two chunks: the line already ended.
            self.endings.cr -= 1;
            self.endings.crlf += 1;
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        self.lines(bytes, &mut items);
        items
    }

    /// The last id, as a browser would send it in `Last-Event-ID` (empty: none). An `id:` of
    /// an event not yet complete does not count.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    fn lines(&mut self, bytes: &[u8], items: &mut Vec<Item>) {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&rest[..end]);
            let line = std::mem::take(&mut self.line);
            if rest[end] == b'\n' {
                self.endings.lf += 1;
                rest = &rest[end + 1..];
            } else if rest.get(end + 1) == Some(&b'\n') {
                self.endings.crlf += 1;
                rest = &rest[end + 2..];
            } else {
                // A CR at the end of the chunk may be the first half of a CRLF; counted as CR
                // until the next chunk says otherwise.
                self.endings.cr += 1;
                self.after_cr = end + 1 == rest.len();
                rest = &rest[end + 1..];
            }
            // Bytes are decoded as UTF-8 with replacement, line by line: no UTF-8 sequence
            // contains a CR or LF byte, so splitting first is safe.
            self.line_complete(&String::from_utf8_lossy(&line), items);
        }
        self.line.extend_from_slice(rest);
    }

    fn line_complete(&mut self, line: &str, items: &mut Vec<Item>) {
        if line.is_empty() {
            self.dispatch(items);
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            items.push(Item::Comment(comment.to_owned()));
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            // An id with NUL is ignored, so that it cannot cut a header short.
            "id" if !value.contains('\0') => {
                self.id_buffer = value.to_owned();
                self.has_id = true;
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // Digits only, but perhaps too many for a u64: a browser keeps the old value.
                if let Ok(ms) = value.parse() {
                    items.push(Item::Retry(ms));
                }
            }
            _ => {}
        }
    }

    /// A blank line: the id counts from now on, and the event is complete unless it has no
    /// data.
    fn dispatch(&mut self, items: &mut Vec<Item>) {
        self.last_event_id.clone_from(&self.id_buffer);
        let has_id = std::mem::take(&mut self.has_id);
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the LF after the last line
        items.push(Item::Event(Event {
            event: if event.is_empty() {
                "message".into()
            } else {
                event
            },
            data,
            last_event_id: self.last_event_id.clone(),
            has_id,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(stream: &str) -> Vec<Event> {
        let mut parser = Parser::new();
        (parser.feed(stream.as_bytes()).into_iter())
            .filter_map(|item| match item {
                Item::Event(event) => Some(event),
                _ => None,
            })
            .collect()
    }

    fn datas(stream: &str) -> Vec<String> {
        events(stream).into_iter().map(|e| e.data).collect()
    }

    #[test]
    fn the_standards_stock_example_joins_data_lines() {
        assert_eq!(
            datas("data: YHOO\ndata: +2\ndata: 10\n\n"),
            ["YHOO\n+2\n10"]
        );
    }

    #[test]
    fn the_standards_second_example_keeps_the_id_and_drops_the_unfinished_event() {
        let stream = ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n\
                      data:  third event\n";
        let events = events(stream);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].data, "first event");
        assert_eq!(events[0].last_event_id, "1");
        assert_eq!(events[1].data, "second event");
        assert_eq!(events[1].last_event_id, "", "an empty id resets it");
    }

    #[test]
    fn the_standards_third_example_dispatches_empty_and_newline_data() {
        assert_eq!(datas("data\n\ndata\ndata\n\ndata:"), ["", "\n"]);
    }

    #[test]
    fn one_space_after_the_colon_is_dropped_and_no_more() {
        assert_eq!(
            datas("data:test\n\ndata: test\n\ndata:  test\n\n"),
            ["test", "test", " test"]
        );
    }

    #[test]
    fn all_three_line_endings_even_split_over_chunks() {
        let mut parser = Parser::new();
        let mut items = parser.feed(b"event: a\rdata: 1\r");
        items.extend(parser.feed(b"\n\r\ndata: 2\n\n"));
        let Item::Event(first) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!((first.event.as_str(), first.data.as_str()), ("a", "1"));
        assert_eq!(
            parser.endings,
            LineEndings {
                lf: 2,
                crlf: 2,
                cr: 1
            }
        );
    }

    #[test]
    fn a_byte_order_mark_is_dropped_once_even_split_over_chunks() {
        let mut parser = Parser::new();
        assert!(parser.feed(b"\xEF\xBB").is_empty());
        let items = parser.feed(b"\xBFdata: x\n\n");
        assert!(parser.bom);
        assert_eq!(items.len(), 1);
        // A second one is not a byte-order mark: the field name is then unknown.
        assert!(events("\u{FEFF}\u{FEFF}data: x\n\n").is_empty());
    }

    #[test]
    fn comments_retry_and_ids_are_reported_as_a_browser_reads_them() {
        let mut parser = Parser::new();
        let items = parser.feed(b": hi\nretry: 1500\nretry: 1.5\nid: 7\0\nid: 3\ndata: x\n\n");
        assert_eq!(items[0], Item::Comment("hi".into()));
        assert_eq!(
            items[1],
            Item::Retry(1500),
            "1.5 is not digits only: ignored"
        );
        assert_eq!(items.len(), 3);
        assert_eq!(parser.last_event_id(), "3", "an id with NUL is ignored");
        let mut parser = Parser::new();
        parser.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n");
        assert_eq!(parser.last_event_id(), "1", "event 2 is not complete");
        let event = events("id: 1\ndata: a\n\ndata: b\n\n");
        assert_eq!(event[1].last_event_id, "1");
        assert!(event[0].has_id && !event[1].has_id);
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_but_resets_its_type() {
        let events = events("event: end\n\ndata: x\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "message");
    }
}
