//! OAuth 2.0 client: authorization code with PKCE and state, client credentials, refresh.
//!
//! [`OAuth2Client`] speaks to one authorization server for one registered client. It builds
//! the authorization URL ([`OAuth2Client::authorization_request`]), finishes the redirect
//! ([`OAuth2Client::complete`]), and runs the client-credentials and refresh-token grants.
//! Token-endpoint errors (RFC 6749 §5.2) come back as an [`Error`] whose
//! [`TokenError`] says which one ([`TokenError::of`]).
//!
//! The requests are sent directly with the shared reqwest client rather than through the
//! `oauth2` crate: that crate's HTTP integration pins an older reqwest (a second TLS stack and
//! connection pool), and the protocol part we need is four form POSTs and one URL, which is
//! less code than the adapter would be. Refreshing tokens at the right moment, once, is the
//! [`ConnectionManager`](super::ConnectionManager)'s job.
//!
//! ```
//! use aura_core::connection::OAuth2Client;
//!
//! let client = OAuth2Client::new("my-client-id", "https://auth.example.com/token")?
//!     .client_secret("my-client-secret")
//!     .authorization_url("https://auth.example.com/authorize")?
//!     .redirect_url("https://app.example.com/oauth/callback")?
//!     .scopes(["read", "write"]);
//! let request = client.authorization_request()?;
//! // Send the user to request.url(); keep `request` until the redirect comes back, then
//! // `client.complete(&request, callback_url).await` exchanges the code for tokens.
//! assert!(request.url().as_str().contains("code_challenge_method=S256"));
//! # Ok::<(), aura_core::Error>(())
//! ```

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::OAuth2Token;
use crate::app::{AuthMethod, OAuth2Grant};
use crate::context::shared_http_client;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::Scrubber;

/// How long a token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How the client proves who it is at the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret (`client_secret_basic`), the method
    /// every server must support.
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the request body (`client_secret_post`).
    RequestBody,
}

/// An OAuth 2.0 client registered with one authorization server.
#[derive(Clone)]
pub struct OAuth2Client {
    client_id: String,
    client_secret: Option<SecretString>,
    authorization_url: Option<Url>,
    token_url: Url,
    redirect_url: Option<Url>,
    scopes: Vec<String>,
    auth: ClientAuth,
    extra_params: Vec<(String, String)>,
    /// `None`: the shared client of the runtime the request is sent from.
    http: Option<reqwest::Client>,
}

impl fmt::Debug for OAuth2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Client")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| crate::secret::REDACTED),
            )
            .field("token_url", &self.token_url.as_str())
            .field("authorization_url", &self.authorization_url.as_ref().map(Url::as_str))
            .field("redirect_url", &self.redirect_url.as_ref().map(Url::as_str))
            .field("scopes", &self.scopes)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

fn parse_url(field: &'static str, url: &str) -> Result<Url> {
    Url::parse(url)
        .map_err(|e| Error::invalid_definition(format!("{field} is not a valid URL: {e}")).with_context("field", field))
}

impl OAuth2Client {
    /// A client with its id and the server's token endpoint. A public client (no secret) sends
    /// its id in the request body.
    pub fn new(client_id: impl Into<String>, token_url: &str) -> Result<Self> {
        Ok(Self {
            client_id: client_id.into(),
            client_secret: None,
            authorization_url: None,
            token_url: parse_url("token_url", token_url)?,
            redirect_url: None,
            scopes: Vec::new(),
            auth: ClientAuth::default(),
            extra_params: Vec::new(),
            http: None,
        })
    }

    /// A client for an app's declared [`AuthMethod::OAuth2`]: its endpoints and scopes.
    pub fn for_method(method: &AuthMethod, client_id: impl Into<String>) -> Result<Self> {
        let AuthMethod::OAuth2 {
            authorization_url,
            token_url,
            scopes,
            ..
        } = method
        else {
            return Err(Error::invalid_definition(format!(
                "an OAuth2 client needs an oauth2 auth method, not {}",
                method.kind()
            )));
        };
        let mut client = Self::new(client_id, token_url)?.scopes(scopes.iter().cloned());
        if let Some(url) = authorization_url {
            client = client.authorization_url(url)?;
        }
        Ok(client)
    }

