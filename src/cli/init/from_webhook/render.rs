//! The converted config.toml: commented TOML, in `hookd init`'s layout:
//! every value quoted by the `toml` crate, the secret only as a
//! `secret_file` path (never its text), what did not convert as comments.

use super::rules::{Cond, Signature};
use super::{Note, Source};
use std::fmt::Write as _;
use std::path::Path;

/// A TOML string, array or inline value.
fn q(v: impl Into<toml::Value>) -> String {
    v.into().to_string()
}

/// The whole config.toml: `hookd init`'s sections, then each source.
pub fn config(file: &Path, sources: &[Source], notes: &[Note]) -> String {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut t = super::super::preamble(&format!("`hookd init --from-webhook {name}`"));
    t.push_str(
        "\n# Each adnanh/webhook hook is a source below, served at POST /webhooks/<source>\n\
         # instead of /hooks/<id>: point each sender at its new URL. What did not\n\
         # convert is a comment under its source (and was printed on stderr);\n\
         # docs/migrating-from-webhook.md explains every difference.\n",
    );
    for s in sources {
        let mine: Vec<&Note> = notes.iter().filter(|n| n.hook == s.hook).collect();
        t.push_str(&source(s, &mine));
    }
    t
}

fn source(s: &Source, notes: &[&Note]) -> String {
    let name = &s.name;
    let hook = super::one_line(&s.hook);
    let mut t = format!("\n# webhook's hook {hook:?}: was /hooks/{hook}, now POST /webhooks/{name}\n");
    let _ = writeln!(t, "[sources.{name}]");
    match &s.trigger.signature {
        Some(Signature::Github(_)) => t.push_str("kind = \"github\"\n"),
        Some(Signature::Gitlab(_)) => t.push_str("kind = \"gitlab\"\n"),
        Some(Signature::Hmac { header, algorithm, prefix, .. }) => {
            let _ = writeln!(t, "kind = \"hmac\"\nheader = {}\nalgorithm = {}", q(header.as_str()), q(*algorithm));
            if !prefix.is_empty() {
                let _ = writeln!(t, "prefix = {}", q(prefix.as_str()));
            }
        }
        None => t.push_str("kind = \"hmac\"\ninsecure = true                  # no signature check was converted\n"),
    }
    if s.trigger.signature.is_some() {
        let _ = writeln!(t, "secret_file = \"secrets/{name}\"    # the secret from the hooks file, moved here (0600)");
    }
    if !s.trigger.allow_ips.is_empty() {
        let _ = writeln!(t, "allow_ips = {}", q(s.trigger.allow_ips.clone()));
    }
    for note in notes {
        let _ = writeln!(t, "# not converted: {}: {}", note.field, note.why);
    }
    if let Some(r) = &s.route {
        let _ = write!(t, "\n[[sources.{name}.routes]]\nname = \"command\"\nevents = [\"*\"]\n");
        if !s.trigger.conditions.is_empty() {
            t.push_str("match = [\n");
            s.trigger.conditions.iter().for_each(|c| t.push_str(&condition(c)));
            t.push_str("]\n");
        }
        let _ = writeln!(t, "command = {}", q(r.command.clone()));
        if !r.env.is_empty() {
            let pairs: Vec<String> = r.env.iter().map(|(k, v)| format!("{k} = {}", q(v.as_str()))).collect();
            let _ = writeln!(t, "env = {{ {} }}", pairs.join(", "));
        }
        match &r.cwd {
            Some((dir, true)) => {
                let _ = writeln!(t, "cwd = {}", q(dir.as_str()));
            }
            Some((dir, false)) => {
                let dir = q(super::one_line(dir));
                let _ = writeln!(t, "# cwd = {dir}   # not a directory on this machine (check-config refuses that)");
            }
            None => {}
        }
        if r.reply {
            t.push_str("reply = true                     # include-command-output-in-response\n");
        }
    }
    t
}

fn condition(c: &Cond) -> String {
    let not = if c.not { ", not = true" } else { "" };
    format!("    {{ field = {}, {} = {}{not} }},\n", q(c.field.as_str()), c.test, json_to_toml(&c.value))
}

/// A match value (string, number, bool or a list of them) as TOML.
fn json_to_toml(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::Bool(b) => q(*b),
        J::Number(n) => n.as_i64().map(q).or_else(|| n.as_f64().map(q)).unwrap_or_else(|| q(n.to_string())),
        J::Array(list) => format!("[{}]", list.iter().map(json_to_toml).collect::<Vec<_>>().join(", ")),
        other => q(other.as_str().unwrap_or_default()),
    }
}
