//! Many instances, one chat: the three servers on one real `redis-server`, behind a real
//! `nginx` running the checked-in `deploy/nginx.conf` (`tests/cluster.rs`), and with their rooms
//! spread over a real three-master Redis Cluster (`tests/redis_cluster.rs`), and resumable answers
//! resumed or cancelled on any instance (`tests/answers.rs`). Run them with
//! `cargo test -p cluster-tests` (`redis-server`, `redis-cli` and `nginx` must be installed:
//! `scripts/test.sh` installs them).

use contract_tests::{Endpoint, Protocol};
use test_servers::{Running, Which};

/// The three servers, axum, actix and warp, each started with `args`.
pub fn start_all(args: &[&str]) -> Vec<Running> {
    Which::ALL
        .iter()
        .map(|&which| Running::start(which, args))
        .collect()
}

/// A running server, spoken to over HTTP/1.1.
pub fn endpoint(server: &Running) -> Endpoint {
    Endpoint {
        addr: ([127, 0, 0, 1], server.port).into(),
        framework: server.which.framework().name,
        protocol: Protocol::Http1,
    }
}
