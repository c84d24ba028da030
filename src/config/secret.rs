//! Secrets from `secret`, `secret_env`, `secret_file` and `secrets = [..]`.
//! A `Secret` never prints itself: Debug and Display are redacted, and error
//! messages name where a secret was looked for, never what it holds.

use std::fmt;

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
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {path}: {}", e.kind()))?
            .trim_end_matches(['\n', '\r'])
            .to_string(),
    };
    if value.is_empty() {
        return Err("is empty".into());
    }
    Ok(Secret(value.into_bytes()))
}
