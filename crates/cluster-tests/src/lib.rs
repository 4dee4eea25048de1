//! Many instances, one chat: the three servers on one real `redis-server`, and behind a real
//! `nginx` running the checked-in `deploy/nginx.conf`. The cases are in `tests/cluster.rs`;
//! run them with `cargo test -p cluster-tests` (`redis-server` and `nginx` must be installed:
//! `scripts/test.sh` installs them).
