//! Event id and event type of a verified request: per-kind defaults and the
//! `event_id` / `event_type` overrides (`header:NAME`, `json:/pointer`).
//! Runs only after the signature verified; the body is parsed at most once.

use super::Inbound;
use sha2::{Digest, Sha256};

/// Where one value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Header(String),
    Json(String),
    /// SHA-256 of the raw body, hex (for senders without ids).
    BodySha256,
    Fixed(String),
    /// GitHub: `X-GitHub-Event`, plus `.action` when the body has one.
    GithubEvent,
    /// A form parameter of the body, or a top-level member of a JSON body
    /// (Twilio's `MessageSid`, `CallStatus`, …).
    Param(String),
    /// `{first}.{second}` of two JSON pointers, the second optional
    /// (Linear's `type` + `.` + `action`, e.g. `Issue.create`).
    JsonDotted(String, String),
    /// The first of these that yields a value.
    AnyOf(Vec<Field>),
}

/// The id and type rules of one source.
#[derive(Debug, Clone)]
pub struct Identify {
    pub id: Field,
    pub ty: Field,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub event_id: String,
    pub event_type: String,
}

/// Ids and types longer than this are refused (they become store keys).
pub const MAX_LEN: usize = 512;

/// Parse `header:NAME` / `json:/pointer` / `form:NAME` from config.
pub fn parse_field(s: &str) -> Result<Field, String> {
    if let Some(name) = s.strip_prefix("form:") {
        return match name.is_empty() {
            true => Err("form: needs a parameter name".into()),
            false => Ok(Field::Param(name.to_string())),
        };
    }
    if let Some(name) = s.strip_prefix("header:") {
        return http::HeaderName::from_bytes(name.as_bytes())
            .map(|h| Field::Header(h.as_str().to_string()))
            .map_err(|_| format!("invalid header name {name:?}"));
    }
    if let Some(ptr) = s.strip_prefix("json:") {
        if ptr.is_empty() || ptr.starts_with('/') {
            return Ok(Field::Json(ptr.to_string()));
        }
        return Err("a JSON pointer starts with '/'".into());
    }
    Err("expected \"header:NAME\", \"json:/pointer\" or \"form:NAME\"".into())
}

pub fn identify(rules: &Identify, req: &Inbound) -> Result<Identity, String> {
    let mut wanted = Vec::new();
    pointers(&rules.id, &mut wanted);
    pointers(&rules.ty, &mut wanted);
    let mut json = LazyJson::new(req.body, wanted);
    let event_id = extract(&rules.id, req, &mut json, "event id")?;
    let event_type = extract(&rules.ty, req, &mut json, "event type")?;
    Ok(Identity { event_id, event_type })
}

/// Every JSON pointer `field` may read.
fn pointers(field: &Field, out: &mut Vec<String>) {
    match field {
        Field::Json(p) => out.push(p.clone()),
        Field::GithubEvent => out.push("/action".into()),
        Field::Param(name) => out.push(super::pointer::member(name)),
        Field::JsonDotted(a, b) => out.extend([a.clone(), b.clone()]),
        Field::AnyOf(fields) => fields.iter().for_each(|f| pointers(f, out)),
        Field::Header(_) | Field::BodySha256 | Field::Fixed(_) => {}
    }
}

/// The body as JSON, read without building the document (`pointer.rs`):
/// the first pointer asked for reads every pointer the rules may ask for,
/// in one pass; an invalid body is said once.
struct LazyJson<'a> {
    body: &'a [u8],
    wanted: Vec<String>,
    read: Option<Result<Vec<Option<serde_json::Value>>, String>>,
}

impl<'a> LazyJson<'a> {
    fn new(body: &'a [u8], wanted: Vec<String>) -> Self {
        LazyJson { body, wanted, read: None }
    }

    fn pointer(&mut self, ptr: &str) -> Result<Option<serde_json::Value>, String> {
        let (body, wanted) = (self.body, &self.wanted);
        let read = self.read.get_or_insert_with(|| {
            let ptrs: Vec<&str> = wanted.iter().map(String::as_str).collect();
            super::pointer::lookup_all(body, &ptrs)
        });
        let values = read.as_ref().map_err(Clone::clone)?;
        match self.wanted.iter().position(|w| w == ptr) {
            Some(i) => Ok(values.get(i).cloned().flatten()),
            None => super::pointer::lookup(self.body, ptr),
        }
    }
}

fn extract(field: &Field, req: &Inbound, json: &mut LazyJson, what: &str) -> Result<String, String> {
    let value = lookup(field, req, json)?;
    let value = value.filter(|v| !v.is_empty()).ok_or_else(|| format!("{what} not found ({})", describe(field)))?;
    if value.len() > MAX_LEN {
        return Err(format!("{what} is longer than {MAX_LEN} bytes"));
    }
    Ok(value)
}

