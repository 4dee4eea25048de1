//! The checks of when bytes arrived: `buffering`, `compression` and `idle`. The arrival
//! pattern itself is reckoned by [`bursts`](crate::bursts).

use std::time::Duration;

use super::head::SLOW_HEADERS;
use super::watching::Watched;
use super::{Seen, Status, Verdict, ms, secs};
use crate::bursts::{Arrived, Bursts, CONNECT_BURST, HeldBack, TOGETHER};

/// The shortest common idle timeout on the way: nginx's `proxy_read_timeout` and the AWS
/// Application Load Balancer's idle timeout both default to 60 s.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// The arrival pattern of the events the main watch saw.
pub(super) fn bursts_of(w: &Watched) -> Bursts {
    let arrived: Vec<Arrived<'_>> = (w.events.iter())
        .map(|e| Arrived {
            at: e.at,
            data: &e.event.data,
        })
        .collect();
    let ended = w.ended.as_ref().map(|(at, _)| *at);
    Bursts::of(&arrived, &w.chunks, ended)
}

/// What the buffering check says of its failures, and the fix.
const HELD_WHY: &str = "Something between the server and here holds events and lets them \
    out in batches: users see nothing, then everything at once. The usual cause is a proxy \
    buffering the response (nginx does by default), or a server that does not flush each event.";
const HELD_FIX: &str = "Flush after every event, and turn buffering off on the way: send the \
    header X-Accel-Buffering: no (nginx honours it), or `proxy_buffering off;` in nginx's \
    location; other proxies and CDNs have a similar switch.";

pub(super) fn buffering(seen: &Seen) -> Verdict {
    let (w, bursts) = (&seen.watched, &seen.bursts);
    if compression(seen).status == Status::Fail {
        return Verdict::skip("the compression check below explains the delays; see it");
    }
    let later = bursts.later;
    if later < 4 {
        return Verdict::skip(format!(
            "{later} event(s) after the first {}: too few to judge; watch a stream with \
                 more events, or longer (--secs)",
            ms(CONNECT_BURST)
        ));
    }
    let (longest, _) = silences(&w.chunks, None);
    if bursts.bursts.len() >= 2 {
        let saw = format!(
            "{} of {later} events arrived in {} bursts (each within {} of each other), with \
             silences of up to {} between",
            bursts.in_bursts(),
            bursts.bursts.len(),
            ms(TOGETHER),
            ms(longest)
        );
        return Verdict::new(Status::Fail, saw, HELD_WHY, HELD_FIX);
    }
    if let Some(held) = bursts.held_back() {
        return held_back(w, &held);
    }
    let saw = match bursts.bursts.first().filter(|b| b.silence >= SLOW_HEADERS) {
        Some(burst) => format!(
            "{later} events arrived one by one but for one batch of {} after {} of silence, in \
             the stream's own rhythm",
            burst.events,
            secs(burst.silence)
        ),
        None => format!(
            "{later} events arrived one by one, silences of up to {}",
            ms(longest)
        ),
    };
    Verdict::pass(saw)
}

/// One burst after a long silence: "5 events made over 2.4 s arrived together after 3.0 s of
/// silence". A failure when the stream proves they were made apart, else a warning, since a
/// server may send a batch on purpose.
fn held_back(w: &Watched, held: &HeldBack) -> Verdict {
    let burst = &held.burst;
    let made = match burst.made_over {
        Some(over) => format!(" made over {} (their timestamps say so)", secs(over)),
        None => String::new(),
    };
    let mut saw = format!(
        "{} events{made} arrived together after {} of silence",
        burst.events,
        secs(burst.silence)
    );
    if burst.ends_response {
        saw += ", as the response ended";
    }
    let first_held = w.events.first().is_some_and(|e| e.at >= burst.at);
    if first_held && w.head_after >= SLOW_HEADERS {
        saw += &format!("; even the headers came only after {}", secs(w.head_after));
    } else if first_held {
        saw += &format!(
            "; the first event came {} after the headers",
            secs(burst.at.saturating_sub(w.head_after))
        );
    }
    if held.proven {
        saw += ": something between the server and you holds them back";
        return Verdict::new(Status::Fail, saw, HELD_WHY, HELD_FIX);
    }
    saw += ": something on the way may hold them back, unless the server sends them as one \
             batch on purpose";
    Verdict::new(Status::Warn, saw, HELD_WHY, HELD_FIX)
}

pub(super) fn compression(seen: &Seen) -> Verdict {
    let (w, bursts) = (&seen.watched, &seen.bursts);

    let Some(encoding) = w.compression else {
        return Verdict::pass("not compressed");
    };
    let (later, in_bursts) = (bursts.later, bursts.in_bursts());
    let bursts = bursts.bursts.len();
    if bursts >= 1 {
        return Verdict::new(
            Status::Fail,
            format!(
                "Content-Encoding: {encoding}, and {in_bursts} of {later} events arrived in \
                 {bursts} burst(s): the compressor held them"
            ),
            "A compressor waits for enough bytes to compress well before it writes any; small \
             events sit in its buffer for seconds or until the stream ends.",
            "Do not compress text/event-stream (in nginx, leave it out of gzip_types), or flush \
             the compressor after every event (a sync flush).",
        );
    }
    if w.events.is_empty() {
        return Verdict::skip(format!(
            "Content-Encoding: {encoding}, but no event came to tell whether it holds them"
        ));
    }
    Verdict::pass(format!(
        "Content-Encoding: {encoding}, and the events still arrived as sent (flushed)"
    ))
}

/// The longest time without bytes between the chunks, and the time from the last chunk (or
/// the start, with none) to `until`.
fn silences(chunks: &[Duration], until: Option<Duration>) -> (Duration, Duration) {
    let inner = chunks
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let last = chunks.last().copied().unwrap_or_default();
    let tail = until.map_or(Duration::ZERO, |end| end.saturating_sub(last));
    (inner, tail)
}

pub(super) fn idle(seen: &Seen) -> Verdict {
    let w = &seen.watched;
    const WHY: &str = "Proxies and load balancers close a connection that carries nothing for \
        a while: nginx after its proxy_read_timeout (default 60 s, nginx docs), the AWS \
        Application Load Balancer after its idle timeout (default 60 s, AWS docs), Cloudflare \
        after 100 s (Cloudflare docs, error 524). The browser then reconnects, and without ids \
        loses what was sent meanwhile.";
    const FIX: &str = "Send a comment line (`: keep-alive`) whenever nothing was sent for 15 to \
        30 s, well under the shortest timeout on the way.";
    let open_until = w.ended.is_none().then_some(w.watched);
    let (inner, tail) = silences(&w.chunks, open_until);
    let longest = inner.max(tail);
    let comments = match w.comments {
        0 => "no comment".to_owned(),
        n => format!("{n} comment(s) (keep-alive)"),
    };
    let saw = format!(
        "longest silence {}, {comments} in {}",
        secs(longest),
        secs(w.watched)
    );
    if longest >= IDLE_LIMIT {
        return Verdict::new(Status::Fail, saw, WHY, FIX);
    }
    let silent_to_the_end = tail >= Duration::from_secs(5) && tail >= w.watched / 2;
    if w.comments == 0 && silent_to_the_end {
        return Verdict::new(
            Status::Warn,
            format!(
                "silent for the last {} of the watch, and no comment (keep-alive) came: if it \
                 stays silent for 60 s, a proxy on the way may cut it (watch longer with --secs \
                 70 to be sure)",
                secs(tail)
            ),
            WHY,
            FIX,
        );
    }
    Verdict::pass(saw)
}
