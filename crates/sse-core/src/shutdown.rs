//! Graceful shutdown: one `CancellationToken` that every stream observes.
//!
//! An SSE response never ends by itself. A framework's graceful shutdown stops accepting and then
//! waits for open responses to finish, which for a stream means forever. So every stream ends
//! when this token is cancelled, and the frameworks' graceful shutdowns complete at once.

use std::io;

use tokio_util::sync::CancellationToken;

/// Returns a token cancelled on the first SIGINT (Ctrl-C) or SIGTERM. A second signal exits at
/// once, for the impatient. Must be called inside a tokio runtime.
pub fn cancel_on_signal() -> io::Result<CancellationToken> {
    let mut signals = Signals::install()?;
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        signals.next().await;
        tracing::info!("shutting down: ending open streams (signal again to exit now)");
        cancel.cancel();
        signals.next().await;
        std::process::exit(130);
    });
    Ok(token)
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// Installed up front so that a failure is reported at start-up, not lost in a task.
    fn install() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> io::Result<Self> {
        Ok(Self)
    }

    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
