//! SPEC §5 templates in a route's `command` elements and `env` values:
//! `{json:/pointer}`, `{header:Name}`, `{form:field}`, `{source}`,
//! `{event_id}`, `{event_type}`, `{id}`, `{attempt}`, `{received_at}`;
//! `{{` and `}}` are literal braces. Compiled once at config load (an
//! unknown placeholder is a config error), rendered per attempt. Pure:
//! never runs a shell, never reads anything but what it is handed.

use super::payload;
use serde_json::Value;
use std::borrow::Cow;

/// One compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Json(String),
    Header(String),
    Form(String),
    Source,
    EventId,
    EventType,
    Id,
    Attempt,
    ReceivedAt,
}

/// What one attempt's templates are rendered from.
pub struct Event<'a> {
    pub source: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub id: &'a str,
    pub attempt: u32,
    pub received_at: &'a str,
    /// The sender's headers hookd kept (names lower-case).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

const KNOWN: &str =
    "{json:/pointer}, {header:Name}, {form:field}, {source}, {event_id}, {event_type}, {id}, {attempt}, {received_at}";

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("{{") {
                literal.push('{');
                rest = after;
            } else if let Some(after) = rest.strip_prefix("}}") {
                literal.push('}');
                rest = after;
            } else if c == '{' {
                let end = rest.find('}').ok_or_else(|| format!("{rest:?}: an unclosed {{ (write {{{{ for a brace)"))?;
                let inner = &rest[1..end];
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(placeholder(inner)?);
                rest = &rest[end + 1..];
            } else {
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template(parts))
    }

    /// Whether the template is plain text (renders to itself).
    pub fn is_literal(&self) -> bool {
        self.0.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The sender headers it reads (lower-case), so ingress keeps them.
    pub fn headers(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().filter_map(|p| match p {
            Part::Header(name) => Some(name.to_ascii_lowercase()),
            _ => None,
        })
    }

    pub fn render(&self, ev: &Event, doc: &mut Option<Option<Value>>) -> String {
        self.render_escaped(ev, doc, |value, out| out.push_str(value))
    }

    /// `render`, with each placeholder's value written by `escape` (a
    /// missing one as `""`); literal text is written as it is. For targets
    /// whose syntax a value must not change, such as a NATS subject.
    pub fn render_escaped(
        &self,
        ev: &Event,
        doc: &mut Option<Option<Value>>,
        mut escape: impl FnMut(&str, &mut String),
    ) -> String {
        let mut out = String::new();
        for part in &self.0 {
            let value = match part {
                Part::Text(t) => {
                    out.push_str(t);
                    continue;
                }
                Part::Source => Cow::Borrowed(ev.source),
                Part::EventId => Cow::Borrowed(ev.event_id),
                Part::EventType => Cow::Borrowed(ev.event_type),
                Part::Id => Cow::Borrowed(ev.id),
                Part::Attempt => Cow::Owned(ev.attempt.to_string()),
                Part::ReceivedAt => Cow::Borrowed(ev.received_at),
                Part::Header(name) => {
                    let found = ev.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
                    Cow::Borrowed(found.map_or("", |(_, v)| v.as_str()))
                }
                Part::Form(field) => Cow::Owned(payload::form_field(ev.body, field).unwrap_or_default()),
                Part::Json(pointer) => {
                    let doc = doc.get_or_insert_with(|| payload::json(ev.body, content_type(ev.headers)));
                    Cow::Owned(doc.as_ref().and_then(|d| d.pointer(pointer)).map(text_of).unwrap_or_default())
                }
            };
            escape(&value, &mut out);
        }
        out
    }

    /// The literal text with every placeholder written as `stand_in`: the
    /// shape every rendering has, for checks at load.
    pub fn shape(&self, stand_in: &str) -> String {
        let parts = self.0.iter().map(|p| match p {
            Part::Text(t) => t.as_str(),
            _ => stand_in,
        });
        parts.collect()
    }
}

fn content_type(headers: &[(String, String)]) -> Option<&str> {
    headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.as_str())
}

