//! The HTTP client `sse` uses: one new connection per request, as `EventSource` makes one per
//! (re)connect over HTTP/1.1. `http://` is HTTP/1.1; `https://` offers HTTP/2 and HTTP/1.1 by
//! ALPN, as a browser does, and says which one the server chose. Certificates are checked
//! against the web's roots (`webpki-roots`) unless `--insecure`, as with `curl -k`.
//!
//! The body comes back decoded when the server compressed it (gzip or deflate, which the
//! client offers as a browser does), chunk by chunk as the bytes arrive, so that the doctor can
//! see whether compression holds events back.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::header::{CONTENT_ENCODING, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;

/// Any error, as a sentence for the user.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long a connect and a TLS handshake may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to ask for: the URL, the method, extra headers and a body.
#[derive(Debug, Clone)]
pub struct Ask {
    /// `http://` or `https://`.
    pub url: Uri,
    /// `GET`, or `POST` for streams answered to a POST.
    pub method: Method,
    /// Headers sent on every request, after the ones a browser sends (they replace those).
    pub headers: HeaderMap,
    /// The request body (empty for a GET).
    pub body: Bytes,
    /// Accept any certificate.
    pub insecure: bool,
}

impl Ask {
    /// A `GET` of `url`, with nothing extra.
    pub fn get(url: &str) -> Result<Self, Error> {
        let url: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        match url.scheme_str() {
            Some("http" | "https") if url.host().is_some() => {}
            _ => return Err(format!("{url}: give an http:// or https:// URL with a host").into()),
        }
        Ok(Self {
            url,
            method: Method::GET,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            insecure: false,
        })
    }

    /// Adds a header given as `Name: value`, as `curl -H` takes it.
    pub fn header_line(&mut self, line: &str) -> Result<(), Error> {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("-H {line:?}: write a header as \"Name: value\""))?;
        let name = HeaderName::try_from(name.trim()).map_err(|e| format!("-H {line:?}: {e}"))?;
        let value = HeaderValue::try_from(value.trim()).map_err(|e| format!("-H {line:?}: {e}"))?;
        self.headers.append(name, value);
        Ok(())
    }

    /// Whether the URL is `https://`.
    pub fn is_tls(&self) -> bool {
        self.url.scheme_str() == Some("https")
    }

    /// Whether the host is this machine (`localhost`, 127.0.0.0/8 or `::1`).
    pub fn is_loopback(&self) -> bool {
        let host = self.url.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// A response whose headers have arrived; its body is read with [`Response::chunk`].
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// HTTP/1.1 or HTTP/2.
    pub version: Version,
    body: Incoming,
    decoder: Option<Decoder>,
}

impl Response {
    /// The protocol as a browser's `nextHopProtocol` names it.
    pub fn protocol(&self) -> &'static str {
        match self.version {
            Version::HTTP_2 => "h2",
            Version::HTTP_10 => "http/1.0",
            _ => "http/1.1",
        }
    }

    /// A header as text (empty when absent or not text).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The `Content-Encoding` the body came in, if any.
    pub fn compression(&self) -> Option<&'static str> {
        self.decoder.as_ref().map(Decoder::name)
    }

    /// The next bytes of the body as they arrive (decoded), or `None` at its end. After
    /// decoding a chunk may be empty: the compressor held what the server sent.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, Error>> {
        loop {
            let frame = match self.body.frame().await? {
                Ok(frame) => frame,
                Err(e) => return Some(Err(e.into())),
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            return Some(match &mut self.decoder {
                None => Ok(data),
                Some(decoder) => decoder.decode(&data),
            });
        }
    }

    /// The rest of the body as text, at most `limit` bytes, for error messages.
    pub async fn text(&mut self, limit: usize) -> String {
        let mut text = Vec::new();
        let read = async {
            while let Some(Ok(chunk)) = self.chunk().await {
                text.extend_from_slice(&chunk);
                if text.len() >= limit {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), read).await;
        text.truncate(limit);
        String::from_utf8_lossy(&text).trim().to_owned()
    }
}

