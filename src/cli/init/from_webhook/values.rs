//! webhook's request values (`{"source": …, "name": …}`) as hookd reads
//! them: payload dot-notation → RFC 6901 pointers, arguments → SPEC §5
//! templates, rule parameters → `match` fields, env names. Pure; a value
//! with no hookd equivalent is an `Err` saying why.

use super::hooks::Argument;

/// How a hook's `payload` values are read.
#[derive(Clone, Copy, Default)]
pub struct Payload {
    /// `incoming-payload-content-type` says form: `payload` names a field.
    pub form: bool,
    /// `parse-parameters-as-json` decodes the form field `payload` (GitHub's
    /// form content type), which hookd's `json:` reads by itself: a leading
    /// `payload.` is dropped, other names are form fields.
    pub github_form: bool,
}

/// webhook's dot-notation (`commits.0.id`) as a JSON pointer (`/commits/0/id`):
/// every `.` separates a key or an array index, each escaped (`~` → `~0`,
/// `/` → `~1`).
pub fn pointer(dotted: &str) -> String {
    dotted.split('.').map(|key| format!("/{}", key.replace('~', "~0").replace('/', "~1"))).collect()
}

impl Payload {
    /// The `match` field or template body (without braces) of a payload value.
    fn field(self, name: &str) -> String {
        if self.github_form {
            if name == "payload" {
                return "json:".to_string();
            }
            if let Some(rest) = name.strip_prefix("payload.") {
                return format!("json:{}", pointer(rest));
            }
        }
        match self.form || self.github_form {
            true => format!("form:{name}"),
            false => format!("json:{}", pointer(name)),
        }
    }
}

/// The hookd `match` field a rule's `parameter` reads.
pub fn field(arg: &Argument, payload: Payload) -> Result<String, String> {
    match arg.source.as_str() {
        "payload" => Ok(payload.field(&arg.name)),
        "header" => header(&arg.name).map(|h| format!("header:{h}")),
        other => Err(unreadable(other, "match on")),
    }
}

/// The SPEC §5 template that renders what webhook passed for `arg`, once
/// hookd's own template compiler took it.
pub fn template(arg: &Argument, payload: Payload) -> Result<String, String> {
    let text = unchecked(arg, payload)?;
    if text.contains('\0') {
        return Err("it holds a NUL byte, which no argument or variable can".to_string());
    }
    crate::route::template::Template::parse(&text)?;
    Ok(text)
}

fn unchecked(arg: &Argument, payload: Payload) -> Result<String, String> {
    let placeholder = |inner: String| match inner.contains('}') {
        true => Err(format!("{inner:?} holds a '}}', which a hookd template cannot name")),
        false => Ok(format!("{{{inner}}}")),
    };
    match arg.source.as_str() {
        "payload" => placeholder(payload.field(&arg.name)),
        "header" => placeholder(format!("header:{}", header(&arg.name)?)),
        "string" => Ok(arg.name.replace('{', "{{").replace('}', "}}")),
        "entire-payload" => Ok("{json:}".to_string()),
        "request" if arg.name.eq_ignore_ascii_case("method") => Ok("POST".to_string()),
        "raw-request-body" => Err("the raw body is the handler's stdin in hookd".to_string()),
        other => Err(unreadable(other, "pass")),
    }
}

fn header(name: &str) -> Result<&str, String> {
    match http::HeaderName::from_bytes(name.as_bytes()) {
        Ok(_) => Ok(name),
        Err(_) => Err(format!("{name:?} is not a header name")),
    }
}

/// Why hookd cannot `verb` a value of `source`.
fn unreadable(source: &str, verb: &str) -> String {
    match source {
        "url" | "query" | "entire-query" => format!("hookd does not {verb} the query string"),
        "request" => format!("hookd does not {verb} the client's address (allow_ips limits who may post)"),
        "entire-headers" => "hookd hands a handler its kept headers as HOOKD_HEADER_* variables".to_string(),
        "string" | "entire-payload" | "raw-request-body" => format!("hookd does not {verb} a {source} value"),
        other => format!("unknown source {other:?}"),
    }
}

