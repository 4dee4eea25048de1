//! Cross-origin access: which pages on other origins may use this server, and how.
//!
//! The `/compare` page, served by one server, talks to all three: same host, other ports, so
//! other origins. Reading is open to everyone: streams and `/health` carry
//! `Access-Control-Allow-Origin: *` (no cookies are involved, so nothing private can leak).
//! Writing is not: `POST /chat` with a JSON body makes the browser ask first (a preflight
//! `OPTIONS /chat`), and the answer allows only pages served from the same host as this server,
//! on any port. That is what `/compare` needs, and it keeps every other site from posting into
//! the chat of a server running on your machine.
//!
//! Tested by `cargo test -p sse-core cors`.

/// The header that lets a page on any origin read a stream or `/health`.
pub const ANYONE: (&str, &str) = ("access-control-allow-origin", "*");

/// The headers of a preflight answer for `POST /chat` from an allowed origin, besides
/// [`allowed_origin`]'s: the method and header the page uses, and how long to remember them.
pub const PREFLIGHT_HEADERS: [(&str, &str); 3] = [
    ("access-control-allow-methods", "POST"),
    ("access-control-allow-headers", "content-type"),
    ("access-control-max-age", "600"),
];

/// The headers a `POST /chat` answer (or its preflight) carries for a request with these
/// `Origin` and `Host` headers: `Access-Control-Allow-Origin: <origin>` when the origin is on
/// this server's host, and always `Vary: Origin`, since the answer depends on it.
pub fn chat_headers(origin: Option<&[u8]>, host: Option<&[u8]>) -> Vec<(&'static str, String)> {
    let mut headers = vec![("vary", "origin".to_owned())];
    if let Some(origin) = allowed_origin(origin, host) {
        headers.push(("access-control-allow-origin", origin));
    }
    headers
}

/// The answer to a preflight `OPTIONS /chat`: 204 with these headers. For an origin that may
/// not post, they leave out `Access-Control-Allow-Origin`, and the browser does not send the post.
pub fn preflight_headers(
    origin: Option<&[u8]>,
    host: Option<&[u8]>,
) -> Vec<(&'static str, String)> {
    let mut headers = chat_headers(origin, host);
    if headers.len() > 1 {
        headers.extend(PREFLIGHT_HEADERS.map(|(name, value)| (name, value.to_owned())));
    }
    headers
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
        let headers = chat_headers(Some(b"http://127.0.0.1:3000"), Some(b"127.0.0.1:3001"));
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
        assert_eq!(chat_headers(Some(b"http://evil.example"), None).len(), 1);
    }

    #[test]
    fn a_preflight_allows_post_with_a_json_content_type_to_the_same_host_only() {
        let allowed = preflight_headers(Some(b"http://127.0.0.1:3000"), Some(b"127.0.0.1:3001"));
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
        let refused = preflight_headers(Some(b"http://evil.example"), Some(b"127.0.0.1:3001"));
        assert_eq!(refused, [("vary", "origin".to_owned())]);
    }
}
