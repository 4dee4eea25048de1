//! TLS with rustls and ring (aws-lc-rs, rustls's default, builds C for minutes): which
//! certificates to trust, and which protocols to offer by ALPN.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use crate::Error;

/// Which server certificates to accept.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Those the web's certificate authorities sign (`webpki-roots`), as a browser does.
    WebRoots,
    /// Only these (a test's own self-signed certificate).
    Only(Vec<CertificateDer<'static>>),
    /// Any, as `curl -k` does: for servers on this machine that make their own. The handshake's
    /// signatures are still checked.
    Any,
}

/// The protocols offered by ALPN, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// `h2`, then `http/1.1`, as a browser offers them.
    H2OrHttp1,
    /// `h2` only.
    H2,
}

/// rustls with ring, trusting `trust` and offering `alpn`.
pub fn config(trust: Trust, alpn: Alpn) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions");
    let roots = match trust {
        Trust::Any => {
            let verifier = Arc::new(AnyCertificate(provider));
            let builder = builder
                .dangerous()
                .with_custom_certificate_verifier(verifier);
            return with_alpn(builder.with_no_client_auth(), alpn);
        }
        Trust::WebRoots => {
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
        }
        Trust::Only(certificates) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(certificates);
            roots
        }
    };
    with_alpn(
        builder.with_root_certificates(roots).with_no_client_auth(),
        alpn,
    )
}

fn with_alpn(mut config: ClientConfig, alpn: Alpn) -> Arc<ClientConfig> {
    config.alpn_protocols = match alpn {
        Alpn::H2OrHttp1 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        Alpn::H2 => vec![b"h2".to_vec()],
    };
    Arc::new(config)
}

/// The TLS server name for `host` (a name, or an IP address without brackets).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}").into())
}

/// A certificate this client does not trust: retrying will not help. The text says why.
#[derive(Debug)]
pub struct CertificateRejected {
    /// `host:port`.
    pub authority: String,
    /// rustls's reason.
    pub why: String,
}

impl std::fmt::Display for CertificateRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { authority, why } = self;
        write!(f, "the certificate of {authority} is not trusted ({why})")
    }
}

impl std::error::Error for CertificateRejected {}

/// A failed handshake as an error: [`CertificateRejected`] when the certificate was the reason.
pub(crate) fn handshake_error(e: std::io::Error, authority: String) -> Error {
    let rejected = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(rustls::Error::InvalidCertificate(why)) = rejected {
        let why = format!("{why:?}");
        return Box::new(CertificateRejected { authority, why });
    }
    format!("TLS with {authority}: {e}").into()
}

/// [`Trust::Any`]: accepts whatever certificate the server shows, but still checks the
/// handshake's signatures.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
