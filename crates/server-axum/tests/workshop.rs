//! The workshop's grader against the real `server-axum` binary: every step passes, started by
//! the grader or already running. `cargo test -p server-axum --test workshop`.

contract_tests::workshop_suite!(axum, env!("CARGO_BIN_EXE_server-axum"));