/// Sends `ask` on a new connection, with the headers `EventSource` sends, plus
/// `Last-Event-ID` when given; returns once the response headers arrive.
pub async fn open(ask: &Ask, last_event_id: Option<&str>) -> Result<Response, Error> {
    let host = ask.url.host().unwrap_or_default();
    let port = ask
        .url
        .port_u16()
        .unwrap_or(if ask.is_tls() { 443 } else { 80 });
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| format!("no answer from {host}:{port} within 10 s"))?
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    tcp.set_nodelay(true)?;

    let mut request = Request::builder().method(ask.method.clone());
    let headers = request.headers_mut().expect("a new builder has no error");
    headers.insert("accept", HeaderValue::from_static("text/event-stream"));
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    headers.insert("accept-encoding", HeaderValue::from_static("gzip, deflate"));
    if let Some(id) = last_event_id.filter(|id| !id.is_empty()) {
        headers.insert("last-event-id", HeaderValue::from_str(id)?);
    }
    if !ask.body.is_empty() && !ask.headers.contains_key("content-type") {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    for (name, value) in &ask.headers {
        headers.insert(name, value.clone());
    }
    let body = Full::new(ask.body.clone());

    let response = if ask.is_tls() {
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())?;
        let alpn: &[&[u8]] = &[b"h2", b"http/1.1"];
        let connector = tokio_rustls::TlsConnector::from(tls_config(ask.insecure, alpn));
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| format!("no TLS handshake with {host}:{port} within 10 s"))?
            .map_err(|e| tls_error(e, host, port))?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        if h2 {
            let (mut sender, connection) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(connection);
            sender
                .send_request(request.uri(&ask.url).body(body)?)
                .await?
        } else {
            send_http1(io, request, ask, body).await?
        }
    } else {
        send_http1(TokioIo::new(tcp), request, ask, body).await?
    };

    let (parts, body) = response.into_parts();
    let decoder = Decoder::for_encoding(&parts.headers)?;
    Ok(Response {
        status: parts.status,
        headers: parts.headers,
        version: parts.version,
        body,
        decoder,
    })
}

/// A certificate this client does not trust: retrying will not help.
#[derive(Debug)]
pub struct CertificateRejected(String);

impl std::fmt::Display for CertificateRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CertificateRejected {}

fn tls_error(e: std::io::Error, host: &str, port: u16) -> Error {
    let rejected = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(rustls::Error::InvalidCertificate(why)) = rejected {
        let text = format!(
            "the certificate of {host}:{port} is not trusted ({why:?}); for a test server's \
             self-signed certificate, add -k"
        );
        return Box::new(CertificateRejected(text));
    }
    format!("TLS with {host}:{port}: {e}").into()
}

async fn send_http1<T>(
    io: TokioIo<T>,
    request: hyper::http::request::Builder,
    ask: &Ask,
    body: Full<Bytes>,
) -> Result<hyper::Response<Incoming>, Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = http1::handshake(io).await?;
    tokio::spawn(connection);
    let path = ask.url.path_and_query().map_or("/", |p| p.as_str());
    let authority = ask.url.authority().map_or("", |a| a.as_str());
    let request = request.uri(path).header(HOST, authority).body(body)?;
    Ok(sender.send_request(request).await?)
}

/// Undoes `Content-Encoding: gzip` or `deflate` as bytes arrive, keeping only what the
/// decompressor can already give.
enum Decoder {
    Gzip(flate2::write::GzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
}

impl Decoder {
    fn for_encoding(headers: &HeaderMap) -> Result<Option<Self>, Error> {
        let Some(encoding) = headers.get(CONTENT_ENCODING) else {
            return Ok(None);
        };
        match encoding.to_str().unwrap_or_default().trim() {
            "" | "identity" => Ok(None),
            "gzip" | "x-gzip" => Ok(Some(Self::Gzip(flate2::write::GzDecoder::new(Vec::new())))),
            "deflate" => Ok(Some(Self::Deflate(flate2::write::ZlibDecoder::new(
                Vec::new(),
            )))),
            other => {
                Err(format!("Content-Encoding: {other}, which this client did not offer").into())
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Gzip(_) => "gzip",
            Self::Deflate(_) => "deflate",
        }
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<Bytes, Error> {
        let out = match self {
            Self::Gzip(d) => {
                d.write_all(bytes)?;
                d.flush()?;
                d.get_mut()
            }
            Self::Deflate(d) => {
                d.write_all(bytes)?;
                d.flush()?;
                d.get_mut()
            }
        };
        Ok(Bytes::from(std::mem::take(out)))
    }
}

/// rustls with ring, offering the `alpn` protocols in order (`h2`, `http/1.1`), checking the
/// certificate against the web's roots unless `insecure`. `sse-bench` uses it too.
pub fn tls_config(insecure: bool, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions");
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// `--insecure`: accepts whatever certificate the server shows, but still checks the
/// handshake's signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
