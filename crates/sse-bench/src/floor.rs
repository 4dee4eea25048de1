//! `sse-bench floor`: the least a server can do for the two workloads of `load` and `fanout`, a
//! yardstick for the three frameworks. Blocking sockets and three threads; no framework, no
//! async runtime, no buffers of its own:
//!
//! - `GET /events`: the response head and a first event, then one clock event a second on every
//!   stream, all in one burst (as the servers' shared timer does), one `write` per event;
//! - `GET /events/chat`: joins the chat subscribers;
//! - `POST /chat`: writes the body as the data of one `event: chat` to every subscriber, one
//!   `write` each, then answers 201;
//! - `GET /health`: `{"server":"floor"}`, for the report's column name.
//!
//! What it costs is what the kernel charges for the writes, and the memory a socket needs. It
//! is not an SSE server to use: no `Last-Event-ID`, keep-alive, limits, escaping or checks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::client::Error;
use crate::report::FLOOR;

/// The open streams: clocks, each with the id of its next event, and chat subscribers.
#[derive(Default)]
struct Streams {
    clocks: Mutex<Vec<(TcpStream, u64)>>,
    chat: Mutex<Vec<TcpStream>>,
}

const STREAM_HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
    cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";

/// Serves on 127.0.0.1:`port` until killed; prints the address first, as the servers do.
pub fn run(port: u16) -> Result<(), Error> {
    let listener = listen(port)?;
    println!("listening on http://{}/ (floor)", listener.local_addr()?);
    serve(listener);
    Ok(())
}

/// Answers the connections of `listener`, forever.
fn serve(listener: TcpListener) {
    let streams = Arc::new(Streams::default());
    let clocks = streams.clone();
    thread::spawn(move || tick(&clocks));
    for connection in listener.incoming() {
        let Ok(connection) = connection else {
            // Out of descriptors, say: wait, as a server should, rather than spin.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let _ = connection.set_nodelay(true);
        // A client that never reads must not stop every stream.
        let _ = connection.set_write_timeout(Some(Duration::from_secs(1)));
        let mut reader = BufReader::new(connection);
        let Some((method, path, length)) = read_request(&mut reader) else {
            continue;
        };
        // The publisher keeps its connection, and its body is still to be read: a thread of its
        // own. Every other request has no body.
        if (method.as_str(), path.as_str()) == ("POST", "/chat") {
            let chat = streams.clone();
            thread::spawn(move || publish(reader, length, &chat));
            continue;
        }
        let mut connection = reader.into_inner();
        match (method.as_str(), path.as_str()) {
            ("GET", "/health") => {
                let health = format!(r#"{{"server":"{FLOOR}"}}"#);
                let _ = connection.write_all(&response("200 OK", &health));
            }
            ("GET", p) if p == "/events" || p.starts_with("/events?") => {
                let first = chunk(&format!("retry: 3000\n\n{}", clock_event(1)));
                if connection
                    .write_all(&[STREAM_HEAD.as_bytes(), &first].concat())
                    .is_ok()
                {
                    lock(&streams.clocks).push((connection, 2));
                }
            }
            ("GET", p) if p.starts_with("/events/chat") => {
                if connection.write_all(STREAM_HEAD.as_bytes()).is_ok() {
                    lock(&streams.chat).push(connection);
                }
            }
            _ => {
                let _ = connection.write_all(&response("404 Not Found", "not found"));
            }
        }
    }
}

/// Listens on 127.0.0.1:`port` with a backlog of 1024, as the servers do: the standard
/// library's 128 overflows when thousands of clients connect at once, and a client whose
/// connection was dropped from the queue retries a second later.
fn listen(port: u16) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Once a second, one clock event to every stream; a stream whose write fails is dropped.
fn tick(streams: &Streams) {
    let start = Instant::now();
    for second in 1.. {
        thread::sleep(
            (start + Duration::from_secs(second)).saturating_duration_since(Instant::now()),
        );
        lock(&streams.clocks).retain_mut(|(connection, id)| {
            let event = chunk(&clock_event(*id));
            *id += 1;
            connection.write_all(&event).is_ok()
        });
    }
}

/// Answers the `POST /chat` requests of one connection, the first already read up to its body
/// of `length` bytes: each body goes to every subscriber as it is.
fn publish(mut connection: BufReader<TcpStream>, mut length: usize, streams: &Streams) {
    for id in 1.. {
        let mut body = vec![0; length];
        if connection.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body);
        let event = chunk(&format!("id: {id}\nevent: chat\ndata: {body}\n\n"));
        lock(&streams.chat).retain_mut(|subscriber| subscriber.write_all(&event).is_ok());
        let created = response("201 Created", &format!(r#"{{"id":{id}}}"#));
        if connection.get_mut().write_all(&created).is_err() {
            return;
        }
        match read_request(&mut connection) {
            Some((method, path, next)) if method == "POST" && path == "/chat" => length = next,
            _ => return,
        }
    }
}

/// The method, path and `Content-Length` of the next request; `None` on a closed connection or
/// a bad request. Reads the head only: a body is left for the caller.
fn read_request(connection: &mut impl BufRead) -> Option<(String, String, usize)> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let read = connection.read_until(b'\n', &mut head).ok()?;
        if read == 0 || head.len() > 8192 {
            return None;
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    request.parse(&head).ok()?.is_complete().then_some(())?;
    let length = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
        .unwrap_or(0);
    Some((request.method?.to_owned(), request.path?.to_owned(), length))
}

fn clock_event(id: u64) -> String {
    format!("id: {id}\ndata: {}\n\n", chrono::Local::now().to_rfc2822())
}

/// One chunk of a `transfer-encoding: chunked` body.
fn chunk(payload: &str) -> Vec<u8> {
    format!("{:x}\r\n{payload}\r\n", payload.len()).into_bytes()
}

fn response(status: &str, body: &str) -> Vec<u8> {
    let length = body.len();
    format!("HTTP/1.1 {status}\r\ncontent-length: {length}\r\n\r\n{body}").into_bytes()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{self, Target};
    use futures_util::StreamExt;

    /// The floor on a free port, serving on a thread of its own; its base URL.
    fn start() -> String {
        let listener = listen(0).expect("listen");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || serve(listener));
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn names_itself_and_sends_a_clock_and_the_chat() {
        let base = start();
        let target = Target::parse(&base).expect("url");
        assert_eq!(client::server_name(&target).await.expect("health"), FLOOR);

        let mut clock = client::subscribe(&target.with_path("/events"))
            .await
            .expect("clock");
        let first = clock.next().await.expect("an event").expect("valid");
        assert_eq!(first.id, "1");

        let mut chat = client::subscribe(&target.with_path("/events/chat"))
            .await
            .expect("chat");
        let publisher = client::connect(&target).await.expect("connect");
        let posts = target.with_path("/chat");
        for text in ["one", "two"] {
            let body = format!(r#"{{"text":"{text}"}}"#);
            let (status, _) = client::post_json(&publisher, &posts, body)
                .await
                .expect("post");
            assert_eq!(status, 201);
        }
        for (id, text) in [("1", "one"), ("2", "two")] {
            let event = chat.next().await.expect("an event").expect("valid");
            assert_eq!((event.id.as_str(), event.event.as_str()), (id, "chat"));
            assert_eq!(event.data, format!(r#"{{"text":"{text}"}}"#));
        }
    }
}
