//! Token responses (RFC 6749 §5.1) and error bodies (§5.2) as servers send them.

use chrono::Utc;
use secrecy::SecretString;
use serde::Deserialize;

use crate::connection::OAuth2Token;
use crate::connection::auth_method::OAuth2Grant;

pub(super) fn grant_name(grant: OAuth2Grant) -> &'static str {
    match grant {
        OAuth2Grant::AuthorizationCode => "authorization_code",
        OAuth2Grant::ClientCredentials => "client_credentials",
        OAuth2Grant::RefreshToken => "refresh_token",
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Deserialize)]
pub(super) struct TokenAnswer {
    pub(super) access_token: String,
    #[serde(default)]
    pub(super) token_type: Option<String>,
    #[serde(default)]
    pub(super) expires_in: Option<ExpiresIn>,
    #[serde(default)]
    pub(super) refresh_token: Option<String>,
    #[serde(default)]
    pub(super) scope: Option<String>,
}

/// `expires_in` as a number, or as the string some servers send.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum ExpiresIn {
    Number(f64),
    Text(String),
}

impl ExpiresIn {
    pub(super) fn seconds(&self) -> Option<i64> {
        let secs = match self {
            Self::Number(n) => *n,
            Self::Text(s) => s.trim().parse().ok()?,
        };
        // Saturating and sane: a negative or absurd lifetime is treated as "unknown".
        (0.0..1e10).contains(&secs).then_some(secs as i64)
    }
}

impl TokenAnswer {
    pub(super) fn into_token(self, previous: Option<&OAuth2Token>, requested_scopes: &[String]) -> OAuth2Token {
        let token_type = match self.token_type {
            // The type is case-insensitive (§5.1); send the canonical spelling.
            Some(t) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_owned(),
            Some(t) => t,
            None => "Bearer".to_owned(),
        };
        let scopes = match self.scope {
            Some(s) => s.split_whitespace().map(str::to_owned).collect(),
            None => requested_scopes.to_vec(),
        };
        let now = Utc::now();
        OAuth2Token {
            access_token: SecretString::from(self.access_token),
            refresh_token: self
                .refresh_token
                .map(SecretString::from)
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            token_type,
            expires_at: self
                .expires_in
                .and_then(|e| e.seconds())
                .map(|s| now + chrono::Duration::seconds(s)),
            issued_at: Some(now),
            scopes,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct TokenErrorBody {
    pub(super) error: String,
    #[serde(default)]
    pub(super) error_description: Option<String>,
    #[serde(default)]
    pub(super) error_uri: Option<String>,
    #[serde(default)]
    pub(super) access_token: Option<serde::de::IgnoredAny>,
}
