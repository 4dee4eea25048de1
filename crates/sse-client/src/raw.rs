//! A lean HTTP/1.1 `GET`, read straight from the socket into one buffer reused for every read,
//! with the chunked framing undone here ([`Chunked`]).
//!
//! hyper's client hands each chunk from its connection task to the reader's task through a
//! channel: two task wake-ups per event where one will do, and at 100,000 events a second that
//! was a third of a load client's CPU (`sse-bench`). Only for servers that answer HTTP/1.1 in
//! the clear; everything else goes through [`Connection`](crate::Connection).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;
use crate::chunked::Chunked;

/// The largest response head read.
const MAX_HEAD: usize = 8192;

/// A response body being read from its socket.
pub struct Body {
    socket: TcpStream,
    buffer: Box<[u8]>,
    /// The body's first bytes, read with the response head.
    early: Vec<u8>,
    framing: Framing,
}

/// How a body is framed.
#[derive(Debug)]
enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunked),
    /// Until the connection closes (no length, or a length: an event stream has no end the
    /// server knows of in advance, so a length is read as "until it closes" too).
    UntilClose,
}

/// Sends `GET path` on `socket` with `headers` (and `Host: authority`), reads the response
/// head, and returns the body: an error for any status but 200.
pub async fn get(
    mut socket: TcpStream,
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Body, Error> {
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: {authority}\r\n");
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    socket
        .write_all(format!("{request}\r\n").as_bytes())
        .await?;
    // What follows the head is the start of the body.
    let mut buffer = vec![0; MAX_HEAD].into_boxed_slice();
    let mut filled = 0;
    loop {
        let n = socket.read(&mut buffer[filled..]).await?;
        if n == 0 {
            return Err(format!("{path}: the connection closed before the response").into());
        }
        filled += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = response.parse(&buffer[..filled])? {
            if response.code != Some(200) {
                return Err(format!("{path} answered {:?}", response.code).into());
            }
            let chunked = response.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("transfer-encoding")
                    && h.value.eq_ignore_ascii_case(b"chunked")
            });
            return Ok(Body {
                socket,
                buffer: vec![0; 2048].into_boxed_slice(),
                early: buffer[head..filled].to_vec(),
                framing: if chunked {
                    Framing::Chunked(Chunked::default())
                } else {
                    Framing::UntilClose
                },
            });
        }
        if filled == buffer.len() {
            return Err(format!("{path}: a response head over 8 KiB").into());
        }
    }
}

impl Body {
    /// Waits for the next bytes and calls `data` with the body's data in them; `Ok(false)`
    /// when the body has ended.
    pub async fn read(&mut self, data: impl FnMut(&[u8])) -> Result<bool, Error> {
        if !self.early.is_empty() {
            let early = std::mem::take(&mut self.early);
            return Ok(!unframe(&mut self.framing, &early, data)?);
        }
        let n = self.socket.read(&mut self.buffer).await?;
        if n == 0 {
            return Ok(false);
        }
        Ok(!unframe(&mut self.framing, &self.buffer[..n], data)?)
    }
}

/// Calls `data` with the body's data in `bytes`; whether the body ended in them.
fn unframe(
    framing: &mut Framing,
    bytes: &[u8],
    mut data: impl FnMut(&[u8]),
) -> Result<bool, Error> {
    match framing {
        Framing::Chunked(chunked) => Ok(chunked.feed(bytes, data)?),
        Framing::UntilClose => {
            data(bytes);
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on loopback that answers one request with `response`, then closes.
    async fn answering(response: &'static [u8]) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            socket.write_all(response).await.expect("write");
        });
        addr
    }

    async fn read_all(addr: std::net::SocketAddr) -> Result<Vec<u8>, Error> {
        let socket = TcpStream::connect(addr).await?;
        let mut body = get(socket, "localhost", "/events", &[]).await?;
        let mut seen = Vec::new();
        while body.read(|data| seen.extend_from_slice(data)).await? {}
        Ok(seen)
    }

    #[tokio::test]
    async fn reads_a_chunked_body_over_a_real_socket() {
        let addr = answering(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\ndata: a\n\n\r\n0\r\n\r\n",
        )
        .await;
        assert_eq!(read_all(addr).await.expect("a body"), b"data: a\n\n");
    }

    #[tokio::test]
    async fn a_broken_chunk_size_fails_the_read_instead_of_ending_the_body() {
        let addr =
            answering(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nnine\r\ndata: a\n\n")
                .await;
        let error = read_all(addr).await.expect_err("a broken body");
        assert!(error.to_string().contains("chunk's size"), "{error}");
    }

    #[tokio::test]
    async fn another_status_is_an_error_naming_it() {
        let addr =
            answering(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await;
        let error = read_all(addr).await.expect_err("not 200");
        assert!(error.to_string().contains("503"), "{error}");
    }
}
