//! The client the subcommands share. Over `http://`, HTTP/1.1 with one connection per stream, as
//! a browser's `EventSource` opens one over HTTP/1.1, and one kept-alive connection for
//! posting. Over `https://`, HTTP/2, where many streams share a connection ([`Connection`] is
//! then cheap to clone). Certificates are not checked: this tool only talks to servers on this
//! machine, which make their own (`--tls`), as `curl -k` would. Connecting is
//! [`sse_client`]'s, as for `sse` and the contract suite.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use eventsource_stream::{EventStream, Eventsource};
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use sse_client::{Alpn, Client, Origin, Trust};

use crate::scan;

/// Any error of the client, as text: the tool reports it and goes on.
pub use sse_client::Error;

/// A response body read as SSE events by `eventsource-stream`.
pub type Events = EventStream<BodyDataStream<Incoming>>;

/// Where to connect and what to ask for, from an `http://` or `https://host:port/path?query`
/// URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// `/path?query`.
    pub path: String,
    /// Where to connect: `https://` is TLS, and HTTP/2.
    origin: Origin,
}

impl Target {
    /// Reads an `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let uri: hyper::Uri = url.parse()?;
        let origin = Origin::of(&uri)?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        Ok(Self { path, origin })
    }

    /// The same server, another path.
    pub fn with_path(&self, path: &str) -> Self {
        Self {
            path: path.to_owned(),
            ..self.clone()
        }
    }

    /// `https://`: TLS, and HTTP/2.
    pub fn tls(&self) -> bool {
        self.origin.tls
    }

    /// The protocol, as a browser's `nextHopProtocol` names it.
    pub fn protocol(&self) -> &'static str {
        if self.tls() { "h2" } else { "http/1.1" }
    }
}

/// One connection to a server, from [`sse_client`]: HTTP/1.1, or HTTP/2 over TLS (cheap to
/// clone; an HTTP/1.1 clone waits for the previous response to end).
pub use sse_client::Connection;

/// The client: over `https://`, any certificate (see the module's doc), HTTP/2 only.
fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| Client::new(Trust::Any, Alpn::H2))
}

/// Opens a connection to `target`'s server.
pub async fn connect(target: &Target) -> Result<Connection, Error> {
    client().connect(&target.origin).await
}

/// Sends `request` for `target`'s path on `connection`; returns once the headers arrive.
pub async fn send(
    connection: &Connection,
    target: &Target,
    request: hyper::http::request::Builder,
    body: Bytes,
) -> Result<Response<Incoming>, Error> {
    let request = request.uri(&target.path).body(Full::new(body))?;
    connection.send(request).await
}

/// `GET` an event stream on `connection`, with `Last-Event-ID` when given: its body, or an
/// error for any status but 200.
async fn open(
    connection: &Connection,
    target: &Target,
    last_event_id: Option<u64>,
) -> Result<Incoming, Error> {
    let request = stream_request(last_event_id);
    let response = send(connection, target, request, Bytes::new()).await?;
    if response.status() != StatusCode::OK {
        return Err(format!("{} answered {}", target.path, response.status()).into());
    }
    Ok(response.into_body())
}

/// `GET` an event stream on `connection` (shared by many streams over HTTP/2), read by the
/// load clients' lean [`scan`](mod@crate::scan).
pub async fn scan_on(
    connection: &Connection,
    target: &Target,
    last_event_id: Option<u64>,
) -> Result<scan::Stream, Error> {
    Ok(scan::Stream::hyper(
        open(connection, target, last_event_id).await?,
    ))
}

/// `GET` on a new connection, with `Last-Event-ID` when given; returns once the headers arrive.
pub async fn get(
    target: &Target,
    last_event_id: Option<&str>,
) -> Result<Response<Incoming>, Error> {
    let connection = connect(target).await?;
    send(
        &connection,
        target,
        stream_request(last_event_id),
        Bytes::new(),
    )
    .await
}

/// A `GET` for an event stream, with `Last-Event-ID` when given (its URI is set by `send`).
fn stream_request<V>(last_event_id: Option<V>) -> hyper::http::request::Builder
where
    V: TryInto<HeaderValue>,
    V::Error: Into<hyper::http::Error>,
{
    let request = Request::get("/").header("accept", "text/event-stream");
    match last_event_id {
        Some(id) => request.header("last-event-id", id),
        None => request,
    }
}

/// `GET` an event stream on a new connection: its events, every field parsed (by
/// `eventsource-stream`), or an error for any status but 200.
pub async fn subscribe(target: &Target) -> Result<Events, Error> {
    let body = open(&connect(target).await?, target, None).await?;
    Ok(body.into_data_stream().eventsource())
}

/// `GET` an event stream on a new connection, with `Last-Event-ID` when given, read by the
/// load clients' lean [`scan`](mod@crate::scan): over `http://`, straight from the socket.
pub async fn scan(target: &Target, last_event_id: Option<u64>) -> Result<scan::Stream, Error> {
    if target.tls() {
        return scan_on(&connect(target).await?, target, last_event_id).await;
    }
    let socket = client().tcp(&target.origin).await?;
    let authority = target.origin.authority();
    scan::Stream::get(socket, &authority, &target.path, last_event_id).await
}

/// `POST` a JSON body on an open connection; returns the status and the whole answer.
pub async fn post_json(
    connection: &Connection,
    target: &Target,
    json: String,
) -> Result<(StatusCode, Bytes), Error> {
    let request = Request::builder()
        .method(Method::POST)
        .header("content-type", "application/json");
    let response = send(connection, target, request, Bytes::from(json)).await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// `GET /health` of `target`'s server: the framework's name, as it says it.
pub async fn server_name(target: &Target) -> Result<String, Error> {
    let response = get(&target.with_path("/health"), None).await?;
    let body = response.into_body().collect().await?.to_bytes();
    let health: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(health["server"].as_str().unwrap_or("unknown").to_owned())
}

/// `GET /health` of `target`'s server: how many streams it has open.
pub async fn open_streams(target: &Target) -> Result<u64, Error> {
    let response = get(&target.with_path("/health"), None).await?;
    let body = response.into_body().collect().await?.to_bytes();
    let health: serde_json::Value = serde_json::from_slice(&body)?;
    health["open_streams"]
        .as_u64()
        .ok_or_else(|| format!("/health has no open_streams: {health}").into())
}

/// Microseconds since 1970: a clock the publisher and the subscribers of one process share.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
