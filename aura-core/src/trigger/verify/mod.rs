//! Verifying that an inbound webhook came from who it says: [`WebhookVerifier`], one per
//! webhook trigger, checked against the raw request before anything of it is trusted.
//!
//! | verifier | what it checks |
//! | --- | --- |
//! | [`WebhookVerifier::None`] | nothing (a trigger behind the host's own checks) |
//! | [`WebhookVerifier::Basic`] | `Authorization: Basic` with this user and password |
//! | [`WebhookVerifier::HeaderToken`] | a header holding this token |
//! | [`WebhookVerifier::Hmac`] | HMAC-SHA256 of the body, hex or base64, in a header, after an optional prefix |
//! | [`WebhookVerifier::GitHub`] | `X-Hub-Signature-256: sha256=<hex>` over the body |
//! | [`WebhookVerifier::Stripe`] | `Stripe-Signature: t=…,v1=…[,v1=…]` over `t.body`, within a tolerance of `t` |
//! | [`WebhookVerifier::Slack`] | `X-Slack-Signature: v0=<hex>` over `v0:timestamp:body`, within 5 minutes of `X-Slack-Request-Timestamp` |
//! | [`WebhookVerifier::StandardWebhooks`] | `webhook-signature: v1,<base64> …` over `id.timestamp.body`, `whsec_` secrets, within a tolerance |
//!
//! Before any of them, an [`IpAllowlist`] may hold the request to the networks a service
//! sends from (GitHub's and Stripe's published ranges …).
//!
//! Every comparison of a signature or token is constant-time (HMAC's own `verify_slice`, or a
//! comparison of MACs); a refusal is an [`Unauthorized`](crate::ErrorKind::Unauthorized) error
//! saying what was wrong (missing header, bad format, too old, no signature matches) and never
//! quoting a signature, a token or the body. Several signatures in one header (a secret being
//! rotated) pass when any one matches. A verified request gives its delivery id when the
//! scheme has one (`X-GitHub-Delivery`, Stripe's event `id`, `webhook-id`), the key for
//! dropping a delivery the service retried.

mod allow;
mod schemes;
mod setup;
pub(crate) use self::setup::no_secret;
#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

pub use self::allow::IpAllowlist;
use super::{WebhookReply, WebhookRequest};
use crate::error::{Error, Result};

/// How an inbound webhook proves where it came from. Secrets are [`SecretString`]s: they
/// never show in `Debug`, errors or logs.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum WebhookVerifier {
    /// No check.
    #[default]
    None,
    /// HTTP basic authentication.
    Basic {
        /// The user.
        user: String,
        /// The password.
        password: SecretString,
    },
    /// A header that must hold a token.
    HeaderToken {
        /// The header's name.
        header: String,
        /// The token.
        token: SecretString,
    },
    /// HMAC-SHA256 of the raw body, in a header of the service's choosing.
    Hmac(HmacScheme),
    /// GitHub: `X-Hub-Signature-256`.
    GitHub {
        /// The webhook's secret.
        secret: SecretString,
    },
    /// Stripe: `Stripe-Signature`.
    Stripe {
        /// The endpoint's signing secret (`whsec_…`, used as it is).
        secret: SecretString,
        /// How far the signed time may be from now (Stripe's libraries: 5 minutes).
        tolerance: Duration,
    },
    /// Slack: `X-Slack-Signature` and `X-Slack-Request-Timestamp`.
    Slack {
        /// The app's signing secret.
        signing_secret: SecretString,
    },
    /// Standard Webhooks (Svix and others): `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`.
    StandardWebhooks {
        /// The secrets, `whsec_<base64>` (several while one is rotated).
        secrets: Vec<SecretString>,
        /// How far the signed time may be from now (the specification: 5 minutes).
        tolerance: Duration,
    },
}

/// A generic HMAC-SHA256 signature: where it is and how it is written.
#[derive(Clone, Debug)]
pub struct HmacScheme {
    /// The header holding it.
    pub header: String,
    /// A prefix before the signature (`sha256=`), if any.
    pub prefix: Option<String>,
    /// How the MAC is written.
    pub encoding: SignatureEncoding,
    /// The secret.
    pub secret: SecretString,
}

