//! How a message's body is written, and what readers derive from it: the log keeps the source;
//! readers render it (see `natter-richtext`).

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How a body is written: `plain` text (the default) or `markdown`, which message objects also
/// carry rendered as sanitised `html`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Plain,
    Markdown,
}

impl Format {
    pub fn is_plain(&self) -> bool {
        *self == Self::Plain
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Markdown => "markdown",
        }
    }

    /// Reads a stored name back; anything unknown is plain.
    pub fn from_name(name: Option<&str>) -> Self {
        match name {
            Some("markdown") => Self::Markdown,
            _ => Self::Plain,
        }
    }

    fn rich(self) -> natter_richtext::Format {
        match self {
            Self::Plain => natter_richtext::Format::Plain,
            Self::Markdown => natter_richtext::Format::Markdown,
        }
    }
}

/// The HTML a message object carries: for Markdown, the body rendered and sanitised, with the
/// `mentions` named in `mention_names` (same order) made links to their users; `None` for plain
/// text.
pub fn html(
    body: &str,
    format: Format,
    mentions: &[Uuid],
    mention_names: &[String],
) -> Option<String> {
    match format {
        Format::Plain => None,
        Format::Markdown => {
            let pairs: Vec<(&str, Uuid)> = mention_names
                .iter()
                .map(String::as_str)
                .zip(mentions.iter().copied())
                .collect();
            Some(natter_richtext::markdown::to_html(body, &pairs))
        }
    }
}

/// The text of a body as search indexes it: what it shows, without markup.
pub fn searchable(body: &str, format: Format) -> Cow<'_, str> {
    match format {
        Format::Plain => Cow::Borrowed(body),
        Format::Markdown => Cow::Owned(natter_richtext::markdown::to_text(body)),
    }
}

/// The first `max` web links of a body, in order (for link previews and `has=link`).
pub fn links(body: &str, format: Format, max: usize) -> Vec<String> {
    natter_richtext::links(body, format.rich(), max)
}

/// The two bidi overrides (U+202D, U+202E), which force a direction on everything up to the
/// next pop: never needed in prose (isolates and marks are), only to disguise it
/// (`invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`).
pub fn is_override(c: char) -> bool {
    matches!(c, '\u{202D}' | '\u{202E}')
}

/// Characters that reorder or hide text without showing: bidi marks, embeddings, overrides and
/// isolates, zero-width characters, the byte-order mark.
pub fn is_format_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// The one rule for text people are shown that natter did not check as it came in (a page's
/// title, a `User-Agent`): no control characters and no overrides, as a body may hold
/// neither; `\n` and `\t` as spaces.
pub fn shown(text: &str) -> String {
    text.chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .filter(|c| !c.is_control() && !is_override(*c))
        .collect()
}
