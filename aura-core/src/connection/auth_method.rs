//! How an app says a connection may authenticate: [`AuthMethod`] (with its [`OAuth2Grant`]s and
//! [`CredentialField`]s). An [`AppManifest`](crate::app::AppManifest) lists them and the public
//! paths are `aura_core::app::{AuthMethod, OAuth2Grant, CredentialField}`. They are defined
//! here, next to the [`Credentials`](super::Credentials) they describe, because the OAuth2
//! client (this layer) reads them and this layer must not depend on `app`.

use serde::{Deserialize, Serialize};

use super::ApiKeyPlacement;

/// A way a connection can authenticate with an app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// No authentication.
    None,
    /// A static API key.
    ApiKey {
        /// Where the key goes.
        placement: ApiKeyPlacement,
    },
    /// A static bearer token.
    Bearer,
    /// HTTP basic authentication.
    Basic,
    /// OAuth 2.0.
    #[serde(rename = "oauth2")]
    OAuth2 {
        /// The authorization endpoint (authorization-code grant).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        authorization_url: Option<String>,
        /// The token endpoint.
        token_url: String,
        /// Scopes to ask for.
        #[serde(default)]
        scopes: Vec<String>,
        /// Supported grants.
        grants: Vec<OAuth2Grant>,
    },
    /// A set of secret request headers.
    Headers {
        /// The header names a connection must give.
        names: Vec<String>,
    },
    /// Named fields, described for a UI to ask for.
    Custom {
        /// The fields.
        fields: Vec<CredentialField>,
    },
}

impl AuthMethod {
    /// The kind of [`Credentials`](super::Credentials) this method takes (`"api_key"`,
    /// `"oauth2"` …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ApiKey { .. } => "api_key",
            Self::Bearer => "bearer",
            Self::Basic => "basic",
            Self::OAuth2 { .. } => "oauth2",
            Self::Headers { .. } => "headers",
            Self::Custom { .. } => "custom",
        }
    }
}

/// An OAuth 2.0 grant type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuth2Grant {
    /// Authorization code, with PKCE.
    AuthorizationCode,
    /// Client credentials (machine to machine).
    ClientCredentials,
    /// Refresh token.
    RefreshToken,
}

/// One field of a custom authentication method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialField {
    /// The field's name (`"account_id"`).
    pub name: String,
    /// A label for a UI.
    pub label: String,
    /// Whether the value must be kept secret (masked input, never displayed back).
    #[serde(default = "yes")]
    pub secret: bool,
    /// Whether it must be given.
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

impl CredentialField {
    /// A required field shown as typed: a host, a port, a user name.
    ///
    /// ```
    /// use aura_core::app::{AuthMethod, CredentialField};
    ///
    /// let method = AuthMethod::Custom {
    ///     fields: vec![
    ///         CredentialField::plain("host", "Host"),
    ///         CredentialField::plain("port", "Port (default 5432)").optional(),
    ///         CredentialField::secret("password", "Password"),
    ///     ],
    /// };
    /// # let _ = method;
    /// ```
    pub fn plain(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            secret: false,
            required: true,
        }
    }

    /// A required secret field: masked when typed, never shown back, and looked for by the
    /// scrubbers and the connector behaviour suite.
    pub fn secret(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            secret: true,
            ..Self::plain(name, label)
        }
    }

    /// The same field, not required.
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
}