/// A string as itself; a number, bool or null as JSON text; an object or
/// array as compact JSON.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn placeholder(inner: &str) -> Result<Part, String> {
    let unknown = || format!("unknown placeholder {{{inner}}} (one of {KNOWN}; {{{{ and }}}} for braces)");
    Ok(match inner.split_once(':') {
        Some(("json", ptr)) if ptr.is_empty() || ptr.starts_with('/') => Part::Json(ptr.to_string()),
        Some(("json", ptr)) => {
            return Err(format!("{{json:{ptr}}}: a JSON pointer starts with / (e.g. {{json:/ref}})"))
        }
        Some(("header", name)) if !name.is_empty() && http::HeaderName::from_bytes(name.as_bytes()).is_ok() => {
            Part::Header(name.to_string())
        }
        Some(("form", field)) if !field.is_empty() => Part::Form(field.to_string()),
        Some(_) => return Err(unknown()),
        None => match inner {
            "source" => Part::Source,
            "event_id" => Part::EventId,
            "event_type" => Part::EventType,
            "id" => Part::Id,
            "attempt" => Part::Attempt,
            "received_at" => Part::ReceivedAt,
            _ => return Err(unknown()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> Event<'a> {
        Event {
            source: "gh",
            event_id: "d-1",
            event_type: "push",
            id: "01HZ",
            attempt: 2,
            received_at: "2026-12-02T08:00:00.000Z",
            headers,
            body,
        }
    }

    fn render(t: &str, ev: &Event) -> String {
        Template::parse(t).expect("valid").render(ev, &mut None)
    }

    #[test]
    fn every_placeholder_renders_by_the_spec() {
        let headers = vec![("x-github-delivery".to_string(), "d-1".to_string())];
        let body = br#"{"ref":"refs/heads/main","n":3,"ok":true,"none":null,"repo":{"a":[1,2]}}"#;
        let ev = event(&headers, body);
        assert_eq!(render("{json:/ref}", &ev), "refs/heads/main");
        assert_eq!(render("{json:/n}-{json:/ok}-{json:/none}", &ev), "3-true-null");
        assert_eq!(render("{json:/repo}", &ev), r#"{"a":[1,2]}"#);
        assert_eq!(render("[{json:/missing}]", &ev), "[]");
        assert_eq!(render("{header:X-GitHub-Delivery}", &ev), "d-1");
        assert_eq!(
            render("{source}/{event_id}/{event_type}/{id}/{attempt}/{received_at}", &ev),
            "gh/d-1/push/01HZ/2/2026-12-02T08:00:00.000Z"
        );
        assert_eq!(render("{{literal}} {{{source}}}", &ev), "{literal} {gh}");
        assert_eq!(render("no placeholders", &ev), "no placeholders");
    }

    #[test]
    fn form_bodies_and_github_form_payloads() {
        let headers = vec![("content-type".to_string(), "application/x-www-form-urlencoded".to_string())];
        let body = b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D&text=hi+there";
        let ev = event(&headers, body);
        assert_eq!(render("{json:/ref}", &ev), "refs/heads/main", "payload= is read as its JSON");
        assert_eq!(render("{form:text}", &ev), "hi there");
        assert_eq!(render("{form:nope}", &ev), "");
    }

    #[test]
    fn an_escape_sees_every_value_and_no_literal_text() {
        let ev = event(&[], br#"{"a":"x.y"}"#);
        let t = Template::parse("lit.{json:/a}.{json:/missing}.{source}").expect("ok");
        let mut seen = Vec::new();
        let out = t.render_escaped(&ev, &mut None, |v, out| {
            seen.push(v.to_string());
            out.push_str(&v.to_uppercase());
        });
        assert_eq!(out, "lit.X.Y..GH");
        assert_eq!(seen, ["x.y", "", "gh"], "a missing value is passed as empty");
        assert_eq!(t.shape("_"), "lit._._._");
    }

    #[test]
    fn unknown_or_malformed_placeholders_are_refused() {
        for bad in ["{jsn:/x}", "{json:ref}", "{header:}", "{nope}", "{source", "{form:}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
        assert!(Template::parse("{nope}").unwrap_err().contains("unknown placeholder {nope}"));
        assert!(Template::parse("plain").expect("ok").is_literal());
        let t = Template::parse("{header:X-A}{header:x-b}").expect("ok");
        assert_eq!(t.headers().collect::<Vec<_>>(), ["x-a", "x-b"]);
    }
}
