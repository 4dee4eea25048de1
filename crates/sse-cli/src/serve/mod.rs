//! `sse serve --script capture.jsonl`: a real SSE server that replays a script (see
//! [`script`]) with its timing, for a page's own tests. Playwright's `page.route()` does not
//! intercept `EventSource`, so a front-end test needs a server that sends a known stream: this
//! one resumes within the script on `Last-Event-ID` (the header, or a `lastEventId` query
//! parameter for pages that pass it themselves), answers 204 once the script is over, and can
//! inject the faults `sse doctor` knows (see [`Faults`]), so that a page's handling of each can
//! be tested.
//!
//! Every path answers with the script; `OPTIONS` answers a CORS preflight. CORS as our servers
//! do: `Access-Control-Allow-Origin: *`, so a page on another port can read it (`--no-cors`
//! leaves it out). Plain tokio and hand-written HTTP/1.1, as the doctor's pitfall server: the
//! point is to send exactly the bytes a broken server or proxy sends, when it sends them.
//!
//! Limits, for a tool that only listens on loopback unless told otherwise: at most
//! [`MAX_CONNECTIONS`] connections at once (more wait to be accepted), a request head of at
//! most 8 KiB that must arrive within 10 s.

pub mod script;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::http::Error;
pub use script::Script;
use wire::Wire;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1000;
/// The longest request head read.
const MAX_HEAD: usize = 8192;
/// How long a request head may take to arrive.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What to serve, and how.
#[derive(Debug, Clone)]
pub struct Serve {
    /// The script.
    pub script: Script,
    /// Where it came from, for the first line.
    pub name: String,
    /// Where to listen (`127.0.0.1:0`: a free port).
    pub listen: SocketAddr,
    /// 2 replays twice as fast.
    pub speed: f64,
    /// After the last event, start again from the first, in the same response.
    pub looping: bool,
    /// What to get wrong.
    pub faults: Faults,
}

/// The faults `sse doctor` knows, each as a server or proxy commits it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Cut every response after this many events, with no clean end (as a proxy's timeout
    /// does): the browser reconnects with `Last-Event-ID`.
    pub drop_after: Option<u64>,
    /// Answer the reconnect after the end with this status instead of 204: `EventSource` then
    /// fires `error` and gives up for good.
    pub status_after_end: Option<u16>,
    /// Hold every event until the response ends, as a buffering proxy does to a short stream.
    pub buffer: bool,
    /// Compress the body with gzip and never flush: nothing arrives until the end.
    pub gzip: bool,
    /// No `Access-Control-Allow-Origin`: a page on another origin cannot read the stream.
    pub no_cors: bool,
}

/// A bound `sse serve`: its address known, not yet answering.
pub struct Listening {
    listener: TcpListener,
    serve: Arc<Serve>,
}

impl Listening {
    /// Binds `serve.listen`.
    pub async fn bind(serve: Serve) -> Result<Self, Error> {
        let listener = TcpListener::bind(serve.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", serve.listen))?;
        Ok(Self {
            listener,
            serve: Arc::new(serve),
        })
    }

    /// Where it listens (the port chosen, for `--port 0`).
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.serve.listen)
    }

    /// The first line, as our servers print theirs: `listening on http://ADDR/ (...)`.
    pub fn first_line(&self) -> String {
        let n = self.serve.script.steps.len();
        let name = &self.serve.name;
        format!(
            "listening on http://{}/ (sse serve: {n} events from {name})",
            self.addr()
        )
    }

    /// Answers until the process ends, at most [`MAX_CONNECTIONS`] connections at once.
    pub async fn run(self) -> Result<(), Error> {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let slot = Arc::clone(&slots).acquire_owned().await?;
            let (socket, _) = self.listener.accept().await?;
            let serve = Arc::clone(&self.serve);
            tokio::spawn(async move {
                let _ = answer(socket, &serve).await;
                drop(slot);
            });
        }
    }
}

/// What a request said that matters here.
struct Asked {
    method: String,
    path: String,
    /// The `Last-Event-ID` header, or else the `lastEventId` query parameter.
    last_event_id: String,
}

