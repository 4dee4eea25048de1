//! Property tests of request parsing, for any bytes a client can send: the query string and
//! `Last-Event-ID` never make the parser panic, a bad query parameter is always answered with a
//! 400 that names it, and an id is only ever read from a plain decimal number.
//!
//! Run with `cargo test -p sse-core --test request_properties`.

use proptest::prelude::*;
use sse_core::StreamKind;
use sse_core::request::{
    DEFAULT_HISTORY, DEFAULT_INTERVAL_MS, HISTORY, INTERVAL_MS, StreamRequest, parse_last_event_id,
};
use std::time::Duration;

fn any_kind() -> impl Strategy<Value = StreamKind> {
    prop::sample::select(StreamKind::ALL.to_vec())
}

/// Query strings built from the parameters that matter, with values of any kind: numbers in
/// and out of range, signs, spaces, percent escapes, invalid UTF-8 escapes, NUL.
fn tricky_query() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("interval_ms"),
        Just("format"),
        Just("history"),
        Just("lastEventId"),
        Just("other"),
    ];
    let value = prop_oneof![
        (0u64..100_000).prop_map(|n| n.to_string()),
        Just("+500".to_owned()),
        Just(" 500".to_owned()),
        Just("%35%30%30".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("%00".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("rfc3339".to_owned()),
        Just("unix-ms".to_owned()),
        ".{0,20}",
    ];
    prop::collection::vec((name, value), 0..5).prop_map(|pairs| {
        let pairs: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
        pairs.join("&")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any query and any header bytes: a request within the bounds, or a 400 naming one of the
    /// parameters this stream reads. Never a panic.
    #[test]
    fn any_query_gives_a_bounded_request_or_a_named_error(
        kind in any_kind(),
        query in prop_oneof![tricky_query(), ".{0,200}"],
        header in prop::option::of(prop::collection::vec(any::<u8>(), 0..64)),
    ) {
        match StreamRequest::parse(kind, Some(&query), header.as_deref()) {
            Ok(request) => {
                let ms = request.interval.as_millis() as u64;
                prop_assert!(INTERVAL_MS.contains(&ms));
                prop_assert!(HISTORY.contains(&request.history));
                if !kind.is_paced() {
                    prop_assert_eq!(request.interval, Duration::from_millis(DEFAULT_INTERVAL_MS));
                }
                if kind != StreamKind::Chat {
                    prop_assert_eq!(request.history, DEFAULT_HISTORY);
                }
            }
            Err(bad) => {
                let read_here: &[&str] = match kind {
                    StreamKind::Clock => &["interval_ms", "format"],
                    StreamKind::Chat => &["history"],
                    _ => &["interval_ms"],
                };
                prop_assert!(read_here.contains(&bad.param), "{bad}");
                prop_assert!(bad.to_string().contains(bad.param));
            }
        }
    }

    /// `Last-Event-ID` as any bytes, of any length: a number only when the bytes are exactly
    /// a plain decimal u64 (no sign, space or leading `+`); anything else is `None`, never a
    /// panic and never a 400.
    #[test]
    fn last_event_id_is_a_plain_number_or_nothing(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..100),
            (0u64..u64::MAX).prop_map(|n| n.to_string().into_bytes()),
        ],
    ) {
        let plain = !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit);
        let expected = if plain {
            std::str::from_utf8(&bytes).ok().and_then(|text| text.parse::<u64>().ok())
        } else {
            None
        };
        prop_assert_eq!(parse_last_event_id(&bytes), expected);
    }
}

#[test]
fn a_64_kib_last_event_id_is_absent_not_an_error() {
    let huge = vec![b'7'; 64 * 1024];
    assert_eq!(parse_last_event_id(&huge), None);
    let request = StreamRequest::parse(StreamKind::Clock, None, Some(&huge)).expect("not a 400");
    assert_eq!(request.last_event_id, None);
}
