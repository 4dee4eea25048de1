//! `server-actix`: parses the shared options, binds, prints the address, and serves (HTTPS with
//! `--tls`) until SIGINT or SIGTERM. A start-up error is one sentence on stderr and exit status 1.
//! `cargo run -p server-actix -- --help` lists the options.

use std::process::ExitCode;

use sse_core::{Options, Tls, logging, net, shutdown};

/// jemalloc, as in all three servers, so that their figures compare frameworks, not allocators.
/// For axum and warp it saves 2 to 3 KiB per open stream; for actix-web it makes no difference
/// (13.4 KiB against 13.2), since actix writes into both of its 8 KiB buffers, and a written
/// page counts whoever allocated it (the book's chapter "Measured", `docs/src/measured.md`, has
/// the figures).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    let options = Options::parse_for(server_actix::FRAMEWORK);
    logging::init(server_actix::FRAMEWORK);
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One sentence that says what to do, never a Debug dump.
            eprintln!("server-actix: {error}");
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
    println!("listening on {}://{addr}/ (actix)", options.scheme());
    if let Some(notice) = tls.as_ref().and_then(|tls| tls.notice(addr.port())) {
        println!("{notice}");
    }
    let shutdown = shutdown::cancel_on_signal()?;
    server_actix::serve(listener, options, tls, shutdown).await?;
    Ok(())
}
