//! `hookd init --from-webhook FILE`: an adnanh/webhook hooks file (JSON or
//! YAML) → a hookd directory — one source per hook with one route, each
//! signing secret in its own owner-only file, and a note (hook, field, why)
//! for everything with no hookd equivalent, printed and written as a
//! comment. Never puts a secret in config.toml, never overwrites a file,
//! and never leaves a config.toml that `check-config` refuses.

mod hooks;
mod render;
mod rules;
mod values;

use super::InitError;
use hooks::Hook;
use rules::Trigger;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use values::Payload;

/// Something of a hook that did not convert, and why.
pub struct Note {
    pub hook: String,
    pub field: String,
    pub why: String,
}

/// The notes of one hook.
pub(super) struct Notes {
    hook: String,
    list: Vec<Note>,
}

impl Notes {
    fn push(&mut self, field: impl Into<String>, why: impl Into<String>) {
        let (field, why) = (one_line(&field.into()), one_line(&why.into()));
        self.list.push(Note { hook: one_line(&self.hook), field, why });
    }
}

/// Text from the hooks file made fit for one line of stderr or a TOML
/// comment: control characters escaped (`\n`).
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}

/// One hook as a hookd source.
struct Source {
    name: String,
    hook: String,
    trigger: Trigger,
    route: Option<Route>,
}

struct Route {
    command: Vec<String>,
    env: BTreeMap<String, String>,
    /// The directory, and whether it exists here.
    cwd: Option<(String, bool)>,
    /// `include-command-output-in-response`: a reply route (SPEC §5).
    reply: bool,
}

/// What `run` did: files written, notes, and each (source, hook id).
pub struct Converted {
    pub written: Vec<PathBuf>,
    pub notes: Vec<Note>,
    pub sources: Vec<(String, String)>,
}

pub fn run(dir: &Path, file: &Path) -> Result<Converted, InitError> {
    super::refuse_existing(&dir.join("config.toml"))?;
    let unusable = |why: String| InitError::Usage(format!("{}: {why}", file.display()));
    let hooks = hooks::read(file).map_err(unusable)?;
    let names = names(&hooks).map_err(unusable)?;
    let mut notes = Vec::new();
    let mut sources = Vec::new();
    for (hook, name) in hooks.iter().zip(names) {
        let mut n = Notes { hook: hook.id.clone(), list: Vec::new() };
        sources.push(convert(hook, name, &mut n));
        notes.extend(n.list);
    }
    let written = write(dir, file, &sources, &notes)?;
    let sources = sources.into_iter().map(|s| (s.name, one_line(&s.hook))).collect();
    Ok(Converted { written, notes, sources })
}

/// Each hook's source name (its id, with what a URL path or a TOML key
/// would not take as `-`); no hooks, a missing id or one twice is refused.
fn names(hooks: &[Hook]) -> Result<Vec<String>, String> {
    if hooks.is_empty() {
        return Err("no hooks in it".to_string());
    }
    let mut names: Vec<String> = Vec::new();
    for (i, hook) in hooks.iter().enumerate() {
        if hook.id.is_empty() {
            return Err(format!("hook {} has no id (webhook needs one too)", i + 1));
        }
        let name: String =
            hook.id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
        if let Some(j) = names.iter().position(|n| *n == name) {
            return match hooks[j].id == hook.id {
                true => Err(format!("hook id {:?} is defined twice (webhook refuses that too)", hook.id)),
                false => Err(format!("hooks {:?} and {:?} would both be source {name}", hooks[j].id, hook.id)),
            };
        }
        names.push(name);
    }
    Ok(names)
}

fn convert(hook: &Hook, name: String, notes: &mut Notes) -> Source {
    if name != hook.id {
        notes.push("id", format!("the source is named {name}: a source name is letters, digits, - and _"));
    }
    let payload = payload(hook, notes);
    let trigger = match &hook.trigger_rule {
        Some(rule) => rules::convert(rule, payload, notes),
        None => Trigger::default(),
    };
    if trigger.signature.is_none() && trigger.allow_ips.is_empty() {
        notes.push(
            "trigger-rule",
            "no signature check converted: the source is insecure = true, open to anyone who reaches it \
             (add allow_ips, or a signing secret and its kind)",
        );
    }
    let route = route(hook, payload, notes);
    unconverted(hook, notes);
    Source { name, hook: hook.id.clone(), trigger, route }
}

