//! Binding the listening socket, with a listen backlog large enough for a burst of clients.
//!
//! `tokio::net::TcpListener::bind` asks the kernel for a backlog of 128 pending connections.
//! When thousands of `EventSource`s connect at once (a server restart, a load test), the queue
//! overflows, the kernel drops SYNs, and clients wait a whole SYN retransmit (a second or more)
//! before their first event. A backlog of 1024 absorbs such bursts.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Pending connections the kernel queues before `accept` (capped by `net.core.somaxconn`).
pub const LISTEN_BACKLOG: u32 = 1024;

/// Resolves `host` (an IP address or a name such as `localhost`) and listens on the first
/// address that works.
pub async fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        match listen(addr) {
            Ok(listener) => return Ok(listener),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{host} has no address"),
        )
    }))
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // Lets a restarted server bind again at once while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_a_free_port_on_loopback() {
        let listener = bind("127.0.0.1", 0).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        assert!(addr.ip().is_loopback() && addr.port() != 0);
    }

    #[tokio::test]
    async fn a_port_in_use_is_an_error() {
        let first = bind("127.0.0.1", 0).await.expect("bind");
        let port = first.local_addr().expect("addr").port();
        let err = bind("127.0.0.1", port)
            .await
            .expect_err("the port is taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }
}
