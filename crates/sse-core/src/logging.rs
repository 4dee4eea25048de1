//! Logs through `tracing`, to stderr (stdout's first line is the address, for scripts to read).

use std::io::IsTerminal;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use crate::options::Framework;

/// Logs to stderr, filtered by `RUST_LOG` (such as `debug` or `sse_core=debug,info`); without
/// it, `info` for this workspace's crates and warnings for everything else.
pub fn init(framework: Framework) {
    let default = format!("warn,sse_core=info,server_{}=info", framework.name);
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse().ok());
    let filter: Targets = from_env.unwrap_or_else(|| default.parse().unwrap_or_default());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
}
