//! Cross-origin access: which pages on other origins may use this server, and how.
//!
//! The `/compare` page, served by one server, talks to all three: same host, other ports, so
//! other origins. Reading is open to everyone: streams and `/health` carry
//! `Access-Control-Allow-Origin: *` (no cookies are involved, so nothing private can leak).
//! Writing is not: `POST /chat` with a JSON body makes the browser ask first (a preflight
//! `OPTIONS /chat`), and the answer allows only pages served from the same host as this server,
//! on any port, and the origins named with `--allow-origin`. That is what `/compare` needs, and
//! it keeps every other site from posting into the chat of a server running on your machine.
//!
//! With identity on (see [`identity`](crate::identity)), a page on another origin reads with
//! `withCredentials: true`, so that the browser sends its cookie. The browser then refuses an
//! answer that says `Access-Control-Allow-Origin: *`: an allowed origin gets its own name back,
//! `Access-Control-Allow-Credentials: true` and `Vary: Origin` (the answer depends on who asks,
//! and a cache must know). Any other origin still gets `*`: it may read the public streams
//! without cookies, and a credentialed read from it fails in its browser.
//!
//! Tested by `cargo test -p sse-core cors`.

/// The header that lets a page on any origin read a stream or `/health`.
pub const ANYONE: (&str, &str) = ("access-control-allow-origin", "*");

/// The headers of a preflight answer from an allowed origin, besides [`Cors::post_headers`]':
/// the methods and headers a page may use, and how long to remember them. `POST` for the chat,
/// the sign-in and an answer; `GET` and `DELETE` for a kept answer (`/v1/streams/{id}`), with
/// its `Last-Event-ID`; `Authorization` for a token, or the API key OpenAI's clients send.
pub const PREFLIGHT_HEADERS: [(&str, &str); 3] = [
    ("access-control-allow-methods", "GET, POST, DELETE"),
    (
        "access-control-allow-headers",
        "content-type, authorization, last-event-id",
    ),
    ("access-control-max-age", "600"),
];

/// Who may use this server from another origin, and whether with cookies.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    /// `--allow-origin`, exactly as given (`scheme://host[:port]`).
    listed: Vec<String>,
    /// Identity is on: allowed origins may send cookies.
    credentials: bool,
}

impl Cors {
    /// Pages on this server's host only, without cookies (what the tests of other modules use).
    pub const SAME_HOST: Self = Self {
        listed: Vec::new(),
        credentials: false,
    };

    /// The same host, and the `listed` origins; with cookies when `credentials`.
    pub fn new(listed: Vec<String>, credentials: bool) -> Self {
        Self {
            listed,
            credentials,
        }
    }

    /// The origin, if it may post and (with identity on) read with cookies: on this server's
    /// host, or listed.
    pub fn allows(&self, origin: Option<&[u8]>, host: Option<&[u8]>) -> Option<String> {
        let listed = origin
            .and_then(|origin| std::str::from_utf8(origin).ok())
            .filter(|origin| self.listed.iter().any(|allowed| allowed == origin));
        listed
            .map(str::to_owned)
            .or_else(|| allowed_origin(origin, host))
    }

    /// The cross-origin headers of a `POST` (chat, sign-in) or `/me` answer.
    pub fn post_headers(
        &self,
        origin: Option<&[u8]>,
        host: Option<&[u8]>,
    ) -> Vec<(&'static str, String)> {
        let mut headers = vec![("vary", "origin".to_owned())];
        if let Some(origin) = self.allows(origin, host) {
            headers.push(("access-control-allow-origin", origin));
            if self.credentials {
                headers.push(("access-control-allow-credentials", "true".to_owned()));
            }
        }
        headers
    }

    /// The answer to a preflight `OPTIONS`: 204 with these headers, which for an origin that
    /// may not post leave out `Access-Control-Allow-Origin`, so the browser does not send it.
    pub fn preflight_headers(
        &self,
        origin: Option<&[u8]>,
        host: Option<&[u8]>,
    ) -> Vec<(&'static str, String)> {
        let mut headers = self.post_headers(origin, host);
        if headers.len() > 1 {
            headers.extend(PREFLIGHT_HEADERS.map(|(name, value)| (name, value.to_owned())));
        }
        headers
    }

    /// The cross-origin headers of a stream: `*` without identity, as ever; with it, an
    /// allowed origin's own name and credentials.
    pub fn stream_headers(
        &self,
        origin: Option<&[u8]>,
        host: Option<&[u8]>,
    ) -> Vec<(&'static str, String)> {
        let anyone = (ANYONE.0, ANYONE.1.to_owned());
        if !self.credentials {
            return vec![anyone];
        }
        match self.allows(origin, host) {
            Some(origin) => vec![
                ("access-control-allow-origin", origin),
                ("access-control-allow-credentials", "true".to_owned()),
                ("vary", "origin".to_owned()),
            ],
            None => vec![anyone, ("vary", "origin".to_owned())],
        }
    }
}

/// Checks `--allow-origin`: `http://` or `https://`, a host, maybe a port, and nothing else
/// (a browser's `Origin` has no path and no trailing slash, and `*` may not carry cookies).
pub fn check_origin(origin: &str) -> Result<String, String> {
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let plain = |a: &str| {
        !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    };
    match authority {
        Some(authority) if plain(authority) => Ok(origin.to_owned()),
        _ => Err(format!(
            "{origin:?} is not an origin: write it as the browser sends it, \
             scheme://host[:port] (such as http://localhost:8080), without a path or a *"
        )),
    }
}

