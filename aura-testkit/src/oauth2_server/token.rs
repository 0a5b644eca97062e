//! The token endpoint, `POST /token` (RFC 6749 §3.2): the three grants and the §5.2 errors.

use std::collections::BTreeMap;
use std::time::Instant;

use http::{Method, header};
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use super::REALM;
use super::client_auth::{ClientAuth, basic_header};
use super::params::{Params, is_unreserved, parse_scope, sanitize};
use super::response::{json_response, no_store};
use super::server::OAuth2Server;
use super::state::State;

/// A `POST /token` request as the server saw it, without secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedTokenRequest {
    /// The `grant_type` parameter, if any.
    pub grant_type: Option<String>,
    /// How the client authenticated, or tried to: `"client_secret_basic"` (an `Authorization:
    /// Basic` header), `"client_secret_post"` (`client_secret` in the body) or `"none"`.
    pub auth_method: String,
    /// The client id, from the Basic credentials (form-urldecoded) or the `client_id` parameter.
    pub client_id: Option<String>,
    /// The names of the body parameters that were present with a value, in order, secrets
    /// included.
    pub param_names: Vec<String>,
    /// The body parameters with their values, except `client_secret`.
    pub params: BTreeMap<String, String>,
}

impl RecordedTokenRequest {
    /// Whether the body had the parameter `name` with a value.
    pub fn has_param(&self, name: &str) -> bool {
        self.param_names.iter().any(|present| present == name)
    }

    /// The value of the body parameter `name` (never `client_secret`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// An RFC 6749 §5.2 error from the token endpoint.
pub(super) struct TokenError {
    pub(super) status: u16,
    pub(super) error: String,
    pub(super) description: String,
    pub(super) basic_challenge: bool,
}

impl TokenError {
    pub(super) fn new(error: &str, description: impl Into<String>) -> Self {
        Self {
            status: 400,
            error: error.to_owned(),
            description: description.into(),
            basic_challenge: false,
        }
    }

    pub(super) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    pub(super) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    pub(super) fn invalid_client(description: impl Into<String>, basic_used: bool) -> Self {
        Self {
            status: 401,
            basic_challenge: basic_used,
            ..Self::new("invalid_client", description)
        }
    }

    pub(super) fn into_response(self) -> ResponseTemplate {
        let mut response = no_store(json_response(
            self.status,
            &json!({ "error": self.error, "error_description": sanitize(&self.description) }),
        ));
        if self.basic_challenge {
            response = response.insert_header(header::WWW_AUTHENTICATE, format!("Basic realm=\"{REALM}\""));
        }
        response
    }
}

impl State {
    pub(super) fn token(&mut self, request: &Request) -> ResponseTemplate {
        if request.method != Method::POST {
            return TokenError {
                status: 405,
                ..TokenError::invalid_request("The token endpoint takes POST requests.")
            }
            .into_response()
            .insert_header(header::ALLOW, "POST");
        }
        self.token_requests += 1;
        let params = Params::parse(&request.body);
        let basic = basic_header(&request.headers);
        let auth = if basic.is_some() {
            ClientAuth::Basic
        } else if params.get("client_secret").is_some() {
            ClientAuth::Post
        } else {
            ClientAuth::None
        };
        let recorded_client_id = basic
            .as_ref()
            .and_then(|credentials| credentials.as_ref().ok())
            .map(|(id, _)| id.clone())
            .or_else(|| params.get("client_id").map(str::to_owned));
        self.last_token_request = Some(RecordedTokenRequest {
            grant_type: params.get("grant_type").map(str::to_owned),
            auth_method: auth.as_str().to_owned(),
            client_id: recorded_client_id,
            param_names: params.names.clone(),
            params: params
                .values
                .iter()
                .filter(|(name, _)| name.as_str() != "client_secret")
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        });

        if let Some((error, status)) = self.fail_next.take() {
            let mut response = TokenError {
                status,
                error,
                description: "A failure scripted by the test.".to_owned(),
                basic_challenge: status == 401,
            }
            .into_response();
            if status == 429 || status == 503 {
                response = response.insert_header(header::RETRY_AFTER, "1");
            }
            return response;
        }

        match self.token_grant(request, &params, basic) {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }

    pub(super) fn token_grant(
        &mut self,
        request: &Request,
        params: &Params,
        basic: Option<Result<(String, String), String>>,
    ) -> Result<ResponseTemplate, TokenError> {
        let content_type = request
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(TokenError::invalid_request(
                "The body must be application/x-www-form-urlencoded, with that Content-Type.",
            ));
        }
        if let Some(name) = params.repeated.first() {
            return Err(TokenError::invalid_request(format!(
                "The parameter {name} is repeated."
            )));
        }
        if request.headers.get_all(header::AUTHORIZATION).iter().count() > 1 {
            return Err(TokenError::invalid_request("The Authorization header is repeated."));
        }
        let (client_id, auth) = self.authenticate(&request.headers, params, basic)?;

        let grant_type = params.require("grant_type")?;
        let response = match grant_type {
            "authorization_code" => self.authorization_code_grant(&client_id, params)?,
            "client_credentials" => self.client_credentials_grant(&client_id, auth, params)?,
            "refresh_token" => self.refresh_token_grant(&client_id, params)?,
            _ => {
                return Err(TokenError::new(
                    "unsupported_grant_type",
                    "Supported grant types: authorization_code, client_credentials, refresh_token.",
                ));
            }
        };
        *self.grants.entry(grant_type.to_owned()).or_default() += 1;
        Ok(response)
    }

