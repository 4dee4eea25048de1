//! The shared contract suite, run against the real `server-actix` binary over real sockets.
//! `cargo test -p server-actix --test contract`.

contract_tests::contract_suite!(actix, env!("CARGO_BIN_EXE_server-actix"));