/// webhook's variable name for `arg`: `envname`, else `HOOK_` + name.
pub fn env_name(arg: &Argument) -> String {
    match arg.envname.is_empty() {
        true => format!("HOOK_{}", arg.name),
        false => arg.envname.clone(),
    }
}

/// `name` as an environment name hookd takes (letters, digits, `_`).
pub fn env_safe(name: &str) -> String {
    let mut clean: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if clean.is_empty() || clean.starts_with(|c: char| c.is_ascii_digit()) {
        clean.insert(0, '_');
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arg(source: &str, name: &str) -> Argument {
        Argument { source: source.into(), name: name.into(), envname: String::new() }
    }

    #[test]
    fn dots_keys_and_indexes() {
        assert_eq!(pointer("ref"), "/ref");
        assert_eq!(pointer("head_commit.author.name"), "/head_commit/author/name");
        assert_eq!(pointer("commits.0.id"), "/commits/0/id");
        assert_eq!(pointer("a/b.c~d"), "/a~1b/c~0d");
        assert_eq!(pointer("~1"), "/~01", "a literal ~1 is not a slash");
        assert_eq!(pointer(""), "/", "the empty key, as webhook looks it up");
        assert_eq!(pointer("a..b"), "/a//b");
    }

    #[test]
    fn arguments_become_templates() {
        let p = Payload::default();
        assert_eq!(template(&arg("payload", "head_commit.id"), p), Ok("{json:/head_commit/id}".into()));
        assert_eq!(template(&arg("header", "X-GitHub-Event"), p), Ok("{header:X-GitHub-Event}".into()));
        assert_eq!(template(&arg("string", "-v {x}"), p), Ok("-v {{x}}".into()));
        assert_eq!(template(&arg("entire-payload", ""), p), Ok("{json:}".into()));
        assert_eq!(template(&arg("request", "method"), p), Ok("POST".into()));
        assert!(template(&arg("url", "q"), p).is_err());
        assert!(template(&arg("payload", "a}b"), p).is_err());
        assert!(template(&arg("header", "bad header"), p).is_err());
        assert!(template(&arg("string", "a\0b"), p).is_err());
        let form = Payload { form: true, ..p };
        assert_eq!(template(&arg("payload", "text"), form), Ok("{form:text}".into()));
        let gh = Payload { github_form: true, ..p };
        assert_eq!(field(&arg("payload", "payload.ref"), gh), Ok("json:/ref".into()));
        assert_eq!(template(&arg("payload", "payload"), gh), Ok("{json:}".into()));
    }

    #[test]
    fn env_names_are_hookds() {
        assert_eq!(env_safe(&env_name(&arg("payload", "head_commit.id"))), "HOOK_head_commit_id");
        let named = Argument { envname: "REF".into(), ..arg("payload", "ref") };
        assert_eq!(env_safe(&env_name(&named)), "REF");
        assert_eq!(env_safe("1X"), "_1X");
    }

    proptest! {
        /// The pointer reads back, key by key, the path webhook walks:
        /// each dot-separated key unescaped is the original key.
        #[test]
        fn pointers_round_trip(keys in prop::collection::vec("[a-z0-9~/_ -]{0,6}", 1..5)) {
            let dotted = keys.join(".");
            let p = pointer(&dotted);
            prop_assert!(p.starts_with('/'));
            let back: Vec<String> =
                p[1..].split('/').map(|k| k.replace("~1", "/").replace("~0", "~")).collect();
            prop_assert_eq!(back, keys);
        }

        /// serde_json's RFC 6901 reader finds the value at the converted
        /// pointer in the document the dotted path describes.
        #[test]
        fn serde_json_finds_the_value(keys in prop::collection::vec("[a-z~/]{1,4}", 1..4), index in 0usize..3) {
            let mut doc = serde_json::json!("found");
            let mut dotted: Vec<String> = keys.clone();
            for key in keys.iter().rev() {
                doc = serde_json::json!({ key.clone(): doc });
            }
            let list: Vec<serde_json::Value> = (0..=index).map(|_| doc.clone()).collect();
            dotted.insert(0, index.to_string());
            let p = pointer(&dotted.join("."));
            let doc = serde_json::Value::Array(list);
            prop_assert_eq!(doc.pointer(&p), Some(&serde_json::json!("found")));
        }
    }
}
