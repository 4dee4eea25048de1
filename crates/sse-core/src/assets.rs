//! The page and its assets, compiled into the binary so that a server serves the same bytes from
//! any working directory, or when the binary is copied elsewhere. Edit the files in `static/`;
//! cargo rebuilds when they change.

/// A file to send, with its `Content-Type` and the headers that go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The file's bytes.
    pub body: &'static [u8],
    /// Headers to send with it: [`PAGE_HEADERS`] or [`COMPARE_HEADERS`] for a page, [`NOSNIFF`]
    /// for a script or a style sheet.
    pub headers: &'static [(&'static str, &'static str)],
}

/// The browser must take the `Content-Type` at its word (no sniffing a script out of text).
pub const NOSNIFF: [(&str, &str); 1] = [("x-content-type-options", "nosniff")];

/// The demo page: scripts and styles from this server only, never inline (so an injected
/// `<script>` would not run), requests to this server only, no forms posted elsewhere, and no
/// other site may frame it (clickjacking).
pub const PAGE_HEADERS: [(&str, &str); 2] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    NOSNIFF[0],
];

/// `/compare`: the same, except that it reads the streams of the servers on the other ports.
pub const COMPARE_HEADERS: [(&str, &str); 2] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self' http: https:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
    ),
    NOSNIFF[0],
];

macro_rules! static_file {
    ($name:literal, $content_type:literal, $headers:expr) => {
        (
            $name,
            Asset {
                content_type: $content_type,
                body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../static/", $name)),
                headers: &$headers,
            },
        )
    };
}

/// Every file under `static/`, by name.
const FILES: [(&str, Asset); 8] = [
    static_file!("index.html", "text/html; charset=utf-8", PAGE_HEADERS),
    static_file!("compare.html", "text/html; charset=utf-8", COMPARE_HEADERS),
    static_file!("app.js", "text/javascript; charset=utf-8", NOSNIFF),
    static_file!("rooms.js", "text/javascript; charset=utf-8", NOSNIFF),
    static_file!("identity.js", "text/javascript; charset=utf-8", NOSNIFF),
    static_file!("compare.js", "text/javascript; charset=utf-8", NOSNIFF),
    static_file!("assistant.js", "text/javascript; charset=utf-8", NOSNIFF),
    static_file!("style.css", "text/css; charset=utf-8", NOSNIFF),
];

/// The demo page, `GET /`.
pub fn index() -> Asset {
    FILES[0].1
}

/// The side-by-side page, `GET /compare`.
pub fn compare() -> Asset {
    FILES[1].1
}

/// The asset served at `/static/{name}`, if there is one.
pub fn get(name: &str) -> Option<Asset> {
    FILES
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, asset)| *asset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_assets_are_embedded() {
        assert!(index().body.starts_with(b"<!doctype html>"));
        assert!(compare().body.starts_with(b"<!doctype html>"));
        assert!(get("compare.js").is_some());
        assert_eq!(
            get("app.js").map(|a| a.content_type),
            Some("text/javascript; charset=utf-8")
        );
        assert!(get("style.css").is_some());
        assert!(get("../Cargo.toml").is_none() && get("").is_none());
    }
}