/// How a MAC is written in a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureEncoding {
    /// Hexadecimal (either case).
    Hex,
    /// Standard base64.
    Base64,
}

/// What a verified request tells.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Verified {
    /// The delivery's id, when the scheme has one: a retried delivery has the same.
    pub delivery_id: Option<String>,
    /// An answer the service expects instead of a run (Slack's `url_verification`
    /// handshake): send it, start nothing.
    pub handshake: Option<WebhookReply>,
}

/// Stripe's and Standard Webhooks' default tolerance, and Slack's window.
pub const FIVE_MINUTES: Duration = Duration::from_secs(300);

impl WebhookVerifier {
    /// GitHub's scheme with `secret`.
    pub fn github(secret: impl Into<String>) -> Self {
        Self::GitHub {
            secret: SecretString::from(secret.into()),
        }
    }

    /// Stripe's scheme with `secret`, five minutes' tolerance.
    pub fn stripe(secret: impl Into<String>) -> Self {
        Self::Stripe {
            secret: SecretString::from(secret.into()),
            tolerance: FIVE_MINUTES,
        }
    }

    /// Slack's scheme with `signing_secret`.
    pub fn slack(signing_secret: impl Into<String>) -> Self {
        Self::Slack {
            signing_secret: SecretString::from(signing_secret.into()),
        }
    }

    /// Standard Webhooks with one `whsec_` secret, five minutes' tolerance.
    pub fn standard_webhooks(secret: impl Into<String>) -> Self {
        Self::StandardWebhooks {
            secrets: vec![SecretString::from(secret.into())],
            tolerance: FIVE_MINUTES,
        }
    }

    /// Checks `request`, as received, at `now` (the engine's clock, so that tests can set it).
    pub fn verify(&self, request: &WebhookRequest, now: DateTime<Utc>) -> Result<Verified> {
        match self {
            Self::None => Ok(Verified::default()),
            Self::Basic { user, password } => schemes::basic(request, user, password),
            Self::HeaderToken { header, token } => schemes::header_token(request, header, token),
            Self::Hmac(scheme) => schemes::generic(request, scheme),
            Self::GitHub { secret } => schemes::github(request, secret),
            Self::Stripe { secret, tolerance } => schemes::stripe(request, secret, *tolerance, now),
            Self::Slack { signing_secret } => schemes::slack(request, signing_secret, now),
            Self::StandardWebhooks { secrets, tolerance } => schemes::standard(request, secrets, *tolerance, now),
        }
    }
}

/// The refusal of a request, saying why (never what it held).
fn refused(why: &'static str) -> Error {
    Error::unauthorized(format!("the webhook request is not authentic: {why}"))
}

/// A header, as text; a missing one (or one that is not text) is a refusal naming it.
fn header<'r>(request: &'r WebhookRequest, name: &'static str) -> Result<&'r str> {
    request
        .header_str(name)
        .ok_or_else(|| refused("a header it must carry is missing").with_context("header", name))
}

/// A MAC over `parts` with `key`.
fn mac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Whether `signature` (raw bytes) is the MAC of `parts` under `key`, in constant time.
fn matches(key: &[u8], parts: &[&[u8]], signature: &[u8]) -> bool {
    mac(key, parts).verify_slice(signature).is_ok()
}

/// `secret`'s bytes, as the scheme takes them.
fn bytes(secret: &SecretString) -> &[u8] {
    secret.expose_secret().as_bytes()
}

/// Decodes hexadecimal (either case); `None` for anything else.
fn hex(text: &str) -> Option<Vec<u8>> {
    ::hex::decode(text).ok()
}

/// Whether the signed time `at` (Unix seconds) is within `tolerance` of `now`, either way.
fn fresh(at: i64, now: DateTime<Utc>, tolerance: Duration) -> Result<()> {
    let skew = now.timestamp().abs_diff(at);
    if skew > tolerance.as_secs() {
        return Err(
            refused("its signed time is too far from now (a replay, or a clock far off)")
                .with_context("tolerance_secs", tolerance.as_secs().to_string()),
        );
    }
    Ok(())
}
