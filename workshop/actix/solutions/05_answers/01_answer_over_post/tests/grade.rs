//! The grader: the project's contract suite, the rules of steps 1 to 7, against this
//! package's server over real sockets. `cargo test` runs it; each step's test stops at its
//! first broken rule and says what the rule asks.

use contract_tests::workshop::grade_step;

const SERVER: &str = env!("CARGO_BIN_EXE_actix-7-answer-solution");

#[tokio::test]
async fn step_1_the_first_stream() {
    grade_step(1, "actix", SERVER).await;
}

#[tokio::test]
async fn step_2_the_paragraph() {
    grade_step(2, "actix", SERVER).await;
}

#[tokio::test]
async fn step_3_resume() {
    grade_step(3, "actix", SERVER).await;
}

#[tokio::test]
async fn step_4_retry_and_keep_alive() {
    grade_step(4, "actix", SERVER).await;
}

#[tokio::test]
async fn step_5_a_chat() {
    grade_step(5, "actix", SERVER).await;
}

#[tokio::test]
async fn step_6_shutdown_and_vanishing_clients() {
    grade_step(6, "actix", SERVER).await;
}

#[tokio::test]
async fn step_7_an_answer_over_post() {
    grade_step(7, "actix", SERVER).await;
}
