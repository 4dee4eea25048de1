//! The contract chapter and the contract suite name the same cases: every case the suite runs
//! (the list in `contract_suite!`, `crates/contract-tests/src/lib.rs`) is cited in
//! `docs/src/contract.md`, linked to the file that holds it, and every case the chapter cites
//! from the suite's files is one the suite runs. The link test checks that each cited function
//! exists in its file.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use doc_links::markdown;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `module::case` for every case in the `contract_suite!` macro's list.
fn cases_the_suite_runs() -> BTreeSet<String> {
    let lib = fs::read_to_string(root().join("crates/contract-tests/src/lib.rs"))
        .expect("crates/contract-tests/src/lib.rs");
    let list = lib
        .split_once("contract_suite!(@cases")
        .and_then(|(_, rest)| rest.split_once(");"))
        .map(|(list, _)| list)
        .expect("the list of cases in contract_suite!");
    list.lines()
        .map(|line| line.trim().trim_end_matches([',', ';']))
        .filter(|line| line.contains("::") && !line.starts_with("//"))
        .map(str::to_owned)
        .collect()
}

/// `module::case` for every link of the chapter into the suite's own files.
fn cases_the_chapter_cites() -> BTreeSet<String> {
    let chapter = fs::read_to_string(root().join("docs/src/contract.md")).expect("the chapter");
    markdown::links(&chapter)
        .into_iter()
        .filter_map(|link| {
            let file = link
                .target
                .strip_prefix("../../crates/contract-tests/src/")?;
            let module = file.strip_suffix(".rs")?;
            Some(format!("{module}::{}", link.code?))
        })
        .collect()
}

#[test]
fn every_case_of_the_suite_is_cited_in_the_contract_and_every_citation_is_a_case() {
    let runs = cases_the_suite_runs();
    let cites = cases_the_chapter_cites();
    assert!(runs.len() > 50, "the suite's list was read: {runs:?}");
    let uncited: Vec<_> = runs.difference(&cites).collect();
    assert!(
        uncited.is_empty(),
        "cases the contract chapter does not name: {uncited:?}"
    );
    let unknown: Vec<_> = cites.difference(&runs).collect();
    assert!(
        unknown.is_empty(),
        "cited in the chapter, but not cases the suite runs: {unknown:?}"
    );
}
