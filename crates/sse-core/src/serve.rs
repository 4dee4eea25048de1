//! The accept loop that axum and warp share: plain HTTP (HTTP/1.1), or with `--tls` HTTPS with
//! HTTP/2 and HTTP/1.1 on one port, chosen by ALPN. Both frameworks hand over a tower service
//! (axum's `Router`, warp's `warp::service(routes)`), so one piece of code serves both, with
//! hyper's connection builders, whose settings are chosen here on purpose. actix-web has its
//! own server and its own rustls binding, with the same limits set through its own settings.
//!
//! Why not `axum::serve` and `warp::serve`: neither speaks TLS (warp 0.4 removed it), and neither
//! lets the HTTP/2 settings below be chosen. The loop is short; everything in it is said below.
//!
//! Tested by the contract suite, over both protocols, on every server.

use std::error::Error;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{Either, Full};
use hyper::body::{Body, Incoming};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::client::Peer;
use crate::gate::RequestHead;
use crate::state::{AppState, ConnectionSlot};
use crate::tls::Tls;

/// Streams one HTTP/2 connection may carry at once (`SETTINGS_MAX_CONCURRENT_STREAMS`). A page
/// holds four, a few tabs a dozen; the benchmark carries 100 per connection. Bounded, so that
/// one client cannot open streams without end on a single connection (it counts against
/// `--max-streams` and `--max-streams-per-client` too).
pub const H2_MAX_STREAMS: u32 = 256;

/// How often an HTTP/2 connection that has been quiet is pinged, and how long the answer may
/// take. A peer that vanished without a FIN (a laptop closed, a network gone) is found within
/// their sum and its streams released; the keep-alive comments find it too, but only once the
/// kernel gives up retransmitting, which takes minutes.
pub const H2_PING: (Duration, Duration) = (Duration::from_secs(20), Duration::from_secs(20));

/// How long a client may take, on all three servers, to finish its TLS handshake, and then
/// to send a whole request head (HTTP/1.1) or its first request (HTTP/2, whose preface and
/// settings come first). A connection that says nothing is closed after it, so idle
/// connections cannot hold the server's descriptors. (actix-web: `tls_handshake_timeout`,
/// `client_request_timeout` and `keep_alive`, set to the same.)
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The most an HTTP/1.1 connection buffers in the process, each way: a request head past it
/// is refused (431), and a response whose client stopped reading stops being polled once
/// this much waits to be written (hyper's default is 400 KiB, per connection).
const HTTP1_BUFFER: usize = 64 * 1024;

