//! [`AuthorizationRequest`]: a started authorization-code grant, and [`Callback`], the
//! parameters its redirect brings back.

use reqwest::Url;

use super::Pkce;

/// A started authorization-code grant: where to send the user, and what to check when the
/// redirect comes back.
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    pub(super) url: Url,
    pub(super) state: String,
    pub(super) pkce: Pkce,
}

impl AuthorizationRequest {
    /// The authorization URL to send the user to.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The `state` value the redirect must carry back.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The PKCE pair.
    pub fn pkce(&self) -> &Pkce {
        &self.pkce
    }
}

/// The parameters of an authorization redirect (RFC 6749 §4.1.2).
pub(crate) struct Callback {
    pub(crate) code: Option<String>,
    pub(crate) state: Option<String>,
    pub(super) error: Option<String>,
    pub(super) error_description: Option<String>,
}

impl Callback {
    /// Parses a full callback URL or just its query string.
    pub(crate) fn parse(callback: &str) -> Self {
        let query = match Url::parse(callback) {
            Ok(url) => url.query().unwrap_or("").to_owned(),
            Err(_) => callback.trim_start_matches('?').to_owned(),
        };
        let mut out = Self {
            code: None,
            state: None,
            error: None,
            error_description: None,
        };
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match &*k {
                "code" => &mut out.code,
                "state" => &mut out.state,
                "error" => &mut out.error,
                "error_description" => &mut out.error_description,
                _ => continue,
            };
            *slot = Some(v.into_owned());
        }
        out
    }
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
