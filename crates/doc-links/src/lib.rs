//! The book checks itself: every relative link in the repository's Markdown (`README.md`,
//! the book in `docs/src`, the workshop's pages) leads to a file of this repository, a heading
//! it names exists, and an item it names exists in the file. Code is named by path and item,
//! `` [`fn to_axum`](crates/server-axum/src/lib.rs) ``, never by line number.
//!
//! `cargo test -p doc-links` runs it on the repository (`tests/links.rs`); the chapter that
//! says how to link is the book's layout chapter, `docs/src/layout.md`.

pub mod markdown;
pub mod target;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use target::Problem;

/// A link that leads nowhere, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The Markdown file, relative to the root.
    pub file: PathBuf,
    /// Its line, from 1.
    pub line: usize,
    /// The link as written.
    pub target: String,
    /// What is wrong with it.
    pub problem: Problem,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (file, line, target) = (self.file.display(), self.line, &self.target);
        write!(f, "{file}:{line}: ({target}): {}", self.problem)
    }
}

/// The book's chapters, which mdBook builds into web pages.
pub const BOOK: &str = "docs/src";

/// Folders that hold no sources of ours: builds, dependencies, the built book, git itself.
const SKIPPED: [&str; 4] = ["target", "node_modules", "book", ".git"];

/// Every Markdown file under `root`, sorted, outside the folders that hold no sources of ours
/// (`target`, `node_modules`, the built `book`, `.git`).
pub fn markdown_files(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if !SKIPPED.contains(&name) {
                    folders.push(path);
                }
            } else if name.ends_with(".md") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The broken links of one Markdown file under `root`.
pub fn check_file(root: &Path, file: &Path) -> io::Result<Vec<Broken>> {
    let text = fs::read_to_string(file)?;
    let from_dir = file.parent().unwrap_or(root);
    let relative = file.strip_prefix(root).unwrap_or(file).to_path_buf();
    let book = root.join(BOOK);
    let broken = markdown::links(&text)
        .into_iter()
        .filter_map(|link| {
            // A link to a heading of this same file is checked against this file.
            let within = if link.target.starts_with('#') {
                file
            } else {
                from_dir
            };
            let problem = match target::check(root, within, &link) {
                Err(problem) => problem,
                Ok(()) if target::leaves_the_book(root, &book, from_dir, &link) => {
                    Problem::PageOutsideTheBook
                }
                Ok(()) => return None,
            };
            Some(Broken {
                file: relative.clone(),
                line: link.line,
                target: link.target,
                problem,
            })
        })
        .collect();
    Ok(broken)
}

/// The broken links of every Markdown file of the repository at `root`.
pub fn check_tree(root: &Path) -> io::Result<Vec<Broken>> {
    let root = root.canonicalize()?;
    let mut broken = Vec::new();
    for file in markdown_files(&root)? {
        broken.extend(check_file(&root, &file)?);
    }
    Ok(broken)
}
