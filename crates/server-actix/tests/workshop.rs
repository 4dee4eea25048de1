//! The workshop's grader against the real `server-actix` binary: every step passes, started by
//! the grader or already running. `cargo test -p server-actix --test workshop`.

contract_tests::workshop_suite!(actix, env!("CARGO_BIN_EXE_server-actix"));
