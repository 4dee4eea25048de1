//! Where a request carries its token, and the cookie that carries it for a browser.
//!
//! - **A cookie**, `sse_token`, for pages: `EventSource` cannot send headers, but it sends the
//!   site's cookies by itself. The cookie is `HttpOnly` (no script can read it, so no injected
//!   script can steal it), `Secure` over HTTPS, and `SameSite=Strict` by default: a page of
//!   another site never makes the browser send it, which also keeps other sites from posting in
//!   the user's name (CSRF). `--cookie-same-site none` is for a page served from another site
//!   that reads these servers with `withCredentials`; browsers accept that only with `Secure`,
//!   which `http://localhost` and `http://127.0.0.1` may set, so it is always added then.
//! - **`Authorization: Bearer`**, for `fetch`, scripts and servers. It wins over the cookie.
//! - **Never the query string.** A URL is written to access logs, proxies' logs, the browser's
//!   history and other sites' `Referer`; RFC 9700 says access tokens must not travel there. A
//!   request that puts a token in the URL is refused with a message saying so, rather than read.
//!
//! The cookie header is parsed here, in a few lines, rather than with the `cookie` crate: one
//! name is looked up, and the `Set-Cookie` line is written whole, with nothing to escape (a JWT
//! is base64url and dots).
//!
//! Tested by `cargo test -p sse-core credentials`.

use std::fmt;
use std::time::Duration;

/// The cookie that holds a browser's token.
pub const COOKIE: &str = "sse_token";

/// Query parameters that are taken for a token in the URL, and refused: RFC 6750's name and
/// the ones found in the wild.
pub const TOKEN_PARAMETERS: [&str; 5] = ["access_token", "token", "jwt", "auth", "authorization"];

/// The token a request carries, as the raw bytes of the headers it may be in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// The `Authorization` header.
    pub authorization: Option<&'a [u8]>,
    /// The value of the [`COOKIE`] cookie, from the `Cookie` header (over HTTP/2 a browser
    /// sends one `Cookie` header per cookie; [`Credentials::from_lines`] reads them all).
    pub cookie: Option<&'a [u8]>,
}

/// Why a request's token could not even be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub &'static str);

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl<'a> Credentials<'a> {
    /// The credentials of a request with this `Authorization` header and these `Cookie` lines.
    pub fn from_lines(
        authorization: Option<&'a [u8]>,
        cookie_lines: impl IntoIterator<Item = &'a [u8]>,
    ) -> Self {
        let cookie = cookie_lines.into_iter().find_map(find_cookie);
        Self {
            authorization,
            cookie,
        }
    }

    /// [`Credentials::from_lines`], reading `http`'s header map (axum's and warp's).
    pub fn of(headers: &'a http::HeaderMap) -> Self {
        let authorization = headers.get(http::header::AUTHORIZATION);
        let cookies = headers.get_all(http::header::COOKIE).into_iter();
        Self::from_lines(
            authorization.map(http::HeaderValue::as_bytes),
            cookies.map(http::HeaderValue::as_bytes),
        )
    }

    /// The token: the `Authorization: Bearer` one, else the cookie's, else none.
    pub fn token(&self) -> Result<Option<&'a str>, Unreadable> {
        if let Some(value) = self.authorization {
            let (scheme, token) = split_once(value.trim_ascii(), b' ').ok_or(Unreadable(
                "the Authorization header must be: Bearer <token>",
            ))?;
            if !scheme.eq_ignore_ascii_case(b"bearer") {
                return Err(Unreadable(
                    "only Authorization: Bearer <token> is understood here",
                ));
            }
            return text(token.trim_ascii()).map(Some);
        }
        self.cookie.map(text).transpose()
    }
}

/// A token is visible ASCII: base64url and dots.
fn text(bytes: &[u8]) -> Result<&str, Unreadable> {
    let plain = !bytes.is_empty() && bytes.iter().all(u8::is_ascii_graphic);
    let unreadable = Unreadable("the token is not a JWT: three base64url parts joined by dots");
    plain
        .then(|| std::str::from_utf8(bytes).ok())
        .flatten()
        .ok_or(unreadable)
}

fn split_once(bytes: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().position(|&b| b == at)?;
    Some((&bytes[..i], &bytes[i + 1..]))
}

/// The value of [`COOKIE`] in one `Cookie` line (`a=1; sse_token=xyz; b=2`).
fn find_cookie(line: &[u8]) -> Option<&[u8]> {
    line.split(|&b| b == b';').find_map(|pair| {
        let (name, value) = split_once(pair.trim_ascii(), b'=')?;
        (name == COOKIE.as_bytes()).then_some(value)
    })
}