fn lookup(field: &Field, req: &Inbound, json: &mut LazyJson) -> Result<Option<String>, String> {
    Ok(match field {
        Field::Header(name) => req.header(name).map(str::to_string),
        Field::Json(ptr) => json.pointer(ptr)?.as_ref().and_then(scalar),
        Field::BodySha256 => Some(hex::encode(Sha256::digest(req.body))),
        Field::Fixed(s) => Some(s.clone()),
        Field::GithubEvent => req.header("x-github-event").map(|event| {
            let action = json.pointer("/action").ok().flatten();
            match action.as_ref().and_then(|a| a.as_str()) {
                Some(action) => format!("{event}.{action}"),
                None => event.to_string(),
            }
        }),
        Field::Param(name) => param(req.body, json, name),
        Field::JsonDotted(first, second) => {
            let a = json.pointer(first)?.as_ref().and_then(scalar);
            let b = json.pointer(second)?.as_ref().and_then(scalar);
            a.map(|a| match b {
                Some(b) => format!("{a}.{b}"),
                None => a,
            })
        }
        Field::AnyOf(fields) => {
            let mut found = None;
            for f in fields {
                if let Some(v) = lookup(f, req, json).ok().flatten().filter(|v| !v.is_empty()) {
                    found = Some(v);
                    break;
                }
            }
            found
        }
    })
}

/// A top-level JSON member when the body is JSON, else a form parameter.
fn param(body: &[u8], json: &mut LazyJson, name: &str) -> Option<String> {
    if body.first() == Some(&b'{') {
        return scalar(&json.pointer(&super::pointer::member(name)).ok()??);
    }
    form_urlencoded::parse(body).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Strings as they are; numbers as their JSON text; anything else is no id.
fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn describe(field: &Field) -> String {
    match field {
        Field::Header(h) => format!("header {h}"),
        Field::Json(p) => format!("JSON pointer {p}"),
        Field::GithubEvent => "header x-github-event".into(),
        Field::BodySha256 | Field::Fixed(_) => "computed".into(),
        Field::Param(name) => format!("body parameter {name}"),
        Field::JsonDotted(a, b) => format!("JSON pointers {a} and {b}"),
        Field::AnyOf(fields) => fields.iter().map(describe).collect::<Vec<_>>().join(", or "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn run(rules: &Identify, headers: &[(&str, &str)], body: &[u8]) -> Result<Identity, String> {
        let map = super::super::header_map(headers);
        identify(rules, &Inbound { headers: &map, body, url: "", now: SystemTime::now() })
    }

    #[test]
    fn github_event_with_and_without_action() {
        let rules = Identify { id: Field::Header("x-github-delivery".into()), ty: Field::GithubEvent };
        let h = [("x-github-delivery", "d-1"), ("x-github-event", "pull_request")];
        let got = run(&rules, &h, br#"{"action":"opened"}"#).expect("identified");
        assert_eq!(got.event_type, "pull_request.opened");
        assert_eq!(run(&rules, &h, b"{}").expect("identified").event_type, "pull_request");
        assert!(run(&rules, &h[1..], b"{}").is_err());
    }

    #[test]
    fn json_pointer_body_hash_and_errors() {
        let rules = Identify { id: Field::Json("/id".into()), ty: Field::Json("/type".into()) };
        let got = run(&rules, &[], br#"{"id":"evt_1","type":"invoice.paid"}"#).expect("identified");
        assert_eq!(got, Identity { event_id: "evt_1".into(), event_type: "invoice.paid".into() });
        assert!(run(&rules, &[], b"not json").is_err());
        assert!(run(&rules, &[], br#"{"id":{},"type":"x"}"#).is_err());
        let hashed = Identify { id: Field::BodySha256, ty: Field::Fixed("event".into()) };
        let got = run(&hashed, &[], b"abc").expect("identified");
        assert_eq!(got.event_id, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn params_dotted_and_first_of() {
        let rules = Identify {
            id: Field::AnyOf(vec![
                Field::Header("i-twilio-idempotency-token".into()),
                Field::Param("MessageSid".into()),
            ]),
            ty: Field::AnyOf(vec![Field::Param("MessageStatus".into()), Field::Fixed("twilio".into())]),
        };
        let got = run(&rules, &[], b"MessageSid=SM1&MessageStatus=sent%20ok").expect("identified");
        assert_eq!(got, Identity { event_id: "SM1".into(), event_type: "sent ok".into() });
        let got = run(&rules, &[("i-twilio-idempotency-token", "tok")], br#"{"CallSid":"CA1"}"#).expect("identified");
        assert_eq!(got, Identity { event_id: "tok".into(), event_type: "twilio".into() });
        let linear = Identify { id: Field::BodySha256, ty: Field::JsonDotted("/type".into(), "/action".into()) };
        assert_eq!(run(&linear, &[], br#"{"type":"Issue","action":"create"}"#).expect("ok").event_type, "Issue.create");
        assert_eq!(run(&linear, &[], br#"{"type":"Issue"}"#).expect("ok").event_type, "Issue");
    }

    #[test]
    fn parse_field_forms() {
        assert_eq!(parse_field("header:X-Id"), Ok(Field::Header("x-id".into())));
        assert_eq!(parse_field("json:/data/id"), Ok(Field::Json("/data/id".into())));
        assert_eq!(parse_field("form:trigger_id"), Ok(Field::Param("trigger_id".into())));
        assert!(parse_field("form:").is_err());
        assert!(parse_field("json:data").is_err());
        assert!(parse_field("body").is_err());
    }
}
