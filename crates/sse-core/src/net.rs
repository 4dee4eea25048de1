//! Binding the listening socket, with a listen backlog large enough for a burst of clients, and
//! the options every accepted connection gets ([`tune`]).
//!
//! `tokio::net::TcpListener::bind` asks the kernel for a backlog of 128 pending connections.
//! When thousands of `EventSource`s connect at once (a server restart, a load test), the queue
//! overflows, the kernel drops SYNs, and clients wait a whole SYN retransmit (a second or more)
//! before their first event. A backlog of 1024 absorbs such bursts.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::SockRef;
use tokio::net::{TcpListener, TcpSocket};

/// Pending connections the kernel queues before `accept` (capped by `net.core.somaxconn`).
pub const LISTEN_BACKLOG: u32 = 1024;

/// Bytes written to a connection but not yet sent that the kernel will hold
/// (`TCP_NOTSENT_LOWAT`). Without it, a client that stops reading lets its socket's send
/// buffer grow to the kernel's maximum (4 MiB here) before the server notices anything: 200
/// such clients pinned 429 MiB of kernel memory. With it, the server stops writing to that
/// socket after 16 KiB, and the chat hub's `lagged` does the rest. Data already sent and
/// waiting for its acknowledgement is bounded by the client's receive window, which closes
/// when it stops reading.
pub const NOT_SENT_LOW_WATER: u32 = 16 * 1024;

/// Sets what every connection needs, on all three servers, once on the listening socket: on
/// Linux an accepted connection starts with the listener's options (a test below checks). Each
/// `main.rs` calls it right after [`bind`], before the first line is printed: the kernel
/// completes connections (and copies the options into them) before the server accepts them.
///
/// - `TCP_NODELAY`: events are small writes that must leave at once, not wait for the previous
///   packet's acknowledgement;
/// - [`NOT_SENT_LOW_WATER`];
/// - `TCP_USER_TIMEOUT` of `write_timeout` (`--write-timeout-secs`): the kernel closes a
///   connection when what it sent stays unacknowledged that long, and, when the client's
///   window is closed (it stopped reading), when it has accepted nothing that long. Its stream
///   then ends as if the client had left.
///
/// Best effort: a system that refuses an option (not Linux) is served all the same.
pub fn tune(listener: &TcpListener, write_timeout: Duration) {
    let socket = SockRef::from(listener);
    let _ = socket.set_tcp_nodelay(true);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = socket.set_tcp_notsent_lowat(NOT_SENT_LOW_WATER);
        let _ = socket.set_tcp_user_timeout(Some(write_timeout));
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = write_timeout;
}

/// Ends an accepted connection at once (both directions shut down), for a server that cannot
/// simply drop it: actix-web's `on_connect` sees the socket but owns it. The framework then
/// reads the end, and closes the connection and its descriptor.
#[cfg(unix)]
pub fn shut(socket: &impl std::os::fd::AsFd) {
    let _ = SockRef::from(socket).shutdown(std::net::Shutdown::Both);
}

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

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn accepted_connections_inherit_the_listener_s_options() {
        let listener = bind("127.0.0.1", 0).await.expect("bind");
        tune(&listener, Duration::from_secs(7));
        let addr = listener.local_addr().expect("addr");
        let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        let accepted = SockRef::from(&accepted);
        assert_eq!(accepted.tcp_nodelay().ok(), Some(true));
        assert_eq!(accepted.tcp_notsent_lowat().ok(), Some(NOT_SENT_LOW_WATER));
        assert_eq!(
            accepted.tcp_user_timeout().ok(),
            Some(Some(Duration::from_secs(7)))
        );
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
