//! Markdown's tests: what renders, what is sanitised away, what a body shows as text.

use uuid::Uuid;

use super::{to_html, to_text};
use crate::{Format, links};

fn html(source: &str) -> String {
    to_html(source, &[])
}

const REL: &str = r#"rel="noopener nofollow noreferrer""#;

#[test]
fn markdown_renders() {
    assert_eq!(
        html("**bold** _it_ ~~no~~ `co<de>`"),
        "<p><strong>bold</strong> <em>it</em> <del>no</del> <code>co&lt;de&gt;</code></p>\n"
    );
    assert!(html("# Title\n\n- a\n- b\n\n```\nx < y\n```").contains("<li>a</li>"));
    assert!(html("| a | b |\n|---|---|\n| 1 | 2 |").contains("<td>1</td>"));
}

#[test]
fn raw_html_shows_as_text() {
    for attack in [
        "<script>alert(1)</script>",
        "hi <img src=x onerror=alert(1)>",
        "<div style=\"position:fixed\">x</div>",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<iframe src=\"https://evil.example\"></iframe>",
        "<svg onload=alert(1)>",
    ] {
        let out = html(attack);
        for tag in ["<script", "<img", "<div", "<iframe", "<svg", "<a "] {
            assert!(!out.contains(tag), "{attack} -> {out}");
        }
        assert!(out.contains("&lt;"), "{attack} -> {out}");
    }
}

#[test]
fn links_are_safe() {
    let out = html(
        "[x](javascript:alert(1)) [y](data:text/html,hi) [z](/v1/admin) \
         [w](https://ok.example/a?b=1&c=2)",
    );
    assert!(!out.contains("javascript:"), "{out}");
    assert!(!out.contains("data:"), "{out}");
    assert!(!out.contains("/v1/admin"), "{out}");
    let safe = format!(r#"<a href="https://ok.example/a?b=1&amp;c=2" {REL}>w</a>"#);
    assert!(out.contains(&safe), "{out}");
    let autolinked = html("see https://ok.example/x.");
    let bare = format!(r#"<a href="https://ok.example/x" {REL}>https://ok.example/x</a>."#);
    assert!(autolinked.contains(&bare), "{autolinked}");
    // A title cannot break out of its attribute.
    let titled = html(r#"[t](https://ok.example "a\" onmouseover=\"alert(1)")"#);
    assert!(!titled.contains("\" onmouseover"), "{titled}");
    assert!(titled.contains("&quot; onmouseover"), "{titled}");
}

#[test]
fn images_are_links_to_them() {
    let out = html("![a cat](https://cats.example/c.png) ![](https://cats.example/d.png)");
    assert!(!out.contains("<img"), "{out}");
    assert!(out.contains(">a cat</a>"), "{out}");
    assert!(out.contains(">https://cats.example/d.png</a>"), "{out}");
}

#[test]
fn mentions_are_links_to_their_users() {
    let alice = Uuid::now_v7();
    let out = to_html(
        "hi @Alice and @bob, `@alice` [@alice](https://x.example)",
        &[("alice", alice)],
    );
    let link = format!(
        r##"<a class="mention" data-user-id="{alice}" href="#user-{alice}" {REL}>@Alice</a>"##
    );
    assert!(out.contains(&link), "{out}");
    assert_eq!(out.matches("class=\"mention\"").count(), 1, "{out}");
    assert!(out.contains("and @bob,"), "{out}");
    // A hand-written link to a user's fragment is not a mention, nor kept.
    for forged in [
        html(&format!("[@admin](#user-{alice})")),
        html(&format!("![@admin](#user-{alice})")),
        to_html(
            &format!("[@alice](#user-{alice}) @alice"),
            &[("alice", alice)],
        ),
    ] {
        assert_eq!(
            forged.matches("#user-").count(),
            forged.matches("class=\"mention\"").count(),
            "{forged}"
        );
        assert!(
            forged.contains("@admin") || forged.contains("@alice"),
            "{forged}"
        );
    }
    assert!(!html(&format!("[x](#user-{alice})")).contains("#user-"));
}

#[test]
fn text_is_what_shows() {
    assert_eq!(
        to_text("# Plan\n\n**ship** [the docs](https://secret.example/path) `now`\n\n- a\n- b"),
        "Plan\nship the docs now\na\nb"
    );
    assert_eq!(to_text("<b>raw</b>"), "<b>raw</b>");
}

#[test]
fn markdown_links_leave_code_out() {
    let body = "[a](https://a.example) `https://code.example` https://b.example\n\n\
                ```\nhttps://block.example\n```\n\n![i](http://c.example/i.png)";
    assert_eq!(
        links(body, Format::Markdown, 5),
        [
            "https://a.example",
            "https://b.example",
            "http://c.example/i.png"
        ]
    );
    assert!(links("[x](mailto:me@example.com)", Format::Markdown, 5).is_empty());
}
