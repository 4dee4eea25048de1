//! The workspace's HTTP client, used by `sse`, `sse-bench` and the contract suite: one place
//! that connects, sets up TLS (rustls with ring; the web's roots, one certificate, or any with
//! `-k`), lets ALPN choose HTTP/2 or HTTP/1.1, and runs hyper's handshakes.
//!
//! - [`Origin`]: where to connect (`http://` or `https://`, host, port).
//! - [`Client`]: how to connect (which certificates to trust, which protocols to offer);
//!   [`Client::connect`] gives a [`Connection`] that sends request after request.
//! - [`raw`]: a lean HTTP/1.1 `GET` read straight from the socket, for a load client that
//!   cannot afford a task hop per chunk; [`chunked`] undoes its framing, and says when it is
//!   broken.
//! - `decode` (feature `compression`): `Content-Encoding: gzip` or `deflate`, undone as the
//!   bytes arrive.
//!
//! What to ask for (the headers a browser sends, a JSON post, a stream's parser) stays with
//! each user of the crate: this one only carries requests.

pub mod chunked;
mod connection;
#[cfg(feature = "compression")]
pub mod decode;
mod origin;
pub mod raw;
pub mod tls;

pub use connection::{Client, Connection};
pub use origin::Origin;
pub use tls::{Alpn, CertificateRejected, Trust};

/// Any error, as a sentence for the user.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
