//! Starting a server binary as a child process, and a small HTTP/1.1 client to talk to it.
//!
//! Every wait here is bounded: a server that hangs fails the test within seconds, naming the
//! framework, instead of hanging CI.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{Event, EventStream, Eventsource};
use futures_util::StreamExt;
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use sse_client::Origin;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::time::timeout;

use crate::services::{Redis, TempDir};
use crate::tls;

/// How long any single wait may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// Which server binary to test.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Path of the binary (`env!("CARGO_BIN_EXE_server-axum")`).
    pub binary: &'static str,
    /// `axum`, `actix` or `warp`, as the server names itself.
    pub framework: &'static str,
    /// Whether to keep the chat in a Redis stream: each server started then gets `--redis` and
    /// a `redis-server` of its own.
    pub redis: bool,
    /// How to talk to it.
    pub protocol: Protocol,
    /// `None`: one of our servers, held to the whole contract. `Some(n)`: a learner's server
    /// after step `n` of the workshop, which has only the routes taught so far (see
    /// [`crate::workshop`]); the cases then check only those.
    pub workshop: Option<u8>,
    /// A server already running at this address (the workshop's `SSE_GRADE_URL`): cases talk
    /// to it instead of starting `binary`. Only cases that start it with no options can.
    pub running: Option<SocketAddr>,
}

impl Target {
    /// Whether the server has everything a workshop teaches up to step `n` (ours do).
    pub fn has_step(&self, n: u8) -> bool {
        self.workshop.is_none_or(|step| step >= n)
    }

    /// Whether the test starts the server and it is one of ours (`server-axum`, `server-actix`,
    /// `server-warp`, graded as a workshop step or not), which take the per-client limits'
    /// options. A workshop's own server has neither the limits nor the options.
    pub fn takes_client_limits(&self) -> bool {
        let name = std::path::Path::new(self.binary).file_name();
        let ours = name
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("server-"));
        self.running.is_none() && ours
    }

    /// Whether the server has the counter, which only our servers have.
    pub fn has_counter(&self) -> bool {
        self.workshop.is_none()
    }

    /// The paced streams this server has: the clock, the paragraph (workshop step 2), the
    /// counter.
    pub fn streams(&self) -> Vec<&'static str> {
        let mut streams = vec!["/events"];
        if self.has_step(2) {
            streams.push("/events/paragraph");
        }
        if self.has_counter() {
            streams.push("/events/counter");
        }
        streams
    }

    /// The paced streams, and the chat stream when it has one (workshop step 5).
    pub fn all_streams(&self) -> Vec<&'static str> {
        let mut streams = self.streams();
        if self.has_step(5) {
            streams.push("/events/chat");
        }
        streams
    }
}

/// HTTP/1.1 in the clear, or HTTP/2 over TLS (the server started with a certificate the
/// client trusts, see [`crate::tls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http://`, HTTP/1.1.
    Http1,
    /// `https://`, HTTP/2 chosen by ALPN.
    Http2,
}

impl Protocol {
    /// `http` or `https`.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Http1 => "http",
            Self::Http2 => "https",
        }
    }
}

/// A server to send requests to: where it listens, how to talk to it, and its framework for
/// assertion messages.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its framework, for assertion messages.
    pub framework: &'static str,
    /// HTTP/1.1, or HTTP/2 over TLS.
    pub protocol: Protocol,
}

