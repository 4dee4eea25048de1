//! Whether one relative link leads somewhere: the file exists inside the repository, a heading
//! it names exists in it, and an item it names (`` [`fn to_axum`](crates/server-axum/src/lib.rs) ``)
//! is defined there. A line number (`#L171`) is refused: it drifts with every edit above it.

use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::markdown::{self, Link};

/// What is wrong with a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file or folder it leads to does not exist.
    Missing(PathBuf),
    /// It leads out of the repository (every clone would have a dead link).
    OutsideRepository,
    /// A path from the root of a web site (`/crates/...`), which means nothing in a clone.
    Absolute,
    /// `#L171`: a line number, which drifts.
    LineNumber,
    /// A `#heading` the Markdown file does not have.
    NoSuchHeading(String),
    /// An anchor into a file that has no headings to point at.
    AnchorIntoCode(String),
    /// The item the link's text names is not in the file.
    NoSuchItem(String),
    /// A chapter of the book links to a Markdown page outside the book: mdBook turns the link
    /// into one to an `.html` page that is never built.
    PageOutsideTheBook,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing(path) => write!(f, "{} does not exist", path.display()),
            Problem::OutsideRepository => f.write_str("it leads outside the repository"),
            Problem::Absolute => f.write_str("an absolute path; write it relative to this file"),
            Problem::LineNumber => f.write_str(
                "a line number drifts with every edit: name the item instead, \
                 [`fn name`](path/to/file.rs)",
            ),
            Problem::NoSuchHeading(anchor) => write!(f, "no heading makes #{anchor} there"),
            Problem::AnchorIntoCode(anchor) => {
                write!(f, "#{anchor}: only Markdown files have anchors")
            }
            Problem::NoSuchItem(name) => write!(f, "`{name}` is not in that file"),
            Problem::PageOutsideTheBook => f.write_str(
                "the built book would link to an .html page that does not exist: \
                 link to the folder instead (GitHub shows its README)",
            ),
        }
    }
}

/// Kinds of item a link's text may name, as in `fn to_axum` or `struct KeepAlive`.
const KINDS: [&str; 9] = [
    "fn",
    "struct",
    "enum",
    "trait",
    "const",
    "static",
    "type",
    "mod",
    "macro_rules!",
];

/// Checks `link`, found in a file in `from_dir`, against the repository at `root`; for a link
/// to a heading of the same file (`#anchor`), `from_dir` is that file. Links with a scheme
/// (`https:`, `mailto:`) are not this check's business.
pub fn check(root: &Path, from_dir: &Path, link: &Link) -> Result<(), Problem> {
    let target = link.target.as_str();
    if has_scheme(target) {
        return Ok(());
    }
    if target.starts_with('/') {
        return Err(Problem::Absolute);
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        from_dir.to_path_buf()
    } else {
        resolve(root, from_dir, path)?
    };
    let text = if file.is_file() {
        fs::read_to_string(&file).ok()
    } else {
        None
    };
    if let Some(anchor) = anchor {
        check_anchor(&file, text.as_deref(), anchor)?;
    }
    match (&link.code, text) {
        (Some(code), Some(text)) if file.extension().is_some_and(|e| e == "rs") => {
            check_item(code, &text)
        }
        _ => Ok(()),
    }
}

/// Whether `link`, in a chapter of the book in `from_dir`, leads to a Markdown page of the
/// repository at `root` outside the book's sources, `book`.
pub fn leaves_the_book(root: &Path, book: &Path, from_dir: &Path, link: &Link) -> bool {
    let path = link.target.split('#').next().unwrap_or_default();
    if has_scheme(path) || !path.ends_with(".md") || !from_dir.starts_with(book) {
        return false;
    }
    resolve(root, from_dir, path).is_ok_and(|page| !page.starts_with(book))
}

/// `https://...`, `mailto:...`: a scheme before any `/`.
fn has_scheme(target: &str) -> bool {
    match target.find(':') {
        Some(colon) => !target[..colon].contains('/'),
        None => false,
    }
}

/// `path` from `from_dir`, with `..` taken lexically, and refused if it leaves `root`.
fn resolve(root: &Path, from_dir: &Path, path: &str) -> Result<PathBuf, Problem> {
    let mut resolved = PathBuf::new();
    for component in from_dir.join(path).components() {
        match component {
            Component::ParentDir => {
                if !resolved.pop() {
                    return Err(Problem::OutsideRepository);
                }
            }
            Component::CurDir => {}
            other => resolved.push(other),
        }
    }
    if !resolved.starts_with(root) {
        return Err(Problem::OutsideRepository);
    }
    if !resolved.exists() {
        let shown = resolved
            .strip_prefix(root)
            .unwrap_or(&resolved)
            .to_path_buf();
        return Err(Problem::Missing(shown));
    }
    Ok(resolved)
}

