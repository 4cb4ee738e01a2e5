//! One place that makes error text safe to print on one line: every control character is escaped
//! (an escape sequence in a scenario value must not clear the screen or fake a second line), and
//! every value echoed back is cut short. Used by [`crate::scenario::ScenarioError`]'s and
//! [`crate::report::ReportError`]'s `Display`, so no error line bypasses it.

/// Longest echoed value, in characters, before it is cut with `…`.
pub const MAX_VALUE_CHARS: usize = 80;
/// Longest file or folder path shown; longer ones keep their end (the file name).
pub const MAX_PATH_CHARS: usize = 200;
/// Longest whole message; a last resort for values that are neither quoted nor one word.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Characters that are escaped: C0 and C1 controls and DEL, the Unicode line and paragraph
/// separators, and the bidirectional overrides that can make text read differently than it is.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{061c}' | '\u{200e}' | '\u{200f}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Escapes control characters: `\n`, `\r`, `\t`, `\x1b` (ASCII), `\u{202e}` (others).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out
}

/// Cuts `s` to `max` characters, the last of them `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Cuts `s` to `max` characters by replacing its middle with `…`: a long path keeps its file name.
pub fn truncate_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// A value to echo in a message: escaped, cut to [`MAX_VALUE_CHARS`], in double quotes.
pub fn value(s: &str) -> String {
    format!("\"{}\"", truncate(&escape(s), MAX_VALUE_CHARS))
}

/// A path to show: escaped; if long, its end is kept (`…` then the last characters).
pub fn path(s: &str) -> String {
    let e = escape(s);
    let n = e.chars().count();
    if n <= MAX_PATH_CHARS {
        return e;
    }
    let tail: String = e.chars().skip(n - (MAX_PATH_CHARS - 1)).collect();
    format!("…{tail}")
}

/// A short label (a field path, a scenario name): escaped and cut to [`MAX_VALUE_CHARS`].
pub fn label(s: &str) -> String {
    truncate(&escape(s), MAX_VALUE_CHARS)
}

/// A message that may echo values: control characters escaped, every quoted span (`"..."` or
/// `` `...` ``) cut to [`MAX_VALUE_CHARS`], every single longer word cut in its middle, and the whole cut to
/// [`MAX_MESSAGE_CHARS`].
pub fn message(s: &str) -> String {
    let escaped = escape(s);
    let chars: Vec<char> = escaped.chars().collect();
    let mut out = String::with_capacity(escaped.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '`' {
            if let Some(len) = chars[i + 1..].iter().position(|&d| d == c) {
                let inner: String = chars[i + 1..i + 1 + len].iter().collect();
                out.push(c);
                out.push_str(&truncate(&inner, MAX_VALUE_CHARS));
                out.push(c);
                i += len + 2;
                continue;
            }
        }
        if !c.is_whitespace() {
            let len =
                chars[i..].iter().position(|&d| d.is_whitespace() || d == '"' || d == '`').unwrap_or(chars.len() - i);
            if len > 0 {
                let word: String = chars[i..i + len].iter().collect();
                out.push_str(&truncate_middle(&word, MAX_VALUE_CHARS));
                i += len;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    truncate(&out, MAX_MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls() {
        assert_eq!(escape("a\u{1b}[2Jb\nc\u{7f}\u{85}\u{202e}é"), "a\\x1b[2Jb\\nc\\x7f\\u{85}\\u{202e}é");
    }

    #[test]
    fn cuts_long_values_words_and_quotes() {
        let long = "x".repeat(500);
        let m = message(&format!("\"{long}\" is not allowed; {long} too; `{long}`"));
        assert!(m.chars().count() < 300, "{m}");
        assert_eq!(m.matches('…').count(), 3);
        assert_eq!(message("\"5ms\" is fine"), "\"5ms\" is fine");
        assert_eq!(value(&long).chars().count(), MAX_VALUE_CHARS + 2);
        assert!(path(&format!("/{long}/file.toml")).ends_with("/file.toml"));
        let m = message(&format!("/{long}/a.toml writes here"));
        assert!(m.starts_with("/xx") && m.contains('…') && m.ends_with("x/a.toml writes here"), "{m}");
        assert_eq!(m.chars().count(), MAX_VALUE_CHARS + " writes here".len());
    }
}
