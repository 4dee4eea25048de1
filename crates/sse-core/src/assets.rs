//! The page and its assets, compiled into the binary so that a server serves the same bytes from
//! any working directory, or when the binary is copied elsewhere. Edit the files in `static/`;
//! cargo rebuilds when they change.

/// A file to send, with its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The file's bytes.
    pub body: &'static [u8],
}

macro_rules! static_file {
    ($name:literal, $content_type:literal) => {
        (
            $name,
            Asset {
                content_type: $content_type,
                body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../static/", $name)),
            },
        )
    };
}

/// Every file under `static/`, by name.
const FILES: [(&str, Asset); 5] = [
    static_file!("index.html", "text/html; charset=utf-8"),
    static_file!("compare.html", "text/html; charset=utf-8"),
    static_file!("app.js", "text/javascript; charset=utf-8"),
    static_file!("compare.js", "text/javascript; charset=utf-8"),
    static_file!("style.css", "text/css; charset=utf-8"),
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
