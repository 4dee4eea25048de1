//! `server-warp`: parses the shared options, binds, prints the address, and serves until SIGINT
//! or SIGTERM. `cargo run -p server-warp -- --help` lists the options.

use sse_core::{Options, logging, net, shutdown};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let options = Options::parse_for(server_warp::FRAMEWORK);
    logging::init(server_warp::FRAMEWORK);
    let listener = net::bind(&options.host, options.port).await?;
    // Scripts and tests read the port from this first line of stdout.
    println!("listening on http://{}/ (warp)", listener.local_addr()?);
    let shutdown = shutdown::cancel_on_signal()?;
    server_warp::serve(listener, options, shutdown).await?;
    Ok(())
}
