//! What a page says about itself: its OpenGraph tags (`og:title`, `og:description`,
//! `og:site_name`, `og:image`), else its Twitter card's, else its `<title>` and meta
//! description, read with a real HTML parser. Texts are trimmed, their whitespace collapsed,
//! and cut to a length a preview can show.

use scraper::{Html, Selector};
use url::Url;

const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 500;
const MAX_SITE_CHARS: usize = 100;

/// A page's preview, as read from its HTML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub title: Option<String>,
    pub description: Option<String>,
    pub site_name: Option<String>,
    /// Its image's URL, made absolute against the page's (web URLs only).
    pub image: Option<Url>,
}

impl Page {
    /// Whether there is anything to show.
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none()
    }
}

/// Reads `html`, fetched from `base`.
pub fn read(html: &str, base: &Url) -> Page {
    let document = Html::parse_document(html);
    let (Ok(metas), Ok(titles)) = (Selector::parse("meta"), Selector::parse("title")) else {
        return Page::default();
    };
    // (og, twitter, plain) per field, first of each kind wins.
    let mut title: [Option<String>; 3] = Default::default();
    let mut description: [Option<String>; 3] = Default::default();
    let mut site_name = None;
    let mut image: [Option<String>; 2] = Default::default();
    for meta in document.select(&metas) {
        let element = meta.value();
        let key = element
            .attr("property")
            .or_else(|| element.attr("name"))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let Some(content) = element.attr("content").and_then(clean) else {
            continue;
        };
        let slot = match key.as_str() {
            "og:title" => &mut title[0],
            "twitter:title" => &mut title[1],
            "og:description" => &mut description[0],
            "twitter:description" => &mut description[1],
            "description" => &mut description[2],
            "og:site_name" => &mut site_name,
            "og:image" | "og:image:url" | "og:image:secure_url" => &mut image[0],
            "twitter:image" | "twitter:image:src" => &mut image[1],
            _ => continue,
        };
        slot.get_or_insert(content);
    }
    title[2] = document
        .select(&titles)
        .next()
        .and_then(|t| clean(&t.text().collect::<String>()));
    Page {
        title: first(title).map(|t| cut(t, MAX_TITLE_CHARS)),
        description: first(description).map(|d| cut(d, MAX_DESCRIPTION_CHARS)),
        site_name: site_name.map(|s| cut(s, MAX_SITE_CHARS)),
        image: first(image)
            .and_then(|i| base.join(&i).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https")),
    }
}

fn first<const N: usize>(options: [Option<String>; N]) -> Option<String> {
    options.into_iter().flatten().next()
}

/// Trimmed, whitespace collapsed, what no shown text may hold out (control characters, bidi
/// overrides: [`natter_schemas::text::shown`]); `None` when nothing is left.
fn clean(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let joined = natter_schemas::text::shown(&words.join(" "));
    let joined = joined.trim();
    (!joined.is_empty()).then(|| joined.to_owned())
}

fn cut(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text,
        Some((at, _)) => format!("{}…", text[..at].trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://news.example/a/b.html").expect("url")
    }

    #[test]
    fn opengraph_wins_over_title_and_description() {
        let page = read(
            r#"<html><head><title>Plain  title</title>
               <meta name="description" content="plain description">
               <meta property="og:title" content=" The &amp; OG
                  title ">
               <meta property="og:site_name" content="News">
               <meta property="og:image" content="/img/x.png">
               </head><body><meta property="og:title" content="late"></body></html>"#,
            &base(),
        );
        assert_eq!(page.title.as_deref(), Some("The & OG title"));
        assert_eq!(page.description.as_deref(), Some("plain description"));
        assert_eq!(page.site_name.as_deref(), Some("News"));
        assert_eq!(
            page.image.map(String::from).as_deref(),
            Some("https://news.example/img/x.png")
        );
    }

    #[test]
    fn a_pages_text_loses_what_no_shown_text_may_hold() {
        let page = read(
            "<html><head><meta property=\"og:title\" content=\"invoice\u{202E}fdp.exe\u{1b}[31m\">\
             <meta property=\"og:description\" content=\"a\u{202D}b\u{9b}c\">\
             </head></html>",
            &base(),
        );
        assert_eq!(page.title.as_deref(), Some("invoicefdp.exe[31m"));
        assert_eq!(page.description.as_deref(), Some("abc"));
    }

    #[test]
    fn falls_back_and_refuses_what_is_not_web() {
        let page = read(
            r#"<title>Only <b>a</b> title</title>
               <meta name="twitter:image" content="javascript:alert(1)">"#,
            &base(),
        );
        assert_eq!(page.title.as_deref(), Some("Only <b>a</b> title"));
        assert!(page.image.is_none());
        assert!(read("<p>nothing here</p>", &base()).is_empty());
    }

    #[test]
    fn long_texts_are_cut() {
        let long = "word ".repeat(300);
        let page = read(
            &format!(r#"<meta property="og:title" content="{long}">"#),
            &base(),
        );
        let title = page.title.expect("title");
        assert!(title.chars().count() <= MAX_TITLE_CHARS + 1);
        assert!(title.ends_with('…'));
    }
}