/// How the hook's `payload` values are read.
fn payload(hook: &Hook, notes: &mut Notes) -> Payload {
    let ct = hook.incoming_payload_content_type.to_ascii_lowercase();
    let mut p = Payload { form: ct.contains("x-www-form-urlencoded"), github_form: false };
    if !ct.is_empty() && !p.form && !ct.contains("json") {
        notes.push("incoming-payload-content-type", "hookd reads JSON and form bodies only, by their own Content-Type");
    }
    for (i, arg) in hook.parse_parameters_as_json.iter().enumerate() {
        match (arg.source.as_str(), arg.name.as_str()) {
            ("payload", "payload") => p.github_form = true,
            _ => notes.push(
                format!("parse-parameters-as-json[{i}]"),
                "hookd reads the JSON in a form body's payload field only (GitHub's form content type)",
            ),
        }
    }
    p
}

fn route(hook: &Hook, payload: Payload, notes: &mut Notes) -> Option<Route> {
    if hook.execute_command.is_empty() {
        notes.push("execute-command", "missing: the source has no route, so its events are stored as unrouted");
        return None;
    }
    let mut command = vec![program(hook, notes)];
    for (i, arg) in hook.pass_arguments_to_command.iter().enumerate() {
        command.push(values::template(arg, payload).unwrap_or_else(|why| {
            notes.push(
                format!("pass-arguments-to-command[{i}]"),
                format!("{why}; \"\" keeps the other arguments' places"),
            );
            String::new()
        }));
    }
    let mut env = BTreeMap::new();
    for (i, arg) in hook.pass_environment_to_command.iter().enumerate() {
        let at = format!("pass-environment-to-command[{i}]");
        let webhooks = values::env_name(arg);
        let name = values::env_safe(&webhooks);
        let value = match name.starts_with("HOOKD_") {
            true => Err(format!("{name}: HOOKD_* names are hookd's own")),
            false => values::template(arg, payload),
        };
        match value {
            Ok(v) => {
                if webhooks != name {
                    notes.push(&at, format!("{webhooks} is named {name}: hookd's names are letters, digits and _"));
                }
                env.insert(name, v);
            }
            Err(why) => notes.push(at, why),
        }
    }
    let dir = &hook.command_working_directory;
    let cwd = (!dir.is_empty()).then(|| (dir.clone(), Path::new(dir).is_absolute() && Path::new(dir).is_dir()));
    match &cwd {
        Some((dir, false)) if Path::new(dir).is_relative() => notes.push(
            "command-working-directory",
            "a relative directory: webhook read it from its working directory, hookd beside config.toml; \
             written commented out (make it absolute)",
        ),
        Some((dir, false)) => {
            notes.push("command-working-directory", format!("{dir} is not a directory here: written commented out"))
        }
        _ => {}
    }
    let reply = hook.include_command_output_in_response;
    if reply {
        notes.push(
            "include-command-output-in-response",
            "reply = true answers with the command's stdout when it succeeds within reply_within \
             (default 2500ms); otherwise the sender gets 202 and the delivery is retried",
        );
    }
    Some(Route { command, env, cwd, reply })
}

/// `execute-command` as webhook finds it: a relative one inside
/// `command-working-directory` when that is set.
fn program(hook: &Hook, notes: &mut Notes) -> String {
    let (cmd, dir) = (Path::new(&hook.execute_command), &hook.command_working_directory);
    let program = match (cmd.is_absolute(), dir.is_empty()) {
        (false, false) => Path::new(dir).join(cmd),
        _ => cmd.to_path_buf(),
    };
    if program.is_relative() && program.components().count() > 1 {
        notes.push(
            "execute-command",
            "a relative path: webhook read it from its working directory, hookd beside config.toml",
        );
    }
    // command[0] is a template too, that must render to itself.
    program.display().to_string().replace('{', "{{").replace('}', "}}")
}

/// What hookd does differently, property by property.
fn unconverted(hook: &Hook, notes: &mut Notes) {
    let set = [
        (!hook.response_message.is_empty(), "response-message", "hookd answers with its own JSON (SPEC §4)"),
        (!hook.response_headers.is_empty(), "response-headers", "hookd's answers carry no configured headers"),
        (
            hook.success_http_response_code != 0,
            "success-http-response-code",
            "hookd answers 202 (new) or 200 (duplicate)",
        ),
        (
            hook.trigger_rule_mismatch_http_response_code != 0,
            "trigger-rule-mismatch-http-response-code",
            "an event no route takes is stored as unrouted and answered 202 (hookd events show says why)",
        ),
        (
            hook.http_methods.iter().any(|m| !m.trim().eq_ignore_ascii_case("post")),
            "http-methods",
            "hookd takes POST only",
        ),
        (
            hook.include_command_output_in_response_on_error,
            "include-command-output-in-response-on-error",
            "a failed handler is retried with backoff; its output is kept with the attempt (hookd events show)",
        ),
        (
            !hook.pass_file_to_command.is_empty(),
            "pass-file-to-command",
            "the handler gets the raw body on stdin; write it to a file there if it needs one",
        ),
        (
            hook.trigger_signature_soft_failures,
            "trigger-signature-soft-failures",
            "a hookd source tries each of its secrets; a failed signature is a 401",
        ),
    ];
    for (_, field, why) in set.into_iter().filter(|(on, _, _)| *on) {
        notes.push(field, why);
    }
    for key in hook.unknown.keys() {
        notes.push(key, "not a webhook hook property; ignored, as webhook does");
    }
}

