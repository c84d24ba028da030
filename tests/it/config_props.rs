//! Property tests of the config loader (in-process, `hookd::config::load`):
//! any text — TOML-ish lines assembled from real and bogus keys, values and
//! tables, or arbitrary bytes — and any structured random config give
//! either a valid config or `path: reason` lines, never a panic, and a
//! problem line never carries a secret's value.

use proptest::prelude::*;

const SECRET: &str = "propSECRETvalue";

fn load(text: &[u8]) -> Result<(), Vec<String>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).expect("write");
    hookd::config::load(&path).map(|_| ()).map_err(|e| e.0)
}

fn check(text: &[u8]) -> Result<(), TestCaseError> {
    if let Err(lines) = load(text) {
        prop_assert!(!lines.is_empty(), "an error without a reason");
        for line in &lines {
            prop_assert!(line.contains(": "), "not `path: reason`: {line:?}");
            prop_assert!(!line.contains(SECRET), "a secret in a problem line: {line:?}");
        }
    }
    Ok(())
}

fn table() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[server]".to_string()),
        Just("[storage]".to_string()),
        Just("[dispatch]".to_string()),
        Just("[admin]".to_string()),
        Just("[alerts]".to_string()),
        "[a-z]{1,6}".prop_map(|n| format!("[sources.{n}]")),
        "[a-z]{1,6}".prop_map(|n| format!("[[sources.{n}.routes]]")),
        Just("[sources]".to_string()),
        Just("[[server]]".to_string()),
    ]
}

fn key() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "listen",
        "max_body",
        "read_timeout",
        "max_connections",
        "trusted_proxies",
        "path",
        "dedup_window",
        "retain_delivered",
        "retain_dead",
        "concurrency",
        "output_tail",
        "token_file",
        "on_dead",
        "url",
        "kind",
        "secret",
        "secret_env",
        "secret_file",
        "secrets",
        "insecure",
        "tolerance",
        "allow_ips",
        "rate_limit",
        "public_url",
        "public_key",
        "header",
        "algorithm",
        "encoding",
        "prefix",
        "timestamp_header",
        "signed_payload",
        "event_id",
        "event_type",
        "events",
        "command",
        "timeout",
        "retry",
        "order_by",
        "signing_secret",
        "permanent_exit_codes",
        "name",
        "bogus",
    ])
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "\"stripe\"",
            "\"github\"",
            "\"hmac\"",
            "\"standard\"",
            "\"twilio\"",
            "\"nope\"",
            "\"5s\"",
            "\"0s\"",
            "\"-1s\"",
            "\"1MiB\"",
            "\"0\"",
            "\"99999999999999999999\"",
            "\"100/s\"",
            "\"0/s\"",
            "\"x/y\"",
            "\"10.0.0.0/33\"",
            "\"127.0.0.1:0\"",
            "\"unix:\"",
            "\"unix:/tmp/x.sock\"",
            "\"http://\"",
            "\"http://127.0.0.1:1/x\"",
            "\"whsec_!!\"",
            "\"whsec_a2V5\"",
            "\"json:/id\"",
            "\"header:X\"",
            "\"json:\"",
            "\"{timestamp}.{body}\"",
            "\"/\"",
            "\"sha512\"",
            "\"base64\"",
            "\"*\"",
            "\"[\"",
            "0",
            "-1",
            "18446744073709551616",
            "1.5",
            "true",
            "[]",
            "[\"*\"]",
            "[\"\"]",
            "[0, 65, 256]",
            "[\"/bin/true\"]",
            "[[]]",
            "{}",
            "{ attempts = 0 }",
            "{ attempts = 3, initial = \"1h\", max = \"1s\" }",
            "\"\"",
            "\"\\u0000\"",
            "nan",
            "1979-05-27",
        ])
        .prop_map(str::to_string),
        "\\PC{0,12}".prop_map(|s| format!("{s:?}")),
    ]
}

/// A secret-bearing key with the secret written in some (right or wrong)
/// shape: its value must never be echoed.
fn secret_line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec!["secret", "secrets", "signing_secret", "public_key", "token_file"]);
    let shape =
        prop::sample::select(vec!["\"S\"", "[\"S\"]", "[\"S\", 1]", "{ x = \"S\" }", "\"S", "S", "\"S\" \"S\""]);
    (key, shape).prop_map(|(k, v)| format!("{k} = {}", v.replace('S', SECRET)))
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (key(), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => secret_line(),
        1 => table(),
        1 => "\\PC{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn toml_ish_text_never_panics_the_loader(lines in prop::collection::vec(line(), 0..25)) {
        check(lines.join("\n").as_bytes())?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_loader(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&bytes)?;
    }

    /// Well-formed shapes with random values: sources of every kind with
    /// routes, so validation (not parsing) is what runs.
    #[test]
    fn structured_configs_are_valid_or_explained(
        sources in prop::collection::vec(
            (prop::sample::select(vec!["stripe", "github", "slack", "shopify", "twilio", "standard", "gitlab",
                "paddle", "linear", "square", "zoom", "hmac", "bogus"]),
             prop::collection::vec((key(), value()), 0..4),
             prop::collection::vec(prop::collection::vec((key(), value()), 0..5), 0..3)),
            0..4),
        server in prop::collection::vec((key(), value()), 0..4),
    ) {
        let mut text = String::from("[server]\n");
        for (k, v) in &server {
            text.push_str(&format!("{k} = {v}\n"));
        }
        for (n, (kind, keys, routes)) in sources.iter().enumerate() {
            text.push_str(&format!("\n[sources.s{n}]\nkind = \"{kind}\"\nsecret = \"{SECRET}\"\n"));
            if n == 1 {
                text.push_str(&format!("secrets = \"{SECRET}\"\n"));
            }
            for (k, v) in keys.iter().filter(|(k, _)| !matches!(*k, "kind" | "secret")) {
                text.push_str(&format!("{k} = {v}\n"));
            }
            for route in routes {
                text.push_str(&format!("\n[[sources.s{n}.routes]]\nevents = [\"*\"]\ncommand = [\"/bin/true\"]\n"));
                for (k, v) in route.iter().filter(|(k, _)| !matches!(*k, "events" | "command")) {
                    text.push_str(&format!("{k} = {v}\n"));
                }
            }
        }
        check(text.as_bytes())?;
    }
}
