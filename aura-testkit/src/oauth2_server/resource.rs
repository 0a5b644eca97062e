//! The protected resource, `GET /api/me`, taking bearer tokens (RFC 6750).

use std::time::Instant;

use http::{Method, header};
use serde_json::json;
use wiremock::{Request, ResponseTemplate};

use super::REALM;
use super::params::sanitize;
use super::response::json_response;
use super::state::State;

impl State {
    pub(super) fn api(&mut self, request: &Request) -> ResponseTemplate {
        self.api_calls += 1;
        if request.method != Method::GET {
            return json_response(405, &json!({ "error": "method_not_allowed" })).insert_header(header::ALLOW, "GET");
        }
        let mut values = request.headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            if request.headers.contains_key(header::AUTHORIZATION) {
                return bearer_error(400, "invalid_request", "The Authorization header is repeated.");
            }
            return bearer_challenge();
        };
        let Ok(value) = value.to_str() else {
            return bearer_error(400, "invalid_request", "The Authorization header is not visible ASCII.");
        };
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return bearer_challenge();
        }
        if !is_b64token(token) {
            return bearer_error(400, "invalid_request", "The bearer token is missing or malformed.");
        }
        let Some(stored) = self.access_tokens.get(token) else {
            return bearer_error(401, "invalid_token", "Unknown access token.");
        };
        if stored.revoked {
            return bearer_error(401, "invalid_token", "The access token is revoked.");
        }
        if Instant::now() >= stored.expires_at {
            return bearer_error(401, "invalid_token", "The access token expired.");
        }
        json_response(
            200,
            &json!({
                "sub": stored.subject,
                "client_id": stored.client_id,
                "scope": stored.scope.join(" "),
            }),
        )
    }
}

/// `b64token` of RFC 6750 §2.1.
pub(super) fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
}

/// `401` for a request without bearer credentials: a challenge without error code (RFC 6750
/// §3.1).
pub(super) fn bearer_challenge() -> ResponseTemplate {
    ResponseTemplate::new(401).insert_header(header::WWW_AUTHENTICATE, format!("Bearer realm=\"{REALM}\""))
}

/// A bearer-token error (RFC 6750 §3, §3.1).
pub(super) fn bearer_error(status: u16, error: &str, description: &str) -> ResponseTemplate {
    let description = sanitize(description);
    json_response(status, &json!({ "error": error, "error_description": description })).insert_header(
        header::WWW_AUTHENTICATE,
        format!("Bearer realm=\"{REALM}\", error=\"{error}\", error_description=\"{description}\""),
    )
}
