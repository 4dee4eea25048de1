//! How often one client may post to the chat: a token bucket per client address, or per user
//! once identity tells users apart (`governor`'s GCRA), `--post-burst` posts at once and `--post-rate` per second after that. Without it one
//! client could post 80,000 messages a second, flush the whole history in 15 ms, and every
//! browser that resumes would get `lagged` instead of the conversation.
//!
//! Tested by `cargo test -p sse-core post_limit`, and on each server by the contract suite.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::client::ClientKey;

/// Clients remembered before the ones whose buckets are full again are forgotten: the map holds
/// only recent posters, however many addresses post over a day.
const FORGET_PAST: usize = 10_000;

/// Whose bucket a post takes its token from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Poster {
    /// A client address: without identity, or a post without a token.
    Address(ClientKey),
    /// A signed-in user, from every address it posts from: users behind one address (an
    /// office's NAT) do not share a bucket, and one user cannot get more by using more
    /// addresses.
    User(String),
}

/// One token bucket per poster.
#[derive(Debug)]
pub struct PostLimit {
    limiter: DefaultKeyedRateLimiter<Poster>,
    clock: DefaultClock,
    rate: NonZeroU32,
    burst: NonZeroU32,
}

/// A post refused by [`PostLimit::check`]: how long until the next one is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany {
    /// Until the client's next post is accepted.
    pub wait: Duration,
    /// `--post-rate`, for the message.
    pub rate: u32,
    /// `--post-burst`, for the message.
    pub burst: u32,
}

impl PostLimit {
    /// `burst` posts at once, then `rate` a second (both at least 1: the options say so).
    pub fn new(rate: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            clock: DefaultClock::default(),
            rate,
            burst,
        }
    }

    /// Takes a token for `poster`'s post, or says how long it must wait.
    pub fn check(&self, poster: &Poster) -> Result<(), TooMany> {
        if self.limiter.len() > FORGET_PAST {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(poster).map_err(|not_until| TooMany {
            wait: not_until.wait_time_from(self.clock.now()),
            rate: self.rate.get(),
            burst: self.burst.get(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_applies_per_client() {
        let limit = PostLimit::new(1, 3);
        let a = &Poster::Address(ClientKey::of("127.0.0.1".parse().expect("an address")));
        let b = &Poster::Address(ClientKey::of("127.0.0.2".parse().expect("an address")));
        for _ in 0..3 {
            assert_eq!(limit.check(a), Ok(()));
        }
        let refused = limit.check(a).expect_err("past the burst");
        assert!(
            refused.wait > Duration::from_millis(500) && refused.wait <= Duration::from_secs(1)
        );
        assert_eq!((refused.rate, refused.burst), (1, 3));
        assert_eq!(limit.check(b), Ok(()), "another client has its own bucket");
        let alice = &Poster::User("alice".into());
        assert_eq!(limit.check(alice), Ok(()), "so has a user, on any address");
    }
}
