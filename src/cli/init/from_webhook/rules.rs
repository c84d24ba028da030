//! A hook's `trigger-rule` as hookd expresses it: the signature check
//! becomes the source's kind and secret, `ip-whitelist` its `allow_ips`,
//! `value` and `regex` matches the route's `match` conditions (an `or` of
//! values on one field `one_of`, a `not` a `not = true`). Pure; what has no
//! equivalent is a note, and a secret is never put in a condition.

use super::hooks::{MatchRule, Rule, RuleKind};
use super::values::{self, Payload};
use super::Notes;
use crate::config::secret::Secret;
use serde_json::Value;

/// What the rule turned into.
#[derive(Default)]
pub struct Trigger {
    pub signature: Option<Signature>,
    pub allow_ips: Vec<String>,
    pub conditions: Vec<Cond>,
}

pub enum Signature {
    Github(Secret),
    Gitlab(Secret),
    Hmac { header: String, algorithm: &'static str, prefix: String, secret: Secret },
}

impl Signature {
    pub fn secret(&self) -> &Secret {
        match self {
            Signature::Github(s) | Signature::Gitlab(s) | Signature::Hmac { secret: s, .. } => s,
        }
    }
}

/// One `match` entry: `{ field = …, <test> = <value>, not = … }`.
pub struct Cond {
    pub field: String,
    pub test: &'static str,
    pub value: Value,
    pub not: bool,
}

const OR_WHY: &str = "hookd's match conditions must all hold: an or of different tests has no equivalent \
                      (split it into routes by hand; every route that matches runs)";

pub fn convert(rule: &Rule, payload: Payload, notes: &mut Notes) -> Trigger {
    let mut t = Trigger::default();
    t.take(rule, payload, notes);
    t
}

impl Trigger {
    fn take(&mut self, rule: &Rule, payload: Payload, notes: &mut Notes) {
        let at = format!("trigger-rule ({})", describe(rule));
        let taken = match rule.kind() {
            RuleKind::And(list) => {
                list.iter().for_each(|r| self.take(r, payload, notes));
                Ok(())
            }
            RuleKind::Match(m) => self.take_match(m, payload, &at, notes),
            RuleKind::Not(inner) => match inner.kind() {
                RuleKind::Match(m) if matches!(m.kind.as_str(), "value" | "regex") => {
                    condition(m, payload, true).map(|c| self.conditions.push(c))
                }
                _ => Err("hookd negates one value or regex condition (not = true), nothing else".to_string()),
            },
            RuleKind::Or(list) => self.take_or(list, payload, &at, notes),
            RuleKind::Empty => Err("an empty rule, which webhook never satisfies".to_string()),
        };
        if let Err(why) = taken {
            notes.push(at, why);
        }
    }

    fn take_match(&mut self, m: &MatchRule, payload: Payload, at: &str, notes: &mut Notes) -> Result<(), String> {
        match m.kind.as_str() {
            kind if algorithm(kind).is_some() => {
                let (signature, caveat) = signature(m)?;
                self.set_signature(signature)?;
                if let Some(caveat) = caveat {
                    notes.push(at, caveat);
                }
                Ok(())
            }
            "ip-whitelist" => self.allow(&[m]),
            "scalr-signature" => Err("hookd has no Scalr kind; its signature check is not converted".to_string()),
            "value" if m.parameter.source == "header" && m.parameter.name.eq_ignore_ascii_case("x-gitlab-token") => {
                self.set_signature(Signature::Gitlab(secret(&m.value)?))
            }
            "value" | "regex" => condition(m, payload, false).map(|c| self.conditions.push(c)),
            other => Err(format!("unknown match type {other:?}")),
        }
    }

    fn set_signature(&mut self, signature: Signature) -> Result<(), String> {
        if self.signature.is_some() {
            return Err("a second signature check: a hookd source checks one".to_string());
        }
        self.signature = Some(signature);
        Ok(())
    }

    fn allow(&mut self, rules: &[&MatchRule]) -> Result<(), String> {
        if !self.allow_ips.is_empty() {
            return Err("a second ip-whitelist that must hold too: allow_ips is one list (any of)".to_string());
        }
        let ranges: Vec<String> =
            rules.iter().flat_map(|m| m.ip_range.split_whitespace()).map(str::to_string).collect();
        if ranges.is_empty() {
            return Err("no ip-range".to_string());
        }
        crate::config::guards::cidrs(&ranges)?;
        self.allow_ips = ranges;
        Ok(())
    }

