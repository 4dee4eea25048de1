//! The shared contract suite, run against the real `server-warp` binary over real sockets.
//! `cargo test -p server-warp --test contract`.

contract_tests::contract_suite!(warp, env!("CARGO_BIN_EXE_server-warp"));
