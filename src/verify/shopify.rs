//! Shopify: `X-Shopify-Hmac-Sha256: <base64>`, HMAC-SHA256 of the raw body
//! with the app's client secret as-is. No timestamp, so no tolerance. Id
//! `X-Shopify-Webhook-Id`, type `X-Shopify-Topic`. Never returns the
//! expected signature.

use super::{ct_eq, hmac_sha256, Inbound, Rejection};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub const HEADER: &str = "x-shopify-hmac-sha256";

pub fn verify(secrets: &[Vec<u8>], req: &Inbound) -> Result<(), Rejection> {
    let header = req.header(HEADER).ok_or(Rejection::MissingSignature)?;
    let sig = STANDARD.decode(header.trim()).map_err(|_| Rejection::MalformedSignature)?;
    let matched = secrets.iter().any(|s| ct_eq(&hmac_sha256(s, req.body), &sig));
    matched.then_some(()).ok_or(Rejection::BadSignature)
}

/// The `X-Shopify-Hmac-Sha256` value Shopify would send for `body`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    STANDARD.encode(hmac_sha256(secret, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::header_map;
    use std::time::SystemTime;

    // Shopify publishes no webhook vector (shopify.dev "Verify webhooks" shows
    // only the algorithm; Shopify/shopify-api-ruby tests sign at run time).
    // Cross-checked outside hookd:
    // printf '%s' "$BODY" | openssl dgst -sha256 -hmac shpss_secret -binary | base64
    const BODY: &[u8] = br#"{"id":1,"topic":"orders/create"}"#;
    const SIG: &str = "7CJMkwk95NxCIZ/lDNFtYTXok569L4I5Jub461+LJGU=";

    fn check(sig: Option<&str>, body: &[u8]) -> Result<(), Rejection> {
        let headers = header_map(&sig.map(|s| vec![(HEADER, s)]).unwrap_or_default());
        let req = Inbound { headers: &headers, body, url: "", now: SystemTime::now() };
        verify(&[b"shpss_secret".to_vec()], &req)
    }

    #[test]
    fn matches_openssl_and_rejects_tampering() {
        assert_eq!(sign(b"shpss_secret", BODY), SIG);
        assert_eq!(check(Some(SIG), BODY), Ok(()));
        assert_eq!(check(Some(SIG), b"{}"), Err(Rejection::BadSignature));
        assert_eq!(check(Some("not base64!"), BODY), Err(Rejection::MalformedSignature));
        assert_eq!(check(None, BODY), Err(Rejection::MissingSignature));
    }
}