    /// An `or` of ip-whitelists (→ `allow_ips`), of values on one field
    /// (→ `one_of`), or of one signature with several secrets (the first).
    fn take_or(&mut self, list: &[Rule], payload: Payload, at: &str, notes: &mut Notes) -> Result<(), String> {
        let matches: Option<Vec<&MatchRule>> = list
            .iter()
            .map(|r| match r.kind() {
                RuleKind::Match(m) => Some(m),
                _ => None,
            })
            .collect();
        let Some(ms) = matches.filter(|ms| !ms.is_empty()) else { return Err(OR_WHY.to_string()) };
        let alike = |kind: &dyn Fn(&str) -> bool| {
            ms.iter().all(|m| kind(&m.kind) && m.kind == ms[0].kind && same_parameter(m, ms[0]))
        };
        if ms.iter().all(|m| m.kind == "ip-whitelist") {
            return self.allow(&ms);
        }
        if alike(&|k| k == "value") {
            let field = values::field(&ms[0].parameter, payload)?;
            refuse_secrets(&field)?;
            let mut one_of = Vec::new();
            ms.iter().for_each(|m| one_of.extend(loose(&field, &m.value)));
            return compiled(Cond { field, test: "one_of", value: Value::Array(one_of), not: false })
                .map(|c| self.conditions.push(c));
        }
        if alike(&|k| algorithm(k).is_some()) {
            self.take_match(ms[0], payload, at, notes)?;
            if ms.len() > 1 {
                notes.push(at, "only the first secret is converted: add the others for rotation (secret_env, secrets)");
            }
            return Ok(());
        }
        Err(OR_WHY.to_string())
    }
}

fn same_parameter(a: &MatchRule, b: &MatchRule) -> bool {
    a.parameter.source == b.parameter.source && a.parameter.name.eq_ignore_ascii_case(&b.parameter.name)
}

/// `payload-hmac-*` (and the deprecated `payload-hash-*`) → the algorithm.
fn algorithm(kind: &str) -> Option<&'static str> {
    match kind.strip_prefix("payload-hmac-").or_else(|| kind.strip_prefix("payload-hash-")) {
        Some("sha1") => Some("sha1"),
        Some("sha256") => Some("sha256"),
        Some("sha512") => Some("sha512"),
        _ => None,
    }
}

fn secret(text: &str) -> Result<Secret, String> {
    match text.is_empty() {
        true => Err("an empty secret (webhook refuses it too)".to_string()),
        false => Ok(Secret::new(text.as_bytes().to_vec())),
    }
}

/// The source's signature check, and a caveat when hookd is stricter.
fn signature(m: &MatchRule) -> Result<(Signature, Option<String>), String> {
    let algorithm = algorithm(&m.kind).unwrap_or("sha256");
    if m.parameter.source != "header" {
        return Err(format!("the signature is read from {:?}; hookd reads it from a header", m.parameter.source));
    }
    let header = values::field(&m.parameter, Payload::default())?.trim_start_matches("header:").to_string();
    let secret = secret(&m.secret)?;
    let lower = header.to_ascii_lowercase();
    if lower == "x-hub-signature-256" && algorithm == "sha256" {
        return Ok((Signature::Github(secret), None));
    }
    let (prefix, caveat) = match lower.as_str() {
        "x-hub-signature" | "x-hub-signature-256" => (format!("{algorithm}="), None),
        "x-gitea-signature" | "x-gogs-signature" => (String::new(), None),
        _ => (
            String::new(),
            Some(format!(
            "webhook took the signature with or without a \"{algorithm}=\" prefix; hookd takes it as `prefix` says \
             (none here): set prefix = \"{algorithm}=\" if the sender sends one"
        )),
        ),
    };
    Ok((Signature::Hmac { header, algorithm, prefix, secret }, caveat))
}

