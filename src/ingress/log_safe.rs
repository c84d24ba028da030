//! A value a sender chose, made safe for a log line: it can neither start
//! a forged line nor pass as another `key=value` field. Pure.

/// A value a sender chose (event id, type, source name from the path), made
/// safe for a log line: control characters (newline, carriage return,
/// escape, …), invisible line and direction marks and `\` are escaped
/// (`\n`, `\u{1b}`, `\\`), and the value is quoted (`"…"`, with `\"`)
/// when it is empty or holds spaces, `"` or `=`, so it can neither start a
/// forged log line nor pass as another `key=value` field.
pub struct LogSafe<'a>(pub &'a str);

impl std::fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        let quoted = self.0.is_empty() || self.0.contains(|c: char| c.is_whitespace() || c == '"' || c == '=');
        if quoted {
            f.write_char('"')?;
        }
        for c in self.0.chars() {
            match c {
                '\n' | '\r' | '\t' | '\\' => write!(f, "{}", c.escape_default())?,
                '"' if quoted => f.write_str("\\\"")?,
                c if needs_escape(c) => write!(f, "{}", c.escape_unicode())?,
                c => f.write_char(c)?,
            }
        }
        if quoted {
            f.write_char('"')?;
        }
        Ok(())
    }
}

/// Control characters, and the invisible ones that move or break a line
/// in a terminal or log viewer (line/paragraph separators, direction marks
/// and overrides, zero-width characters, BOM).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_safe_escapes_what_could_forge_a_line_or_a_field() {
        let safe = |s: &str| LogSafe(s).to_string();
        assert_eq!(safe("evt_1PqR"), "evt_1PqR");
        assert_eq!(safe("payment_intent.succeeded"), "payment_intent.succeeded");
        assert_eq!(safe("évènement"), "évènement", "printable Unicode stays");
        assert_eq!(safe("evt\n2026 INFO forged"), r#""evt\n2026 INFO forged""#);
        assert_eq!(safe("a\u{1b}[2Kb"), r"a\u{1b}[2Kb");
        assert_eq!(safe("a\rb"), r#""a\rb""#);
        assert_eq!(safe("x\u{0}\u{7f}\u{9b}y"), r"x\u{0}\u{7f}\u{9b}y");
        assert_eq!(safe("ab\u{2028}\u{202e}"), r#""ab\u{2028}\u{202e}""#, "line separator, RTL override");
        assert_eq!(safe(r"a\nb"), r"a\\nb", "a literal backslash is not an escape");
        assert_eq!(safe("x status=202"), r#""x status=202""#);
        assert_eq!(safe(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(safe(""), r#""""#);
    }
}
