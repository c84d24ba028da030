//! The serde mirror of an adnanh/webhook hooks file (its `internal/hook`
//! types: `Hook`, `Rules`, `MatchRule`, `Argument`), read from JSON or
//! YAML as webhook reads it. Parsing only: never decides what converts.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::Path;

/// One hook, with webhook's property names.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case")]
pub struct Hook {
    pub id: String,
    pub execute_command: String,
    pub command_working_directory: String,
    pub response_message: String,
    #[serde(deserialize_with = "nullable")]
    pub response_headers: Vec<serde_json::Value>,
    pub include_command_output_in_response: bool,
    pub include_command_output_in_response_on_error: bool,
    #[serde(deserialize_with = "nullable")]
    pub pass_environment_to_command: Vec<Argument>,
    #[serde(deserialize_with = "nullable")]
    pub pass_arguments_to_command: Vec<Argument>,
    #[serde(deserialize_with = "nullable")]
    pub pass_file_to_command: Vec<Argument>,
    #[serde(deserialize_with = "nullable")]
    pub parse_parameters_as_json: Vec<Argument>,
    pub trigger_rule: Option<Rule>,
    pub trigger_rule_mismatch_http_response_code: i64,
    pub trigger_signature_soft_failures: bool,
    pub incoming_payload_content_type: String,
    pub success_http_response_code: i64,
    #[serde(deserialize_with = "nullable")]
    pub http_methods: Vec<String>,
    /// Keys webhook does not know (it ignores them too).
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// A request value: `{"source": "payload", "name": "head_commit.id"}`.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct Argument {
    pub source: String,
    pub name: String,
    pub envname: String,
}

/// `and`, `or`, `not` or `match`; webhook evaluates the first one set, in
/// that order (`Rules.Evaluate`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Rule {
    pub and: Option<Vec<Rule>>,
    pub or: Option<Vec<Rule>>,
    pub not: Option<Box<Rule>>,
    #[serde(rename = "match")]
    pub matches: Option<MatchRule>,
}

/// What a rule is, in webhook's order of precedence.
pub enum RuleKind<'a> {
    And(&'a [Rule]),
    Or(&'a [Rule]),
    Not(&'a Rule),
    Match(&'a MatchRule),
    /// No rule at all: webhook evaluates it to false.
    Empty,
}

impl Rule {
    pub fn kind(&self) -> RuleKind<'_> {
        match (&self.and, &self.or, &self.not, &self.matches) {
            (Some(and), _, _, _) => RuleKind::And(and),
            (_, Some(or), _, _) => RuleKind::Or(or),
            (_, _, Some(not), _) => RuleKind::Not(not),
            (_, _, _, Some(m)) => RuleKind::Match(m),
            _ => RuleKind::Empty,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MatchRule {
    #[serde(rename = "type")]
    pub kind: String,
    pub regex: String,
    pub secret: String,
    pub value: String,
    pub parameter: Argument,
    #[serde(rename = "ip-range")]
    pub ip_range: String,
}

/// JSON `null` as the empty value, as Go's decoder reads it.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The hooks in `path`: YAML for `.yaml`/`.yml`, else JSON — and YAML
/// when the JSON does not parse (webhook reads every file as YAML, which
/// takes JSON with trailing commas). One line on error.
pub fn read(path: &Path) -> Result<Vec<Hook>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::config::secret::io_reason(&e))?;
    let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
    let parsed = match yaml {
        true => yaml_serde::from_str(&text).map_err(|e| e.to_string()),
        false => serde_json::from_str(&text).or_else(|e| match e.is_syntax() {
            true => yaml_serde::from_str(&text).map_err(|_| e.to_string()),
            false => Err(e.to_string()),
        }),
    };
    parsed.map_err(|e| {
        let hint = match text.contains("{{") {
            true => " (it looks like a Go template for webhook -template: render it first)",
            false => "",
        };
        format!("{}{hint}", e.replace('\n', " "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, name: &str) -> Result<Vec<Hook>, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        read(&path)
    }

    #[test]
    fn json_yaml_and_webhooks_trailing_commas() {
        let json = r#"[{"id": "a", "execute-command": "/bin/true", "http-methods": null,
            "pass-arguments-to-command": [{"source": "entire-payload",}]}]"#;
        let hooks = parse(json, "hooks.json").expect("webhook's own example parses");
        assert_eq!(hooks[0].pass_arguments_to_command[0].source, "entire-payload");
        let yaml =
            "- id: b\n  execute-command: /bin/true\n  trigger-rule:\n    not:\n      match: {type: value, value: x}\n";
        let hooks = parse(yaml, "hooks.yml").expect("yaml");
        assert!(matches!(hooks[0].trigger_rule.as_ref().map(Rule::kind), Some(RuleKind::Not(_))));
    }

    #[test]
    fn bad_input_is_one_line() {
        let err = parse("[{\"id\": 3}]", "hooks.json").err().expect("an id is a string");
        assert!(err.contains("invalid type") && !err.contains('\n'), "{err}");
        let err = parse("[{\"secret\": \"{{ getenv \"X\" }}\"}]", "h.json").err().expect("a template");
        assert!(err.contains("render it first"), "{err}");
        let err = parse("{\"id\": \"a\"}", "hooks.json").err().expect("a list");
        assert!(!err.is_empty());
    }
}
