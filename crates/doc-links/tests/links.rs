//! Every relative link of the repository's Markdown leads somewhere (`cargo test -p doc-links`),
//! and the check does fail on a small repository of broken ones.

use std::fs;
use std::path::{Path, PathBuf};

use doc_links::{Broken, Problem, check_tree};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_relative_link_of_the_repository_leads_somewhere() {
    let broken = check_tree(&repository_root()).expect("the repository is readable");
    let report: Vec<String> = broken.iter().map(Broken::to_string).collect();
    assert!(report.is_empty(), "broken links:\n{}", report.join("\n"));
}

#[test]
fn the_readme_and_the_book_are_among_the_files_checked() {
    let root = repository_root().canonicalize().expect("the root");
    let files = doc_links::markdown_files(&root).expect("the repository is readable");
    for file in ["README.md", "docs/src/SUMMARY.md", "docs/src/contract.md"] {
        assert!(files.contains(&root.join(file)), "{file} is checked");
    }
    assert!(!files.iter().any(|f| f.starts_with(root.join("target"))));
}

/// A repository of its own in the temporary folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, files: &[(&str, &str)]) -> Scratch {
        let root = std::env::temp_dir().join(format!("doc-links-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (path, text) in files {
            let path = root.join(path);
            fs::create_dir_all(path.parent().expect("a folder")).expect("a scratch folder");
            fs::write(path, text).expect("a scratch file");
        }
        Scratch(root)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn broken_links_are_each_found_with_their_line_and_reason() {
    let readme = "# Map\n\
                  [ok](docs/src/chapter.md#the-streams) [ok](crates/a/src/lib.rs)\n\
                  [`fn to_axum`](crates/a/src/lib.rs) [web](https://example.com/x)\n\
                  [gone](docs/src/gone.md)\n\
                  [`fn to_warp`](crates/a/src/lib.rs)\n\
                  [drifts](crates/a/src/lib.rs#L12)\n\
                  [no heading](docs/src/chapter.md#the-chat)\n\
                  [outside](../shared/CONTRACT.md)\n\
                  [root](/crates/a/src/lib.rs)\n\
                  [here](#map) [not here](#mop)\n";
    let scratch = Scratch::new(
        "broken",
        &[
            ("README.md", readme),
            (
                "docs/src/chapter.md",
                "# The streams\n[folder](../../crates/a/)\n[page](../../README.md#map)\n",
            ),
            ("crates/a/src/lib.rs", "fn to_axum() {}\n"),
        ],
    );
    let broken = check_tree(&scratch.0).expect("the scratch repository");
    let found: Vec<(usize, Problem)> = broken.into_iter().map(|b| (b.line, b.problem)).collect();
    assert_eq!(
        found,
        [
            (4, Problem::Missing(PathBuf::from("docs/src/gone.md"))),
            (5, Problem::NoSuchItem("to_warp".to_string())),
            (6, Problem::LineNumber),
            (7, Problem::NoSuchHeading("the-chat".to_string())),
            (8, Problem::OutsideRepository),
            (9, Problem::Absolute),
            (10, Problem::NoSuchHeading("mop".to_string())),
            // docs/src/chapter.md, after README.md
            (3, Problem::PageOutsideTheBook),
        ]
    );
}

#[test]
fn a_repository_whose_links_all_lead_somewhere_passes() {
    let scratch = Scratch::new(
        "whole",
        &[
            (
                "README.md",
                "# Map\n[book](docs/src/a.md) [`fn serve`](src/lib.rs)\n",
            ),
            (
                "docs/src/a.md",
                "# A\n![picture](img/p.png) [code](../../src/)\n",
            ),
            ("docs/src/img/p.png", "png"),
            ("src/lib.rs", "pub async fn serve() {}\n"),
        ],
    );
    assert_eq!(check_tree(&scratch.0).expect("the scratch repository"), []);
}
