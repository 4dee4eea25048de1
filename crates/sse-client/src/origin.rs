//! Where to connect: the scheme, host and port of a URL, and optionally another address to
//! reach them at (as `curl --resolve` does).

use std::net::SocketAddr;

use hyper::Uri;

use crate::Error;

/// An `http://` or `https://` server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `https://`: TLS, with HTTP/2 or HTTP/1.1 as ALPN chooses.
    pub tls: bool,
    /// The host as the URL writes it (an IPv6 address in brackets): the `Host` header, and the
    /// name the certificate must carry.
    pub host: String,
    /// The port (80 or 443 when the URL gives none).
    pub port: u16,
    /// Connect here instead of resolving `host` (a test server on `127.0.0.1` whose
    /// certificate names `localhost`).
    pub connect_to: Option<SocketAddr>,
}

impl Origin {
    /// The origin of an `http://` or `https://` URL.
    pub fn of(url: &Uri) -> Result<Self, Error> {
        let tls = match url.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(format!("{url}: give an http:// or https:// URL").into()),
        };
        let host = url
            .host()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| format!("{url}: the URL has no host"))?;
        Ok(Self {
            tls,
            host: host.to_owned(),
            port: url.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            connect_to: None,
        })
    }

    /// The origin of a URL given as text.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        Self::of(&uri)
    }

    /// `host:port`, as the `Host` header and HTTP/2's `:authority` carry it.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The host without an IPv6 address's brackets: what to resolve, and the TLS server name.
    pub fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scheme_host_and_port_with_the_default_ports() {
        let origin = Origin::parse("https://example.com/events").expect("a URL");
        assert_eq!((origin.tls, origin.port), (true, 443));
        assert_eq!(origin.authority(), "example.com:443");
        let origin = Origin::parse("http://[::1]:3000/").expect("a URL");
        assert_eq!((origin.tls, origin.bare_host()), (false, "::1"));
        assert_eq!(origin.authority(), "[::1]:3000");
    }

    #[test]
    fn other_schemes_and_missing_hosts_are_refused_by_name() {
        let error = Origin::parse("ftp://example.com/").expect_err("not http");
        assert!(error.to_string().contains("http:// or https://"), "{error}");
        assert!(Origin::parse("/events").is_err());
    }
}
