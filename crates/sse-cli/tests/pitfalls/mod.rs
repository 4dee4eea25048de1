//! A small SSE server that gets one thing wrong per path, for the `sse` tests. Plain tokio and
//! hand-written HTTP/1.1, because the point is to send exactly the bytes a broken server or
//! proxy sends, at the moments it sends them.
//!
//! Every path but the broken part is a good stream: `retry: 200`, then events `1` to `20`
//! one every 50 ms with `id:`, then the end; a reconnect with `Last-Event-ID: n` resumes at
//! n+1, and gets 204 once nothing is left (`/at-end` makes one every 100 ms). Headers: `text/event-stream`, `no-cache`, CORS `*`.

use std::io::Write as _;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The events of a good stream.
const EVENTS: u64 = 20;
/// The time between two events.
const EVERY: Duration = Duration::from_millis(50);

/// A running pitfall server; stops with the test's runtime.
pub struct Pitfalls {
    port: u16,
}

impl Pitfalls {
    /// Starts the server on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("an address").port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(answer(socket));
            }
        });
        Self { port }
    }

    /// The URL of a path: `url("/buffered")`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// What the request said that matters here.
struct Asked {
    method: String,
    path: String,
    last_event_id: Option<u64>,
    body: Vec<u8>,
}

async fn read_request(socket: &mut TcpStream) -> Option<Asked> {
    let mut bytes = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let n = socket.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&buffer[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = request.parse(&bytes) else {
            continue;
        };
        let header = |name: &str| {
            (request.headers.iter())
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut asked = Asked {
            method: request.method?.to_owned(),
            path: request.path?.split('?').next()?.to_owned(),
            last_event_id: header("last-event-id").and_then(|v| v.parse().ok()),
            body: bytes[head..].to_vec(),
        };
        while asked.body.len() < length {
            let n = socket.read(&mut buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            asked.body.extend_from_slice(&buffer[..n]);
        }
        return Some(asked);
    }
}

/// How a stream is told: which part of a good stream is broken.
#[derive(Default, Clone, Copy)]
struct Telling {
    /// Events written five at a time, as a buffering proxy lets them out.
    grouped: bool,
    /// Every event held until the response ends, as a buffering proxy does to a short stream;
    /// each made 100 ms after the one before, its data JSON with the time it was made.
    at_end: bool,
    /// The whole body through gzip with no flush: nothing but the gzip header until the end.
    gzip: bool,
    /// With `gzip`: a sync flush after every event, as a server that compresses properly does.
    flushed: bool,
    /// No `id:` fields.
    no_ids: bool,
    /// Lines end with CRLF.
    crlf: bool,
    /// A byte-order mark first.
    bom: bool,
    /// Three events at once, then silence with the connection open.
    then_silence: bool,
}

async fn answer(mut socket: TcpStream) {
    let Some(asked) = read_request(&mut socket).await else {
        return;
    };
    let from = asked.last_event_id.unwrap_or(0);
    let mut headers = vec![
        "Content-Type: text/event-stream",
        "Cache-Control: no-cache",
        "Access-Control-Allow-Origin: *",
    ];
    let mut telling = Telling::default();
    let mut first = from + 1;
    match asked.path.as_str() {
        "/clean" => {}
        "/buffered" => telling.grouped = true,
        "/at-end" => telling.at_end = true,
        "/gzip" => {
            telling.gzip = true;
            headers.push("Content-Encoding: gzip");
        }
        // Not a pitfall: compressed, but flushed event by event.
        "/gzip-flushed" => {
            (telling.gzip, telling.flushed) = (true, true);
            headers.push("Content-Encoding: gzip");
        }
        "/no-ids" => telling.no_ids = true,
        "/replays" => first = 1,
        "/skips" => first = from + 2,
        "/wrong-type" => headers[0] = "Content-Type: text/plain",
        "/503-at-end" if from >= EVENTS => {
            let body = "nothing left";
            let head = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\n",
                body.len()
            );
            let _ = socket
                .write_all(format!("{head}Connection: close\r\n\r\n{body}").as_bytes())
                .await;
            return;
        }
        "/503-at-end" => {}
        "/no-keep-alive" => telling.then_silence = true,
        "/crlf" => telling.crlf = true,
        "/bom" => telling.bom = true,
        "/no-cors" => headers.truncate(2),
        // For `sse watch`: three events per connection, so that it must resume twice.
        "/drop" => {}
        "/post" if asked.method == "POST" => {
            let body = String::from_utf8_lossy(&asked.body).into_owned();
            let stream = format!(
                "data: {}\n\ndata: [DONE]\n\n",
                body.replace('\n', "\ndata: ")
            );
            let head = head(&headers);
            let _ = socket.write_all(format!("{head}{stream}").as_bytes()).await;
            return;
        }
        _ => {
            let _ = socket
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        }
    }
    let last = if asked.path == "/drop" {
        (from + 3).min(5)
    } else {
        EVENTS
    };
    if first > last {
        let _ = socket
            .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            .await;
        return;
    }
    let _ = tell(&mut socket, &head(&headers), telling, first..=last).await;
}

fn head(headers: &[&str]) -> String {
    format!(
        "HTTP/1.1 200 OK\r\n{}\r\nConnection: close\r\n\r\n",
        headers.join("\r\n")
    )
}

/// Writes the stream's body as `telling` says, then closes.
async fn tell(
    socket: &mut TcpStream,
    head: &str,
    telling: Telling,
    ids: std::ops::RangeInclusive<u64>,
) -> std::io::Result<()> {
    socket.write_all(head.as_bytes()).await?;
    let newline = if telling.crlf { "\r\n" } else { "\n" };
    let mut gzip = telling
        .gzip
        .then(|| flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    let mut body = if telling.bom {
        "\u{FEFF}".to_owned()
    } else {
        String::new()
    };
    body += &format!("retry: 200{newline}{newline}");
    let mut held = 0;
    for id in ids {
        if telling.then_silence && held == 3 {
            socket.write_all(body.as_bytes()).await?;
            tokio::time::sleep(Duration::from_secs(60)).await;
            return Ok(());
        }
        if !telling.no_ids {
            body += &format!("id: {id}{newline}");
        }
        if telling.at_end {
            let time = chrono::Utc::now().to_rfc3339();
            body += &format!("data: {{\"n\": {id}, \"time\": \"{time}\"}}{newline}{newline}");
            tokio::time::sleep(EVERY * 2).await;
            continue;
        }
        body += &format!("data: event {id}{newline}{newline}");
        held += 1;
        if telling.then_silence {
            continue;
        }
        // A buffering proxy lets events out five at a time; the server still makes one every
        // 50 ms.
        if !telling.grouped || held % 5 == 0 {
            let bytes = std::mem::take(&mut body);
            match &mut gzip {
                Some(encoder) => {
                    encoder.write_all(bytes.as_bytes())?;
                    if telling.flushed {
                        encoder.flush()?;
                    }
                    socket.write_all(&std::mem::take(encoder.get_mut())).await?;
                }
                None => socket.write_all(bytes.as_bytes()).await?,
            }
        }
        tokio::time::sleep(EVERY).await;
    }
    if let Some(encoder) = gzip {
        let mut encoder = encoder;
        encoder.write_all(body.as_bytes())?;
        socket.write_all(&encoder.finish()?).await?;
    } else {
        socket.write_all(body.as_bytes()).await?;
    }
    socket.shutdown().await
}
