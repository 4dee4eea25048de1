//! Many instances, one chat: the three servers on one real `redis-server`, behind a real
//! `nginx` running the checked-in `deploy/nginx.conf` (`tests/cluster.rs`), and with their rooms
//! spread over a real three-master Redis Cluster (`tests/redis_cluster.rs`). Run them with
//! `cargo test -p cluster-tests` (`redis-server`, `redis-cli` and `nginx` must be installed:
//! `scripts/test.sh` installs them).
