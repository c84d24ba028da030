//! GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body.
//! Event id `X-GitHub-Delivery`; type `X-GitHub-Event`, plus `.action` when
//! the body has one. No timestamp in the scheme, so no tolerance.

use super::{ct_eq, hmac_sha256, Inbound, Rejection};

pub const HEADER: &str = "x-hub-signature-256";

pub fn verify(secrets: &[Vec<u8>], req: &Inbound) -> Result<(), Rejection> {
    let header = req.header(HEADER).ok_or(Rejection::MissingSignature)?;
    let hex_sig = header.strip_prefix("sha256=").ok_or(Rejection::MalformedSignature)?;
    let sig = hex::decode(hex_sig).map_err(|_| Rejection::MalformedSignature)?;
    let matched = secrets.iter().any(|s| ct_eq(&hmac_sha256(s, req.body), &sig));
    matched.then_some(()).ok_or(Rejection::BadSignature)
}

/// The header value GitHub would send for `body` (for `hookd send`).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret, body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use std::time::SystemTime;

    fn check(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), Rejection> {
        let mut headers = HeaderMap::new();
        if let Some(h) = header {
            headers.insert(HEADER, h.parse().expect("ascii header"));
        }
        let req = Inbound { headers: &headers, body, url: "", now: SystemTime::now() };
        verify(&[secret.to_vec()], &req)
    }

    /// GitHub's published example ("Validating webhook deliveries", docs.github.com):
    /// secret "It's a Secret to Everybody", payload "Hello, World!".
    const DOC_SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn accepts_githubs_documented_example() {
        let secret = b"It's a Secret to Everybody";
        assert_eq!(check(secret, b"Hello, World!", Some(DOC_SIG)), Ok(()));
        assert_eq!(sign(secret, b"Hello, World!"), DOC_SIG);
    }

    #[test]
    fn rejects_tampered_wrong_secret_missing_malformed() {
        let secret = b"It's a Secret to Everybody";
        assert_eq!(check(secret, b"Hello, World?", Some(DOC_SIG)), Err(Rejection::BadSignature));
        assert_eq!(check(b"other", b"Hello, World!", Some(DOC_SIG)), Err(Rejection::BadSignature));
        assert_eq!(check(secret, b"x", None), Err(Rejection::MissingSignature));
        assert_eq!(check(secret, b"x", Some("sha1=00")), Err(Rejection::MalformedSignature));
        assert_eq!(check(secret, b"x", Some("sha256=zz")), Err(Rejection::MalformedSignature));
    }
}
