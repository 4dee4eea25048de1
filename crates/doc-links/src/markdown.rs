//! What a Markdown file links to, and the anchors its headings make, read as CommonMark with the
//! extensions mdBook and GitHub both turn on (tables, footnotes, strikethrough, task lists).

use std::collections::HashSet;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// One link or image, where it is and what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The line of the file it starts on, from 1.
    pub line: usize,
    /// Where it leads, as written (reference links already resolved).
    pub target: String,
    /// Its text when that text is one code span and nothing else (`` [`fn to_axum`](...) ``):
    /// the name of the item it points at.
    pub code: Option<String>,
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// Every link and image in `markdown`, in order.
pub fn links(markdown: &str) -> Vec<Link> {
    let mut links = Vec::new();
    // The link being read, and the pieces of its text: (is code, text).
    let mut open: Option<(Link, Vec<(bool, String)>)> = None;
    for (event, range) in Parser::new_ext(markdown, options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                let line = markdown[..range.start].matches('\n').count() + 1;
                let link = Link {
                    line,
                    target: dest_url.to_string(),
                    code: None,
                };
                open = Some((link, Vec::new()));
            }
            Event::Code(code) => {
                if let Some((_, pieces)) = open.as_mut() {
                    pieces.push((true, code.to_string()));
                }
            }
            Event::Text(text) => {
                if let Some((_, pieces)) = open.as_mut() {
                    pieces.push((false, text.to_string()));
                }
            }
            Event::End(TagEnd::Link | TagEnd::Image) => {
                if let Some((mut link, pieces)) = open.take() {
                    if let [(true, code)] = pieces.as_slice() {
                        link.code = Some(code.clone());
                    }
                    links.push(link);
                }
            }
            _ => {}
        }
    }
    links
}

/// The anchors of `markdown`'s headings, as mdBook and GitHub make them: an explicit
/// `{#id}`, or the heading's text through [`slug`], with `-1`, `-2`, ... for a repeat.
pub fn anchors(markdown: &str) -> HashSet<String> {
    let mut anchors = HashSet::new();
    let mut heading: Option<(Option<String>, String)> = None;
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Start(Tag::Heading { id, .. }) => {
                heading = Some((id.map(|id| id.to_string()), String::new()));
            }
            Event::Text(text) | Event::Code(text) => {
                if let Some((_, words)) = heading.as_mut() {
                    words.push_str(&text);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((id, words)) = heading.take() {
                    let base = id.unwrap_or_else(|| slug(&words));
                    let mut anchor = base.clone();
                    let mut repeat = 0;
                    while !anchors.insert(anchor.clone()) {
                        repeat += 1;
                        anchor = format!("{base}-{repeat}");
                    }
                }
            }
            _ => {}
        }
    }
    anchors
}

/// A heading's anchor: lower case, spaces to hyphens, and only letters, digits, `-` and `_`
/// kept ("`retry`, spread so a restart" gives `retry-spread-so-a-restart`).
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_lowercase().collect()),
            c if c.is_whitespace() => Some("-".to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_text_tables_and_references_are_found_with_their_lines() {
        let markdown = "# Title\n\nSee [the core](crates/a.rs).\n\n| a | b |\n|---|---|\n| \
                        [`fn to_axum`][axum] | ![chart](img/c.svg) |\n\n[axum]: crates/b.rs\n";
        let found = links(markdown);
        let targets: Vec<_> = found.iter().map(|l| (l.line, l.target.as_str())).collect();
        assert_eq!(
            targets,
            [(3, "crates/a.rs"), (7, "crates/b.rs"), (7, "img/c.svg")]
        );
        assert_eq!(found[0].code, None);
        assert_eq!(found[1].code.as_deref(), Some("fn to_axum"));
    }

    #[test]
    fn anchors_follow_the_heading_text_and_number_repeats() {
        let markdown = "# `retry`, spread so a restart is not a stampede\n## Ids at the edges\n\
                        ## Ids at the edges\n### Explicit {#chosen}\n";
        let found = anchors(markdown);
        for anchor in [
            "retry-spread-so-a-restart-is-not-a-stampede",
            "ids-at-the-edges",
            "ids-at-the-edges-1",
            "chosen",
        ] {
            assert!(found.contains(anchor), "{anchor} in {found:?}");
        }
    }
}
