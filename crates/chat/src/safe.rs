//! Text the terminal client did not write, made safe to print: a message, a name, a room's
//! name, a file's name, a status or a preview can hold anything an older server (or the log)
//! kept, and a terminal acts on control characters (ESC starts sequences that colour, move the
//! cursor or set the window's title; U+009B is CSI to many terminals; CR returns to the line's
//! start; bidi controls reorder what follows).
//!
//! Every line goes through [`line`] on its way out ([`crate::session`]'s `say` and its
//! prompt); text of others' that may span lines goes through [`text`] where a line is built,
//! so that a newline in it starts an indented continuation and no body can pass for a line of
//! someone else's.

/// What a continuation line of someone's text starts with.
pub const INDENT: &str = "    ";

/// `s` with every control character made visible, but tab and newline: C0 as `^X` (ESC is
/// `^[`, CR `^M`), DEL as `^?`, C1 and the bidi and invisible format characters as their code
/// point (`<U+009B>`).
pub fn line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_visible(&mut out, c);
    }
    out
}

/// Someone's text inside a line: as [`line`], and each newline in it starts an indented
/// continuation line.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\n' {
            out.push('\n');
            out.push_str(INDENT);
        } else {
            push_visible(&mut out, c);
        }
    }
    out
}

/// Someone's text on one line (titles, the prompt): as [`line`], newlines as spaces.
pub fn one_line(s: &str) -> String {
    line(&s.replace(['\n', '\t'], " "))
}

fn push_visible(out: &mut String, c: char) {
    match c {
        '\t' | '\n' => out.push(c),
        '\u{0}'..='\u{1F}' => {
            out.push('^');
            out.push(char::from(b'@' + c as u8));
        }
        '\u{7F}' => out.push_str("^?"),
        c if ('\u{80}'..='\u{9F}').contains(&c) || natter_schemas::text::is_format_control(c) => {
            out.push_str(&format!("<U+{:04X}>", u32::from(c)));
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_show_and_newlines_indent() {
        assert_eq!(line("\u{1b}[31mred\u{7}"), "^[[31mred^G");
        assert_eq!(line("a\u{9b}31mb\u{7f}"), "a<U+009B>31mb^?");
        assert_eq!(line("x\u{202E}gpj.exe"), "x<U+202E>gpj.exe");
        assert_eq!(line("tab\tand\nline"), "tab\tand\nline");
        assert_eq!(
            text("hi\r\n[3] 14:05 bob: fake"),
            "hi^M\n    [3] 14:05 bob: fake"
        );
        assert_eq!(one_line("#a\nb"), "#a b");
        assert_eq!(line("héllo 👋"), "héllo 👋");
    }
}