/// A value that looks like a shared secret (a header or field named like
/// one) must not become a condition: it would sit in config.toml in the
/// clear, and a condition is no check of who sent the request.
fn refuse_secrets(field: &str) -> Result<(), String> {
    let name = field.rsplit([':', '/']).next().unwrap_or(field).to_ascii_lowercase();
    let secretive = ["token", "secret", "passw", "signature", "apikey", "api_key", "api-key", "auth"];
    match name == "key" || secretive.iter().any(|w| name.contains(w)) {
        true => Err(format!(
            "{field} looks like a shared secret: hookd checks secrets as a source's signature, never in match conditions"
        )),
        false => Ok(()),
    }
}

fn condition(m: &MatchRule, payload: Payload, not: bool) -> Result<Cond, String> {
    let field = values::field(&m.parameter, payload)?;
    refuse_secrets(&field)?;
    let (test, value) = match m.kind.as_str() {
        "regex" => ("regex", Value::String(m.regex.clone())),
        _ => match loose(&field, &m.value).as_slice() {
            [one] => ("equals", one.clone()),
            both => ("one_of", Value::Array(both.to_vec())),
        },
    };
    compiled(Cond { field, test, value, not })
}

/// webhook compares a value's text: `"5"` matches a JSON 5 too, which a
/// hookd `equals = "5"` would not, so a JSON field gets both.
fn loose(field: &str, text: &str) -> Vec<Value> {
    let mut values = vec![Value::String(text.to_string())];
    if let (true, Ok(v @ (Value::Number(_) | Value::Bool(_)))) =
        (field.starts_with("json:"), serde_json::from_str(text))
    {
        values.push(v);
    }
    values
}

/// `cond`, once hookd's own `match` compiler took it (a Go regex Rust's
/// `regex` refuses is a note, not a config error).
fn compiled(cond: Cond) -> Result<Cond, String> {
    use crate::route::condition::{Condition, Spec};
    let mut spec =
        Spec { field: &cond.field, equals: None, one_of: None, glob: None, regex: None, exists: None, not: cond.not };
    let list = cond.value.as_array().map(Vec::as_slice);
    match cond.test {
        "equals" => spec.equals = Some(&cond.value),
        "one_of" => spec.one_of = list,
        _ => spec.regex = cond.value.as_str(),
    }
    Condition::compile(&spec)?;
    Ok(cond)
}