/// How long shutdown waits for connections to close once their streams have ended (they end
/// on the shutdown token at once; this bounds a client that does not hang up).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves `service` on `listener` (over TLS with `tls`) until `state`'s shutdown token is
/// cancelled, then stops accepting and gives open connections `DRAIN_TIMEOUT` (1 s) to close.
///
/// Each request passes `state`'s gate ([`AppState::turn_away`]) before `service` sees it, and
/// carries its connection's [`Peer`] address. Past [`AppState::max_connections`] (what the
/// open-files limit allows), or past `--max-connections-per-client` for its client, a new
/// connection is closed at once ([`AppState::take_connection`]).
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<Tls>,
    state: AppState,
    service: S,
) -> io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn Error + Send + Sync>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    let builders = Arc::new(Builders::new());
    let acceptor = tls.map(|tls| TlsAcceptor::from(tls.config));
    let graceful = GracefulShutdown::new();
    let shutdown = state.shutdown().clone();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    back_off(error).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let counted = match state.take_connection(peer.ip()) {
            Ok(counted) => counted,
            Err(why) => {
                // Closed now: the client sees it at once, and retries, rather than wait on a
                // server that has no descriptor left to answer it with.
                tracing::debug!(%peer, "connection refused: {why}");
                continue;
            }
        };
        let service = Gated {
            service: TowerToHyperService::new(service.clone()),
            state: state.clone(),
            peer: Peer(peer),
            served: None,
        };
        let (watcher, builders) = (graceful.watcher(), Arc::clone(&builders));
        // Two kinds of task, each as small as its own connection: a task is allocated at the
        // size of its future, and one future for both would make every plain connection carry
        // room for a TLS session and an HTTP/2 connection it never uses (2.9 KiB, not 1.8).
        match &acceptor {
            None => {
                let connection = builders.http1.serve_connection(TokioIo::new(tcp), service);
                tokio::spawn(closed(watcher.watch(connection), counted));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let mut service = service;
                tokio::spawn(async move {
                    let Some(tls) = handshake(&acceptor, tcp).await else {
                        return;
                    };
                    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                        let served = Arc::new(AtomicBool::new(false));
                        service.served = Some(Arc::clone(&served));
                        let connection =
                            builders.http2.serve_connection(TokioIo::new(tls), service);
                        let connection = first_request_within(watcher.watch(connection), served);
                        closed(connection, counted).await;
                    } else {
                        let connection =
                            builders.http1.serve_connection(TokioIo::new(tls), service);
                        closed(watcher.watch(connection), counted).await;
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

/// What every connection's requests go through before the framework: the gate, and the peer
/// address put in the request's extensions. Its futures are boxed (see [`Gated::call`]).
#[derive(Clone)]
struct Gated<S> {
    service: S,
    state: AppState,
    peer: Peer,
    /// HTTP/2 only: set by the first request, since a connection without one is closed after
    /// [`REQUEST_HEAD_TIMEOUT`] (HTTP/1.1 has hyper's own timer for it).
    served: Option<Arc<AtomicBool>>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Gated<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Either<B, Full<Bytes>>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    /// hyper polls a request's future in a box it allocates once per connection, at the
    /// future's size, and keeps until the connection closes: for an SSE stream, as long as the
    /// stream is open. warp's filter chain makes that box 1.5 KiB (axum's router 0.3); boxing
    /// the future here leaves hyper a 16-byte box, and the future's own allocation is freed as
    /// soon as the response has started.
    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        if let Some(served) = &self.served {
            served.store(true, Ordering::Relaxed);
        }
        if let Some(turned) = self.state.turn_away(head(&request)) {
            let response = Response::builder()
                .status(turned.status)
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(Either::Right(Full::from(turned.message)));
            // The status is 400 or 421 and the header valid, so the builder cannot fail; if
            // it did, the request would get an empty 200 rather than a panic.
            let response =
                response.unwrap_or_else(|_| Response::new(Either::Right(Full::default())));
            return Box::pin(std::future::ready(Ok(response)));
        }
        request.extensions_mut().insert(self.peer);
        let response = self.service.call(request);
        Box::pin(async move { Ok(response.await?.map(Either::Left)) })
    }
}

/// What the gate looks at, read from hyper's request.
fn head<B>(request: &Request<B>) -> RequestHead<'_> {
    let hosts = request.headers().get_all(header::HOST);
    RequestHead {
        http1: request.version() < http::Version::HTTP_2,
        path: request.uri().path(),
        authority: request.uri().authority().map(http::uri::Authority::as_str),
        host: hosts.iter().next().map(http::HeaderValue::as_bytes),
        host_count: hosts.iter().count(),
    }
}

/// Serves one connection to its end, then gives back its unit of the connections count.
async fn closed<E: std::fmt::Display>(
    served: impl Future<Output = Result<(), E>>,
    _counted: ConnectionSlot,
) {
    // A client that leaves mid-stream is how every stream ends: not worth more than a debug
    // line (warp's own server logged it as an error).
    if let Err(error) = served.await {
        tracing::debug!("connection closed: {error}");
    }
}

/// An HTTP/2 connection, closed if no request has come within [`REQUEST_HEAD_TIMEOUT`]:
/// hyper waits for the client's preface for ever. (HTTP/1.1 has hyper's own timer for it.)
async fn first_request_within<E>(
    connection: impl Future<Output = Result<(), E>>,
    served: Arc<AtomicBool>,
) -> Result<(), E> {
    let mut connection = pin!(connection);
    tokio::select! {
        done = &mut connection => return done,
        () = tokio::time::sleep(REQUEST_HEAD_TIMEOUT) => {}
    }
    if served.load(Ordering::Relaxed) {
        connection.await
    } else {
        tracing::debug!("HTTP/2 connection closed: no request within {REQUEST_HEAD_TIMEOUT:?}");
        Ok(())
    }
}

/// hyper's connection builders, made once: HTTP/1.1 (plain HTTP, as browsers speak it without
/// TLS and as actix-web's plain listener does, or over TLS when ALPN says so) and HTTP/2 (over
/// TLS, when ALPN says `h2`).
struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Builders {
    fn new() -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(REQUEST_HEAD_TIMEOUT)
            .max_buf_size(HTTP1_BUFFER);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(H2_MAX_STREAMS)
            .keep_alive_interval(H2_PING.0)
            .keep_alive_timeout(H2_PING.1);
        Self { http1, http2 }
    }
}

/// The TLS handshake, bounded in time; `None` (after a debug line) if it fails.
async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(REQUEST_HEAD_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(error)) => {
            tracing::debug!("TLS handshake failed: {error}");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake took over {REQUEST_HEAD_TIMEOUT:?}");
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
