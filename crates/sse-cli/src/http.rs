//! The HTTP client `sse` uses: one new connection per request, as `EventSource` makes one per
//! (re)connect over HTTP/1.1. `http://` is HTTP/1.1; `https://` offers HTTP/2 and HTTP/1.1 by
//! ALPN, as a browser does, and says which one the server chose. Certificates are checked
//! against the web's roots (`webpki-roots`) unless `--insecure`, as with `curl -k`.
//!
//! The body comes back decoded when the server compressed it (gzip or deflate, which the
//! client offers as a browser does), chunk by chunk as the bytes arrive, so that the doctor can
//! see whether compression holds events back. The connection itself (TCP, TLS, ALPN, the
//! handshakes) is [`sse_client`]'s, shared with `sse-bench` and the contract suite.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri, Version};
use sse_client::decode::Decoder;
use sse_client::{Alpn, Client, Origin, Trust};

pub use sse_client::{CertificateRejected, Error};

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
        // http:// or https://, with a host: the client's own check.
        Origin::of(&url)?;
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
        let Ok(origin) = Origin::of(&self.url) else {
            return false;
        };
        let host = origin.bare_host();
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
/// `Last-Event-ID` when given; returns once the response headers arrive. The connection and its
/// protocol come from [`sse_client`]: HTTP/2 or HTTP/1.1 by ALPN over `https://`, as a browser
/// offers them.
pub async fn open(ask: &Ask, last_event_id: Option<&str>) -> Result<Response, Error> {
    let trust = if ask.insecure {
        Trust::Any
    } else {
        Trust::WebRoots
    };
    let origin = Origin::of(&ask.url)?;
    let connection = Client::new(trust, Alpn::H2OrHttp1)
        .connect(&origin)
        .await
        .map_err(with_hint)?;

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
    let path = ask.url.path_and_query().map_or("/", |p| p.as_str());
    let request = request.uri(path).body(Full::new(ask.body.clone()))?;
    let response = connection.send(request).await?;

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

/// A certificate the client rejected, with what to do about a test server's own.
fn with_hint(e: Error) -> Error {
    match e.downcast::<CertificateRejected>() {
        Ok(mut rejected) => {
            rejected.why += "; for a test server's self-signed certificate, add -k";
            rejected
        }
        Err(e) => e,
    }
}
