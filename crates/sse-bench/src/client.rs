//! The HTTP/1.1 client the subcommands share: one connection per stream, as a browser's
//! `EventSource` opens one, and one kept-alive connection for posting.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use eventsource_stream::{EventStream, Eventsource};
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Any error of the client, as text: the tool reports it and goes on.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A response body read as SSE events by `eventsource-stream`.
pub type Events = EventStream<BodyDataStream<Incoming>>;

/// Where to connect and what to ask for, from an `http://host:port/path?query` URL.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`.
    pub authority: String,
    /// `/path?query`.
    pub path: String,
}

impl Target {
    /// Reads an `http://` URL (no TLS: this tool talks to servers on this machine).
    pub fn parse(url: &str) -> Result<Self, Error> {
        let uri: Uri = url.parse()?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("{url}: only http:// URLs are supported").into());
        }
        let authority = uri.authority().ok_or("the URL has no host")?.to_string();
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        Ok(Self { authority, path })
    }

    /// The same server, another path.
    pub fn with_path(&self, path: &str) -> Self {
        Self {
            authority: self.authority.clone(),
            path: path.to_owned(),
        }
    }
}

/// Opens a connection to `target`'s server.
pub async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>, Error> {
    let stream = TcpStream::connect(&target.authority).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// `GET` on a new connection, with `Last-Event-ID` when given; returns once the headers arrive.
pub async fn get(
    target: &Target,
    last_event_id: Option<&str>,
) -> Result<Response<Incoming>, Error> {
    let mut sender = connect(target).await?;
    let mut request = Request::get(&target.path)
        .header("host", &target.authority)
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    Ok(sender.send_request(request.body(Full::default())?).await?)
}

/// `GET` an event stream on a new connection: its events, or an error for any status but 200.
pub async fn subscribe(target: &Target) -> Result<Events, Error> {
    let response = get(target, None).await?;
    if response.status() != StatusCode::OK {
        return Err(format!("{} answered {}", target.path, response.status()).into());
    }
    Ok(response.into_body().into_data_stream().eventsource())
}

/// `POST` a JSON body on an open connection; returns the status and the whole answer.
pub async fn post_json(
    sender: &mut SendRequest<Full<Bytes>>,
    target: &Target,
    json: String,
) -> Result<(StatusCode, Bytes), Error> {
    sender.ready().await?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(&target.path)
        .header("host", &target.authority)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(json)))?;
    let response = sender.send_request(request).await?;
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
