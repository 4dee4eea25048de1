//! The checks of the bytes themselves: `line-endings` and `bom`.

use super::{Seen, Status, Verdict};
use crate::parse::LineEndings;

pub(super) fn line_endings(seen: &Seen) -> Verdict {
    let w = &seen.watched;
    let LineEndings { lf, crlf, cr } = w.endings;
    if lf + crlf + cr == 0 {
        return Verdict::skip("no complete line during the watch");
    }
    if crlf == 0 && cr == 0 {
        return Verdict::pass(format!("{lf} lines, all ending in LF"));
    }
    Verdict::new(
        Status::Warn,
        format!("lines ending in LF: {lf}, CRLF: {crlf}, CR alone: {cr}"),
        "Browsers accept all three, but many hand-written and library parsers split on \"\\n\\n\" \
         and never see an event end with CRLF, or read a stray CR into the data.",
        "End every line with LF alone.",
    )
}

pub(super) fn bom(seen: &Seen) -> Verdict {
    let w = &seen.watched;
    if w.chunks.is_empty() {
        return Verdict::skip("nothing was sent during the watch");
    }
    if !w.bom {
        return Verdict::pass("no byte-order mark");
    }
    Verdict::new(
        Status::Warn,
        "the stream starts with a UTF-8 byte-order mark (EF BB BF)",
        "Browsers drop one at the start, but most other clients do not: their first field name \
         becomes \"\\u{feff}retry\" or \"\\u{feff}data\", and the first field or event is lost.",
        "Write no byte-order mark; the stream is always UTF-8.",
    )
}
