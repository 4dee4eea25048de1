//! Connecting: TCP, then TLS for `https://`, then the HTTP/1.1 or HTTP/2 handshake that ALPN
//! chose; a [`Connection`] then carries request after request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::header::{HOST, HeaderValue};
use hyper::{Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::tls::{self, Alpn, Trust};
use crate::{Error, Origin};

/// How long a connect, and then a TLS handshake, may take before the attempt fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to connect: the TLS configuration (which certificates to trust, which protocols to
/// offer). Cheap to clone; make one and connect with it many times.
#[derive(Clone)]
pub struct Client {
    tls: Arc<ClientConfig>,
}

impl Client {
    /// A client trusting `trust` and offering `alpn` over `https://`.
    pub fn new(trust: Trust, alpn: Alpn) -> Self {
        Self {
            tls: tls::config(trust, alpn),
        }
    }

    /// A TCP connection to `origin`, with `TCP_NODELAY` (an event is one small write).
    pub async fn tcp(&self, origin: &Origin) -> Result<TcpStream, Error> {
        let authority = origin.authority();
        let connect = async {
            match origin.connect_to {
                Some(addr) => TcpStream::connect(addr).await,
                None => TcpStream::connect((origin.bare_host(), origin.port)).await,
            }
        };
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| format!("no answer from {authority} within 10 s"))?
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        tcp.set_nodelay(true)?;
        Ok(tcp)
    }

    /// A TLS connection to `origin`, its handshake done (and the protocol chosen by ALPN).
    pub async fn tls(&self, origin: &Origin) -> Result<TlsStream<TcpStream>, Error> {
        let tcp = self.tcp(origin).await?;
        let name = tls::server_name(origin.bare_host())?;
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls));
        let authority = origin.authority();
        tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| format!("no TLS handshake with {authority} within 10 s"))?
            .map_err(|e| tls::handshake_error(e, authority))
    }

    /// A connection to `origin`: HTTP/1.1 over `http://`; over `https://`, HTTP/2 when the
    /// server chose `h2` by ALPN, HTTP/1.1 otherwise.
    pub async fn connect(&self, origin: &Origin) -> Result<Connection, Error> {
        let sender = if origin.tls {
            let tls = self.tls(origin).await?;
            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                let io = TokioIo::new(tls);
                let (sender, connection) = http2::handshake(TokioExecutor::new(), io).await?;
                tokio::spawn(connection);
                Sender::Http2(sender)
            } else {
                http1_sender(TokioIo::new(tls)).await?
            }
        } else {
            http1_sender(TokioIo::new(self.tcp(origin).await?)).await?
        };
        Ok(Connection {
            sender,
            authority: Arc::from(origin.authority()),
        })
    }
}

async fn http1_sender<T>(io: TokioIo<T>) -> Result<Sender, Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(io).await?;
    tokio::spawn(connection);
    Ok(Sender::Http1(Arc::new(tokio::sync::Mutex::new(sender))))
}

/// One connection to a server. Clones share it: over HTTP/2 their requests are streams side by
/// side; over HTTP/1.1 a request waits until the previous response has ended.
#[derive(Clone)]
pub struct Connection {
    sender: Sender,
    /// `host:port`, for the `Host` header or `:authority`.
    authority: Arc<str>,
}

#[derive(Clone)]
enum Sender {
    Http1(Arc<tokio::sync::Mutex<http1::SendRequest<Full<Bytes>>>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Connection {
    /// HTTP/1.1 or HTTP/2.
    pub fn version(&self) -> Version {
        match self.sender {
            Sender::Http1(_) => Version::HTTP_11,
            Sender::Http2(_) => Version::HTTP_2,
        }
    }

    /// Sends `request`, whose URI is a path (`/events?x=1`), and returns once the response
    /// headers arrive. HTTP/1.1 names the host in a `Host` header (unless the request has
    /// one), HTTP/2 in the URI (`:authority`).
    pub async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, Error> {
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        match &self.sender {
            Sender::Http1(sender) => {
                *request.uri_mut() = path.parse()?;
                if !request.headers().contains_key(HOST) {
                    let host = HeaderValue::from_str(&self.authority)?;
                    request.headers_mut().insert(HOST, host);
                }
                let mut sender = sender.lock().await;
                sender.ready().await?;
                Ok(sender.send_request(request).await?)
            }
            Sender::Http2(sender) => {
                *request.uri_mut() = format!("https://{}{path}", self.authority).parse()?;
                let mut sender = sender.clone();
                sender.ready().await?;
                Ok(sender.send_request(request).await?)
            }
        }
    }
}
