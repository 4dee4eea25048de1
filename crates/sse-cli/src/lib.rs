//! `sse`: a command-line tool for any Server-Sent Events endpoint, whatever its server is
//! written in. `sse watch URL` shows a stream as the browser's `EventSource` sees it, reconnects
//! included; `sse doctor URL` checks an endpoint against the pitfalls that break SSE in
//! production (buffering proxies, compression, missing ids, idle timeouts, error statuses) and
//! says, per check, what it saw, why it matters and how to fix it; `sse token` mints a token for
//! servers started with `--auth-secret` or `--auth-public-key`; `sse serve --script` replays a
//! captured stream, with its timing and any fault the doctor knows, for a page's own tests.
//!
//! `cargo run -p sse-cli -- --help`, or `cargo install --path crates/sse-cli` for `sse`. The
//! library is what the binary runs; the cluster tests call the doctor through it.

pub mod bursts;
pub mod doctor;
pub mod http;
pub mod parse;
pub mod serve;
pub mod style;
pub mod token;
pub mod watch;
