//! SPEC §5 `match`: conditions on `json:/pointer`, `header:Name` and
//! `form:field` that must all hold for a route to take an event —
//! `equals`, `one_of`, `glob`, `regex`, `exists`, each negated by `not`.
//! Compiled at config load; evaluated at ingest; a failed one says why in
//! words an operator reads (`json:/ref is "refs/heads/dev", wanted
//! "refs/heads/main"`). Pure.

use super::payload;
use super::template::text_of;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Condition {
    field: Field,
    /// As written (`json:/ref`), for explanations.
    name: String,
    test: Test,
    not: bool,
}

#[derive(Debug, Clone)]
enum Field {
    Json(String),
    Header(String),
    Form(String),
}

#[derive(Debug, Clone)]
enum Test {
    Equals(Value),
    OneOf(Vec<Value>),
    Glob(globset::GlobMatcher, String),
    Regex(regex::Regex),
    Exists(bool),
}

/// What conditions are checked against: the sender's headers, the raw
/// body (form fields) and its JSON (parsed at most once, when asked).
pub struct Subject<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
    pub doc: Option<Option<Value>>,
}

impl<'a> Subject<'a> {
    pub fn new(headers: &'a [(String, String)], body: &'a [u8]) -> Subject<'a> {
        let content_type = headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.as_str());
        Subject { headers, body, content_type, doc: None }
    }

    fn value(&mut self, field: &Field) -> Option<Value> {
        match field {
            Field::Header(name) => {
                self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| Value::String(v.clone()))
            }
            Field::Form(name) => payload::form_field(self.body, name).map(Value::String),
            Field::Json(pointer) => {
                let (body, ct) = (self.body, self.content_type);
                let doc = self.doc.get_or_insert_with(|| payload::json(body, ct));
                doc.as_ref().and_then(|d| d.pointer(pointer)).cloned()
            }
        }
    }
}

/// One `match` entry as the config writes it.
pub struct Spec<'a> {
    pub field: &'a str,
    pub equals: Option<&'a Value>,
    pub one_of: Option<&'a [Value]>,
    pub glob: Option<&'a str>,
    pub regex: Option<&'a str>,
    pub exists: Option<bool>,
    pub not: bool,
}

impl Condition {
    pub fn compile(spec: &Spec) -> Result<Condition, String> {
        let field = match spec.field.split_once(':') {
            Some(("json", p)) if p.is_empty() || p.starts_with('/') => Field::Json(p.to_string()),
            Some(("header", h)) if http::HeaderName::from_bytes(h.as_bytes()).is_ok() => Field::Header(h.to_string()),
            Some(("form", f)) if !f.is_empty() => Field::Form(f.to_string()),
            _ => {
                return Err(format!(
                    "field {:?} is not \"json:/pointer\", \"header:Name\" or \"form:field\"",
                    spec.field
                ))
            }
        };
        let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
        let mut tests = Vec::new();
        if let Some(v) = spec.equals {
            if !scalar(v) {
                return Err("equals wants a string, number or bool".into());
            }
            tests.push(Test::Equals(v.clone()));
        }
        if let Some(list) = spec.one_of {
            if list.is_empty() || !list.iter().all(scalar) {
                return Err("one_of wants a list of strings, numbers or bools".into());
            }
            tests.push(Test::OneOf(list.to_vec()));
        }
        if let Some(g) = spec.glob {
            let glob = globset::Glob::new(g).map_err(|e| format!("glob {g:?}: {}", e.kind()))?;
            tests.push(Test::Glob(glob.compile_matcher(), g.to_string()));
        }
        if let Some(r) = spec.regex {
            tests.push(Test::Regex(regex::Regex::new(r).map_err(|e| format!("regex {r:?}: {e}"))?));
        }
        if let Some(e) = spec.exists {
            tests.push(Test::Exists(e));
        }
        let test = match tests.len() {
            1 => tests.remove(0),
            0 => return Err("needs one of equals, one_of, glob, regex, exists".into()),
            _ => return Err("has more than one of equals, one_of, glob, regex, exists".into()),
        };
        Ok(Condition { field, name: spec.field.to_string(), test, not: spec.not })
    }

    /// The header it reads (lower-case), so ingress keeps it.
    pub fn header(&self) -> Option<String> {
        match &self.field {
            Field::Header(h) => Some(h.to_ascii_lowercase()),
            _ => None,
        }
    }

