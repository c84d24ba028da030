//! Generic HMAC senders: a configurable header, algorithm, encoding, prefix,
//! optional timestamp header and a `signed_payload` template over
//! `{timestamp}`, `{id}` and `{body}`. Templates are compiled once, at config
//! load; verification does no parsing of the template and no IO.

use super::{ct_eq, fresh, mac, Algorithm, Inbound, Rejection};
use base64::Engine;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}

/// One piece of a compiled `signed_payload` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Timestamp,
    Id,
    Body,
}

#[derive(Debug, Clone)]
pub struct HmacSpec {
    pub header: String,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    pub prefix: String,
    pub timestamp_header: Option<String>,
    /// Header whose value fills `{id}` (the `event_id = "header:NAME"` one).
    pub id_header: Option<String>,
    pub payload: Vec<Part>,
}

/// Compile `"{timestamp}.{body}"` into parts; unknown placeholders are errors.
pub fn compile_template(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_string()));
        }
        let close = rest[open..].find('}').ok_or("unclosed '{'")? + open;
        parts.push(match &rest[open + 1..close] {
            "timestamp" => Part::Timestamp,
            "id" => Part::Id,
            "body" => Part::Body,
            other => return Err(format!("unknown placeholder {{{other}}}; use {{timestamp}}, {{id}} or {{body}}")),
        });
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_string()));
    }
    Ok(parts)
}

pub fn verify(spec: &HmacSpec, secrets: &[Vec<u8>], tolerance: Duration, req: &Inbound) -> Result<(), Rejection> {
    let header = req.header(&spec.header).ok_or(Rejection::MissingSignature)?;
    let encoded = header.trim().strip_prefix(spec.prefix.as_str()).ok_or(Rejection::MalformedSignature)?;
    let sig = decode(spec.encoding, encoded).ok_or(Rejection::MalformedSignature)?;
    let timestamp = match &spec.timestamp_header {
        Some(name) => Some(req.header(name).ok_or(Rejection::MissingSignature)?.trim()),
        None => None,
    };
    let payload = payload(spec, timestamp.unwrap_or(""), req)?;
    let matched = secrets.iter().any(|s| ct_eq(&mac(spec.algorithm, s, &payload), &sig));
    if !matched {
        return Err(Rejection::BadSignature);
    }
    if let Some(ts) = timestamp {
        let ts = parse_timestamp(ts).ok_or(Rejection::MalformedSignature)?;
        fresh(req.now_unix(), ts, tolerance)?;
    }
    Ok(())
}

/// The signature header value for `body` (for `hookd send` and tests).
pub fn sign(spec: &HmacSpec, secret: &[u8], timestamp: &str, id: &str, body: &[u8]) -> String {
    let payload = render(&spec.payload, timestamp, id, body);
    let sig = mac(spec.algorithm, secret, &payload);
    format!("{}{}", spec.prefix, encode(spec.encoding, &sig))
}

fn payload(spec: &HmacSpec, timestamp: &str, req: &Inbound) -> Result<Vec<u8>, Rejection> {
    let id = match &spec.id_header {
        Some(name) if spec.payload.contains(&Part::Id) => req.header(name).ok_or(Rejection::MissingSignature)?,
        _ => "",
    };
    Ok(render(&spec.payload, timestamp, id, req.body))
}

fn render(parts: &[Part], timestamp: &str, id: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64);
    for part in parts {
        match part {
            Part::Literal(s) => out.extend_from_slice(s.as_bytes()),
            Part::Timestamp => out.extend_from_slice(timestamp.as_bytes()),
            Part::Id => out.extend_from_slice(id.as_bytes()),
            Part::Body => out.extend_from_slice(body),
        }
    }
    out
}

/// Seconds since the epoch; a value over 10^11 is taken as milliseconds.
fn parse_timestamp(s: &str) -> Option<i64> {
    let n: i64 = s.parse().ok()?;
    Some(if n > 100_000_000_000 { n / 1000 } else { n })
}

fn decode(encoding: Encoding, s: &str) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Hex => hex::decode(s).ok(),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.decode(s).ok(),
    }
}

fn encode(encoding: Encoding, sig: &[u8]) -> String {
    match encoding {
        Encoding::Hex => hex::encode(sig),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(sig),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn spec(template: &str, ts_header: Option<&str>) -> HmacSpec {
        HmacSpec {
            header: "x-signature".into(),
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: "sha256=".into(),
            timestamp_header: ts_header.map(str::to_string),
            id_header: Some("x-id".into()),
            payload: compile_template(template).expect("valid template"),
        }
    }

    fn check(spec: &HmacSpec, headers: &[(&str, &str)], body: &[u8], now: u64) -> Result<(), Rejection> {
        let map = super::super::header_map(headers);
        let req = Inbound { headers: &map, body, url: "", now: UNIX_EPOCH + Duration::from_secs(now) };
        verify(spec, &[b"secret".to_vec()], Duration::from_secs(300), &req)
    }

    #[test]
    fn template_compiles_and_rejects_unknown() {
        assert_eq!(
            compile_template("{timestamp}.{body}"),
            Ok(vec![Part::Timestamp, Part::Literal(".".into()), Part::Body])
        );
        assert!(compile_template("{nope}").is_err());
        assert!(compile_template("{body").is_err());
    }

    /// Cross-checked outside hookd: `printf 'hello' | openssl dgst -sha256 -hmac secret`.
    #[test]
    fn plain_body_matches_openssl() {
        let s = spec("{body}", None);
        let want = "sha256=88aab3ede8d3adf94d26ab90d3bafd4a2083070c3bcce9c014ee04a443847c0b";
        assert_eq!(sign(&s, b"secret", "", "", b"hello"), want);
        assert_eq!(check(&s, &[("x-signature", want)], b"hello", 0), Ok(()));
        assert_eq!(check(&s, &[("x-signature", want)], b"hellO", 0), Err(Rejection::BadSignature));
    }

    #[test]
    fn timestamp_and_id_template() {
        let s = spec("{id}.{timestamp}.{body}", Some("x-ts"));
        let sig = sign(&s, b"secret", "1700000000", "msg_1", b"{}");
        let headers = [("x-signature", sig.as_str()), ("x-ts", "1700000000"), ("x-id", "msg_1")];
        assert_eq!(check(&s, &headers, b"{}", 1_700_000_010), Ok(()));
        assert!(matches!(check(&s, &headers, b"{}", 1_700_009_999), Err(Rejection::StaleTimestamp { .. })));
        assert_eq!(check(&s, &headers[..2], b"{}", 1_700_000_010), Err(Rejection::MissingSignature));
    }
}
