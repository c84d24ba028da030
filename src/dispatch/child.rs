//! What a child process (handler, alert command) gets from hookd, and what
//! hookd keeps of what it printed: an environment built from nothing (SPEC
//! §5: the baseline names when hookd has them, the inherited names, the
//! route's `env`, the `HOOKD_*` contract, in that order so the contract
//! wins), and output tails with every configured secret scrubbed before
//! they are stored. Never copies hookd's environment wholesale.

use crate::config::secret::Secret;
use crate::config::{Sources, BASELINE_ENV};

/// The child environment: `BASELINE_ENV` and `inherit` from hookd's own
/// environment (those it has), then `env`, then `hookd` (the contract).
pub fn environment(
    inherit: &[String],
    env: &[(String, String)],
    hookd: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| match out.iter_mut().find(|(name, _)| name == k) {
        Some(slot) => slot.1 = v,
        None => out.push((k.to_string(), v)),
    };
    for name in BASELINE_ENV.iter().copied().chain(inherit.iter().map(String::as_str)) {
        if let Some(v) = std::env::var_os(name) {
            set(name, v.to_string_lossy().into_owned());
        }
    }
    for (k, v) in env {
        set(k, v.clone());
    }
    for (k, v) in hookd {
        set(&k, v);
    }
    out
}

/// Every secret hookd holds that a child could print: each source's and
/// each route's, and the admin token.
pub fn secrets<'a>(sources: &'a Sources, admin_token: Option<&'a Secret>) -> Vec<&'a [u8]> {
    let mut all: Vec<&[u8]> = sources.values().flat_map(|s| s.redact.iter().map(Secret::expose)).collect();
    all.extend(admin_token.map(Secret::expose));
    all.retain(|s| !s.is_empty());
    // Longest first, so that a secret containing another is replaced whole.
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    all
}

const REDACTED: &str = "[redacted]";
/// A tail may begin in the middle of a secret (it was cut there): a start
/// that is the last this-many-or-more bytes of a secret is redacted too.
const MIN_CUT_SUFFIX: usize = 6;

/// `tail` with every occurrence of every secret replaced by `[redacted]`.
pub fn scrub(tail: String, secrets: &[&[u8]]) -> String {
    let mut out = tail;
    for secret in secrets {
        let Ok(text) = std::str::from_utf8(secret) else { continue };
        if out.contains(text) {
            out = out.replace(text, REDACTED);
        }
        let cut = (MIN_CUT_SUFFIX..text.len())
            .rev()
            .filter(|&n| text.is_char_boundary(text.len() - n))
            .find(|&n| out.starts_with(&text[text.len() - n..]));
        if let Some(n) = cut {
            out.replace_range(..n, REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_replaces_every_secret_and_a_cut_one_at_the_start() {
        let secrets: Vec<&[u8]> = vec![b"whsec_abcdefgh", b"abcdefgh", b"token123"];
        let tail = "x whsec_abcdefgh y abcdefgh z token123".to_string();
        assert_eq!(scrub(tail, &secrets), "x [redacted] y [redacted] z [redacted]");
        assert_eq!(scrub("cdefgh and more".into(), &secrets), "[redacted] and more");
        assert_eq!(scrub("gh short suffix stays".into(), &secrets), "gh short suffix stays");
    }

    #[test]
    fn environment_is_baseline_inherited_env_then_contract() {
        // PATH is set in any test environment; a name hookd lacks is skipped.
        let env = environment(
            &["HOOKD_TEST_SURELY_UNSET_VAR".into()],
            &[("STAGE".into(), "prod".into()), ("HOOKD_ID".into(), "forged".into())],
            vec![("HOOKD_ID".into(), "01J".into())],
        );
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert!(names.contains(&"PATH"));
        assert!(!names.contains(&"HOOKD_TEST_SURELY_UNSET_VAR"));
        assert!(env.contains(&("STAGE".into(), "prod".into())));
        assert!(env.contains(&("HOOKD_ID".into(), "01J".into())), "the contract wins: {env:?}");
        assert!(env.iter().all(|(k, _)| BASELINE_ENV.contains(&k.as_str()) || k == "STAGE" || k == "HOOKD_ID"));
    }
}
