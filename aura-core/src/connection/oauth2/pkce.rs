//! [`Pkce`]: proof key for code exchange (RFC 7636), and random tokens.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A PKCE verifier and its `S256` challenge (RFC 7636).
#[derive(Clone)]
pub struct Pkce {
    pub(super) verifier: SecretString,
    pub(super) challenge: String,
}

impl Pkce {
    /// The challenge method Aura uses: `S256` (`plain` is never sent).
    pub const METHOD: &'static str = "S256";

    /// A fresh verifier: 32 random bytes, base64url (43 characters), as RFC 7636 §4.1
    /// recommends.
    pub fn generate() -> Result<Self> {
        Self::from_verifier(random_token(32)?)
    }

    /// The challenge for a given verifier, which must be 43 to 128 characters of
    /// `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"` (RFC 7636 §4.1).
    pub fn from_verifier(verifier: impl Into<String>) -> Result<Self> {
        let verifier = SecretString::from(verifier.into());
        let v = verifier.expose_secret();
        let ok = (43..=128).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !ok {
            return Err(Error::invalid_input(
                "a PKCE verifier is 43 to 128 characters of letters, digits, '-', '.', '_' and '~'",
                vec![],
            ));
        }
        // §4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))).
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()));
        Ok(Self { verifier, challenge })
    }

    /// The verifier, sent with the code exchange.
    pub fn verifier(&self) -> &SecretString {
        &self.verifier
    }

    /// The challenge, sent in the authorization URL.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }
}

impl fmt::Debug for Pkce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &crate::secret::REDACTED)
            .field("challenge", &self.challenge)
            .finish()
    }
}

/// `bytes` random bytes, base64url without padding.
pub(crate) fn random_token(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| Error::internal(format!("the operating system's random number generator failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}
