//! File descriptors: every connection holds one, and a process may open only as many as its
//! soft limit (`ulimit -n`), which is often 1024 while the hard limit is far higher. Past it
//! `accept` fails, and a server can neither answer `/health` nor turn a stream away politely:
//! new connections just hang. So at start each server:
//!
//! 1. raises its soft limit to the hard limit (a process may, without privileges), and says so
//!    in the log when it cannot reach [`WANTED`];
//! 2. keeps [`RESERVED`] descriptors for what is not a connection (the listener, the runtime's
//!    epoll and wakers, Redis, logs), and takes every other one as its connection limit: past
//!    it, a new connection is closed at once rather than left waiting;
//! 3. caps `--max-streams` [`HEADROOM`] below that (with a warning), so that while every
//!    stream is held there are still connections for the busy answer and for `/health`.
//!
//! Tested by `cargo test -p sse-core descriptors`, and on each server by the contract suite
//! (a server started with a low hard limit).

use crate::options::Options;

/// Descriptors kept for what is not a client connection.
pub const RESERVED: u64 = 32;

/// Connections kept, below the connection limit, for the busy answer and `/health`.
pub const HEADROOM: u64 = 32;

/// The soft limit a server would like: 10,000 streams and their reserve.
pub const WANTED: u64 = 16_384;

/// What the descriptors allow, worked out once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The soft open-files limit now in force.
    pub open_files: u64,
    /// Connections open at once; past it, new ones are closed at once.
    pub max_connections: usize,
}

impl Budget {
    /// The budget for a soft limit of `open_files`.
    pub fn for_limit(open_files: u64) -> Self {
        let max_connections = open_files.saturating_sub(RESERVED).max(HEADROOM + 1);
        Self {
            open_files,
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        }
    }

    /// The most streams the budget leaves room for, with [`HEADROOM`] to spare.
    pub fn max_streams(&self) -> usize {
        self.max_connections
            .saturating_sub(HEADROOM as usize)
            .max(1)
    }
}

/// Raises the soft open-files limit as far as the hard limit allows, lowers `--max-streams`
/// to what the descriptors allow, and returns the budget. Logs a warning for each of the two
/// when it falls short.
pub fn fit(options: &mut Options) -> Budget {
    let open_files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!("cannot read or raise the open-files limit: {error}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    };
    if open_files < WANTED {
        tracing::warn!(
            open_files,
            "the open-files limit is {open_files} (ulimit -Hn); raise it for more connections"
        );
    }
    let budget = Budget::for_limit(open_files);
    if options.max_streams > budget.max_streams() {
        tracing::warn!(
            "--max-streams {} lowered to {}: the open-files limit is {open_files}, and \
             connections must remain for the busy answer and /health",
            options.max_streams,
            budget.max_streams(),
        );
        options.max_streams = budget.max_streams();
    }
    budget
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_reserve_and_headroom() {
        let budget = Budget::for_limit(1024);
        assert_eq!(budget.max_connections, 992);
        assert_eq!(budget.max_streams(), 960);
        let tiny = Budget::for_limit(16);
        assert!(tiny.max_connections > HEADROOM as usize && tiny.max_streams() >= 1);
    }

    #[test]
    fn fit_raises_the_soft_limit_and_caps_max_streams() {
        let mut options = Options::try_parse_for(
            crate::Framework::AXUM,
            ["server-axum", "--max-streams", "100000000"],
        )
        .expect("valid");
        let budget = fit(&mut options);
        let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
        assert_eq!(
            soft,
            hard.min(budget.open_files),
            "raised to the hard limit"
        );
        assert_eq!(options.max_streams, budget.max_streams());
    }
}