    /// The client secret (confidential clients).
    #[must_use]
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// The authorization endpoint, for the authorization-code grant.
    pub fn authorization_url(mut self, url: &str) -> Result<Self> {
        self.authorization_url = Some(parse_url("authorization_url", url)?);
        Ok(self)
    }

    /// Where the server sends the user back with the code.
    pub fn redirect_url(mut self, url: &str) -> Result<Self> {
        self.redirect_url = Some(parse_url("redirect_url", url)?);
        Ok(self)
    }

    /// The scopes to ask for.
    #[must_use]
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How the client authenticates at the token endpoint (default: HTTP Basic).
    #[must_use]
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// An extra parameter for the authorization URL (`access_type=offline`, `prompt=consent` …).
    #[must_use]
    pub fn authorization_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_params.push((name.into(), value.into()));
        self
    }

    /// The HTTP client (default: the shared one).
    #[must_use]
    pub fn http(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// The scopes it asks for.
    pub fn requested_scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Starts the authorization-code grant (RFC 6749 §4.1.1) with PKCE (RFC 7636, `S256`) and a
    /// random `state`. Send the user to [`AuthorizationRequest::url`] and keep the request
    /// until the redirect comes back.
    pub fn authorization_request(&self) -> Result<AuthorizationRequest> {
        let Some(base) = &self.authorization_url else {
            return Err(Error::invalid_definition(
                "this OAuth2 client has no authorization_url, so it cannot run the authorization-code grant",
            )
            .with_context("field", "authorization_url"));
        };
        let pkce = Pkce::generate()?;
        let state = random_token(16)?;
        let mut url = base.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("state", &state)
                .append_pair("code_challenge", pkce.challenge())
                .append_pair("code_challenge_method", Pkce::METHOD);
            if let Some(redirect) = &self.redirect_url {
                q.append_pair("redirect_uri", redirect.as_str());
            }
            if !self.scopes.is_empty() {
                q.append_pair("scope", &self.scopes.join(" "));
            }
            for (k, v) in &self.extra_params {
                q.append_pair(k, v);
            }
        }
        Ok(AuthorizationRequest { url, state, pkce })
    }

    /// Finishes the authorization-code grant from the URL (or just the query string) the
    /// server redirected the user to: checks `state`, turns an `error=` redirect
    /// (RFC 6749 §4.1.2.1) into an error, and exchanges the code.
    pub async fn complete(&self, request: &AuthorizationRequest, callback: &str) -> Result<OAuth2Token> {
        let callback = Callback::parse(callback);
        if !constant_time_eq(
            callback.state.as_deref().unwrap_or("").as_bytes(),
            request.state.as_bytes(),
        ) {
            return Err(Error::forbidden(
                "the authorization response's state does not match the request's: possible CSRF, refused",
            ));
        }
        if let Some(code) = callback.error {
            let kind = if code == "access_denied" {
                ErrorKind::Forbidden
            } else {
                ErrorKind::Unauthorized
            };
            let mut message = format!("the authorization server refused: {code}");
            if let Some(d) = &callback.error_description {
                message.push_str(&format!(" ({d})"));
            }
            return Err(Error::new(kind, message).with_context("oauth2_error", code));
        }
        let Some(code) = callback.code else {
            return Err(Error::invalid_input(
                "the authorization response has neither a code nor an error",
                vec![],
            ));
        };
        self.exchange_code(&SecretString::from(code), &request.pkce).await
    }

    /// Exchanges an authorization code for tokens (RFC 6749 §4.1.3), with the PKCE verifier.
    pub async fn exchange_code(&self, code: &SecretString, pkce: &Pkce) -> Result<OAuth2Token> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("code_verifier", pkce.verifier.expose_secret()),
        ];
        let redirect = self.redirect_url.as_ref().map(Url::as_str);
        if let Some(r) = redirect {
            form.push(("redirect_uri", r));
        }
        let secrets = [code.expose_secret(), pkce.verifier.expose_secret()];
        let answer = self
            .token_request(OAuth2Grant::AuthorizationCode, &form, &secrets)
            .await?;
        Ok(answer.into_token(None, &self.scopes))
    }

    /// Gets a token for the client itself (RFC 6749 §4.4). No refresh token is issued: ask
    /// again when it expires.
    pub async fn client_credentials(&self) -> Result<OAuth2Token> {
        let scope = self.scopes.join(" ");
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        let answer = self.token_request(OAuth2Grant::ClientCredentials, &form, &[]).await?;
        Ok(answer.into_token(None, &self.scopes))
    }

    /// Refreshes a token (RFC 6749 §6). When the server issues no new refresh token, or no
    /// scope, the old ones are kept.
    pub async fn refresh(&self, token: &OAuth2Token) -> Result<OAuth2Token> {
        let Some(refresh) = &token.refresh_token else {
            return Err(Error::unauthorized(
                "the access token cannot be refreshed: there is no refresh token; reconnect the account",
            ));
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose_secret()),
        ];
        let answer = self
            .token_request(OAuth2Grant::RefreshToken, &form, &[refresh.expose_secret()])
            .await?;
        Ok(answer.into_token(Some(token), &token.scopes))
    }

    /// POSTs a form to the token endpoint and reads the answer. `secrets` are the values in
    /// the form that must not reach an error (they are scrubbed from anything the server says).
    async fn token_request(&self, grant: OAuth2Grant, form: &[(&str, &str)], secrets: &[&str]) -> Result<TokenAnswer> {
        let http = self.http.clone().unwrap_or_else(shared_http_client);
        let mut request = http
            .post(self.token_url.clone())
            .timeout(TOKEN_TIMEOUT)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        // The serializer is not `Send`: it lives in this block only.
        let body = {
            let mut body = form_urlencoded::Serializer::new(String::new());
            body.extend_pairs(form);
            if self.client_secret.is_none() || self.auth == ClientAuth::RequestBody {
                body.append_pair("client_id", &self.client_id);
            }
            if let (Some(secret), ClientAuth::RequestBody) = (&self.client_secret, self.auth) {
                body.append_pair("client_secret", secret.expose_secret());
            }
            body.finish()
        };
        if let (Some(secret), ClientAuth::Basic) = (&self.client_secret, self.auth) {
            // RFC 6749 §2.3.1: id and secret are form-encoded before the Basic encoding.
            let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let raw = SecretString::from(format!(
                "{}:{}",
                encode(&self.client_id),
                encode(secret.expose_secret())
            ));
            let value = SecretString::from(format!("Basic {}", STANDARD.encode(raw.expose_secret())));
            let mut value = HeaderValue::from_str(value.expose_secret())
                .map_err(|_| Error::invalid_definition("the client credentials cannot go in a header"))?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let request = request.body(body);

        let mut scrub = Scrubber::new();
        for secret in secrets {
            scrub.add(secret);
        }
        if let Some(secret) = &self.client_secret {
            scrub.add(secret.expose_secret());
            // The `client_id:client_secret` the Basic header encodes (form-encoded, §2.3.1).
            let encode = |s: &str| Zeroizing::new(form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>());
            let encoded = encode(secret.expose_secret());
            scrub.add(&Zeroizing::new(format!(
                "{}:{}",
                encode(&self.client_id).as_str(),
                encoded.as_str()
            )));
            scrub.add(&Zeroizing::new(format!(
                "{}:{}",
                self.client_id,
                secret.expose_secret()
            )));
        }
        let at = |e: Error| {
            let mut e = e
                .with_context("oauth2_grant", grant_name(grant))
                .with_context("token_url", self.token_url.as_str());
            e.scrub_secrets(&scrub);
            e
        };

        let response = request.send().await.map_err(|e| at(Error::from(e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| at(Error::from(e)))?;

        // §5.2 errors, also when a server answers them with 200 (GitHub does).
        if let Ok(err) = serde_json::from_slice::<TokenErrorBody>(&bytes)
            && !(status.is_success() && err.access_token.is_some())
        {
            // The description is the server's text: it may quote what it refused.
            let clean = |text: Option<String>| text.map(|t| scrub.scrub(&t).unwrap_or(t));
            let token_error = TokenError {
                code: TokenErrorCode::from(clean(Some(err.error)).unwrap_or_default().as_str()),
                description: clean(err.error_description),
                uri: clean(err.error_uri),
                status: status.as_u16(),
            };
            return Err(at(token_error.into_error(grant, &headers)));
        }
        if !status.is_success() {
            // Scrubbed whole, before the error cuts an excerpt of it.
            let body = String::from_utf8_lossy(&bytes);
            let body = scrub.scrub(&body).unwrap_or_else(|| body.into_owned());
            return Err(at(Error::from_http(status, &headers, body.as_bytes())));
        }
        serde_json::from_slice::<TokenAnswer>(&bytes).map_err(|e| {
            // serde's message can quote a value from the body, which holds the tokens: say only
            // where the body went wrong.
            at(Error::new(
                ErrorKind::Upstream,
                format!(
                    "the token endpoint's answer is not a token response (JSON {:?} error at line {}, column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            ))
        })
    }
}

fn grant_name(grant: OAuth2Grant) -> &'static str {
    match grant {
        OAuth2Grant::AuthorizationCode => "authorization_code",
        OAuth2Grant::ClientCredentials => "client_credentials",
        OAuth2Grant::RefreshToken => "refresh_token",
    }
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<ExpiresIn>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// `expires_in` as a number, or as the string some servers send.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExpiresIn {
    Number(f64),
    Text(String),
}

impl ExpiresIn {
    fn seconds(&self) -> Option<i64> {
        let secs = match self {
            Self::Number(n) => *n,
            Self::Text(s) => s.trim().parse().ok()?,
        };
        // Saturating and sane: a negative or absurd lifetime is treated as "unknown".
        (0.0..1e10).contains(&secs).then_some(secs as i64)
    }
}

impl TokenAnswer {
    fn into_token(self, previous: Option<&OAuth2Token>, requested_scopes: &[String]) -> OAuth2Token {
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
struct TokenErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_uri: Option<String>,
    #[serde(default)]
    access_token: Option<serde::de::IgnoredAny>,
}

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

    fn kind(&self) -> ErrorKind {
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

    fn into_error(self, grant: OAuth2Grant, headers: &reqwest::header::HeaderMap) -> Error {
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

/// A PKCE verifier and its `S256` challenge (RFC 7636).
#[derive(Clone)]
pub struct Pkce {
    verifier: SecretString,
    challenge: String,
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

/// A started authorization-code grant: where to send the user, and what to check when the
/// redirect comes back.
#[derive(Clone, Debug)]
pub struct AuthorizationRequest {
    url: Url,
    state: String,
    pkce: Pkce,
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
    error: Option<String>,
    error_description: Option<String>,
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

/// `bytes` random bytes, base64url without padding.
pub(crate) fn random_token(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| Error::internal(format!("the operating system's random number generator failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(pkce.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(!format!("{pkce:?}").contains("dBjftJeZ"));
    }

    #[test]
    fn generated_verifiers_are_valid_and_distinct() {
        let a = Pkce::generate().unwrap();
        let b = Pkce::generate().unwrap();
        assert_eq!(a.verifier().expose_secret().len(), 43);
        assert_ne!(a.verifier().expose_secret(), b.verifier().expose_secret());
        // The generated verifier passes the same check as a given one.
        Pkce::from_verifier(a.verifier().expose_secret().to_owned()).unwrap();
    }

    #[test]
    fn bad_verifiers_are_refused() {
        assert!(Pkce::from_verifier("short").is_err());
        assert!(Pkce::from_verifier("x".repeat(129)).is_err());
        assert!(Pkce::from_verifier(format!("{}+", "a".repeat(43))).is_err());
    }

    #[test]
    fn authorization_url_carries_every_parameter() {
        let client = OAuth2Client::new("cid", "https://auth.test/token")
            .unwrap()
            .authorization_url("https://auth.test/authorize?tenant=1")
            .unwrap()
            .redirect_url("https://app.test/cb")
            .unwrap()
            .scopes(["read", "write"])
            .authorization_param("access_type", "offline");
        let req = client.authorization_request().unwrap();
        let pairs: std::collections::HashMap<_, _> = req.url().query_pairs().into_owned().collect();
        assert_eq!(pairs["tenant"], "1");
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["client_id"], "cid");
        assert_eq!(pairs["redirect_uri"], "https://app.test/cb");
        assert_eq!(pairs["scope"], "read write");
        assert_eq!(pairs["state"], req.state());
        assert_eq!(pairs["code_challenge"], req.pkce().challenge());
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert_eq!(pairs["access_type"], "offline");
        assert!(!req.url().as_str().contains(req.pkce().verifier().expose_secret()));
        assert_ne!(req.state(), client.authorization_request().unwrap().state());
    }

    #[test]
    fn no_authorization_url_is_a_definition_error() {
        let err = OAuth2Client::new("cid", "https://auth.test/token")
            .unwrap()
            .authorization_request()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
        assert_eq!(err.context_value("field"), Some("authorization_url"));
        let err = OAuth2Client::new("cid", "not a url").unwrap_err();
        assert_eq!(err.context_value("field"), Some("token_url"));
    }

    #[test]
    fn token_error_codes_map_to_kinds() {
        let kind = |code: &str, status| {
            TokenError {
                code: code.into(),
                description: None,
                uri: None,
                status,
            }
            .kind()
        };
        assert_eq!(kind("invalid_grant", 400), ErrorKind::Unauthorized);
        assert_eq!(kind("invalid_client", 401), ErrorKind::Unauthorized);
        assert_eq!(kind("unauthorized_client", 400), ErrorKind::Forbidden);
        assert_eq!(kind("invalid_scope", 400), ErrorKind::InvalidDefinition);
        assert_eq!(kind("unsupported_grant_type", 400), ErrorKind::InvalidDefinition);
        assert_eq!(kind("invalid_request", 400), ErrorKind::InvalidDefinition);
        assert_eq!(kind("temporarily_unavailable", 503), ErrorKind::Unavailable);
        assert_eq!(kind("temporarily_unavailable", 400), ErrorKind::Unavailable);
        assert_eq!(kind("slow_down", 429), ErrorKind::RateLimited);
        assert_eq!(kind("bad_verification_code", 200), ErrorKind::Upstream);
    }

    #[test]
    fn expires_in_accepts_numbers_and_strings() {
        let a: TokenAnswer = serde_json::from_str(r#"{"access_token":"a","expires_in":"3600"}"#).unwrap();
        let b: TokenAnswer = serde_json::from_str(r#"{"access_token":"a","expires_in":3600}"#).unwrap();
        let c: TokenAnswer = serde_json::from_str(r#"{"access_token":"a","expires_in":-5}"#).unwrap();
        assert_eq!(a.expires_in.unwrap().seconds(), Some(3600));
        assert_eq!(b.expires_in.unwrap().seconds(), Some(3600));
        assert_eq!(c.expires_in.unwrap().seconds(), None);
    }

    #[test]
    fn refresh_keeps_the_old_refresh_token_and_scopes_when_none_come_back() {
        let old = OAuth2Token {
            refresh_token: Some(SecretString::from("rt-old")),
            scopes: vec!["read".into()],
            ..OAuth2Token::bearer("at-old")
        };
        let answer: TokenAnswer =
            serde_json::from_str(r#"{"access_token":"at-new","token_type":"bearer","expires_in":60}"#).unwrap();
        let token = answer.into_token(Some(&old), &old.scopes);
        assert_eq!(token.access_token.expose_secret(), "at-new");
        assert_eq!(token.refresh_token.unwrap().expose_secret(), "rt-old");
        assert_eq!(token.token_type, "Bearer");
        assert_eq!(token.scopes, ["read"]);
        assert!(token.expires_at.is_some());
    }

    #[test]
    fn callbacks_parse_from_urls_and_query_strings() {
        let c = Callback::parse("https://app.test/cb?code=abc&state=xyz");
        assert_eq!((c.code.as_deref(), c.state.as_deref()), (Some("abc"), Some("xyz")));
        let c = Callback::parse("?error=access_denied&state=s");
        assert_eq!(c.error.as_deref(), Some("access_denied"));
    }
}
