//! Plugin signatures (ed25519): `plugin.sig` beside `plugin.toml` holds the publisher's
//! public key and a signature of the manifest's bytes. The manifest holds the SHA-256
//! of every file of the plugin, so the signature covers the module and files too.
//!
//! ```toml
//! public_key = "…"   # 32 bytes, hex
//! signature = "…"    # 64 bytes, hex
//! ```
//!
//! A publisher's key file holds the 32-byte secret seed in hex (`kiln plugin keygen`).

use super::PluginError;
use crate::hex::{hex, parse_hex, parse_hex32};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::Deserialize;

/// What is signed: a context string, then the manifest's bytes.
fn message(manifest: &[u8]) -> Vec<u8> {
    let mut m = b"kiln plugin manifest v1\n".to_vec();
    m.extend_from_slice(manifest);
    m
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    public_key: String,
    signature: String,
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// There is no `plugin.sig`.
    Unsigned,
    /// `plugin.sig` is not what it must be.
    Malformed(String),
    /// The key is not among the trusted ones.
    UnknownKey(String),
    /// The signature does not match the manifest under the key.
    Invalid(String),
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureError::Unsigned => f.write_str(
                "the plugin is not signed (no plugin.sig); the server takes unsigned plugins \
                 only with allow_unsigned",
            ),
            SignatureError::Malformed(m) => write!(f, "plugin.sig is malformed: {m}"),
            SignatureError::UnknownKey(k) => write!(f, "plugin.sig: the key {k} is not trusted"),
            SignatureError::Invalid(k) => write!(
                f,
                "plugin.sig: the signature by {k} does not match plugin.toml (changed since \
                 it was signed?)"
            ),
        }
    }
}

impl std::error::Error for SignatureError {}

/// A publisher's key pair.
pub struct PublisherKey(SigningKey);

impl PublisherKey {
    /// A new random key.
    pub fn generate() -> Result<PublisherKey, PluginError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| PluginError::context("no randomness", e))?;
        Ok(PublisherKey(SigningKey::from_bytes(&seed)))
    }

    /// The key whose secret seed is the hex text `text`.
    pub fn from_hex(text: &str) -> Result<PublisherKey, PluginError> {
        let seed = parse_hex32(text).ok_or_else(|| {
            PluginError("a key file holds the 32-byte secret seed as 64 hexadecimal digits".into())
        })?;
        Ok(PublisherKey(SigningKey::from_bytes(&seed)))
    }

    /// The secret seed in hex (for the key file).
    pub fn secret_hex(&self) -> String {
        hex(&self.0.to_bytes())
    }

    /// The public key in hex (for the servers' trusted keys).
    pub fn public_hex(&self) -> String {
        hex(self.0.verifying_key().as_bytes())
    }

    /// `plugin.sig`'s text for the manifest `manifest`.
    pub fn sign(&self, manifest: &[u8]) -> String {
        let sig = self.0.sign(&message(manifest));
        format!(
            "public_key = \"{}\"\nsignature = \"{}\"\n",
            self.public_hex(),
            hex(&sig.to_bytes())
        )
    }
}

/// Checks `plugin.sig`'s text `sig` (`None`: absent) for `manifest` against `trusted`
/// keys. Returns the key's hex.
pub fn verify(
    manifest: &[u8],
    sig: Option<&str>,
    trusted: &[[u8; 32]],
) -> Result<String, SignatureError> {
    let text = sig.ok_or(SignatureError::Unsigned)?;
    let file: SignatureFile =
        toml::from_str(text).map_err(|e| SignatureError::Malformed(e.to_string()))?;
    let key = parse_hex32(&file.public_key)
        .ok_or_else(|| SignatureError::Malformed("public_key: 64 hexadecimal digits".into()))?;
    let mut bytes = [0u8; 64];
    if !parse_hex(&file.signature, &mut bytes) {
        return Err(SignatureError::Malformed(
            "signature: 128 hexadecimal digits".into(),
        ));
    }
    let name = hex(&key);
    if !trusted.contains(&key) {
        return Err(SignatureError::UnknownKey(name));
    }
    let verifying = VerifyingKey::from_bytes(&key)
        .map_err(|e| SignatureError::Malformed(format!("public_key: {e}")))?;
    verifying
        .verify(&message(manifest), &Signature::from_bytes(&bytes))
        .map_err(|_| SignatureError::Invalid(name.clone()))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_manifest_and_trusted_key_only() {
        let key = PublisherKey::generate().expect("key");
        let again = PublisherKey::from_hex(&key.secret_hex()).expect("from hex");
        assert_eq!(again.public_hex(), key.public_hex());
        let trusted = [parse_hex32(&key.public_hex()).expect("hex")];
        let manifest = b"name = \"x\"\n";
        let sig = key.sign(manifest);
        assert_eq!(verify(manifest, Some(&sig), &trusted), Ok(key.public_hex()));
        assert!(matches!(
            verify(b"name = \"y\"\n", Some(&sig), &trusted),
            Err(SignatureError::Invalid(_))
        ));
        assert!(matches!(
            verify(manifest, Some(&sig), &[[7; 32]]),
            Err(SignatureError::UnknownKey(_))
        ));
        assert_eq!(
            verify(manifest, None, &trusted),
            Err(SignatureError::Unsigned)
        );
        let flipped = sig.replacen("signature = \"", "signature = \"0", 1);
        assert!(matches!(
            verify(manifest, Some(&flipped), &trusted),
            Err(SignatureError::Malformed(_))
        ));
        let other = PublisherKey::generate().expect("key");
        let forged = other
            .sign(manifest)
            .replace(&other.public_hex(), &key.public_hex());
        assert!(matches!(
            verify(manifest, Some(&forged), &trusted),
            Err(SignatureError::Invalid(_))
        ));
    }
}
