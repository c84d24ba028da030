//! GitLab: `X-Gitlab-Token` carries the secret itself. Compared in constant
//! time over SHA-256 digests, so neither the content nor the length of the
//! secret leaks. No signature, no timestamp. The token header is a secret:
//! it is never kept for handlers nor echoed.

use super::{ct_eq, Inbound, Rejection};
use sha2::{Digest, Sha256};

pub const HEADER: &str = "x-gitlab-token";

pub fn verify(secrets: &[Vec<u8>], req: &Inbound) -> Result<(), Rejection> {
    let token = req.headers.get(HEADER).ok_or(Rejection::MissingSignature)?.as_bytes();
    let got = Sha256::digest(token);
    let matched = secrets.iter().any(|s| ct_eq(&Sha256::digest(s), &got));
    matched.then_some(()).ok_or(Rejection::BadSignature)
}

/// The `X-Gitlab-Token` value GitLab sends: the secret token itself.
pub fn sign(secret: &[u8]) -> String {
    String::from_utf8_lossy(secret).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::header_map;
    use std::time::SystemTime;

    fn check(pairs: &[(&str, &str)]) -> Result<(), Rejection> {
        let headers = header_map(pairs);
        let req = Inbound { headers: &headers, body: b"{}", url: "", now: SystemTime::now() };
        verify(&[b"old-token".to_vec(), b"glpat-token".to_vec()], &req)
    }

    #[test]
    fn equal_token_only() {
        assert_eq!(check(&[(HEADER, "glpat-token")]), Ok(()));
        assert_eq!(check(&[(HEADER, "old-token")]), Ok(()));
        assert_eq!(check(&[(HEADER, "glpat-toke")]), Err(Rejection::BadSignature));
        assert_eq!(check(&[(HEADER, "")]), Err(Rejection::BadSignature));
        assert_eq!(check(&[]), Err(Rejection::MissingSignature));
    }
}