async fn answer(mut socket: TcpStream, serve: &Serve) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let asked = match tokio::time::timeout(HEAD_TIMEOUT, read_request(&mut socket)).await {
        Ok(Ok(asked)) => asked,
        Ok(Err(why)) => return reply(&mut socket, "400 Bad Request", &[], &why).await,
        Err(_) => return Ok(()),
    };
    let cors: &[&str] = if serve.faults.no_cors {
        &[]
    } else {
        &["Access-Control-Allow-Origin: *"]
    };
    match asked.method.as_str() {
        "GET" | "POST" => {}
        "OPTIONS" => {
            let mut headers = cors.to_vec();
            if !serve.faults.no_cors {
                headers.extend([
                    "Access-Control-Allow-Methods: GET, POST",
                    "Access-Control-Allow-Headers: last-event-id, cache-control, content-type",
                    "Access-Control-Max-Age: 600",
                ]);
            }
            return reply(&mut socket, "204 No Content", &headers, "").await;
        }
        other => {
            let why = format!("{other}: sse serve answers GET and POST (and OPTIONS)");
            let allow = ["Allow: GET, POST, OPTIONS"];
            return reply(&mut socket, "405 Method Not Allowed", &allow, &why).await;
        }
    }
    let steps = &serve.script.steps;
    let from = serve.script.resume_at(&asked.last_event_id);
    let resumed = match asked.last_event_id.as_str() {
        "" => String::new(),
        id => format!(", Last-Event-ID {id}"),
    };
    if from == steps.len() && !serve.looping {
        let status = serve.faults.status_after_end.unwrap_or(204);
        eprintln!(
            "{} {}{resumed}: the script is over, {status}",
            asked.method, asked.path
        );
        let reason = hyper::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Scripted Failure");
        let body = if status == 204 {
            ""
        } else {
            "the script is over\n"
        };
        return reply(&mut socket, &format!("{status} {reason}"), cors, body).await;
    }
    eprintln!(
        "{} {}{resumed}: from event {} of {}",
        asked.method,
        asked.path,
        from + 1,
        steps.len()
    );
    let mut wire = Wire::start(socket, cors, serve.faults).await?;
    if let Some(retry) = serve.script.preamble(from) {
        wire.send(retry.as_bytes()).await?;
    }
    replay(&mut wire, serve, from).await
}

/// Sends the script from step `from` with its timing, then ends the response (or cuts it).
async fn replay(wire: &mut Wire, serve: &Serve, from: usize) -> std::io::Result<()> {
    let steps = &serve.script.steps;
    let mut at = from;
    let mut sent = 0;
    loop {
        if at == steps.len() {
            if !serve.looping {
                return wire.end().await;
            }
            at = 0;
        }
        let step = &steps[at];
        tokio::time::sleep(step.gap.div_f64(serve.speed)).await;
        wire.send(step.wire.as_bytes()).await?;
        (at, sent) = (at + 1, sent + 1);
        if serve.faults.drop_after == Some(sent) && at < steps.len() {
            return wire.cut().await;
        }
    }
}

/// A whole short response: status, headers, a text body, and the connection closed.
async fn reply(
    socket: &mut TcpStream,
    status: &str,
    headers: &[&str],
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for header in headers {
        head += &format!("{header}\r\n");
    }
    if !status.starts_with("204") {
        head += &format!(
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    head += "Connection: close\r\n\r\n";
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body.as_bytes()).await?;
    socket.shutdown().await
}

/// Reads a request head (and ignores any body: a POST's question does not change the script).
async fn read_request(socket: &mut TcpStream) -> Result<Asked, String> {
    let mut bytes = Vec::new();
    let mut buffer = [0; 2048];
    loop {
        let n = socket.read(&mut buffer).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the request ended before its head".into());
        }
        bytes.extend_from_slice(&buffer[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&bytes) {
            Ok(httparse::Status::Complete(_)) => return Ok(asked(&request)),
            Ok(httparse::Status::Partial) if bytes.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => return Err("a request head over 8 KiB".into()),
            Err(e) => return Err(format!("a request sse serve cannot read: {e}")),
        }
    }
}

fn asked(request: &httparse::Request<'_, '_>) -> Asked {
    let target = request.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let header = (request.headers.iter())
        .find(|h| h.name.eq_ignore_ascii_case("last-event-id"))
        .map(|h| String::from_utf8_lossy(h.value).into_owned());
    let query = form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "lastEventId")
        .map(|(_, value)| value.into_owned());
    Asked {
        method: request.method.unwrap_or("GET").to_owned(),
        path: path.to_owned(),
        last_event_id: header.or(query).unwrap_or_default(),
    }
}
