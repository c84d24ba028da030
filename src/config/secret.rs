//! Secrets from `secret`, `secret_env`, `secret_file` and `secrets = [..]`.
//! A `Secret` never prints itself: Debug and Display are redacted, and error
//! messages name where a secret was looked for, never what it holds.
//! A relative file path is a systemd credential: it is resolved against
//! `$CREDENTIALS_DIRECTORY` when that is set (`LoadCredential=`).

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The texts a secret may appear as in a child's output: itself and, for a
/// `whsec_<base64>` secret, its base64 part.
pub fn text_forms(value: &[u8]) -> Vec<Secret> {
    let mut forms = vec![Secret(value.to_vec())];
    if let Some(rest) = value.strip_prefix(b"whsec_").filter(|r| !r.is_empty()) {
        forms.push(Secret(rest.to_vec()));
    }
    forms
}

/// Where one secret comes from, with the config key that named it.
pub enum SecretSource<'a> {
    Literal(&'a str),
    Env(&'a str),
    File(&'a str),
}

/// Resolve one secret. Files have their trailing newline trimmed; an empty
/// secret is an error (it would verify nothing, or everything).
pub fn resolve(source: SecretSource) -> Result<Secret, String> {
    let value = match source {
        SecretSource::Literal(s) => s.to_string(),
        SecretSource::Env(name) => {
            std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?
        }
        SecretSource::File(path) => read_trimmed(&credential_path(path))?,
    };
    if value.is_empty() {
        return Err("is empty".into());
    }
    Ok(Secret(value.into_bytes()))
}

/// For a missing secret file outside a systemd unit: a relative path was
/// read beside the config file, which may not be what a unit's config meant.
fn outside_unit(e: &std::io::Error) -> &'static str {
    let in_unit = std::env::var_os("CREDENTIALS_DIRECTORY").is_some_and(|d| !d.is_empty());
    match (e.kind(), in_unit) {
        (std::io::ErrorKind::NotFound, false) => {
            " ($CREDENTIALS_DIRECTORY is not set, so a relative path is read beside the config file, not as a systemd credential)"
        }
        _ => "",
    }
}

/// What went wrong, as the system says it ("No such file or directory"),
/// without the "(os error 2)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// A secret file's text without its trailing newline.
fn read_trimmed(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {}{}", path.display(), io_reason(&e), outside_unit(&e)))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Where a `secret_file`, `token_file` or `signing_secret_file` path points:
/// a relative path names a credential in `$CREDENTIALS_DIRECTORY` when that
/// is set; otherwise `paths.rs` has made it absolute, beside the config file.
pub fn credential_path(path: &str) -> PathBuf {
    resolve_in(path, std::env::var_os("CREDENTIALS_DIRECTORY").as_deref())
}

fn resolve_in(path: &str, credentials: Option<&OsStr>) -> PathBuf {
    let path = Path::new(path);
    match credentials {
        Some(dir) if path.is_relative() && !dir.is_empty() => Path::new(dir).join(path),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_credentials_when_a_credentials_directory_is_set() {
        let creds = Some(OsStr::new("/run/credentials/hookd.service"));
        assert_eq!(resolve_in("secrets_stripe", creds), PathBuf::from("/run/credentials/hookd.service/secrets_stripe"));
        assert_eq!(resolve_in("/etc/hookd/s", creds), PathBuf::from("/etc/hookd/s"));
        assert_eq!(resolve_in("secrets_stripe", None), PathBuf::from("secrets_stripe"));
        assert_eq!(resolve_in("secrets_stripe", Some(OsStr::new(""))), PathBuf::from("secrets_stripe"));
    }
}
