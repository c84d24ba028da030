//! What of hookd's own environment a child process (handler, alert) may be
//! handed (SPEC §5 "Environment"): `[dispatch] inherit_env`, a route's
//! `inherit_env` and its `env` table, checked at load. Never lets a name
//! through that holds a secret hookd reads, a `HOOKD_*` variable (hookd's
//! own config overrides and the handler contract), or systemd's
//! credential, notify and watchdog variables.

use super::Problems;
use std::collections::BTreeMap;

/// Variables of hookd's environment a child gets when hookd has them.
pub const BASELINE: [&str; 8] = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "TMPDIR"];

/// systemd's variables for hookd alone: a child that read them could open
/// every credential (the admin token too) or speak for hookd to systemd.
const SYSTEMD: [&str; 5] = ["CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS"];

/// `secret_names`: every environment variable hookd reads a secret from,
/// with the config key that names it (`sources.github.secret_env`).
pub(super) struct Rules<'a> {
    pub secret_names: &'a BTreeMap<String, String>,
}

impl Rules<'_> {
    /// Check one `inherit_env` list; `at` is its key path.
    pub fn inherit(&self, at: &str, names: &[String], p: &mut Problems) -> bool {
        let mut ok = true;
        for (i, name) in names.iter().enumerate() {
            let at = format!("{at}[{i}]");
            if let Err(why) = self.inheritable(name) {
                p.push(at, why);
                ok = false;
            }
        }
        ok
    }

    fn inheritable(&self, name: &str) -> Result<(), String> {
        valid_name(name)?;
        if let Some(key) = self.secret_names.get(name) {
            return Err(format!("{name} holds a secret hookd reads ({key}); a handler may never see it"));
        }
        if name.starts_with("HOOKD_") {
            return Err(format!("{name}: HOOKD_* variables are hookd's own (config overrides, the handler contract)"));
        }
        if SYSTEMD.contains(&name) || name.starts_with("WATCHDOG_") {
            return Err(format!("{name} is systemd's, for hookd alone (it would hand a handler every credential)"));
        }
        Ok(())
    }

    /// Check a route's `env` table; `at` is its key path.
    pub fn env(&self, at: &str, env: &BTreeMap<String, String>, p: &mut Problems) -> bool {
        let mut ok = true;
        for (name, value) in env {
            let why = valid_name(name).err().or_else(|| {
                if name.starts_with("HOOKD_") {
                    Some(format!("{name}: HOOKD_* names are the handler contract's; pick another name"))
                } else if value.contains('\0') {
                    Some("a value cannot hold a NUL byte".into())
                } else {
                    None
                }
            });
            if let Some(why) = why {
                p.push(format!("{at}.{name}"), why);
                ok = false;
            }
        }
        ok
    }
}

/// Whether `program` names an executable file as a handler's `argv[0]`
/// (run without a shell): a bare name is looked up in `PATH`, a path with
/// a `/` is taken from the working directory.
pub fn executable(program: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &std::path::Path| -> Result<(), String> {
        let meta = std::fs::metadata(p).map_err(|e| e.to_string())?;
        match (meta.is_file(), meta.permissions().mode() & 0o111 != 0) {
            (false, _) => Err("is not a file".into()),
            (true, false) => Err("is not executable (chmod +x)".into()),
            (true, true) => Ok(()),
        }
    };
    if program.contains('/') {
        return is_exec(std::path::Path::new(program))
            .map_err(|why| format!("{program} does not resolve to an executable file: {why}"));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|dir| is_exec(&dir.join(program)).is_ok()) {
        return Ok(());
    }
    let hint = if program.contains(' ') { " (argv is not a shell line: [\"/bin/sh\", \"-c\", \"…\"])" } else { "" };
    Err(format!("{program} is not an executable in PATH{hint}"))
}

fn valid_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.starts_with(|c: char| c.is_ascii_digit())
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match bad {
        true => Err(format!("{name:?} is not an environment variable name (letters, digits, _)")),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_hookd_and_systemd_names_are_refused() {
        let secret_names = BTreeMap::from([("GH_SECRET".to_string(), "sources.gh.secret_env".to_string())]);
        let rules = Rules { secret_names: &secret_names };
        assert!(rules.inheritable("AWS_PROFILE").is_ok());
        let err = rules.inheritable("GH_SECRET").unwrap_err();
        assert!(err.contains("sources.gh.secret_env"), "{err}");
        for name in
            ["HOOKD_SOURCES__X__SECRET", "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "A=B", "", "1X"]
        {
            assert!(rules.inheritable(name).is_err(), "{name}");
        }
    }

    #[test]
    fn executables_resolve_like_exec() {
        assert!(executable("sh").is_ok());
        assert!(executable("/bin/sh").is_ok());
        let err = executable("./handlers/nope.sh").unwrap_err();
        assert!(err.contains("No such file"), "{err}");
        let plain = tempfile::NamedTempFile::new().unwrap();
        let plain = plain.path().to_str().unwrap();
        assert!(executable(plain).unwrap_err().contains("not executable"), "{plain}");
        assert!(executable("/tmp").unwrap_err().contains("not a file"));
        assert!(executable("echo hello").unwrap_err().contains("not a shell line"));
    }

    #[test]
    fn env_tables_keep_off_the_contract() {
        let names = BTreeMap::new();
        let rules = Rules { secret_names: &names };
        let mut p = Problems::default();
        let env = BTreeMap::from([
            ("STAGE".to_string(), "prod".to_string()),
            ("HOOKD_ID".to_string(), "x".to_string()),
            ("BAD NAME".to_string(), "x".to_string()),
        ]);
        assert!(!rules.env("sources.s.routes[0].env", &env, &mut p));
        assert_eq!(p.0.len(), 2, "{:?}", p.0);
        assert!(p.0.iter().any(|e| e.starts_with("sources.s.routes[0].env.HOOKD_ID: ")));
    }
}
