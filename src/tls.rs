//! TLS, shared by ingress and every client (callbacks, alerts, ACME, NATS): rustls
//! on the ring provider, PEM files read and checked, the reasons a
//! certificate did not verify named in words. Never skips verification,
//! never offers a way to, and never logs or returns key material.
//!
//! - `client`  — root stores (the system's + `ca_file`s), client identities (mTLS), failure reasons
//! - `ingress` — the server side: the certificate in force, swapped on SIGHUP or by ACME, the handshake
//! - `acme`    — obtaining and renewing the ingress certificate (TLS-ALPN-01), kept under `[storage] path`

pub mod acme;
pub mod client;
pub mod ingress;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;

/// The one crypto provider hookd uses (ring: no C toolchain beyond `cc`,
/// a quicker build than aws-lc-rs on small machines).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why a PEM file could not be used; the text names the file, never its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemError {
    Unreadable(String),
    NoCertificate,
    NoKey,
    Invalid(String),
    /// The key is not the certificate's.
    Mismatch,
}

impl std::fmt::Display for PemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PemError::Unreadable(why) => write!(f, "cannot read it: {why}"),
            PemError::NoCertificate => f.write_str("holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
            PemError::NoKey => f.write_str("holds no PEM private key (PKCS#8, PKCS#1 or SEC1)"),
            PemError::Invalid(why) => write!(f, "is not valid PEM: {why}"),
            PemError::Mismatch => f.write_str("does not match the certificate (a key of another certificate?)"),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|e| PemError::Unreadable(format!("{}: {e}", path.display())))
}

/// Every certificate in a PEM file, in order (a chain: leaf first).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    parse_certs(&read(path)?)
}

pub fn parse_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::Invalid(e.to_string()))?;
    if certs.is_empty() {
        return Err(PemError::NoCertificate);
    }
    for (i, cert) in certs.iter().enumerate() {
        if let Err(e) = x509_parser::parse_x509_certificate(cert) {
            return Err(PemError::Invalid(format!("certificate {} is not X.509: {e}", i + 1)));
        }
    }
    Ok(certs)
}

/// The private key in a PEM file (the first one).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, PemError> {
    parse_key(&read(path)?)
}

pub fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, PemError> {
    use rustls::pki_types::pem::Error;
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => Ok(key),
        Err(Error::NoItemsFound) => Err(PemError::NoKey),
        // The parser's messages never quote the key.
        Err(e) => Err(PemError::Invalid(e.to_string())),
    }
}

/// A chain and its key, checked to belong together; for serving or for mTLS.
pub fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, PemError> {
    let signing = provider().key_provider.load_private_key(key).map_err(|e| PemError::Invalid(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(Arc::new(certified)),
        Err(_) => Err(PemError::Mismatch),
    }
}

#[cfg(test)]
mod tests;
