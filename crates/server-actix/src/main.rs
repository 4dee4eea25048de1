//! `server-actix`: parses the shared options, binds, prints the address, and serves (HTTPS with
//! `--tls`) until SIGINT or SIGTERM. `cargo run -p server-actix -- --help` lists the options.

use sse_core::{Options, Tls, logging, net, shutdown};

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let options = Options::parse_for(server_actix::FRAMEWORK);
    logging::init(server_actix::FRAMEWORK);
    let tls = Tls::from_options(&options)?;
    let listener = net::bind(&options.host, options.port).await?;
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
