//! `hookd init`: a starter directory — a commented config.toml that
//! `check-config` accepts as written, an example handler, and one secret
//! file per source holding a random placeholder (owner-only) to replace
//! with the sender's signing secret. Never overwrites a file.
//! `--from-webhook`: `from_webhook.rs`.

pub mod from_webhook;

use crate::config::kinds::Kind;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What `init` refused or failed to do (exit 1, usage errors exit 2).
pub enum InitError {
    Usage(String),
    Failed(String),
}

const HANDLER: &str = r#"#!/bin/sh
# An example handler: hookd runs it once per delivery, with the raw body on
# stdin and the event in HOOKD_* variables (SPEC §5). Exit 0 = delivered;
# another code = retried with backoff; a code in permanent_exit_codes (65
# by default) = dead at once. Its output is kept with the attempt
# (`hookd events show ID`).
set -eu
bytes=$(wc -c)
echo "source=$HOOKD_SOURCE type=$HOOKD_EVENT_TYPE event=$HOOKD_EVENT_ID attempt=$HOOKD_ATTEMPT body=${bytes}B"
"#;

/// The kinds named on the command line (default: stripe), each once.
pub fn run(dir: &Path, kinds: &[String]) -> Result<Vec<PathBuf>, InitError> {
    let mut chosen: Vec<Kind> = Vec::new();
    let default = ["stripe".to_string()];
    for name in if kinds.is_empty() { &default[..] } else { kinds } {
        let kind = Kind::parse(name).map_err(|e| InitError::Usage(format!("--source {name}: {e}")))?;
        if !chosen.contains(&kind) {
            chosen.push(kind);
        }
    }
    let config = dir.join("config.toml");
    refuse_existing(&config)?;
    let failed = |what: &Path, e: std::io::Error| InitError::Failed(format!("{}: {e}", what.display()));
    std::fs::create_dir_all(dir.join("handlers")).map_err(|e| failed(&dir.join("handlers"), e))?;
    private_dir(&dir.join("secrets")).map_err(|e| failed(&dir.join("secrets"), e))?;
    let mut written = Vec::new();
    for kind in &chosen {
        let path = dir.join("secrets").join(kind.name());
        if !path.exists() {
            write_new(&path, &format!("{}\n", placeholder(*kind)), 0o600).map_err(|e| failed(&path, e))?;
            written.push(path);
        }
    }
    let handler = dir.join("handlers/handle-event.sh");
    if !handler.exists() {
        write_new(&handler, HANDLER, 0o755).map_err(|e| failed(&handler, e))?;
        written.push(handler);
    }
    write_new(&config, &config_text(&chosen), 0o640).map_err(|e| failed(&config, e))?;
    written.push(config);
    Ok(written)
}

fn refuse_existing(config: &Path) -> Result<(), InitError> {
    match config.exists() {
        true => Err(InitError::Failed(format!(
            "{} already exists; init never overwrites (move it aside, or pick another --dir)",
            config.display()
        ))),
        false => Ok(()),
    }
}

/// The directory the secret files go in, owner-only.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

fn write_new(path: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// A random secret in the form the kind's secrets take.
fn placeholder(kind: Kind) -> String {
    let mut bytes = [0u8; 24];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: a fixed placeholder is still one to replace.
        bytes = [7; 24];
    }
    match kind {
        Kind::Standard => {
            use base64::Engine as _;
            format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Kind::Stripe => format!("whsec_{}", hex::encode(bytes)),
        _ => hex::encode(bytes),
    }
}

/// The config's sections before the sources; `by` says what wrote it.
fn preamble(by: &str) -> String {
    let mut t = format!("# hookd configuration written by {by}. Check it with\n");
    t.push_str(
        "\
         #   hookd check-config --config THIS_FILE\n\
         # Relative paths are read beside this file. Durations are strings (\"30s\",\n\
         # \"7d\"), sizes bytes or \"1MiB\". Every key: SPEC §3 and docs/operations.md.\n\n\
         [server]\n\
         listen = \"127.0.0.1:8080\"        # POST /webhooks/{source}; \"0.0.0.0:8080\" for every interface\n\n\
         [admin]\n\
         listen = \"unix:data/admin.sock\"  # hookd events|dlq|stats|tail talk to it; no token on a socket\n\n\
         [storage]\n\
         path = \"data\"                    # the write-ahead log and the index (created 0700)\n\
         # dedup_window = \"7d\"\n\n\
         [dispatch]\n\
         # concurrency = 16\n\
         # nice = 10                      # handlers below the ack path's CPU priority\n",
    );
    t
}

fn config_text(kinds: &[Kind]) -> String {
    let mut t = preamble("`hookd init`");
    for kind in kinds {
        let name = kind.name();
        let _ = write!(
            t,
            "\n[sources.{name}]\n\
             kind = \"{name}\"\n\
             secret_file = \"secrets/{name}\"    # holds a random placeholder: put the sender's signing secret there\n"
        );
        if *kind == Kind::Hmac {
            t.push_str(
                "header = \"X-Signature\"           # the header your sender signs in (see docs/senders.md)\n\
                 algorithm = \"sha256\"\n",
            );
        }
        let _ = write!(
            t,
            "\n[[sources.{name}.routes]]\n\
             name = \"all\"\n\
             events = [\"*\"]                   # globs on the event type, e.g. [\"invoice.*\"]\n\
             command = [\"./handlers/handle-event.sh\"]   # argv, no shell; the body on stdin\n\
             # timeout = \"30s\"\n\
             # retry = {{ attempts = 20, initial = \"5s\", max = \"1h\" }}\n"
        );
    }
    t
}