/// The origin, if it names the same host as the `Host` header (any port, `http` or `https`).
pub fn allowed_origin(origin: Option<&[u8]>, host: Option<&[u8]>) -> Option<String> {
    let origin = std::str::from_utf8(origin?).ok()?;
    let host = std::str::from_utf8(host?).ok()?;
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))?;
    let same = hostname(authority).eq_ignore_ascii_case(hostname(host));
    // Visible ASCII only, so that it is always a valid header value when echoed.
    let plain = origin.bytes().all(|b| b.is_ascii_graphic());
    (same && plain && !hostname(host).is_empty()).then(|| origin.to_owned())
}

/// `example.com` of `example.com:3000`, `[::1]` of `[::1]:3000`.
fn hostname(authority: &str) -> &str {
    if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or(authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(origin: &str, host: &str) -> bool {
        allowed_origin(Some(origin.as_bytes()), Some(host.as_bytes())).is_some()
    }

    #[test]
    fn pages_on_the_same_host_may_post_from_any_port() {
        assert!(allowed("http://127.0.0.1:3000", "127.0.0.1:3001"));
        assert!(allowed("http://localhost:3002", "LOCALHOST:3000"));
        assert!(allowed("http://[::1]:3000", "[::1]:3001"));
        assert!(allowed("https://demo.example", "demo.example"));
    }

    #[test]
    fn other_sites_may_not() {
        assert!(!allowed("http://evil.example", "127.0.0.1:3000"));
        assert!(!allowed(
            "http://127.0.0.1.evil.example:3000",
            "127.0.0.1:3000"
        ));
        assert!(!allowed("http://localhost:3000", "127.0.0.1:3000"));
        assert!(!allowed("null", "127.0.0.1:3000"));
        assert!(!allowed("file://", ""));
        assert!(!allowed("http://[::1]:3000", "[::2]:3000"));
        assert!(
            !allowed("http://bücher.example", "bücher.example"),
            "browsers send punycode"
        );
        assert_eq!(allowed_origin(None, Some(b"127.0.0.1")), None);
    }

    #[test]
    fn the_answer_always_varies_by_origin() {
        let headers =
            Cors::SAME_HOST.post_headers(Some(b"http://127.0.0.1:3000"), Some(b"127.0.0.1:3001"));
        assert_eq!(
            headers,
            [
                ("vary", "origin".to_owned()),
                (
                    "access-control-allow-origin",
                    "http://127.0.0.1:3000".to_owned()
                )
            ]
        );
        assert_eq!(
            Cors::SAME_HOST
                .post_headers(Some(b"http://evil.example"), None)
                .len(),
            1
        );
    }

    #[test]
    fn with_identity_allowed_origins_read_with_cookies_and_others_get_the_star() {
        let cors = Cors::new(vec!["http://localhost:8080".into()], true);
        let host = Some(&b"127.0.0.1:3000"[..]);
        let listed = cors.stream_headers(Some(b"http://localhost:8080"), host);
        assert_eq!(
            listed,
            [
                (
                    "access-control-allow-origin",
                    "http://localhost:8080".to_owned()
                ),
                ("access-control-allow-credentials", "true".to_owned()),
                ("vary", "origin".to_owned())
            ]
        );
        let same_host = cors.stream_headers(Some(b"http://127.0.0.1:3001"), host);
        assert_eq!(
            same_host[0].1, "http://127.0.0.1:3001",
            "/compare, on another port"
        );
        let other = cors.stream_headers(Some(b"http://evil.example"), host);
        assert_eq!(other[0], ("access-control-allow-origin", "*".to_owned()));
        assert!(
            !other
                .iter()
                .any(|(name, _)| *name == "access-control-allow-credentials")
        );
        let without_identity = Cors::new(vec!["http://localhost:8080".into()], false);
        assert_eq!(
            without_identity.stream_headers(Some(b"http://localhost:8080"), host),
            [("access-control-allow-origin", "*".to_owned())]
        );
        let preflight = cors.preflight_headers(Some(b"http://localhost:8080"), host);
        assert!(preflight.contains(&(
            "access-control-allow-headers",
            "content-type, authorization, last-event-id".to_owned()
        )));
        assert!(check_origin("http://localhost:8080").is_ok());
        for bad in ["*", "localhost:8080", "http://a/b", "http://", "http://a b"] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_preflight_allows_post_with_a_json_content_type_to_the_same_host_only() {
        let allowed = Cors::SAME_HOST
            .preflight_headers(Some(b"http://127.0.0.1:3000"), Some(b"127.0.0.1:3001"));
        let names: Vec<_> = allowed.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "vary",
                "access-control-allow-origin",
                "access-control-allow-methods",
                "access-control-allow-headers",
                "access-control-max-age"
            ]
        );
        let refused = Cors::SAME_HOST
            .preflight_headers(Some(b"http://evil.example"), Some(b"127.0.0.1:3001"));
        assert_eq!(refused, [("vary", "origin".to_owned())]);
    }
}
