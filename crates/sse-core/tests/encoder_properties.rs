//! Property tests of the encoder against an SSE parser this project did not write
//! (`eventsource-stream`): for any text, the encoded event reads back as exactly one event with
//! exactly the fields it was given. No input can forge a field or a second event.
//!
//! Run with `cargo test -p sse-core --test encoder_properties`.

use eventsource_stream::Eventsource;
use futures_util::{FutureExt, StreamExt, stream};
use proptest::prelude::*;
use sse_core::{Event, FieldValue};

/// Parses `wire` as a whole stream with `eventsource-stream`, returning every dispatched event.
fn parse(wire: &[u8]) -> Vec<eventsource_stream::Event> {
    let chunks = stream::iter([Ok::<_, std::convert::Infallible>(wire.to_vec())]);
    // Every chunk is ready at once, so the parse completes on its first poll.
    let events = chunks.eventsource().collect::<Vec<_>>().now_or_never();
    let events = events.expect("an in-memory parse never waits");
    events
        .into_iter()
        .map(|e| e.expect("the encoder's output always parses"))
        .collect()
}

/// What a browser hands to `onmessage` for `data`: its line breaks, of any kind, as LF.
fn as_browser_sees(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

/// Text with plenty of the characters that matter to the wire format.
fn tricky_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("\r".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just(" ".to_string()),
        Just(":".to_string()),
        Just("data: ".to_string()),
        Just("id: 1".to_string()),
        Just("event: x".to_string()),
        Just("retry: 1".to_string()),
        Just("\0".to_string()),
        Just("\u{feff}".to_string()),
        any::<String>(),
    ];
    prop::collection::vec(pieces, 0..12).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn data_reads_back_exactly(data in tricky_text(), id in any::<u64>()) {
        let name = FieldValue::from_static("chat");
        let wire = Event::data(data.clone()).with_id(id).with_event(name).encode();
        let events = parse(&wire);
        prop_assert_eq!(events.len(), 1, "one event, whatever the data: {:?}", wire);
        prop_assert_eq!(&events[0].data, &as_browser_sees(&data));
        prop_assert_eq!(&events[0].id, &id.to_string());
        prop_assert_eq!(&events[0].event, "chat");
        prop_assert_eq!(events[0].retry, None);
    }

    #[test]
    fn ids_and_names_are_refused_or_read_back_exactly(text in tricky_text()) {
        let forbidden = text.contains(['\r', '\n', '\0']);
        let (Ok(id), Ok(name)) = (FieldValue::new(text.clone()), FieldValue::new(text.clone())) else {
            prop_assert!(forbidden, "refused without reason: {:?}", text);
            return Ok(());
        };
        prop_assert!(!forbidden, "accepted a forbidden character: {:?}", text);
        let events = parse(&Event::data("x").with_id(id).with_event(name).encode());
        prop_assert_eq!(events.len(), 1);
        prop_assert_eq!(&events[0].id, &text);
        // An empty event name means the default type, `message`.
        let expected = if text.is_empty() { "message" } else { text.as_str() };
        prop_assert_eq!(&events[0].event, expected);
    }

    #[test]
    fn comments_never_become_events(text in tricky_text()) {
        prop_assert!(parse(&Event::comment(text).encode()).is_empty());
    }
}
