//! The bytes of one streamed response, as `sse serve`'s faults shape them: chunked framing
//! (so that a cut is told apart from an end), gzip that never flushes, events held to the end.

use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use super::Faults;

/// A response being streamed.
pub(super) struct Wire {
    socket: TcpStream,
    /// `--gzip`: the compressor, never flushed.
    gzip: Option<GzEncoder<Vec<u8>>>,
    /// `--buffer`: what is held back until the end.
    held: Option<Vec<u8>>,
}

impl Wire {
    /// Writes the head of a 200 event stream, with `headers` and those the faults add.
    pub(super) async fn start(
        mut socket: TcpStream,
        headers: &[&str],
        faults: Faults,
    ) -> std::io::Result<Self> {
        let mut head = String::from(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n",
        );
        for header in headers {
            head += &format!("{header}\r\n");
        }
        if faults.gzip {
            head += "Content-Encoding: gzip\r\n";
        }
        head += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        socket.write_all(head.as_bytes()).await?;
        Ok(Self {
            socket,
            gzip: faults
                .gzip
                .then(|| GzEncoder::new(Vec::new(), Compression::default())),
            held: faults.buffer.then(Vec::new),
        })
    }

    /// Sends `bytes`, unless a fault holds them.
    pub(super) async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let bytes = match &mut self.gzip {
            Some(gzip) => {
                gzip.write_all(bytes)?;
                std::mem::take(gzip.get_mut())
            }
            None => bytes.to_vec(),
        };
        match &mut self.held {
            Some(held) => held.extend_from_slice(&bytes),
            None => self.chunk(&bytes).await?,
        }
        Ok(())
    }

    /// Ends the response cleanly: whatever was held, then the last chunk.
    pub(super) async fn end(&mut self) -> std::io::Result<()> {
        self.release().await?;
        self.socket.write_all(b"0\r\n\r\n").await?;
        self.socket.shutdown().await
    }

    /// Cuts the response: whatever was held, then the connection closed with no last chunk.
    pub(super) async fn cut(&mut self) -> std::io::Result<()> {
        self.release().await?;
        self.socket.shutdown().await
    }

    async fn release(&mut self) -> std::io::Result<()> {
        let mut rest = self.held.take().unwrap_or_default();
        if let Some(gzip) = self.gzip.take() {
            rest.extend_from_slice(&gzip.finish()?);
        }
        self.chunk(&rest).await
    }

    /// One chunk of the body (none for no bytes: an empty chunk would end the body).
    async fn chunk(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let mut chunk = format!("{:x}\r\n", bytes.len()).into_bytes();
        chunk.extend_from_slice(bytes);
        chunk.extend_from_slice(b"\r\n");
        self.socket.write_all(&chunk).await
    }
}
