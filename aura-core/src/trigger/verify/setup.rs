//! A verifier from a trigger's [`VerifySetup`] and a connection's credentials.

use std::time::Duration;

use secrecy::SecretString;

use super::{FIVE_MINUTES, HmacScheme, SignatureEncoding, WebhookVerifier};
use crate::connection::Credentials;
use crate::error::{Error, Result};
use crate::trigger::VerifySetup;

impl WebhookVerifier {
    /// The verifier `setup` asks for, with the secret of `credentials`: a custom field
    /// `secret` (or `signing_secret`, `webhook_secret`), a bearer token or an API key; basic
    /// credentials for [`VerifySetup::Basic`]. Standard Webhooks also accept a custom field
    /// `previous_secret` (a secret being rotated out).
    ///
    /// # Errors
    ///
    /// [`InvalidDefinition`](crate::ErrorKind::InvalidDefinition) naming `/connection` when
    /// the credentials hold no secret of the kind the verifier needs.
    pub fn from_setup(setup: &VerifySetup, credentials: &Credentials) -> Result<WebhookVerifier> {
        let secret = || secret(credentials).ok_or_else(|| no_secret(setup));
        let tolerance = |secs: &Option<u64>| secs.map_or(FIVE_MINUTES, Duration::from_secs);
        Ok(match setup {
            VerifySetup::None => WebhookVerifier::None,
            VerifySetup::Basic => match credentials {
                Credentials::Basic { username, password } => WebhookVerifier::Basic {
                    user: username.clone(),
                    password: password.clone(),
                },
                _ => return Err(no_secret(setup)),
            },
            VerifySetup::HeaderToken { header } => WebhookVerifier::HeaderToken {
                header: header.clone(),
                token: secret()?,
            },
            VerifySetup::Hmac {
                header,
                prefix,
                encoding,
            } => WebhookVerifier::Hmac(HmacScheme {
                header: header.clone(),
                prefix: prefix.clone(),
                encoding: if encoding.as_deref() == Some("base64") {
                    SignatureEncoding::Base64
                } else {
                    SignatureEncoding::Hex
                },
                secret: secret()?,
            }),
            VerifySetup::Github => WebhookVerifier::GitHub { secret: secret()? },
            VerifySetup::Stripe { tolerance_secs } => WebhookVerifier::Stripe {
                secret: secret()?,
                tolerance: tolerance(tolerance_secs),
            },
            VerifySetup::Slack => WebhookVerifier::Slack {
                signing_secret: secret()?,
            },
            VerifySetup::StandardWebhooks { tolerance_secs } => {
                let mut secrets = vec![secret()?];
                // A secret being rotated out still verifies until it is removed.
                secrets.extend(credentials.field("previous_secret").cloned());
                WebhookVerifier::StandardWebhooks {
                    secrets,
                    tolerance: tolerance(tolerance_secs),
                }
            }
        })
    }
}

/// A verifier's secret in a connection's credentials: a custom field `secret` (or
/// `signing_secret`, `webhook_secret`), a bearer token, or an API key.
fn secret(credentials: &Credentials) -> Option<SecretString> {
    match credentials {
        Credentials::Custom { .. } => ["secret", "signing_secret", "webhook_secret"]
            .iter()
            .find_map(|name| credentials.field(name))
            .cloned(),
        Credentials::Bearer { token } => Some(token.clone()),
        Credentials::ApiKey { key, .. } => Some(key.clone()),
        _ => None,
    }
}

pub(crate) fn no_secret(setup: &VerifySetup) -> Error {
    let scheme = serde_json::to_value(setup)
        .ok()
        .and_then(|v| match v {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Object(m) => m.keys().next().cloned(),
            _ => None,
        })
        .unwrap_or_default();
    Error::invalid_definition(
        "the webhook's verifier needs a secret: give the trigger node a connection whose credentials \
         hold it (basic credentials for `basic`; otherwise a custom field `secret`, a bearer token \
         or an API key)",
    )
    .with_context("field", "/connection")
    .with_context("verify", scheme)
}