impl Endpoint {
    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, &[]).await
    }

    /// `GET path` with a `Last-Event-ID` header of these exact bytes.
    pub async fn get_resuming(&self, path: &str, last_event_id: &[u8]) -> Response {
        self.request(Method::GET, path, &[("last-event-id", last_event_id)])
            .await
    }

    /// Sends one request on a new connection and returns as soon as the headers arrive.
    pub async fn request(&self, method: Method, path: &str, headers: &[(&str, &[u8])]) -> Response {
        self.send(method, path, headers, Bytes::new()).await
    }

    /// `POST path` with this `Content-Type` and body, on a new connection.
    pub async fn post(&self, path: &str, content_type: &str, body: impl Into<Bytes>) -> Response {
        let headers = [("content-type", content_type.as_bytes())];
        self.send(Method::POST, path, &headers, body.into()).await
    }

    /// Sends one request with a body on a new connection; returns when the headers arrive.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &[u8])],
        body: Bytes,
    ) -> Response {
        let mut connection = self.connect().await;
        connection.send(method, path, headers, body).await
    }

    /// The server as [`sse_client`] reaches it: `localhost` (which its certificate names) at
    /// its address.
    pub fn origin(&self) -> Origin {
        Origin {
            tls: self.protocol == Protocol::Http2,
            host: "localhost".to_owned(),
            port: self.addr.port(),
            connect_to: Some(self.addr),
        }
    }

    /// Opens a connection that can carry many requests: one after the other (HTTP/1.1
    /// keep-alive), or at once (HTTP/2).
    pub async fn connect(&self) -> Connection {
        let fw = self.framework;
        let origin = self.origin();
        let open = async {
            let connection = tls::client().connect(&origin).await?;
            if self.protocol == Protocol::Http2 {
                let version = connection.version();
                assert_eq!(version, hyper::Version::HTTP_2, "[{fw}] ALPN chose no h2");
            }
            Ok::<_, sse_client::Error>(connection)
        };
        let sender = timeout(PATIENCE, open)
            .await
            .unwrap_or_else(|_| panic!("[{fw}] no connection within {PATIENCE:?}"))
            .unwrap_or_else(|e| panic!("[{fw}] cannot connect: {e}"));
        Connection {
            sender,
            endpoint: *self,
        }
    }
}

/// The options that let one client hold many streams and post fast (see
/// [`Server::start_for_one_busy_client`]).
pub const ONE_BUSY_CLIENT: [&str; 8] = [
    "--max-streams-per-client",
    "100000",
    "--max-connections-per-client",
    "100000",
    "--post-rate",
    "100000",
    "--post-burst",
    "100000",
];

/// A running server, killed when dropped. Requests go through its [`Endpoint`].
pub struct Server {
    /// `None` for a server the test did not start ([`Target::running`]).
    child: Option<Child>,
    /// Kept open: a server writing to a closed pipe would fail.
    _stdout: Option<BufReader<ChildStdout>>,
    endpoint: Endpoint,
    /// The first line it printed on stdout.
    pub first_line: String,
    /// Its Redis, with [`Target::redis`]: stopped after the server.
    pub redis: Option<Redis>,
    /// Its certificate files, over HTTP/2.
    _cert_dir: Option<TempDir>,
}

impl std::ops::Deref for Server {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Server {
    /// Starts `target` on `127.0.0.1`, a free port, and `args`; waits for its first line.
    pub async fn start(target: Target, args: &[&str]) -> Self {
        if let Some(addr) = target.running {
            assert!(
                args.is_empty(),
                "[{}] this case starts the server with {args:?}; it cannot use one already running",
                target.framework
            );
            return Self {
                child: None,
                _stdout: None,
                endpoint: Endpoint {
                    addr,
                    framework: target.framework,
                    protocol: target.protocol,
                },
                first_line: String::new(),
                redis: None,
                _cert_dir: None,
            };
        }
        let mut command = Command::new(target.binary);
        command
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(args);
        Self::spawn(target, command).await
    }

    /// Starts `target` as [`Server::start`] does, for a case that is one client doing the work
    /// of many (hundreds of streams, thousands of posts): our servers get [`ONE_BUSY_CLIENT`],
    /// which lifts the limits that exist to stop exactly that. A workshop's server has no such
    /// limits, nor the options.
    pub async fn start_for_one_busy_client(target: Target, args: &[&str]) -> Self {
        let mut all: Vec<&str> = args.to_vec();
        if target.takes_client_limits() {
            all.extend(ONE_BUSY_CLIENT);
        }
        Self::start(target, &all).await
    }

