//! One rule for relative paths: every path a config file names is read
//! against that file's directory, whatever the working directory, so
//! `hookd stats --config /etc/hookd/config.toml` works from anywhere and
//! `check-config` prints absolute paths. Rewrites the raw config once,
//! before validation. Secret files are the exception that keeps its own
//! rule (`secret.rs`): relative, they name a systemd credential when
//! `$CREDENTIALS_DIRECTORY` is set, and a file beside the config otherwise.

use super::raw::RawConfig;
use std::path::{Path, PathBuf};

/// The directory relative paths in the config at `config` are read from.
pub fn base_of(config: &Path) -> PathBuf {
    let dir = config.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// `path` read against `base` (an absolute path stays as it is).
pub fn beside(base: &Path, path: &str) -> String {
    if path.is_empty() || Path::new(path).is_absolute() {
        return path.to_string();
    }
    let joined = base.join(path);
    // `./x` and `a/../b` read as a person means them.
    let mut clean = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    clean.display().to_string()
}

/// A command's program: a path with a `/` is read against `base`; a bare
/// name is still looked up in `PATH` when the handler starts.
fn program(base: &Path, argv: &mut [String]) {
    if let Some(first) = argv.first_mut().filter(|p| p.contains('/')) {
        *first = beside(base, first);
    }
}

pub fn absolutize(raw: &mut RawConfig, base: &Path) {
    let fix = |p: &mut String| *p = beside(base, p);
    let fix_opt = |p: &mut Option<String>| {
        if let Some(p) = p {
            *p = beside(base, p);
        }
    };
    // Secret files: under systemd a relative one is a credential's name,
    // left for `secret.rs` to find in `$CREDENTIALS_DIRECTORY`.
    let in_unit = std::env::var_os("CREDENTIALS_DIRECTORY").is_some_and(|d| !d.is_empty());
    let fix_secret = |p: &mut Option<String>| {
        if !in_unit {
            fix_opt(p);
        }
    };
    fix_secret(&mut raw.admin.token_file);
    fix_secret(&mut raw.alerts.signing_secret_file);
    fix(&mut raw.storage.path);
    if let Some(listen) = raw.admin.listen.as_mut() {
        if let Some(path) = listen.strip_prefix("unix:") {
            *listen = format!("unix:{}", beside(base, path));
        }
    }
    if let Some(argv) = raw.alerts.on_dead.as_mut() {
        program(base, argv);
    }
    fix_opt(&mut raw.tls.ca_file);
    if let Some(tls) = raw.server.tls.as_mut() {
        fix_opt(&mut tls.cert_file);
        fix_opt(&mut tls.key_file);
        if let Some(acme) = tls.acme.as_mut() {
            fix_opt(&mut acme.ca_file);
        }
    }
    for source in raw.sources.values_mut() {
        fix_secret(&mut source.secret_file);
        for route in &mut source.routes {
            fix_secret(&mut route.signing_secret_file);
            if let Some(argv) = route.command.as_mut() {
                program(base, argv);
            }
            fix_opt(&mut route.cwd);
            fix_opt(&mut route.ca_file);
            fix_opt(&mut route.client_cert);
            fix_opt(&mut route.client_key);
            if let Some(nats) = route.nats.as_mut() {
                fix_secret(&mut nats.credentials_file);
                fix_secret(&mut nats.token_file);
                fix_opt(&mut nats.tls_ca_file);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_read_beside_the_config() {
        let base = Path::new("/etc/hookd");
        assert_eq!(beside(base, "./data"), "/etc/hookd/data");
        assert_eq!(beside(base, "handlers/x.sh"), "/etc/hookd/handlers/x.sh");
        assert_eq!(beside(base, "../lib/hookd"), "/etc/lib/hookd");
        assert_eq!(beside(base, "/var/lib/hookd"), "/var/lib/hookd");
        let mut argv = vec!["jq".to_string(), "./not-a-program-path".to_string()];
        program(base, &mut argv);
        assert_eq!(argv[0], "jq", "a bare name stays a PATH lookup");
        assert_eq!(argv[1], "./not-a-program-path", "arguments are the handler's business");
        assert_eq!(base_of(Path::new("config.toml")), std::path::absolute(".").expect("cwd"));
    }
}
