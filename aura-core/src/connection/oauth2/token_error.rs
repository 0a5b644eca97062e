//! [`TokenError`] and [`TokenErrorCode`]: a token endpoint's errors (RFC 6749 §5.2), typed.

use std::fmt;

use crate::connection::auth_method::OAuth2Grant;
use crate::error::{Error, ErrorKind};

use super::wire::grant_name;

/// The `error` code of a token-endpoint error response (RFC 6749 §5.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenErrorCode {
    /// The request is malformed (a missing or repeated parameter …).
    InvalidRequest,
    /// Client authentication failed (unknown client, wrong secret).
    InvalidClient,
    /// The code, refresh token or credentials are invalid, expired or revoked: the user must
    /// authorize again.
    InvalidGrant,
    /// The client may not use this grant.
    UnauthorizedClient,
    /// The server does not support this grant.
    UnsupportedGrantType,
    /// A requested scope is invalid or exceeds what was granted.
    InvalidScope,
    /// A code outside the RFC (vendors have their own).
    Other(String),
}

impl TokenErrorCode {
    /// The code as the server sent it (`"invalid_grant"`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::Other(s) => s,
        }
    }
}

impl From<&str> for TokenErrorCode {
    fn from(s: &str) -> Self {
        match s {
            "invalid_request" => Self::InvalidRequest,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unauthorized_client" => Self::UnauthorizedClient,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "invalid_scope" => Self::InvalidScope,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for TokenErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token endpoint's error response (RFC 6749 §5.2), kept as the source of the [`Error`]
/// a grant returns; find it with [`TokenError::of`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenError {
    /// The `error` code.
    pub code: TokenErrorCode,
    /// `error_description`, if given.
    pub description: Option<String>,
    /// `error_uri`, if given.
    pub uri: Option<String>,
    /// The HTTP status it came with.
    pub status: u16,
}

impl TokenError {
    /// The token-endpoint error behind `err`, if that is what it is.
    pub fn of(err: &Error) -> Option<&TokenError> {
        std::error::Error::source(err)?.downcast_ref::<TokenError>()
    }

    pub(super) fn kind(&self) -> ErrorKind {
        match &self.code {
            TokenErrorCode::InvalidGrant | TokenErrorCode::InvalidClient => ErrorKind::Unauthorized,
            TokenErrorCode::UnauthorizedClient => ErrorKind::Forbidden,
            TokenErrorCode::InvalidRequest | TokenErrorCode::UnsupportedGrantType | TokenErrorCode::InvalidScope => {
                ErrorKind::InvalidDefinition
            }
            // Extensions (§8.5) such as `temporarily_unavailable`, and vendor codes: the status
            // decides.
            TokenErrorCode::Other(_) => match self.status {
                429 => ErrorKind::RateLimited,
                408 => ErrorKind::Timeout,
                500..=599 => ErrorKind::Unavailable,
                _ if self.code.as_str().contains("unavailable") => ErrorKind::Unavailable,
                _ => ErrorKind::Upstream,
            },
        }
    }

    pub(super) fn into_error(self, grant: OAuth2Grant, headers: &reqwest::header::HeaderMap) -> Error {
        let mut message = format!(
            "the token endpoint refused the {} grant: {}",
            grant_name(grant),
            self.code
        );
        if let Some(d) = &self.description {
            message.push_str(&format!(" ({d})"));
        }
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::error::parse_retry_after(v, std::time::SystemTime::now()));
        Error::new(self.kind(), message)
            .with_context("oauth2_error", self.code.as_str())
            .with_status(self.status)
            .with_retry_after(retry_after)
            .with_source(self)
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TokenError {}