    /// Starts `target` as [`Server::start`] does, with `args`, allowed at most `limit` open
    /// file descriptors (`ulimit -n`, the soft and the hard limit), with its log (stderr)
    /// piped for the caller to read.
    pub async fn start_with_fd_limit(
        target: Target,
        limit: u32,
        args: &[&str],
    ) -> (Self, ChildStderr) {
        let mut command = Command::new("sh");
        let script = format!(r#"ulimit -n {limit} && exec "$0" "$@""#);
        command.args([
            "-c",
            &script,
            target.binary,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ]);
        command.args(args);
        command.stderr(Stdio::piped());
        let mut server = Self::spawn(target, command).await;
        let child = server.child.as_mut().expect("a server the test started");
        let stderr = child.stderr.take().expect("stderr is piped");
        (server, stderr)
    }

    async fn spawn(target: Target, mut command: Command) -> Self {
        let fw = target.framework;
        let redis = target.redis.then(Redis::start);
        if let Some(redis) = &redis {
            command.args(["--redis", &redis.url()]);
        }
        let cert_dir = (target.protocol == Protocol::Http2).then(|| TempDir::new("cert"));
        if let Some(dir) = &cert_dir {
            let (cert, key) = tls::write_certificate(dir.path());
            command.args(["--tls-cert", &cert, "--tls-key", &key]);
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("[{fw}] cannot start {}: {e}", target.binary));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut first_line = String::new();
        timeout(PATIENCE, stdout.read_line(&mut first_line))
            .await
            .unwrap_or_else(|_| panic!("[{fw}] printed no first line within {PATIENCE:?}"))
            .unwrap_or_else(|e| panic!("[{fw}] reading stdout: {e}"));
        let first_line = first_line.trim_end().to_owned();
        let prefix = format!("listening on {}://", target.protocol.scheme());
        let addr = first_line
            .strip_prefix(prefix.as_str())
            .and_then(|rest| rest.split('/').next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("[{fw}] unexpected first line {first_line:?}"));
        Self {
            child: Some(child),
            _stdout: Some(stdout),
            endpoint: Endpoint {
                addr,
                framework: fw,
                protocol: target.protocol,
            },
            first_line,
            redis,
            _cert_dir: cert_dir,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        let child = self.child.as_ref().expect("a server the test started");
        child.id().expect("the server is still running")
    }

    /// Sends `signal` (`TERM`, `INT`) to the server and waits, at most `within`, for it to exit.
    pub async fn stop(mut self, signal: &str, within: Duration) -> ExitStatus {
        let fw = self.framework;
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .await
            .expect("running kill");
        assert!(status.success(), "[{fw}] kill -{signal} failed");
        let child = self.child.as_mut().expect("a server the test started");
        timeout(within, child.wait())
            .await
            .unwrap_or_else(|_| panic!("[{fw}] still running {within:?} after SIG{signal}"))
            .expect("waiting for the server")
    }
}

/// One connection to the server, reused for request after request. Over HTTP/1.1 a request
/// waits for the previous response to end; over HTTP/2 the previous streams stay open beside
/// it, on the same connection.
pub struct Connection {
    sender: sse_client::Connection,
    endpoint: Endpoint,
}

impl Connection {
    /// Sends a request on this connection and returns as soon as the headers arrive.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &[u8])],
        body: Bytes,
    ) -> Response {
        let fw = self.endpoint.framework;
        // The connection names the host: a `Host` header over HTTP/1.1, `:authority` over HTTP/2.
        let mut request = Request::builder().method(&method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).expect("a valid request");
        let send = self.sender.send(request);
        let response = timeout(PATIENCE, send)
            .await
            .unwrap_or_else(|_| {
                panic!("[{fw}] no response headers to {method} {path} within {PATIENCE:?}")
            })
            .unwrap_or_else(|e| panic!("[{fw}] {method} {path} failed: {e}"));
        Response {
            inner: response,
            framework: fw,
        }
    }

    /// `POST /chat` with `{"user": user, "text": text}`; asserts 201 and returns the new id.
    pub async fn post_chat(&mut self, user: &str, text: &str) -> u64 {
        self.post_chat_to("/chat", user, text).await
    }

    /// `POST /chat/{room}`, as [`Connection::post_chat`] does: the new id in that room.
    pub async fn post_to_room(&mut self, room: &str, user: &str, text: &str) -> u64 {
        self.post_chat_to(&format!("/chat/{room}"), user, text)
            .await
    }

    async fn post_chat_to(&mut self, path: &str, user: &str, text: &str) -> u64 {
        let fw = self.endpoint.framework;
        let body = serde_json::json!({ "user": user, "text": text }).to_string();
        let headers = [("content-type", &b"application/json"[..])];
        let response = self.send(Method::POST, path, &headers, body.into()).await;
        let status = response.status();
        let reply = response.text().await;
        assert_eq!(status, StatusCode::CREATED, "[{fw}] POST {path}: {reply}");
        let reply: serde_json::Value = serde_json::from_str(&reply)
            .unwrap_or_else(|e| panic!("[{fw}] POST {path} answered {reply:?}: {e}"));
        reply["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("[{fw}] POST {path} answered {reply} without an id"))
    }
}

/// A response whose body has not been read yet.
pub struct Response {
    inner: hyper::Response<Incoming>,
    framework: &'static str,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The names of every header, lowercase.
    pub fn header_names(&self) -> Vec<String> {
        self.inner
            .headers()
            .keys()
            .map(|name| name.to_string())
            .collect()
    }

    /// The HTTP version the response came with.
    pub fn version(&self) -> hyper::Version {
        self.inner.version()
    }

    /// A header's value as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// How many times the header `name` was sent.
    pub fn header_count(&self, name: &str) -> usize {
        self.inner.headers().get_all(name).iter().count()
    }

    /// The whole body as text; fails the test if it does not end within [`PATIENCE`].
    pub async fn text(self) -> String {
        let fw = self.framework;
        let body = timeout(PATIENCE, self.inner.into_body().collect())
            .await
            .unwrap_or_else(|_| panic!("[{fw}] body did not end within {PATIENCE:?}"))
            .unwrap_or_else(|e| panic!("[{fw}] reading body: {e}"));
        String::from_utf8_lossy(&body.to_bytes()).into_owned()
    }

    /// The body as raw bytes, read piece by piece.
    pub fn raw(self) -> RawBody {
        RawBody {
            body: self.inner.into_body().into_data_stream(),
            seen: Vec::new(),
            framework: self.framework,
        }
    }

    /// The body parsed as an event stream; the status must be 200.
    pub fn events(self) -> Events {
        let status = self.inner.status();
        let content_type = self.header("content-type").unwrap_or("no Content-Type");
        assert_eq!(
            status,
            StatusCode::OK,
            "[{}] an event stream was expected: 200 with text/event-stream, not {status} ({content_type})",
            self.framework
        );
        Events {
            events: self.inner.into_body().into_data_stream().eventsource(),
            framework: self.framework,
        }
    }
}

/// A body read as bytes, for checks of the exact wire format.
pub struct RawBody {
    body: BodyDataStream<Incoming>,
    seen: Vec<u8>,
    framework: &'static str,
}

impl RawBody {
    /// Reads until the bytes so far contain `needle`, and returns all of them as text.
    pub async fn read_until(&mut self, needle: &str) -> String {
        let fw = self.framework;
        let read = async {
            while !contains(&self.seen, needle) {
                match self.body.next().await {
                    Some(Ok(chunk)) => self.seen.extend_from_slice(&chunk),
                    Some(Err(e)) => panic!("[{fw}] reading body: {e}"),
                    None => panic!("[{fw}] body ended before {needle:?}: {:?}", self.text()),
                }
            }
        };
        if timeout(PATIENCE, read).await.is_err() {
            panic!(
                "[{fw}] no {needle:?} within {PATIENCE:?}, got {:?}",
                self.text()
            );
        }
        self.text()
    }

    /// Reads to the end of the body, and returns all of it as text.
    pub async fn read_to_end(&mut self) -> String {
        let fw = self.framework;
        let read = async {
            while let Some(chunk) = self.body.next().await {
                let chunk = chunk.unwrap_or_else(|e| panic!("[{fw}] reading body: {e}"));
                self.seen.extend_from_slice(&chunk);
            }
        };
        if timeout(PATIENCE, read).await.is_err() {
            panic!(
                "[{fw}] body did not end within {PATIENCE:?}, got {:?}",
                self.text()
            );
        }
        self.text()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }
}

/// A body read as events by `eventsource-stream`.
pub struct Events {
    events: EventStream<BodyDataStream<Incoming>>,
    framework: &'static str,
}

impl Events {
    /// The next event; fails the test if none arrives within [`PATIENCE`].
    pub async fn next(&mut self) -> Event {
        let fw = self.framework;
        match timeout(PATIENCE, self.events.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(Some(Err(e))) => panic!("[{fw}] bad event stream: {e}"),
            Ok(None) => panic!("[{fw}] the stream ended, an event was expected"),
            Err(_) => panic!("[{fw}] no event within {PATIENCE:?}"),
        }
    }

    /// The next `n` events.
    pub async fn take(&mut self, n: usize) -> Vec<Event> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }

    /// Asserts that the stream ends, with no further event, within [`PATIENCE`].
    pub async fn assert_ends(&mut self) {
        let fw = self.framework;
        match timeout(PATIENCE, self.events.next()).await {
            Ok(None) => {}
            Ok(Some(event)) => panic!("[{fw}] expected the end of the stream, got {event:?}"),
            Err(_) => panic!("[{fw}] the stream did not end within {PATIENCE:?}"),
        }
    }
}

impl Events {
    /// Asserts that the connection closes within [`PATIENCE`] with no further event, cleanly or
    /// not (a proxy that times out cuts a chunked body short).
    pub async fn assert_closed(&mut self) {
        let fw = self.framework;
        match timeout(PATIENCE, self.events.next()).await {
            Ok(None | Some(Err(_))) => {}
            Ok(Some(Ok(event))) => panic!("[{fw}] expected the connection to close, got {event:?}"),
            Err(_) => panic!("[{fw}] the connection did not close within {PATIENCE:?}"),
        }
    }
}

/// How many of `sockets` the server has closed (each reads its end, or an error) before
/// `within` has passed; an open one is waited on until then, so the whole takes at most
/// `within`.
pub async fn closed_within(sockets: &mut [TcpStream], within: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + within;
    let mut closed = 0;
    for socket in sockets {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout_at(deadline, socket.read(&mut byte)).await;
        closed += usize::from(matches!(read, Ok(Ok(0) | Err(_))));
    }
    closed
}

/// Reads from a raw `socket` until `done` holds for everything read so far, or the server closes
/// the connection; fails the test, naming `what` it waited for, if neither happens within
/// [`PATIENCE`]. Returns everything read.
pub async fn read_socket_until(
    socket: &mut TcpStream,
    fw: &str,
    what: &str,
    done: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        while !done(&seen) {
            match socket.read(&mut buffer).await {
                Ok(n) if n > 0 => seen.extend_from_slice(&buffer[..n]),
                // Closed, or reset: nothing more will come.
                _ => return,
            }
        }
    };
    assert!(
        timeout(PATIENCE, read).await.is_ok(),
        "[{fw}] no {what} within {PATIENCE:?}; read: {:?}",
        String::from_utf8_lossy(&seen)
    );
    seen
}

/// Whether the bytes read so far hold `needle`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Ids of `events`, as the parser reports them.
pub fn ids(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}