    pub(super) fn authorization_code_grant(
        &mut self,
        client_id: &str,
        params: &Params,
    ) -> Result<ResponseTemplate, TokenError> {
        let code = params.require("code")?;
        let redirect_uri = params.require("redirect_uri")?;
        let verifier = params
            .get("code_verifier")
            .ok_or_else(|| TokenError::invalid_request("The code_verifier parameter is missing (PKCE)."))?;
        let Some(stored) = self.codes.get_mut(code) else {
            return Err(TokenError::invalid_grant("Unknown authorization code."));
        };
        if stored.used {
            let family = stored.family;
            self.revoke_family(family);
            return Err(TokenError::invalid_grant(
                "The authorization code was already used; the tokens it gave are revoked.",
            ));
        }
        stored.used = true;
        if stored.client_id != client_id {
            return Err(TokenError::invalid_grant(
                "The authorization code was issued to another client.",
            ));
        }
        if Instant::now() >= stored.expires_at {
            return Err(TokenError::invalid_grant("The authorization code expired."));
        }
        if stored.redirect_uri != redirect_uri {
            return Err(TokenError::invalid_grant(
                "The redirect_uri differs from the one of the authorization request.",
            ));
        }
        if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(is_unreserved) {
            return Err(TokenError::invalid_grant(
                "The code_verifier must be 43 to 128 characters among A-Z a-z 0-9 - . _ ~.",
            ));
        }
        if OAuth2Server::pkce_challenge(verifier) != stored.challenge {
            return Err(TokenError::invalid_grant(
                "The code_verifier does not match the code_challenge.",
            ));
        }
        let scope = stored.scope.clone();
        let family = stored.family;
        let subject = self.subject.clone();
        let access = self.issue_access_token(client_id, &subject, &scope, Some(family))?;
        let refresh = self.issue_refresh_token(client_id, &subject, &scope, family)?;
        Ok(self.token_response(&access, Some(&refresh), &scope))
    }

    pub(super) fn client_credentials_grant(
        &mut self,
        client_id: &str,
        auth: ClientAuth,
        params: &Params,
    ) -> Result<ResponseTemplate, TokenError> {
        if auth == ClientAuth::None {
            return Err(TokenError::new(
                "unauthorized_client",
                "The client_credentials grant is for confidential clients only.",
            ));
        }
        let scope = parse_scope(params.get("scope"), &self.scopes)
            .map_err(|description| TokenError::new("invalid_scope", description))?;
        let access = self.issue_access_token(client_id, client_id, &scope, None)?;
        Ok(self.token_response(&access, None, &scope))
    }

    pub(super) fn refresh_token_grant(
        &mut self,
        client_id: &str,
        params: &Params,
    ) -> Result<ResponseTemplate, TokenError> {
        let token = params.require("refresh_token")?;
        let Some(stored) = self.refresh_tokens.get(token) else {
            return Err(TokenError::invalid_grant("Unknown refresh token."));
        };
        if stored.revoked {
            return Err(TokenError::invalid_grant("The refresh token is revoked."));
        }
        if stored.client_id != client_id {
            return Err(TokenError::invalid_grant(
                "The refresh token was issued to another client.",
            ));
        }
        let granted = stored.scope.clone();
        let subject = stored.subject.clone();
        let family = stored.family;
        let scope = match params.get("scope") {
            None => granted.clone(),
            Some(_) => parse_scope(params.get("scope"), &granted).map_err(|description| {
                TokenError::new(
                    "invalid_scope",
                    format!("{description} The scope must be within the original grant."),
                )
            })?,
        };
        let new_refresh = if self.rotate_refresh_tokens {
            let new_refresh = self.issue_refresh_token(client_id, &subject, &granted, family)?;
            if let Some(old) = self.refresh_tokens.get_mut(token) {
                old.revoked = true;
            }
            Some(new_refresh)
        } else {
            None
        };
        let access = self.issue_access_token(client_id, &subject, &scope, Some(family))?;
        Ok(self.token_response(&access, new_refresh.as_deref(), &scope))
    }

    pub(super) fn token_response(
        &self,
        access_token: &str,
        refresh_token: Option<&str>,
        scope: &[String],
    ) -> ResponseTemplate {
        let mut body = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl.as_secs(),
            "scope": scope.join(" "),
        });
        if let (Some(refresh_token), Some(object)) = (refresh_token, body.as_object_mut()) {
            object.insert("refresh_token".to_owned(), Value::from(refresh_token));
        }
        no_store(json_response(200, &body))
    }
}

pub(super) fn no_randomness() -> TokenError {
    TokenError {
        status: 500,
        ..TokenError::new("server_error", "No randomness for the token.")
    }
}
