//! The shared contract suite, run against the real `server-axum` binary over real sockets.
//! `cargo test -p server-axum --test contract`.

contract_tests::contract_suite!(axum, env!("CARGO_BIN_EXE_server-axum"));
