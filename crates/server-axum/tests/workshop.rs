//! The workshop's grader against this server: every step's rules pass, whether the grader
//! starts the binary or checks it already running (as `SSE_GRADE_URL` makes it do). The
//! workshop's rules are the contract's own cases, so a server held to the whole contract must
//! pass them all. `cargo test -p server-axum --test workshop`.

use contract_tests::workshop::{STEPS, grade_step_at};
use contract_tests::{Protocol, Server, Target};

const BINARY: &str = env!("CARGO_BIN_EXE_server-axum");

#[tokio::test]
async fn every_workshop_step_passes() {
    for step in &STEPS {
        grade_step_at(step.number, "axum", BINARY, None).await;
    }
}

#[tokio::test]
async fn every_workshop_step_passes_against_a_running_server() {
    let target = Target {
        binary: BINARY,
        framework: "axum",
        redis: false,
        protocol: Protocol::Http1,
        workshop: None,
        running: None,
    };
    let server = Server::start(target, &[]).await;
    for step in &STEPS {
        grade_step_at(step.number, "axum", BINARY, Some(server.addr)).await;
    }
}
