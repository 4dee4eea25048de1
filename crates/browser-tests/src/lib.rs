//! The pages, tested in a real browser: headless Chromium, driven over WebDriver, against each
//! of the three servers, and `/compare` against all three at once. The cases are in
//! `tests/pages.rs`; run them with `cargo test -p browser-tests` (Chromium and chromedriver
//! must be installed: `scripts/test.sh` installs them).

pub mod browser;

pub use browser::Browser;
pub use test_servers::{Running, Which};
