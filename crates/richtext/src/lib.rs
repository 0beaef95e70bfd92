//! Rich text for natter. A message's body is its source: plain text, or Markdown. From it,
//! readers derive what they show and index:
//!
//! - [`markdown::to_html`]: Markdown rendered (CommonMark with tables and strikethrough) and
//!   sanitised: no raw HTML (it shows as text), no scripts, event handlers, styles or images
//!   (an image shows as a link to it, so that readers never fetch a third party's URL just by
//!   looking), links only to `http`, `https` and `mailto` with `rel="noopener nofollow
//!   noreferrer"`, bare URLs made links, and mentions made links to their users.
//! - [`markdown::to_text`]: the text a Markdown body shows, for the search index.
//! - [`links`]: the web links of a body, in order, for link previews and `has=link`.
//! - [`mention_spans`]: where a body names someone with `@username`.

pub mod markdown;

use std::ops::Range;

/// `text` folded for matching names: lowercase, without accents (`Zoë` and `zoe` match), one
/// space between words.
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = text
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How a body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Plain,
    Markdown,
}

/// The web (`http`, `https`) links of a body, in order, each once, at most `max`. In Markdown,
/// the targets of its links and the bare URLs in its text, but nothing inside code.
pub fn links(body: &str, format: Format, max: usize) -> Vec<String> {
    let mut found = Vec::new();
    match format {
        Format::Plain => {
            for url in bare_urls(body) {
                push_link(&mut found, &body[url], max);
            }
        }
        Format::Markdown => markdown::links(body, &mut found, max),
    }
    found
}

fn push_link(found: &mut Vec<String>, url: &str, max: usize) {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let web = lower.starts_with("http://") || lower.starts_with("https://");
    if web && found.len() < max && !found.iter().any(|f| f == url) {
        found.push(url.to_owned());
    }
}

/// Where `text` holds a URL with a scheme (`https://example.com/a`, trailing punctuation left
/// out), in order.
pub fn bare_urls(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut finder = linkify::LinkFinder::new();
    finder
        .kinds(&[linkify::LinkKind::Url])
        .url_must_have_scheme(true);
    finder.links(text).filter_map(|link| {
        let url = link.as_str().to_ascii_lowercase();
        (url.starts_with("http://") || url.starts_with("https://") || url.starts_with("mailto:"))
            .then(|| link.start()..link.end())
    })
}

/// Where `text` names someone: `@` at its start or after a character that is not part of a
/// word, followed by a username of 3 to 32 letters, digits, `_` or `-` (a trailing `-` is not
/// part of it). Yields each span (the `@` included) and the name as written.
pub fn mention_spans(text: &str) -> impl Iterator<Item = (Range<usize>, &str)> + '_ {
    let mut prev: Option<char> = None;
    text.char_indices().filter_map(move |(i, c)| {
        let starts = c == '@' && !prev.is_some_and(|p| p.is_alphanumeric() || p == '_' || p == '@');
        prev = Some(c);
        if !starts {
            return None;
        }
        let rest = &text[i + 1..];
        let len = rest
            .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'))
            .unwrap_or(rest.len());
        let name = rest[..len].trim_end_matches('-');
        (3..=32)
            .contains(&name.len())
            .then(|| (i..i + 1 + name.len(), name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_case_and_accents() {
        assert_eq!(fold("  Zoë  ÅNGSTRÖM "), "zoe angstrom");
        assert_eq!(fold("Ｂｏｂ"), "bob");
        assert_eq!(fold("José-María"), "jose-maria");
    }

    #[test]
    fn mentions_are_words_after_an_at_sign() {
        let text = "hi @Alice and @bob_2, mail me@example.com @al (@carol) @dave-";
        let names: Vec<&str> = mention_spans(text).map(|(_, n)| n).collect();
        assert_eq!(names, ["Alice", "bob_2", "carol", "dave"]);
        let (span, _) = mention_spans(text).next().expect("a mention");
        assert_eq!(&text[span], "@Alice");
    }

    #[test]
    fn plain_links_are_web_urls_in_order_once() {
        let body = "see https://a.example/x. and (http://b.example/y) https://a.example/x \
                    mailto:me@example.com ftp://c.example/ www.d.example";
        assert_eq!(
            links(body, Format::Plain, 5),
            ["https://a.example/x", "http://b.example/y"]
        );
        assert_eq!(links(body, Format::Plain, 1), ["https://a.example/x"]);
        assert!(links("no links here, just http:// and https", Format::Plain, 5).is_empty());
    }
}
