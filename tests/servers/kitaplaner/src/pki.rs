//! A throw-away PKI for mutual TLS tests, generated with rcgen into a folder:
//!
//! | file | what |
//! |---|---|
//! | `ca.pem` | the test CA; the server trusts client certificates it issued, clients trust the server through it |
//! | `server.pem`, `server-key.pem` | the server certificate for `localhost` and `127.0.0.1`, and its key |
//! | `client.p12` | a client identity from the test CA (AES-256, HMAC-SHA256) |
//! | `client-legacy.p12` | another client identity from the test CA, written the way older tools export (3DES, HMAC-SHA1) |
//! | `client-untrusted.p12` | a client identity from a different CA the server does not trust |
//! | `client-expired.p12` | a client identity from the test CA that expired in 2020 |
//! | `other-ca.pem` | the CA of the untrusted client |
//!
//! Every .p12 has its own known password ([`Identity::password`]). Nothing of this is
//! committed: tests generate it into a temporary folder.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, date_time_ymd,
};

/// One client identity: a .p12 file, its password and the certificate's subject CN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub p12: PathBuf,
    pub password: String,
    /// The subject common name, as the server reports it per request.
    pub cn: String,
}

/// The paths and passwords of a generated test PKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pki {
    pub dir: PathBuf,
    /// The test CA certificate (PEM).
    pub ca_pem: PathBuf,
    /// The server certificate (PEM) for `localhost` and `127.0.0.1`.
    pub server_cert_pem: PathBuf,
    /// The server's private key (PKCS#8 PEM).
    pub server_key_pem: PathBuf,
    /// A client identity from the test CA, AES-256 encrypted.
    pub client: Identity,
    /// A client identity from the test CA, 3DES + HMAC-SHA1 (legacy export).
    pub client_legacy: Identity,
    /// A client identity from a CA the server does not trust.
    pub client_untrusted: Identity,
    /// A client identity from the test CA whose certificate has expired.
    pub client_expired: Identity,
    /// The CA of the untrusted client (PEM).
    pub other_ca_pem: PathBuf,
}

/// Why the PKI could not be generated or found.
#[derive(Debug)]
pub struct PkiError(String);

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PkiError {}

fn err(what: impl fmt::Display) -> PkiError {
    PkiError(what.to_string())
}

const CLIENT_CN: &str = "kita-client";
const LEGACY_CN: &str = "kita-client-legacy";
const UNTRUSTED_CN: &str = "kita-client-untrusted";
const EXPIRED_CN: &str = "kita-client-expired";

impl Pki {
    /// The layout of a PKI in `dir`, without looking at the files.
    pub fn layout(dir: &Path) -> Pki {
        let identity = |file: &str, password: &str, cn: &str| Identity {
            p12: dir.join(file),
            password: password.to_string(),
            cn: cn.to_string(),
        };
        Pki {
            dir: dir.to_path_buf(),
            ca_pem: dir.join("ca.pem"),
            server_cert_pem: dir.join("server.pem"),
            server_key_pem: dir.join("server-key.pem"),
            client: identity("client.p12", "kita-geheim-1", CLIENT_CN),
            client_legacy: identity("client-legacy.p12", "legacy-geheim-2", LEGACY_CN),
            client_untrusted: identity("client-untrusted.p12", "fremd-geheim-3", UNTRUSTED_CN),
            client_expired: identity("client-expired.p12", "alt-geheim-4", EXPIRED_CN),
            other_ca_pem: dir.join("other-ca.pem"),
        }
    }

    /// Whether every file of the layout exists.
    pub fn is_complete(&self) -> bool {
        [
            &self.ca_pem,
            &self.server_cert_pem,
            &self.server_key_pem,
            &self.client.p12,
            &self.client_legacy.p12,
            &self.client_untrusted.p12,
            &self.client_expired.p12,
            &self.other_ca_pem,
        ]
        .iter()
        .all(|p| p.is_file())
    }

    /// The PKI in `dir`, generated first when any file is missing.
    pub fn ensure(dir: &Path) -> Result<Pki, PkiError> {
        let pki = Pki::layout(dir);
        if pki.is_complete() {
            Ok(pki)
        } else {
            Pki::generate(dir)
        }
    }