/// A rule in a few words, for the notes.
fn describe(rule: &Rule) -> String {
    match rule.kind() {
        RuleKind::And(list) => format!("and of {}", list.len()),
        RuleKind::Or(list) => format!("or of {}", list.len()),
        RuleKind::Not(inner) => format!("not {}", describe(inner)),
        RuleKind::Match(m) if m.parameter.source.is_empty() => format!("match {}", m.kind),
        RuleKind::Match(m) => format!("match {} on {} {:?}", m.kind, m.parameter.source, m.parameter.name),
        RuleKind::Empty => "empty".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(rule: Value) -> (Trigger, Vec<String>) {
        let rule: Rule = serde_json::from_value(rule).expect("a rule");
        let mut notes = Notes { hook: "h".into(), list: Vec::new() };
        let t = convert(&rule, Payload::default(), &mut notes);
        (t, notes.list.into_iter().map(|n| format!("{}: {}", n.field, n.why)).collect())
    }

    fn value(name: &str, v: &str) -> Value {
        json!({"match": {"type": "value", "value": v, "parameter": {"source": "payload", "name": name}}})
    }

    fn hmac(kind: &str, header: &str) -> Value {
        json!({"match": {"type": kind, "secret": "s", "parameter": {"source": "header", "name": header}}})
    }

    fn shown(t: &Trigger) -> Vec<String> {
        t.conditions.iter().map(|c| format!("{} {} {} {}", c.field, c.test, c.value, c.not)).collect()
    }

    #[test]
    fn and_or_not_become_conditions() {
        let (t, notes) = run(json!({"and": [
            hmac("payload-hmac-sha256", "X-Hub-Signature-256"),
            {"and": [value("ref", "refs/heads/main")]},
            {"or": [value("action", "opened"), value("action", "edited")]},
            {"not": value("sender.type", "Bot")},
            value("pull_request.number", "42"),
        ]}));
        assert!(notes.is_empty(), "{notes:?}");
        assert!(matches!(t.signature, Some(Signature::Github(_))));
        assert_eq!(
            shown(&t),
            [
                r#"json:/ref equals "refs/heads/main" false"#,
                r#"json:/action one_of ["opened","edited"] false"#,
                r#"json:/sender/type equals "Bot" true"#,
                r#"json:/pull_request/number one_of ["42",42] false"#,
            ]
        );
    }

    #[test]
    fn signatures_by_header() {
        let kind = |rule| match run(rule).0.signature {
            Some(Signature::Hmac { header, algorithm, prefix, .. }) => format!("hmac {header} {algorithm} {prefix:?}"),
            Some(Signature::Github(_)) => "github".into(),
            Some(Signature::Gitlab(_)) => "gitlab".into(),
            None => "none".into(),
        };
        assert_eq!(kind(hmac("payload-hmac-sha1", "X-Hub-Signature")), r#"hmac X-Hub-Signature sha1 "sha1=""#);
        assert_eq!(kind(hmac("payload-hash-sha256", "X-Gitea-Signature")), r#"hmac X-Gitea-Signature sha256 """#);
        assert_eq!(kind(hmac("payload-hmac-sha512", "X-Signature")), r#"hmac X-Signature sha512 """#);
        let gitlab = json!({"match": {"type": "value", "value": "t0k", "parameter": {"source": "header", "name": "X-Gitlab-Token"}}});
        assert_eq!(kind(gitlab), "gitlab");
        let (_, notes) = run(hmac("payload-hmac-sha256", "X-Signature"));
        assert!(notes[0].contains("set prefix = \"sha256=\""), "{notes:?}");
        let (t, notes) = run(json!({"or": [hmac("payload-hmac-sha1", "X-Sig"), hmac("payload-hmac-sha1", "X-Sig")]}));
        assert!(t.signature.is_some() && notes.iter().any(|n| n.contains("only the first secret")), "{notes:?}");
        let (_, notes) = run(json!({"and": [hmac("payload-hmac-sha1", "X-A"), hmac("payload-hmac-sha256", "X-B")]}));
        assert!(notes.iter().any(|n| n.contains("a second signature check")), "{notes:?}");
    }

    #[test]
    fn ip_whitelists_become_allow_ips() {
        let ip = |r: &str| json!({"match": {"type": "ip-whitelist", "ip-range": r}});
        let (t, notes) = run(json!({"or": [ip("10.0.0.0/8 192.168.1.1"), ip("::1/128")]}));
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(t.allow_ips, ["10.0.0.0/8", "192.168.1.1", "::1/128"]);
        let (t, notes) = run(ip("not-an-ip"));
        assert!(t.allow_ips.is_empty() && notes[0].contains("not an IP address"), "{notes:?}");
    }

    #[test]
    fn what_has_no_equivalent_is_a_note_and_no_secret_is_a_condition() {
        let (t, notes) = run(json!({"and": [
            {"or": [value("ref", "main"), hmac("payload-hmac-sha1", "X-Sig")]},
            {"not": {"or": [value("a", "b")]}},
            {"match": {"type": "value", "value": "hunter2", "parameter": {"source": "payload", "name": "token"}}},
            {"match": {"type": "value", "value": "x", "parameter": {"source": "url", "name": "q"}}},
            {"match": {"type": "regex", "regex": "(?<=a)b", "parameter": {"source": "payload", "name": "x"}}},
            {"match": {"type": "scalr-signature", "secret": "k"}},
            {},
        ]}));
        assert!(t.conditions.is_empty() && t.signature.is_none());
        let want = [
            "trigger-rule (or of 2): hookd's match conditions must all hold",
            "trigger-rule (not or of 1): hookd negates one value or regex condition",
            "trigger-rule (match value on payload \"token\"): json:/token looks like a shared secret",
            "trigger-rule (match value on url \"q\"): hookd does not match on the query string",
            "trigger-rule (match regex on payload \"x\"): regex",
            "trigger-rule (match scalr-signature): hookd has no Scalr kind",
            "trigger-rule (empty): an empty rule",
        ];
        assert_eq!(notes.len(), want.len(), "{notes:?}");
        for (note, want) in notes.iter().zip(want) {
            assert!(note.starts_with(want), "{note:?} is not {want:?}…");
        }
    }
}
