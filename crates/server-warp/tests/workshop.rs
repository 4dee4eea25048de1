//! The workshop's grader against the real `server-warp` binary: every step passes, started by
//! the grader or already running. `cargo test -p server-warp --test workshop`.

contract_tests::workshop_suite!(warp, env!("CARGO_BIN_EXE_server-warp"));