/// The query parameter of `query` that holds a token, if one does: such a request is refused.
pub fn token_in_query(query: Option<&str>) -> Option<&'static str> {
    let query = query?;
    form_urlencoded::parse(query.as_bytes()).find_map(|(name, _)| {
        TOKEN_PARAMETERS
            .iter()
            .copied()
            .find(|p| name.eq_ignore_ascii_case(p))
    })
}

/// What the refusal of a token in the URL says.
pub fn token_in_query_message(parameter: &str) -> String {
    format!(
        "a token in the URL ({parameter}=...) is refused: URLs are kept in logs, in browser \
         history and in Referer headers, and RFC 9700 forbids it; send the token in the \
         {COOKIE} cookie or an Authorization: Bearer header"
    )
}

/// The `SameSite` attribute of the cookie (`--cookie-same-site`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SameSite {
    /// Sent only on requests from this site: the default.
    #[default]
    Strict,
    /// Also sent when the user follows a link from another site (a top-level `GET`).
    Lax,
    /// Sent from every site (with `withCredentials`), so always `Secure` too.
    None,
}

/// How the cookie is written: `Secure` or not, and its `SameSite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    /// The server speaks HTTPS.
    pub https: bool,
    /// `--cookie-same-site`.
    pub same_site: SameSite,
}

impl CookiePolicy {
    /// The `Set-Cookie` value that hands `token` to the browser for `max_age`.
    pub fn set(&self, token: &str, max_age: Duration) -> String {
        self.line(token, max_age.as_secs())
    }

    /// The `Set-Cookie` value that makes the browser forget the cookie.
    pub fn clear(&self) -> String {
        self.line("", 0)
    }

    fn line(&self, value: &str, max_age: u64) -> String {
        let same_site = match self.same_site {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        };
        let secure = if self.https || self.same_site == SameSite::None {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_header_wins_over_the_cookie() {
        let both = Credentials::from_lines(Some(b"Bearer a.b.c"), [&b"sse_token=x.y.z"[..]]);
        assert_eq!(both.token(), Ok(Some("a.b.c")));
        let cookie = Credentials::from_lines(None, [&b"theme=dark; sse_token=x.y.z; b=2"[..]]);
        assert_eq!(cookie.token(), Ok(Some("x.y.z")));
        let lines = [&b"theme=dark"[..], b"sse_token=h2.sends.apart"];
        let http2 = Credentials::from_lines(None, lines);
        assert_eq!(http2.token(), Ok(Some("h2.sends.apart")));
        assert_eq!(Credentials::default().token(), Ok(None));
        let lower = Credentials::from_lines(Some(b"bearer   a.b.c "), []);
        assert_eq!(lower.token(), Ok(Some("a.b.c")));
    }

    #[test]
    fn other_schemes_and_odd_bytes_are_unreadable() {
        for bad in [
            &b"Basic YTpi"[..],
            b"Bearer",
            b"Bearer a\xffb",
            b"Token abc",
        ] {
            let credentials = Credentials::from_lines(Some(bad), []);
            assert!(credentials.token().is_err(), "{bad:?}");
        }
        let similar = Credentials::from_lines(None, [&b"xsse_token=a; sse_tokens=b"[..]]);
        assert_eq!(similar.token(), Ok(None), "only the exact name");
    }

    #[test]
    fn a_token_in_the_query_is_found_under_any_of_its_names() {
        assert_eq!(
            token_in_query(Some("rooms=a&access_token=x")),
            Some("access_token")
        );
        assert_eq!(token_in_query(Some("JWT=x")), Some("jwt"));
        assert_eq!(token_in_query(Some("rooms=a&history=3")), None);
        assert_eq!(token_in_query(None), None);
        assert!(token_in_query_message("token").contains("RFC 9700"));
    }

    #[test]
    fn the_cookie_is_http_only_and_secure_where_it_must_be() {
        let plain = CookiePolicy {
            https: false,
            same_site: SameSite::Strict,
        };
        assert_eq!(
            plain.set("a.b.c", Duration::from_secs(600)),
            "sse_token=a.b.c; Path=/; Max-Age=600; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            plain.clear(),
            "sse_token=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        );
        let tls = CookiePolicy {
            https: true,
            ..plain
        };
        assert!(tls.set("t", Duration::ZERO).ends_with("; Secure"));
        let any_site = CookiePolicy {
            same_site: SameSite::None,
            ..plain
        };
        assert!(any_site.clear().ends_with("SameSite=None; Secure"));
    }
}