/// The secrets, then config.toml — written to a temporary file, loaded
/// as `check-config` would, and only then moved into place (never over an
/// existing one). On any failure nothing written stays.
fn write(dir: &Path, file: &Path, sources: &[Source], notes: &[Note]) -> Result<Vec<PathBuf>, InitError> {
    let failed = |what: &Path, e: std::io::Error| InitError::Failed(format!("{}: {e}", what.display()));
    let secrets: Vec<(PathBuf, &[u8])> = sources
        .iter()
        .filter_map(|s| Some((dir.join("secrets").join(&s.name), s.trigger.signature.as_ref()?.secret().expose())))
        .collect();
    if let Some((path, _)) = secrets.iter().find(|(p, _)| p.exists()) {
        return Err(InitError::Failed(format!("{} already exists; init never overwrites", path.display())));
    }
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    let secrets_dir = dir.join("secrets");
    if !secrets.is_empty() {
        super::private_dir(&secrets_dir).map_err(|e| failed(&secrets_dir, e))?;
    }
    let mut written = Vec::new();
    let undo = |written: &[PathBuf]| written.iter().for_each(|p| drop(std::fs::remove_file(p)));
    for (path, secret) in &secrets {
        let text = format!("{}\n", String::from_utf8_lossy(secret));
        if let Err(e) = super::write_new(path, &text, 0o600) {
            undo(&written);
            return Err(failed(path, e));
        }
        written.push(path.clone());
    }
    let text = render::config(file, sources, notes);
    let config = dir.join("config.toml");
    match checked(dir, &text).and_then(|tmp| tmp.persist_noclobber(&config).map_err(|e| e.error.to_string())) {
        Ok(_) => written.push(config),
        Err(why) => {
            undo(&written);
            return Err(InitError::Failed(format!("{}: {why}", config.display())));
        }
    }
    Ok(written)
}

/// `text` in a temporary file beside where config.toml goes, once hookd's
/// own loader took it.
fn checked(dir: &Path, text: &str) -> Result<tempfile::NamedTempFile, String> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = tempfile::Builder::new().suffix(".toml").tempfile_in(dir).map_err(|e| e.to_string())?;
    tmp.write_all(text.as_bytes()).and_then(|_| tmp.as_file().sync_all()).map_err(|e| e.to_string())?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o640)).map_err(|e| e.to_string())?;
    match crate::config::load(tmp.path()) {
        Ok(_) => Ok(tmp),
        Err(e) => Err(format!("the converted config does not check, a converter bug (please report it): {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by feeding random hooks files to the converter: values that
    /// must not break a TOML comment, a template or a line of stderr.
    #[test]
    fn hostile_strings_still_give_a_config_that_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("hooks.json");
        let hooks = serde_json::json!([{
            "id": "a\nb\u{0}",
            "execute-command": "/bin/{true}",
            "command-working-directory": "/no\nsuch\r",
            "pass-environment-to-command": [{"source": "string", "name": "x", "envname": "1 bad\nname"}],
            "odd\nkey": 1,
            "trigger-rule": {"match": {"type": "value", "value": "v\n", "parameter": {"source": "payload", "name": "a\nb"}}}
        }]);
        std::fs::write(&file, hooks.to_string()).expect("write");
        let out = dir.path().join("out");
        let done = run(&out, &file).unwrap_or_else(|_| panic!("converted"));
        assert!(done.notes.iter().all(|n| !format!("{}{}{}", n.hook, n.field, n.why).contains(['\n', '\r', '\0'])));
        let text = std::fs::read_to_string(out.join("config.toml")).expect("config");
        assert!(text.contains(r#"command = ["/bin/{{true}}"]"#), "{text}");
        assert!(text.contains("[sources.a-b-]") && text.contains(r#"_1_bad_name = "x""#), "{text}");
    }
}
