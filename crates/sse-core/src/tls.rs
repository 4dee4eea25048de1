//! HTTPS for every server: the rustls configuration that `--tls` (a self-signed certificate
//! made at start) or `--tls-cert PATH --tls-key PATH` (one's own, PEM) gives, offering HTTP/2
//! and HTTP/1.1 by ALPN.
//!
//! Why it matters for SSE: a browser opens at most six HTTP/1.1 connections per server, across
//! all its tabs, and every open `EventSource` holds one. Over HTTP/2 every stream of a page (of
//! every tab) shares one connection, and browsers speak HTTP/2 only over TLS.
//!
//! Tested by `cargo test -p sse-core tls`, and over the wire by the contract suite's `h2` cases.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::options::Options;

/// The names a self-signed certificate is made for.
pub const SELF_SIGNED_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// What `--tls` serves with.
#[derive(Clone)]
pub struct Tls {
    /// rustls's server configuration, ALPN `h2` then `http/1.1`.
    pub config: Arc<ServerConfig>,
    /// The certificate as PEM when it was made at start (to hand to `curl --cacert`), else
    /// `None`.
    pub self_signed_pem: Option<String>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("self_signed", &self.self_signed_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// Why HTTPS could not be set up, in words for the person who started the server.
#[derive(Debug)]
pub enum TlsError {
    /// A certificate or key file could not be read or holds no usable PEM.
    File {
        /// `--tls-cert` or `--tls-key`.
        option: &'static str,
        /// The path given.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// rustls refused the pair (the key does not match the certificate, say).
    Rejected(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { option, path, why } => {
                write!(f, "cannot use {option} {}: {why}", path.display())
            }
            Self::Rejected(why) => write!(f, "the TLS certificate and key do not work: {why}"),
        }
    }
}

impl std::error::Error for TlsError {}

impl Tls {
    /// The configuration the options ask for: `None` without `--tls`.
    pub fn from_options(options: &Options) -> Result<Option<Self>, TlsError> {
        match (&options.tls_cert, &options.tls_key) {
            (Some(cert), Some(key)) => Self::from_files(cert, key).map(Some),
            _ if options.tls => Ok(Some(Self::self_signed())),
            _ => Ok(None),
        }
    }

    /// What to tell the person who started the server, after the first line, when the
    /// certificate was made at start: a browser warns about it until accepted once.
    pub fn notice(&self, port: u16) -> Option<String> {
        self.self_signed_pem.as_ref().map(|_| {
            format!(
                "the TLS certificate is self-signed, for localhost and 127.0.0.1: accept it once \
                 in the browser, or tell curl to skip the check (curl -k https://localhost:{port}/); \
                 --tls-cert and --tls-key serve one of your own"
            )
        })
    }

    /// A self-signed certificate for [`SELF_SIGNED_NAMES`], made now and kept in memory.
    pub fn self_signed() -> Self {
        let names = SELF_SIGNED_NAMES.map(str::to_owned).to_vec();
        // Fails only for names that are not DNS names or IP addresses; these two are.
        let made = rcgen::generate_simple_self_signed(names)
            .expect("localhost and 127.0.0.1 are valid names");
        let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
        let chain = vec![made.cert.der().clone()];
        let config = config(chain, key.into())
            .expect("rustls accepts the certificate rcgen made with its key");
        Self {
            config,
            self_signed_pem: Some(made.cert.pem()),
        }
    }

    /// A certificate chain and its private key from PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let file_error = |option, path: &Path, why: String| TlsError::File {
            option,
            path: path.to_owned(),
            why,
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| file_error("--tls-cert", cert, e.to_string()))?;
        if chain.is_empty() {
            let why = "no CERTIFICATE block in it".to_owned();
            return Err(file_error("--tls-cert", cert, why));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| file_error("--tls-key", key, e.to_string()))?;
        let config = config(chain, key).map_err(|e| TlsError::Rejected(e.to_string()))?;
        Ok(Self {
            config,
            self_signed_pem: None,
        })
    }
}

/// rustls with ring, TLS 1.2 and 1.3, and ALPN offering HTTP/2 first.
fn config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_offers_http2_first() {
        let tls = Tls::self_signed();
        assert_eq!(tls.config.alpn_protocols, [&b"h2"[..], b"http/1.1"]);
        let pem = tls.self_signed_pem.expect("PEM of the made certificate");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    }

    #[test]
    fn unreadable_files_are_named_in_the_error() {
        let missing = Path::new("/nonexistent/cert.pem");
        let err = Tls::from_files(missing, missing).expect_err("no such file");
        let text = err.to_string();
        assert!(
            text.starts_with("cannot use --tls-cert /nonexistent/cert.pem"),
            "{text}"
        );
    }
}
