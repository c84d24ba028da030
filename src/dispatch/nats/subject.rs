//! A `nats` route's `subject` template (SPEC §5): compiled once at config
//! load, rendered per attempt. Every placeholder's value is sanitised so it
//! stays one subject token: `.`, `*`, `>`, whitespace (and other control
//! characters) become `_`, and an empty value is `_`. Pure; no IO.

use crate::verify::pointer;

/// One piece of a compiled subject.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Source,
    EventId,
    EventType,
    Id,
    Attempt,
    ReceivedAt,
    Json(String),
    Header(String),
    Form(String),
}

/// A compiled `subject` template, and the text it was compiled from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    parts: Vec<Part>,
    pub template: String,
}

/// What one attempt's placeholders read.
pub struct Values<'a> {
    pub source: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub id: &'a str,
    pub attempt: u32,
    pub received_at: &'a str,
    /// The sender headers the source's kind keeps, lower-case names.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Compile `template`. The literal text must be a subject a publisher may
/// use (no wildcards, no whitespace, no empty token); placeholders are
/// those of SPEC §5's templates; `{{` and `}}` are literal braces.
pub fn compile(template: &str) -> Result<Subject, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("{{") {
            literal.push('{');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("}}") {
            literal.push('}');
            rest = after;
        } else if c == '{' {
            let end = rest.find('}').ok_or_else(|| format!("unclosed {{ in {template:?}"))?;
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(placeholder(&rest[1..end])?);
            rest = &rest[end + 1..];
        } else if c == '}' {
            return Err(format!("a lone }} in {template:?} (write }}}} for a literal brace)"));
        } else {
            literal.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    let subject = Subject { parts, template: template.to_string() };
    check_shape(&subject)?;
    Ok(subject)
}

fn placeholder(name: &str) -> Result<Part, String> {
    Ok(match name {
        "source" => Part::Source,
        "event_id" => Part::EventId,
        "event_type" => Part::EventType,
        "id" => Part::Id,
        "attempt" => Part::Attempt,
        "received_at" => Part::ReceivedAt,
        _ => match name.split_once(':') {
            Some(("json", ptr)) if ptr.is_empty() || ptr.starts_with('/') => Part::Json(ptr.to_string()),
            Some(("json", ptr)) => return Err(format!("{{json:{ptr}}}: a JSON pointer starts with '/'")),
            Some(("header", h)) if http::HeaderName::from_bytes(h.as_bytes()).is_ok() => {
                Part::Header(h.to_ascii_lowercase())
            }
            Some(("header", h)) => return Err(format!("{{header:{h}}}: not a header name")),
            Some(("form", f)) if !f.is_empty() => Part::Form(f.to_string()),
            _ => return Err(format!("unknown placeholder {{{name}}}")),
        },
    })
}

/// With every placeholder standing for one token, the subject must be
/// `token(.token)*` without wildcards or whitespace.
fn check_shape(subject: &Subject) -> Result<(), String> {
    let probe: String = subject
        .parts
        .iter()
        .map(|p| match p {
            Part::Literal(s) => s.as_str(),
            _ => "x",
        })
        .collect();
    if probe.is_empty() {
        return Err("is empty".into());
    }
    if probe.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{:?} has whitespace", subject.template));
    }
    if probe.contains(['*', '>']) {
        return Err(format!("{:?} has a wildcard (* or >): a message is published to one subject", subject.template));
    }
    if probe.split('.').any(str::is_empty) {
        return Err(format!("{:?} has an empty token (a leading, trailing or doubled '.')", subject.template));
    }
    Ok(())
}

impl Subject {
    /// The subject for one attempt.
    pub fn render(&self, v: &Values) -> String {
        let mut out = String::new();
        for part in &self.parts {
            let value = match part {
                Part::Literal(s) => {
                    out.push_str(s);
                    continue;
                }
                Part::Source => v.source.to_string(),
                Part::EventId => v.event_id.to_string(),
                Part::EventType => v.event_type.to_string(),
                Part::Id => v.id.to_string(),
                Part::Attempt => v.attempt.to_string(),
                Part::ReceivedAt => v.received_at.to_string(),
                Part::Json(ptr) => json_value(v.body, ptr),
                Part::Header(name) => {
                    v.headers.iter().find(|(k, _)| k == name).map(|(_, x)| x.clone()).unwrap_or_default()
                }
                Part::Form(field) => form_value(v.body, field),
            };
            out.push_str(&sanitise(&value));
        }
        out
    }
}

/// One subject token from any text.
pub fn sanitise(value: &str) -> String {
    if value.is_empty() {
        return "_".into();
    }
    value
        .chars()
        .map(|c| if matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control() { '_' } else { c })
        .collect()
}

/// A JSON body, or a form body's `payload=<json>` (GitHub's default).
fn json_value(body: &[u8], ptr: &str) -> String {
    let found = match pointer::lookup(body, ptr) {
        Ok(v) => v,
        Err(_) => match form_value_opt(body, "payload") {
            Some(json) => pointer::lookup(json.as_bytes(), ptr).ok().flatten(),
            None => None,
        },
    };
    match found {
        None => String::new(),
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
    }
}

fn form_value(body: &[u8], field: &str) -> String {
    form_value_opt(body, field).unwrap_or_default()
}

fn form_value_opt(body: &[u8], field: &str) -> Option<String> {
    form_urlencoded::parse(body).find(|(k, _)| k == field).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(body: &'a [u8], headers: &'a [(String, String)]) -> Values<'a> {
        Values {
            source: "stripe",
            event_id: "evt.1 *>",
            event_type: "invoice.paid",
            id: "01J",
            attempt: 3,
            received_at: "2026-01-02T03:04:05.678Z",
            headers,
            body,
        }
    }

    #[test]
    fn placeholders_render_as_single_sanitised_tokens() {
        let s = compile("webhooks.{source}.{event_type}").unwrap();
        assert_eq!(s.render(&values(b"{}", &[])), "webhooks.stripe.invoice_paid");
        let s = compile("w.{event_id}.{attempt}.{received_at}.{id}").unwrap();
        assert_eq!(s.render(&values(b"{}", &[])), "w.evt_1___.3.2026-01-02T03:04:05_678Z.01J");
    }

    #[test]
    fn json_header_and_form_values() {
        let headers = vec![("x-github-event".to_string(), "push".to_string())];
        let s = compile("gh.{header:X-GitHub-Event}.{json:/repo/name}.{json:/n}.{json:/missing}.{json:/o}").unwrap();
        let body = br#"{"repo":{"name":"acme/app.rs"},"n":7,"o":{"a b":1}}"#;
        assert_eq!(s.render(&values(body, &headers)), "gh.push.acme/app_rs.7._.{\"a_b\":1}");
        // A form body: `payload=<json>` is read as that JSON; form fields too.
        let body = b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D&x=1";
        let s = compile("gh.{json:/ref}.{form:x}.{form:none}").unwrap();
        assert_eq!(s.render(&values(body, &[])), "gh.refs/heads/main.1._");
    }

    #[test]
    fn braces_and_bad_templates() {
        assert_eq!(compile("a{{b}}.{source}").unwrap().render(&values(b"", &[])), "a{b}.stripe");
        for bad in ["", "a..b", ".a", "a.", "a.*", "a.>", "a b", "{nope}", "{source", "a}", "{json:x}", "{header:a b}"]
        {
            assert!(compile(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
