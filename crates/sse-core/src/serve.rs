//! The accept loop that axum and warp share: plain HTTP (HTTP/1.1), or with `--tls` HTTPS with
//! HTTP/2 and HTTP/1.1 on one port, chosen by ALPN. Both frameworks hand over a tower service
//! (axum's `Router`, warp's `warp::service(routes)`), so one piece of code serves both, with
//! hyper-util's connection builder, whose settings are chosen here on purpose. actix-web has its
//! own server and its own rustls binding.
//!
//! Why not `axum::serve` and `warp::serve`: neither speaks TLS (warp 0.4 removed it), and neither
//! lets the HTTP/2 settings below be chosen. The loop is short; everything in it is said below.
//!
//! Tested by the contract suite, over both protocols, on every server.

use std::error::Error;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use crate::tls::Tls;

/// Streams one HTTP/2 connection may carry at once (`SETTINGS_MAX_CONCURRENT_STREAMS`). A page
/// holds four, a few tabs a dozen; the benchmark carries 100 per connection. Bounded, so that
/// one client cannot open streams without end on a single connection (it counts against
/// `--max-streams` too).
pub const H2_MAX_STREAMS: u32 = 256;

/// How often an HTTP/2 connection that has been quiet is pinged, and how long the answer may
/// take. A peer that vanished without a FIN (a laptop closed, a network gone) is found within
/// their sum and its streams released; the keep-alive comments find it too, but only once the
/// kernel gives up retransmitting, which takes minutes.
pub const H2_PING: (Duration, Duration) = (Duration::from_secs(20), Duration::from_secs(20));

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for connections to close once their streams have ended (they end
/// on the shutdown token at once; this bounds a client that does not hang up).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves `service` on `listener` (over TLS with `tls`) until `shutdown` is cancelled, then
/// stops accepting and gives open connections [`DRAIN_TIMEOUT`] to close.
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<Tls>,
    service: S,
    shutdown: CancellationToken,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    let http1 = Arc::new(http1_builder());
    let auto = Arc::new(auto_builder());
    let acceptor = tls.map(|tls| TlsAcceptor::from(tls.config));
    let graceful = GracefulShutdown::new();
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    back_off(error).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // Events are small writes that must leave at once, not wait for the previous packet's
        // acknowledgement.
        let _ = tcp.set_nodelay(true);
        let (service, watcher) = (
            BoxedFuture(TowerToHyperService::new(service.clone())),
            graceful.watcher(),
        );
        // Two kinds of task, each as small as its own connection: a task is allocated at the
        // size of its future, and one future for both would make every plain connection carry
        // room for a TLS session and an HTTP/2 connection it never uses (2.9 KiB, not 1.8).
        match &acceptor {
            None => {
                let connection = http1.serve_connection(TokioIo::new(tcp), service);
                tokio::spawn(closed(watcher.watch(connection)));
            }
            Some(acceptor) => {
                let (auto, acceptor) = (Arc::clone(&auto), acceptor.clone());
                tokio::spawn(async move {
                    if let Some(tls) = handshake(&acceptor, tcp).await {
                        let connection = auto.serve_connection(TokioIo::new(tls), service);
                        closed(watcher.watch(connection)).await;
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("shutdown: some connections did not close within {DRAIN_TIMEOUT:?}");
    }
    Ok(())
}

/// A service whose futures are boxed. hyper polls a request's future in a box it allocates
/// once per connection, at the future's size, and keeps until the connection closes: for an SSE
/// stream, as long as the stream is open. warp's filter chain makes that box 1.5 KiB (axum's
/// router 0.3); boxing the future here leaves hyper a 16-byte box, and the future's own
/// allocation is freed as soon as the response has started.
#[derive(Clone)]
struct BoxedFuture<S>(S);

impl<S, R> hyper::service::Service<R> for BoxedFuture<S>
where
    S: hyper::service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, request: R) -> Self::Future {
        Box::pin(self.0.call(request))
    }
}

/// Serves one connection to its end.
async fn closed<E: std::fmt::Display>(served: impl Future<Output = Result<(), E>>) {
    // A client that leaves mid-stream is how every stream ends: not worth more than a debug
    // line (warp's own server logged it as an error).
    if let Err(error) = served.await {
        tracing::debug!("connection closed: {error}");
    }
}

/// Plain HTTP: HTTP/1.1 only, as browsers speak it without TLS (and as actix-web's plain
/// listener does), with the time limit on reading a request head that the timer enables.
fn http1_builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new());
    builder
}

/// HTTPS: HTTP/1.1, and HTTP/2 with the settings above, chosen by ALPN.
fn auto_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .keep_alive_interval(H2_PING.0)
        .keep_alive_timeout(H2_PING.1);
    builder
}

/// The TLS handshake, bounded in time; `None` (after a debug line) if it fails.
async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(error)) => {
            tracing::debug!("TLS handshake failed: {error}");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake took over {HANDSHAKE_TIMEOUT:?}");
            None
        }
    }
}

/// After a failed `accept`: a connection that was reset before it was accepted is simply gone;
/// anything else (out of file descriptors, most often) is logged and waited out for a second,
/// rather than retried in a tight loop that would only fail again.
async fn back_off(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept error: {error}; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
