//! The pages, tested in a real browser: headless Chromium, driven over WebDriver, against each
//! of the three servers, and `/compare` against all three at once. The cases are in
//! `tests/pages.rs`, `tests/assistant.rs` and `tests/sign_in.rs`; run them with `cargo test -p browser-tests` (Chromium and chromedriver
//! must be installed: `scripts/test.sh` installs them).

pub mod browser;

pub use browser::Browser;
pub use test_servers::{Running, Which};

/// Runs each page case (an `async fn(Which)` of the test file) against each server, as
/// `axum::case`, `actix::case` and `warp::case`.
#[macro_export]
macro_rules! for_each_server {
    ($($case:ident),* $(,)?) => {
        mod axum { $( #[tokio::test] async fn $case() { super::$case(super::Which::Axum).await } )* }
        mod actix { $( #[tokio::test] async fn $case() { super::$case(super::Which::Actix).await } )* }
        mod warp { $( #[tokio::test] async fn $case() { super::$case(super::Which::Warp).await } )* }
    };
}