/// `#anchor` on `file`, whose `text` was read when it is a file: a heading of a Markdown file,
/// never a line number.
fn check_anchor(file: &Path, text: Option<&str>, anchor: &str) -> Result<(), Problem> {
    let is_markdown = file.extension().is_some_and(|e| e == "md");
    if anchor.len() > 1
        && anchor.starts_with('L')
        && anchor[1..].starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(Problem::LineNumber);
    }
    if !is_markdown {
        return Err(Problem::AnchorIntoCode(anchor.to_string()));
    }
    if text.is_some_and(|text| markdown::anchors(text).contains(anchor)) {
        Ok(())
    } else {
        Err(Problem::NoSuchHeading(anchor.to_string()))
    }
}

/// The item a link's code text names, in the Rust source `text`:
/// - `fn to_axum`, `struct KeepAlive`: that definition;
/// - a bare name, `to_axum` or `KeepAlive`: a definition of any kind;
/// - a path or a call, `Body::from_stream`, `h1_allow_half_closed(false)`: its last name
///   appears in the file (it belongs to a framework, and this file uses it).
///
/// Code text that is a file's name (`descriptors.rs`, `crates/sse-cli`) names no item.
fn check_item(code: &str, text: &str) -> Result<(), Problem> {
    let code = code.trim();
    if code.contains('/') || code.ends_with(".rs") {
        return Ok(());
    }
    if let Some((kind, name)) = code.split_once(' ')
        && KINDS.contains(&kind)
    {
        return found(defines(text, kind, name.trim()), name);
    }
    if !code.is_empty() && code.chars().all(is_ident) {
        return found(KINDS.iter().any(|kind| defines(text, kind, code)), code);
    }
    let path: String = code
        .chars()
        .take_while(|&c| is_ident(c) || c == ':' || c == '.')
        .collect();
    match path.rsplit([':', '.']).find(|name| !name.is_empty()) {
        Some(name) => found(has_word(text, name), name),
        // Not a name at all (`path!("static" / String)` starts with one; `/` would not): only
        // the file is checked.
        None => Ok(()),
    }
}

fn found(yes: bool, name: &str) -> Result<(), Problem> {
    if yes {
        Ok(())
    } else {
        Err(Problem::NoSuchItem(name.to_string()))
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `kind name` as whole words in `text`: `fn to_axum(` yes, `fn to_axum_too(` no.
fn defines(text: &str, kind: &str, name: &str) -> bool {
    has_word(text, &format!("{kind} {name}"))
}

/// `word` in `text` with no identifier character just before or after it.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "pub fn app() {}\nfn to_axum(event: Event) {}\nstruct KeepAlive;\n\
                          fn serve() { builder.h1_allow_half_closed(false); Body::from_stream(s) }\n";

    #[test]
    fn items_are_found_by_kind_by_name_and_by_their_last_name() {
        for code in [
            "fn to_axum",
            "to_axum",
            "struct KeepAlive",
            "KeepAlive",
            "Body::from_stream",
            "h1_allow_half_closed(false)",
            "builder.h1_allow_half_closed",
            "lib.rs",
            "crates/server-axum/src/lib.rs",
        ] {
            assert_eq!(check_item(code, SOURCE), Ok(()), "{code}");
        }
    }

    #[test]
    fn items_that_are_not_there_are_named() {
        for (code, missing) in [
            ("fn to_actix", "to_actix"),
            ("fn to_ax", "to_ax"),
            ("struct app", "app"),
            ("to_warp", "to_warp"),
            ("Body::into_data_stream", "into_data_stream"),
        ] {
            let problem = Problem::NoSuchItem(missing.to_string());
            assert_eq!(check_item(code, SOURCE), Err(problem), "{code}");
        }
    }

    #[test]
    fn schemes_are_left_alone_and_paths_are_not_mistaken_for_them() {
        assert!(has_scheme("https://html.spec.whatwg.org/"));
        assert!(has_scheme("mailto:someone@example.com"));
        assert!(!has_scheme("crates/a.rs"));
        assert!(!has_scheme("docs/a:b.md"));
    }

    #[test]
    fn leaving_the_root_is_refused_even_through_a_folder_that_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let from = root.join("src");
        assert_eq!(
            resolve(root, &from, "../../x"),
            Err(Problem::OutsideRepository)
        );
        assert_eq!(
            resolve(root, &from, "../src/../../../x"),
            Err(Problem::OutsideRepository)
        );
        assert_eq!(resolve(root, &from, "lib.rs"), Ok(root.join("src/lib.rs")));
        let missing = Problem::Missing(PathBuf::from("src/nothing.rs"));
        assert_eq!(resolve(root, &from, "nothing.rs"), Err(missing));
    }
}
