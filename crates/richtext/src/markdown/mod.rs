//! Markdown: rendered to sanitised HTML, read for its text and its links.

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, TextMergeStream};
use uuid::Uuid;

/// The Markdown features natter renders: CommonMark, tables and strikethrough.
fn parser(source: &str) -> TextMergeStream<'_, Parser<'_>> {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    TextMergeStream::new(Parser::new_ext(source, options))
}

/// `source` rendered to HTML that is safe to insert into a page as it is (see the crate's
/// documentation for what it may hold). `mentions` are the users the body mentions, by their
/// username (any case) and id: each `@username` among them becomes
/// `<a class="mention" data-user-id="ID" href="#user-ID">@username</a>`.
pub fn to_html(source: &str, mentions: &[(&str, Uuid)]) -> String {
    let mut events: Vec<Event<'_>> = Vec::new();
    // Inside a link (or an image, which shows as one) text is not made into further links.
    let mut in_link = 0usize;
    let mut in_code = false;
    // The target of each open image and whether text was shown for it.
    let mut images: Vec<(CowStr<'_>, bool)> = Vec::new();
    for event in parser(source) {
        match event {
            // Raw HTML shows as the text it is.
            Event::Html(html) | Event::InlineHtml(html) => events.push(Event::Text(html)),
            Event::Start(Tag::HtmlBlock) => events.push(Event::Start(Tag::Paragraph)),
            Event::End(TagEnd::HtmlBlock) => events.push(Event::End(TagEnd::Paragraph)),
            // An image is a link to it: readers fetch nothing by looking.
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                in_link += 1;
                images.push((dest_url.clone(), false));
                events.push(Event::Start(Tag::Link {
                    link_type,
                    dest_url: no_fragment(dest_url),
                    title,
                    id,
                }));
            }
            Event::End(TagEnd::Image) => {
                in_link = in_link.saturating_sub(1);
                if let Some((dest, false)) = images.pop() {
                    events.push(Event::Text(dest));
                }
                events.push(Event::End(TagEnd::Link));
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                in_link += 1;
                events.push(Event::Start(Tag::Link {
                    link_type,
                    dest_url: no_fragment(dest_url),
                    title,
                    id,
                }));
            }
            Event::End(TagEnd::Link) => {
                in_link = in_link.saturating_sub(1);
                events.push(event);
            }
            Event::Start(Tag::CodeBlock(_)) => {
                in_code = true;
                events.push(event);
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                events.push(event);
            }
            Event::Text(text) => {
                if let Some(image) = images.last_mut() {
                    image.1 |= !text.is_empty();
                }
                if in_link > 0 || in_code {
                    events.push(Event::Text(text));
                } else {
                    linked_text(&text, mentions, &mut events);
                }
            }
            Event::Code(_) => {
                if let Some(image) = images.last_mut() {
                    image.1 = true;
                }
                events.push(event);
            }
            other => events.push(other),
        }
    }
    let mut html = String::with_capacity(source.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    sanitiser().clean(&html).to_string()
}

/// An author's link target, but a fragment (`#user-<id>` is how natter links a real mention,
/// which only the server writes): a link nobody can follow keeps its text and loses its
/// target.
fn no_fragment(dest: CowStr<'_>) -> CowStr<'_> {
    if dest.starts_with('#') {
        CowStr::Borrowed("")
    } else {
        dest
    }
}

/// Text with its bare URLs made links and its mentions made links to their users.
fn linked_text<'a>(text: &str, mentions: &[(&str, Uuid)], out: &mut Vec<Event<'a>>) {
    let mut at = 0;
    for url in crate::bare_urls(text) {
        mentioned_text(&text[at..url.start], mentions, out);
        let dest: CowStr<'a> = text[url.clone()].to_owned().into();
        out.push(Event::Start(Tag::Link {
            link_type: LinkType::Autolink,
            dest_url: dest.clone(),
            title: CowStr::Borrowed(""),
            id: CowStr::Borrowed(""),
        }));
        out.push(Event::Text(dest));
        out.push(Event::End(TagEnd::Link));
        at = url.end;
    }
    mentioned_text(&text[at..], mentions, out);
}

fn mentioned_text<'a>(text: &str, mentions: &[(&str, Uuid)], out: &mut Vec<Event<'a>>) {
    let mut at = 0;
    for (span, name) in crate::mention_spans(text) {
        let Some((_, id)) = mentions.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else {
            continue;
        };
        if at < span.start {
            out.push(Event::Text(text[at..span.start].to_owned().into()));
        }
        // The name is letters, digits, `_` and `-` only: nothing to escape.
        out.push(Event::InlineHtml(
            format!(r##"<a class="mention" data-user-id="{id}" href="#user-{id}">@{name}</a>"##)
                .into(),
        ));
        at = span.end;
    }
    if at < text.len() {
        out.push(Event::Text(text[at..].to_owned().into()));
    }
}

/// What rendered Markdown may hold: ammonia's safe defaults (no scripts, event handlers,
/// styles, forms or frames), without images, with links to the web and mail only.
fn sanitiser() -> &'static ammonia::Builder<'static> {
    static SANITISER: std::sync::LazyLock<ammonia::Builder<'static>> =
        std::sync::LazyLock::new(|| {
            let mut builder = ammonia::Builder::default();
            builder
                .rm_tags(["img"])
                .url_schemes(["http", "https", "mailto"].into())
                .url_relative(ammonia::UrlRelative::Custom(Box::new(only_mention_links)))
                .link_rel(Some("noopener nofollow noreferrer"))
                .add_tag_attributes("a", ["data-user-id"])
                .add_allowed_classes("a", ["mention"]);
            builder
        });
    &SANITISER
}

/// Relative URLs are refused, but for the fragments that name a mentioned user.
fn only_mention_links(url: &str) -> Option<std::borrow::Cow<'_, str>> {
    let id = url.strip_prefix("#user-")?;
    Uuid::parse_str(id).is_ok().then_some(url.into())
}

/// The text a Markdown body shows, as the search index reads it: words without their markup,
/// blocks apart, link targets left out.
pub fn to_text(source: &str) -> String {
    let mut text = String::with_capacity(source.len());
    for event in parser(source) {
        match event {
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                text.push_str(&t);
            }
            Event::SoftBreak | Event::HardBreak | Event::Rule => text.push('\n'),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::TableRow
                | TagEnd::TableHead,
            ) => text.push('\n'),
            Event::End(TagEnd::TableCell) => text.push(' '),
            _ => {}
        }
    }
    let kept = text.trim_end().len();
    text.truncate(kept);
    text
}

/// The web links of a Markdown body (see [`crate::links`]).
pub(crate) fn links(source: &str, found: &mut Vec<String>, max: usize) {
    let mut in_link = 0usize;
    let mut in_code = false;
    for event in parser(source) {
        match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                in_link += 1;
                crate::push_link(found, &dest_url, max);
            }
            Event::End(TagEnd::Link | TagEnd::Image) => in_link = in_link.saturating_sub(1),
            Event::Start(Tag::CodeBlock(_)) => in_code = true,
            Event::End(TagEnd::CodeBlock) => in_code = false,
            Event::Text(t) if in_link == 0 && !in_code => {
                for url in crate::bare_urls(&t) {
                    crate::push_link(found, &t[url], max);
                }
            }
            _ => {}
        }
        if found.len() >= max {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
