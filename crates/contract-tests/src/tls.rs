//! HTTP/2 for the contract suite: one certificate for `localhost` and `127.0.0.1` per test
//! process, which the servers are started with (`--tls-cert`, `--tls-key`) and the client
//! trusts, so the client checks the server's certificate as a browser would.

use std::path::Path;
use std::sync::OnceLock;

use rustls::pki_types::CertificateDer;
use sse_client::{Alpn, Client, Trust};

/// The certificate as PEM files for a server, written into `dir`; returns the two paths.
pub fn write_certificate(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = made();
    std::fs::write(&cert, made.cert.pem()).expect("writing cert.pem");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("writing key.pem");
    (cert.display().to_string(), key.display().to_string())
}

/// A client that trusts only that certificate and asks for HTTP/2 by ALPN.
pub fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let der: CertificateDer<'static> = made().cert.der().clone();
        Client::new(Trust::Only(vec![der]), Alpn::H2)
    })
}

fn made() -> &'static rcgen::CertifiedKey<rcgen::KeyPair> {
    static MADE: OnceLock<rcgen::CertifiedKey<rcgen::KeyPair>> = OnceLock::new();
    MADE.get_or_init(|| {
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a certificate for localhost")
    })
}
