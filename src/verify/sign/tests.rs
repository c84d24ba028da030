//! `sign_request` output verifies with `check` and identifies, for every
//! kind, through a real config load (so secrets are read as users write them).

use super::*;
use crate::config::{self, Config};
use crate::verify::{check, handshake, identify, Inbound, Rejection};
use http::{HeaderMap, HeaderName, HeaderValue};

const URL: &str = "http://127.0.0.1:8080/webhooks/x";
/// A Standard Webhooks secret: "whsec_" + base64 of the key bytes.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn load(sources: &str) -> Config {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    let text = format!("[storage]\npath = \"{}\"\n\n{sources}", dir.path().display());
    std::fs::write(&path, text).expect("write config");
    config::load(&path).unwrap_or_else(|e| panic!("config: {e}"))
}

fn source_toml(kind: Kind) -> String {
    let extra = match kind {
        Kind::Hmac => "header = \"x-sig\"\nprefix = \"sha256=\"\ntimestamp_header = \"x-ts\"\nsigned_payload = \"{timestamp}.{body}\"\n",
        _ => "",
    };
    let secrets = match kind {
        Kind::Standard => format!("\"{WHSEC}\", \"whsec_c2Vjb25k\""),
        _ => "\"s3cret-old\", \"s3cret-new\"".to_string(),
    };
    let name = kind.name();
    format!("[sources.{name}]\nkind = \"{name}\"\nsecrets = [{secrets}]\n{extra}\n")
}

fn to_map(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes()).expect("header name");
        map.append(name, HeaderValue::from_str(v).expect("header value"));
    }
    map
}

/// Every sample `send` has — per kind and per common type — verifies,
/// is no handshake, is identified as the type asked for (read the way
/// ingress reads it: a form's `payload=` JSON for Slack's interactivity),
/// and no longer verifies once tampered with.
#[test]
fn every_kind_signs_what_it_verifies() {
    let all: String = Kind::ALL.iter().map(|k| source_toml(*k)).collect();
    let config = load(&all);
    let now = SystemTime::now();
    for kind in Kind::ALL {
        let source = &config.sources[kind.name()];
        let slash = (kind == Kind::Slack).then_some("/deploy");
        for ty in [None].into_iter().chain(known_types(kind).chain(slash).map(Some)) {
            let body = sample_body(kind, ty);
            let headers = to_map(&sign_request_typed(source, ty, &body, URL, now));
            let url = request_url(source, &body, URL);
            let req = Inbound { headers: &headers, body: &body, url: &url, now };
            assert_eq!(check(&source.verifier, &req), Ok(()), "{kind:?} {ty:?}");
            assert!(handshake::answer(&source.verifier, &req).is_none(), "{kind:?}");
            let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
            let view = crate::route::payload::json_bytes(&body, content_type);
            let ident = identify::identify(&source.identify, &Inbound { body: &view, ..req })
                .unwrap_or_else(|e| panic!("{kind:?} {ty:?}: {e}"));
            let want = if kind == Kind::Hmac { "event" } else { ty.unwrap_or(default_type(kind)) };
            assert_eq!((ident.event_type.as_str(), ident.event_id.is_empty()), (want, false), "{kind:?}");
            if kind == Kind::Gitlab {
                continue; // a shared token, not a signature over the body
            }
            let tampered = [&body[..], b" "].concat();
            let req = Inbound { body: &tampered, ..req };
            assert_ne!(check(&source.verifier, &req), Ok(()), "{kind:?} tampered");
        }
    }
}

#[test]
fn sample_bodies_have_fresh_ids_and_the_asked_type() {
    let config = load(&source_toml(Kind::Paddle));
    let source = &config.sources["paddle"];
    let (a, b) = (sample_body(Kind::Paddle, Some("subscription.created")), sample_body(Kind::Paddle, None));
    let now = SystemTime::now();
    let ids: Vec<_> = [&a, &b]
        .iter()
        .map(|body| {
            let headers = to_map(&sign_request(source, body, URL, now));
            let req = Inbound { headers: &headers, body, url: URL, now };
            identify::identify(&source.identify, &req).expect("identified")
        })
        .collect();
    assert_ne!(ids[0].event_id, ids[1].event_id);
    assert_eq!(ids[0].event_type, "subscription.created");
}

/// Stripe's `whsec_…` is the HMAC key as written; Standard Webhooks'
/// `whsec_…` is base64 of the key. The same text must not cross over.
#[test]
fn stripe_whsec_is_used_as_is_standard_whsec_is_decoded() {
    let config = load(&format!(
        "[sources.stripe]\nkind = \"stripe\"\nsecret = \"{WHSEC}\"\n\n[sources.standard]\nkind = \"standard\"\nsecret = \"{WHSEC}\"\n"
    ));
    let now = SystemTime::now();
    let ts = now.duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64;
    let body = br#"{"id":"evt_1","type":"x"}"#;
    let as_is = stripe::sign(WHSEC.as_bytes(), ts, body);
    let headers = to_map(&[("stripe-signature".into(), as_is)]);
    let req = Inbound { headers: &headers, body, url: URL, now };
    assert_eq!(check(&config.sources["stripe"].verifier, &req), Ok(()));

    let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &WHSEC[6..]).expect("b64");
    let sign_with = |key: &[u8]| {
        to_map(&[
            ("webhook-id".into(), "msg_1".into()),
            ("webhook-timestamp".into(), ts.to_string()),
            ("webhook-signature".into(), standard::sign_v1(key, "msg_1", ts, body)),
        ])
    };
    let good = sign_with(&decoded);
    let req = Inbound { headers: &good, body, url: URL, now };
    assert_eq!(check(&config.sources["standard"].verifier, &req), Ok(()));
    let raw = sign_with(WHSEC.as_bytes());
    let req = Inbound { headers: &raw, body, url: URL, now };
    assert_eq!(check(&config.sources["standard"].verifier, &req), Err(Rejection::BadSignature));
}

/// `public_key = "whpk_…"` alone configures a v1a (ed25519) source. Vector:
/// standard-webhooks/standard-webhooks libraries/go/webhook_asymmetric_test.go
/// (`TestAsymmetricWebhookSign`), the same one `standard/tests.rs` uses.
#[test]
fn standard_public_key_only_verifies_v1a() {
    use ed25519_dalek::SigningKey;
    let b64 = base64::engine::general_purpose::STANDARD;
    let seed = base64::Engine::decode(&b64, "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=").expect("seed");
    let seed: [u8; 32] = seed.try_into().expect("32 bytes");
    let public = base64::Engine::encode(&b64, SigningKey::from_bytes(&seed).verifying_key().as_bytes());
    let config = load(&format!("[sources.s]\nkind = \"standard\"\npublic_key = [\"whpk_{public}\"]\n"));
    let sig = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";
    let headers = to_map(&[
        ("svix-id".into(), "msg_p5jXN8AQM9LWM0D4loKWxJek".into()),
        ("svix-timestamp".into(), "1614265330".into()),
        ("svix-signature".into(), sig.into()),
    ]);
    let body = br#"{"test": 2432232314}"#;
    let now = UNIX_EPOCH + std::time::Duration::from_secs(1_614_265_330);
    let req = Inbound { headers: &headers, body, url: URL, now };
    assert_eq!(check(&config.sources["s"].verifier, &req), Ok(()));
    let req = Inbound { body: b"{}", ..req };
    assert_eq!(check(&config.sources["s"].verifier, &req), Err(Rejection::BadSignature));
}
