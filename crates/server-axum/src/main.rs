//! `server-axum`: parses the shared options, binds, prints the address, and serves (HTTPS with
//! `--tls`) until SIGINT or SIGTERM. A start-up error is one sentence on stderr and exit status 1.
//! `cargo run -p server-axum -- --help` lists the options.

use std::process::ExitCode;

use sse_core::{Options, Tls, logging, net, shutdown};

/// jemalloc, as in all three servers: an open stream costs 2 to 3 KiB less than with the system
/// allocator, because jemalloc writes no header in front of a block, and the 8 KiB that hyper
/// reserves on each connection for a read that never comes then costs no memory at all (the
/// book's chapter "Measured", `docs/src/measured.md`, has the figures).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse_for(server_axum::FRAMEWORK);
    logging::init(server_axum::FRAMEWORK);
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One sentence that says what to do, never a Debug dump.
            eprintln!("server-axum: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let tls = Tls::from_options(&options)?;
    let listener = net::bind(&options.host, options.port).await?;
    // Before the first line: connections the kernel completes from then on start with them.
    net::tune(&listener, options.write_timeout());
    let addr = listener.local_addr()?;
    // Scripts and tests read the port from this first line of stdout.
    println!("listening on {}://{addr}/ (axum)", options.scheme());
    if let Some(notice) = tls.as_ref().and_then(|tls| tls.notice(addr.port())) {
        println!("{notice}");
    }
    let shutdown = shutdown::cancel_on_signal()?;
    server_axum::serve(listener, options, tls, shutdown).await?;
    Ok(())
}
