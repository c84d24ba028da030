//! Twilio: `X-Twilio-Signature: <base64>`, HMAC-SHA1 with the auth token of
//! the URL followed by the form parameters sorted and concatenated
//! (key + value). For JSON bodies the URL carries `bodySHA256=<hex>` and only
//! the URL is signed; the body hash must match too. As Twilio's own
//! validators do, the URL is tried as-is, without its port, and with the
//! scheme's default port.

use super::{ct_eq, mac, Algorithm, Inbound, Rejection};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "x-twilio-signature";

pub fn verify(secrets: &[Vec<u8>], req: &Inbound) -> Result<(), Rejection> {
    let header = req.header(HEADER).ok_or(Rejection::MissingSignature)?;
    let sig = STANDARD.decode(header.trim()).map_err(|_| Rejection::MalformedSignature)?;
    let params = match body_hash_param(req.url) {
        Some(want) if !ct_eq(body_hash(req.body).as_bytes(), want.to_ascii_lowercase().as_bytes()) => {
            return Err(Rejection::BadSignature)
        }
        Some(_) => Vec::new(),
        None => sorted_params(req.body),
    };
    let matched = url_variants(req.url).iter().any(|url| {
        let payload = [url.as_bytes(), &params].concat();
        secrets.iter().any(|s| ct_eq(&mac(Algorithm::Sha1, s, &payload), &sig))
    });
    matched.then_some(()).ok_or(Rejection::BadSignature)
}

/// The `X-Twilio-Signature` Twilio would send for `body` posted to `url`
/// (a URL with `bodySHA256` signs the URL alone; see [`url_for_json`]).
pub fn sign(secret: &[u8], url: &str, body: &[u8]) -> String {
    let params = if body_hash_param(url).is_some() { Vec::new() } else { sorted_params(body) };
    STANDARD.encode(mac(Algorithm::Sha1, secret, &[url.as_bytes(), &params].concat()))
}

/// `url` with `bodySHA256=<hex>` appended, as Twilio posts JSON bodies.
pub fn url_for_json(url: &str, body: &[u8]) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}bodySHA256={}", body_hash(body))
}

fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn body_hash_param(url: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "bodySHA256").map(|(_, v)| v.into_owned())
}

/// Form parameters sorted by name, then value, each as name + value.
fn sorted_params(body: &[u8]) -> Vec<u8> {
    let mut pairs: Vec<_> = form_urlencoded::parse(body).collect();
    pairs.sort();
    pairs.iter().flat_map(|(k, v)| [k.as_bytes(), v.as_bytes()].concat()).collect()
}

/// The URL as given, without its port, and with the default port added.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Ok(uri) = url.parse::<http::Uri>() else { return out };
    let (Some(scheme), Some(auth)) = (uri.scheme_str(), uri.authority()) else { return out };
    let rest = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    let user = auth.as_str().rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
    let host = auth.host();
    out.push(format!("{scheme}://{user}{host}{rest}"));
    let default = match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    if let (None, Some(port)) = (auth.port_u16(), default) {
        out.push(format!("{scheme}://{user}{host}:{port}{rest}"));
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::header_map;
    use std::time::SystemTime;

    // twilio/twilio-python, tests/unit/test_request_validator.py: token
    // "12345", this URL and these parameters ("+" sent form-encoded).
    const TOKEN: &[u8] = b"12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const FORM: &[u8] =
        b"CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";
    const SIG: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    fn check(url: &str, body: &[u8], sig: &str) -> Result<(), Rejection> {
        let headers = header_map(&[(HEADER, sig)]);
        let req = Inbound { headers: &headers, body, url, now: SystemTime::now() };
        verify(&[b"other".to_vec(), TOKEN.to_vec()], &req)
    }

    #[test]
    fn twilios_published_form_vector() {
        assert_eq!(sign(TOKEN, URL, FORM), SIG);
        assert_eq!(check(URL, FORM, SIG), Ok(()));
        assert_eq!(check(URL, &FORM[1..], SIG), Err(Rejection::BadSignature));
    }

    /// Same file: `test_validation_removes_port_*` and `..._adds_port_*`.
    #[test]
    fn port_variants_as_twilio_validates_them() {
        assert_eq!(check("https://mycompany.com:1234/myapp.php?foo=1&bar=2", FORM, SIG), Ok(()));
        let http_1234 = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
        assert_eq!(check(http_1234, FORM, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="), Ok(()));
        assert_eq!(check(URL, FORM, "kvajT1Ptam85bY51eRf/AJRuM3w="), Ok(()));
        let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(check(http, FORM, "0ZXoZLH/DfblKGATFgpif+LLRf4="), Ok(()));
    }

    /// Same file: `test_compute_signature_duplicate_*` (repeated names).
    #[test]
    fn repeated_parameters_sort_by_value() {
        let body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234";
        assert_eq!(sign(TOKEN, URL, body), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    /// Same file: `test_compute_hash_unicode`, `test_validation_of_body_succeeds`.
    #[test]
    fn json_body_signs_the_url_with_its_hash() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let url = url_for_json(URL, body);
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        assert_eq!(url, format!("{URL}&bodySHA256={hash}"));
        assert_eq!(check(&url, body, "a9nBmqA0ju/hNViExpshrM61xv4="), Ok(()));
        assert_eq!(sign(TOKEN, &url, body), "a9nBmqA0ju/hNViExpshrM61xv4=");
        let tampered = br#"{"property": "value", "boolean": false}"#;
        assert_eq!(check(&url, tampered, "a9nBmqA0ju/hNViExpshrM61xv4="), Err(Rejection::BadSignature));
    }
}
