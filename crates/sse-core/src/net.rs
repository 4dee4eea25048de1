//! Binding the listening socket, with a listen backlog large enough for a burst of clients.
//!
//! `tokio::net::TcpListener::bind` asks the kernel for a backlog of 128 pending connections.
//! When thousands of `EventSource`s connect at once (a server restart, a load test), the queue
//! overflows, the kernel drops SYNs, and clients wait a whole SYN retransmit (a second or more)
//! before their first event. A backlog of 1024 absorbs such bursts.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Pending connections the kernel queues before `accept` (capped by `net.core.somaxconn`).
pub const LISTEN_BACKLOG: u32 = 1024;

/// Resolves `host` (an IP address or a name such as `localhost`) and listens on the first
/// address that works.
pub async fn bind(host: &str, port: u16) -> Result<TcpListener, BindError> {
    let error = |source| BindError {
        host: host.to_owned(),
        port,
        source,
    };
    let mut last_error = None;
    let addrs = tokio::net::lookup_host((host, port)).await.map_err(|e| {
        error(io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot find the address of {host:?}: {e}"),
        ))
    })?;
    for addr in addrs {
        match listen(addr) {
            Ok(listener) => return Ok(listener),
            Err(err) => last_error = Some(err),
        }
    }
    Err(error(last_error.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"))
    })))
}

/// Why a server could not listen, told as a sentence that says what to do.
#[derive(Debug)]
pub struct BindError {
    host: String,
    port: u16,
    source: io::Error,
}

impl BindError {
    /// What the operating system said, as a kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { host, port, source } = self;
        match source.kind() {
            io::ErrorKind::AddrInUse => write!(
                f,
                "port {port} on {host} is already in use, by another server or another copy of \
                 this one. Stop it, or choose another port: --port 3005, or --port 0 for any free \
                 one. To see what holds it: ss -ltnp 'sport = :{port}'"
            ),
            io::ErrorKind::PermissionDenied => write!(
                f,
                "no permission to listen on port {port}: ports below 1024 need root (or the \
                 CAP_NET_BIND_SERVICE capability). Choose a port from 1024 up, such as --port 3000"
            ),
            io::ErrorKind::AddrNotAvailable => write!(
                f,
                "{host} is not an address of this machine, so nothing can listen on it. Use \
                 --host 127.0.0.1 (the default: this machine only), --host 0.0.0.0 (every \
                 network), or one of this machine's own addresses"
            ),
            io::ErrorKind::NotFound => write!(f, "{source}; check --host"),
            _ => write!(f, "cannot listen on {host} port {port}: {source}"),
        }
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
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
        let said = err.to_string();
        assert!(
            said.starts_with(&format!("port {port} on 127.0.0.1 is already in use")),
            "{said}"
        );
        assert!(said.contains("--port 0"), "{said}");
    }

    #[test]
    fn a_low_port_without_permission_says_what_to_do() {
        let err = BindError {
            host: "127.0.0.1".to_owned(),
            port: 80,
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        let said = err.to_string();
        assert!(
            said.starts_with("no permission to listen on port 80"),
            "{said}"
        );
        assert!(said.contains("from 1024 up"), "{said}");
    }

    #[tokio::test]
    async fn an_address_of_another_machine_is_said_to_be_one() {
        let err = bind("192.0.2.1", 0)
            .await
            .expect_err("TEST-NET-1 is nobody's here");
        assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable);
        assert!(
            err.to_string().contains("not an address of this machine"),
            "{err}"
        );
    }
}