    /// `Ok` when it holds; else why not.
    pub fn check(&self, subject: &mut Subject) -> Result<(), String> {
        let found = subject.value(&self.field);
        let holds = match (&self.test, &found) {
            (Test::Exists(want), found) => found.is_some() == *want,
            (_, None) => false,
            (Test::Equals(want), Some(v)) => same(v, want),
            (Test::OneOf(list), Some(v)) => list.iter().any(|w| same(v, w)),
            (Test::Glob(g, _), Some(v)) => g.is_match(text_of(v)),
            (Test::Regex(r), Some(v)) => r.is_match(&text_of(v)),
        };
        if holds != self.not {
            return Ok(());
        }
        let is = match &found {
            Some(v) => format!("is {}", shown(v)),
            None => "is missing".to_string(),
        };
        let wanted = match (&self.test, self.not) {
            (Test::Exists(true), false) | (Test::Exists(false), true) => "wanted it present".to_string(),
            (Test::Exists(_), _) => "wanted it absent".to_string(),
            (Test::Equals(w), false) => format!("wanted {}", shown(w)),
            (Test::Equals(w), true) => format!("wanted anything but {}", shown(w)),
            (Test::OneOf(l), not) => format!("wanted {}one of {}", if not { "none " } else { "" }, shown_list(l)),
            (Test::Glob(_, g), not) => format!("wanted {}a match for glob {g:?}", if not { "no " } else { "" }),
            (Test::Regex(r), not) => {
                format!("wanted {}a match for regex {:?}", if not { "no " } else { "" }, r.as_str())
            }
        };
        Err(format!("{} {is}, {wanted}", self.name))
    }
}

/// Equal as the config means it: the same JSON value, numbers by value,
/// and a string read from a header or form equal to the wanted one's text.
fn same(found: &Value, want: &Value) -> bool {
    match (found, want) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), b) if !b.is_string() => *a == text_of(b),
        (a, b) => a == b,
    }
}

fn shown(v: &Value) -> String {
    let text = v.to_string();
    match text.chars().count() > 80 {
        true => format!("{}…", text.chars().take(79).collect::<String>()),
        false => text,
    }
}

fn shown_list(list: &[Value]) -> String {
    format!("[{}]", list.iter().map(shown).collect::<Vec<_>>().join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond<'a>(field: &'a str, f: impl FnOnce(&mut Spec<'a>)) -> Condition {
        let mut spec = Spec { field, equals: None, one_of: None, glob: None, regex: None, exists: None, not: false };
        f(&mut spec);
        Condition::compile(&spec).expect("valid")
    }

    #[test]
    fn every_operator_holds_or_says_why_not() {
        let headers = vec![("x-kind".to_string(), "7".to_string())];
        let body = br#"{"ref":"refs/heads/dev","n":3,"repo":"acme/api"}"#;
        let check = |c: &Condition| c.check(&mut Subject::new(&headers, body));
        let main = json!("refs/heads/main");
        let c = cond("json:/ref", |s| s.equals = Some(&main));
        assert_eq!(check(&c), Err(r#"json:/ref is "refs/heads/dev", wanted "refs/heads/main""#.into()));
        let dev = json!("refs/heads/dev");
        assert_eq!(check(&cond("json:/ref", |s| s.equals = Some(&dev))), Ok(()));
        assert_eq!(
            check(&cond("json:/ref", |s| {
                s.equals = Some(&dev);
                s.not = true
            })),
            Err(r#"json:/ref is "refs/heads/dev", wanted anything but "refs/heads/dev""#.into())
        );
        let three = json!(3);
        assert_eq!(check(&cond("json:/n", |s| s.equals = Some(&three))), Ok(()));
        let seven = json!(7);
        assert_eq!(check(&cond("header:X-Kind", |s| s.equals = Some(&seven))), Ok(()), "header text vs a number");
        let list = [json!("a"), json!("b")];
        assert_eq!(
            check(&cond("json:/repo", |s| s.one_of = Some(&list))),
            Err(r#"json:/repo is "acme/api", wanted one of ["a", "b"]"#.into())
        );
        assert_eq!(check(&cond("json:/repo", |s| s.glob = Some("acme/*"))), Ok(()));
        assert_eq!(check(&cond("json:/repo", |s| s.regex = Some("^acme/"))), Ok(()));
        assert_eq!(
            check(&cond("json:/repo", |s| s.regex = Some("^other/"))),
            Err(r#"json:/repo is "acme/api", wanted a match for regex "^other/""#.into())
        );
        assert_eq!(
            check(&cond("json:/nope", |s| s.exists = Some(true))),
            Err("json:/nope is missing, wanted it present".into())
        );
        assert_eq!(check(&cond("json:/nope", |s| s.exists = Some(false))), Ok(()));
        assert_eq!(check(&cond("json:/ref", |s| s.glob = Some("refs/heads/*"))), Ok(()));
        assert_eq!(
            check(&cond("json:/missing", |s| s.equals = Some(&main))),
            Err(r#"json:/missing is missing, wanted "refs/heads/main""#.into())
        );
    }

    #[test]
    fn bad_conditions_are_config_errors() {
        let spec =
            |field| Spec { field, equals: None, one_of: None, glob: None, regex: None, exists: None, not: false };
        assert!(Condition::compile(&spec("json:/x")).unwrap_err().contains("needs one of"));
        assert!(Condition::compile(&spec("body:/x")).unwrap_err().contains("is not \"json:/pointer\""));
        let mut bad = spec("json:/x");
        bad.regex = Some("(");
        assert!(Condition::compile(&bad).unwrap_err().starts_with("regex \"(\""));
        let obj = json!({"a": 1});
        let mut bad = spec("json:/x");
        bad.equals = Some(&obj);
        assert!(Condition::compile(&bad).is_err());
    }
}
