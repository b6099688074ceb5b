//! A credential's certificate looked at without connecting anywhere: `hub check` and
//! `hub status` open every .p12 with its password, read its validity and, where the
//! credential names the CA that issued it, verify the chain, so a wrong password, an
//! expired certificate or one about to expire shows before a send fails on it.
//!
//! The same opening as the transport's ([`http::load_identity`]): one reader of .p12
//! files, and one reader of secrets ([`hub_core::api::SecretSource`]).

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hub_core::api::SecretSource;
use hub_core::config::CredentialConfig;
use rustls::pki_types::{CertificateDer, UnixTime};
use serde::Serialize;

use crate::TransportError;
use crate::http::{self, ClientIdentity, Secret};

/// What a credential's certificate says, never its key or password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// The credential's name in hub.toml.
    pub credential: String,
    pub subject: String,
    pub issuer: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// notAfter as the certificate writes it.
    pub expires: String,
    /// Whole days from now until notAfter.
    pub days_left: i64,
    /// Whether the chain was verified against the credential's `ca_file`.
    pub chain_verified: bool,
    /// Whether it expires within the credential's `expiry_warning_days`.
    pub expiring: bool,
}

/// The identity hub.toml's credential names, its password read through the one secret
/// reader; the error names the source, never a value.
pub fn identity(name: &str, c: &CredentialConfig) -> Result<ClientIdentity, TransportError> {
    let source = SecretSource::from_pair(&c.password_env, &c.password_file)
        .and_then(Result::ok)
        .ok_or_else(|| {
            TransportError::permanent(format!(
                "credential {name}: give exactly one of password_file and password_env"
            ))
        })?;
    let password = source
        .read_secret()
        .map_err(|e| TransportError::permanent(format!("credential {name}: its password: {e}")))?;
    Ok(ClientIdentity {
        name: name.to_string(),
        p12_file: c.p12.clone(),
        password: Secret::new(password),
    })
}

/// Opens the credential (password, key, certificate, validity at `now`), verifies its
/// chain against `ca_file` where the credential has one, and says how long it has left.
pub fn inspect(
    name: &str,
    c: &CredentialConfig,
    now: SystemTime,
) -> Result<CertificateInfo, TransportError> {
    let id = identity(name, c)?;
    let chain = http::load_identity(&id, now)?.chain;
    let fail = |why: String| {
        TransportError::permanent(format!("credential {name} ({}): {why}", c.p12.display()))
    };
    let leaf = chain
        .first()
        .ok_or_else(|| fail("holds no certificate".into()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| fail(format!("the certificate cannot be read ({e})")))?;
    let now_s = now
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let not_after = cert.validity().not_after.timestamp();
    let days_left = (not_after - now_s).div_euclid(86_400);
    let chain_verified = match &c.ca_file {
        Some(ca) => {
            verify_chain(&chain, ca, now).map_err(fail)?;
            true
        }
        None => false,
    };
    Ok(CertificateInfo {
        credential: name.to_string(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_after,
        expires: cert.validity().not_after.to_string(),
        days_left,
        chain_verified,
        expiring: days_left < i64::from(c.expiry_warning_days),
    })
}

/// Verifies a client certificate chain for client authentication against the CA(s) in
/// `ca_file`, as a server that trusts that CA would.
fn verify_chain(
    chain: &[CertificateDer<'static>],
    ca_file: &Path,
    now: SystemTime,
) -> Result<(), String> {
    let roots = http::read_roots(ca_file).map_err(|e| e.message)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("CA file {}: {e}", ca_file.display()))?;
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| "holds no certificate".to_string())?;
    let now = UnixTime::since_unix_epoch(now.duration_since(UNIX_EPOCH).unwrap_or_default());
    verifier
        .verify_client_cert(leaf, intermediates, now)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "the certificate is not issued by the CA in {} ({e})",
                ca_file.display()
            )
        })
}
