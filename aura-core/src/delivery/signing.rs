//! Signing per [Standard Webhooks](https://www.standardwebhooks.com/): [`WebhookSigner`].
//!
//! Every delivery carries three headers: `webhook-id` (the delivery's id, the same on every
//! retry so that receivers can drop duplicates), `webhook-timestamp` (Unix seconds) and
//! `webhook-signature: v1,<base64>`, the HMAC-SHA256 of `<id>.<timestamp>.<body>` under the
//! bytes the `whsec_<base64>` secret stands for. A receiver checks it with any Standard
//! Webhooks library, or with Aura's
//! [`WebhookVerifier::StandardWebhooks`](crate::trigger::WebhookVerifier::StandardWebhooks).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;

use crate::error::{Error, Result};

/// The header holding the delivery's id.
pub const WEBHOOK_ID: &str = "webhook-id";
/// The header holding the signed time, Unix seconds.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// The header holding the signature(s).
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// Signs deliveries with one endpoint's secret. `Debug` shows no key.
///
/// ```
/// use aura_core::delivery::WebhookSigner;
///
/// let secret = WebhookSigner::generate_secret();
/// let signer = WebhookSigner::new(&secret)?;
/// let signature = signer.sign("msg_1", 1_700_000_000, br#"{"type":"ping"}"#);
/// assert!(signature.starts_with("v1,"));
/// assert!(!format!("{signer:?}").contains(&signature[3..]));
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Clone)]
pub struct WebhookSigner {
    key: SecretSlice<u8>,
}

impl WebhookSigner {
    /// A signer for a `whsec_<base64>` secret (a bare base64 secret is taken too).
    ///
    /// # Errors
    ///
    /// [`InvalidDefinition`](crate::ErrorKind::InvalidDefinition) when the secret is not
    /// base64 or is empty; the error never quotes it.
    pub fn new(secret: &SecretString) -> Result<Self> {
        let text = secret.expose_secret().trim();
        let encoded = text.strip_prefix("whsec_").unwrap_or(text);
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| Error::invalid_definition("a Standard Webhooks secret is whsec_<base64>"))?;
        if key.is_empty() {
            return Err(Error::invalid_definition(
                "a Standard Webhooks secret is whsec_<base64>, not empty",
            ));
        }
        Ok(Self { key: key.into() })
    }

    /// A new random secret, `whsec_` and 32 random bytes in base64, to hand to a receiver.
    pub fn generate_secret() -> SecretString {
        let mut key = secrecy::zeroize::Zeroizing::new([0u8; 32]);
        // The OS's randomness failing leaves no safe secret to make: an all-zero key would be
        // worse than stopping here.
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut key[..]).expect("the operating system's random source failed");
        SecretString::from(format!("whsec_{}", STANDARD.encode(&key[..])))
    }

    /// The `v1,<base64>` signature of `body` sent as delivery `id` at `timestamp`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSigner([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_vector_signs_as_documented() {
        // From the Standard Webhooks reference libraries' tests.
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let signer = WebhookSigner::new(&secret).unwrap_or_else(|e| panic!("{e}"));
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_bad_secret_is_refused_without_quoting_it() {
        let secret = SecretString::from("whsec_not*base64!canary".to_owned());
        let err = WebhookSigner::new(&secret).unwrap_err();
        assert!(!err.to_string().contains("canary"));
        assert!(!format!("{err:?}").contains("canary"));
    }
}
