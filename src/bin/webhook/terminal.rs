//! Text for an operator's terminal: stored fields come from receivers and callers, so
//! control characters and escape sequences are shown escaped, never interpreted.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every control character (C0, DEL, C1) and every bidirectional override
/// written as `\u{..}`; everything else as it is. JSON output keeps fields exact instead.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_sequences_and_control_characters_are_shown_not_interpreted() {
        assert_eq!(escape("T-1"), "T-1");
        assert_eq!(escape("a\u{1b}[31mb\u{7}"), "a\\u{1b}[31mb\\u{7}");
        assert_eq!(
            escape("x\r\ny\u{9b}z\u{202e}"),
            "x\\u{d}\\u{a}y\\u{9b}z\\u{202e}"
        );
        assert_eq!(escape("é ok"), "é ok");
    }
}