    /// Generates a fresh PKI into `dir` (created if missing), replacing what is there.
    pub fn generate(dir: &Path) -> Result<Pki, PkiError> {
        fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
        let pki = Pki::layout(dir);
        let write = |path: &Path, bytes: &[u8]| {
            fs::write(path, bytes).map_err(|e| err(format!("cannot write {}: {e}", path.display())))
        };

        let (ca_params, ca_key) = ca("hub test CA (Kita-Planer)")?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
        write(&pki.ca_pem, ca_cert.pem().as_bytes())?;
        let ca_issuer = Issuer::new(ca_params, ca_key);

        let (other_params, other_key) = ca("some other CA")?;
        let other_cert = other_params.self_signed(&other_key).map_err(err)?;
        write(&pki.other_ca_pem, other_cert.pem().as_bytes())?;
        let other_issuer = Issuer::new(other_params, other_key);

        // Server: localhost and 127.0.0.1.
        let server_key = KeyPair::generate().map_err(err)?;
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .map_err(err)?;
        params.distinguished_name = dn("localhost");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let server_cert = params.signed_by(&server_key, &ca_issuer).map_err(err)?;
        write(&pki.server_cert_pem, server_cert.pem().as_bytes())?;
        write(&pki.server_key_pem, server_key.serialize_pem().as_bytes())?;

        let modern = (
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        );
        let legacy = (
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
            MacAlgorithm::HmacSha1,
        );
        let p12 = client_p12(&pki.client, &ca_issuer, false, modern)?;
        write(&pki.client.p12, &p12)?;
        let p12 = client_p12(&pki.client_legacy, &ca_issuer, false, legacy)?;
        write(&pki.client_legacy.p12, &p12)?;
        let p12 = client_p12(&pki.client_untrusted, &other_issuer, false, modern)?;
        write(&pki.client_untrusted.p12, &p12)?;
        let p12 = client_p12(&pki.client_expired, &ca_issuer, true, modern)?;
        write(&pki.client_expired.p12, &p12)?;
        Ok(pki)
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "hub tests");
    dn
}

fn ca(cn: &str) -> Result<(CertificateParams, KeyPair), PkiError> {
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    params.distinguished_name = dn(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok((params, key))
}

/// A client certificate for `identity.cn` signed by `issuer`, in a .p12 with the identity's
/// password and the given encryption and MAC.
fn client_p12(
    identity: &Identity,
    issuer: &Issuer<'_, KeyPair>,
    expired: bool,
    (encryption, mac): (EncryptionAlgorithm, MacAlgorithm),
) -> Result<Vec<u8>, PkiError> {
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    params.distinguished_name = dn(&identity.cn);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    if expired {
        params.not_before = date_time_ymd(2019, 1, 1);
        params.not_after = date_time_ymd(2020, 1, 1);
    }
    let cert = params.signed_by(&key, issuer).map_err(err)?;
    let cert = Certificate::from_der(cert.der()).map_err(err)?;
    let key = PrivateKey::from_der(&key.serialize_der()).map_err(err)?;
    let chain = PrivateKeyChain::new(identity.cn.as_bytes().to_vec(), key, vec![cert]);
    let mut store = KeyStore::new();
    store.add_entry(&identity.cn, KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(&identity.password)
        .encryption_algorithm(encryption)
        .mac_algorithm(mac)
        .write()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use p12_keystore::Pkcs12ImportPolicy;

    #[test]
    fn generates_readable_p12_files_with_their_passwords() {
        let dir = std::env::temp_dir().join(format!("kita-pki-{}", std::process::id()));
        let pki = Pki::generate(&dir).unwrap();
        assert!(pki.is_complete());
        for id in [
            &pki.client,
            &pki.client_legacy,
            &pki.client_untrusted,
            &pki.client_expired,
        ] {
            let bytes = fs::read(&id.p12).unwrap();
            let store =
                KeyStore::from_pkcs12(&bytes, &id.password, Pkcs12ImportPolicy::Strict).unwrap();
            let (_, chain) = store.private_key_chain().unwrap();
            assert!(chain.certs()[0].subject().contains(&id.cn));
            assert!(KeyStore::from_pkcs12(&bytes, "wrong", Pkcs12ImportPolicy::Strict).is_err());
        }
        assert_eq!(Pki::ensure(&dir).unwrap(), pki);
        fs::remove_dir_all(&dir).unwrap();
    }
}
