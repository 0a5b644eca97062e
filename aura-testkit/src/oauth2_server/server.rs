//! The server handle: endpoints' URLs, test controls and counters, and the dispatch of requests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use super::builder::OAuth2ServerBuilder;
use super::state::State;
use super::token::RecordedTokenRequest;
use super::{API_PATH, AUTHORIZE_PATH, TOKEN_PATH};

/// A local OAuth 2.0 authorization server on `127.0.0.1`, with a protected resource at
/// `/api/me`. See the [module documentation](super) for what it does and how strictly.
///
/// It stops when dropped.
pub struct OAuth2Server {
    pub(super) server: MockServer,
    pub(super) state: Arc<Mutex<State>>,
}

impl fmt::Debug for OAuth2Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Server")
            .field("uri", &self.uri())
            .finish_non_exhaustive()
    }
}

impl OAuth2Server {
    /// Starts a server with the default configuration: the client [`DEFAULT_CLIENT_ID`](super::DEFAULT_CLIENT_ID) /
    /// [`DEFAULT_CLIENT_SECRET`](super::DEFAULT_CLIENT_SECRET) with redirect URI [`DEFAULT_REDIRECT_URI`](super::DEFAULT_REDIRECT_URI), scopes `read` and
    /// `write`, access tokens valid one hour, codes valid 60 seconds, refresh tokens rotated.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// A builder to configure clients, scopes, lifetimes and refresh-token rotation.
    pub fn builder() -> OAuth2ServerBuilder {
        OAuth2ServerBuilder::default()
    }

    /// The base URI, like `http://127.0.0.1:41234`, without a trailing slash.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The authorization endpoint, `<uri>/authorize`.
    pub fn authorization_url(&self) -> String {
        format!("{}{AUTHORIZE_PATH}", self.uri())
    }

    /// The token endpoint, `<uri>/token`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.uri())
    }

    /// The protected resource, `<uri>/api/me`.
    pub fn api_url(&self) -> String {
        format!("{}{API_PATH}", self.uri())
    }

    /// Plays the user agent: sends `GET authorization_url` (a full authorization request, query
    /// included) without following redirects, and returns the `Location` of the `302` answer —
    /// the redirect URI with `code` and `state`, or with `error`, `error_description` and `state`
    /// when the request was refused in a way that redirects.
    ///
    /// # Errors
    ///
    /// A description when the request fails or the answer is not a redirect with a `Location`
    /// (for instance the `400` page for an unknown client or redirect URI).
    pub async fn approve(&self, authorization_url: &str) -> Result<String, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let response = client
            .get(authorization_url)
            .send()
            .await
            .map_err(|e| format!("authorization request failed: {e}"))?;
        let status = response.status();
        if status.is_redirection()
            && let Some(location) = response.headers().get(header::LOCATION)
        {
            return location
                .to_str()
                .map(str::to_owned)
                .map_err(|_| "the Location header is not visible ASCII".to_owned());
        }
        let body = response.text().await.unwrap_or_default();
        Err(format!(
            "the authorization endpoint answered {status} without a redirect: {body}"
        ))
    }

    /// Makes the next authorization request that is otherwise valid answer `error=access_denied`,
    /// as if the resource owner had refused.
    pub fn deny_next_authorization(&self) {
        self.state.lock().deny_next = true;
    }

    /// Revokes every access token issued so far: `/api/me` answers `401` `invalid_token` for them.
    /// Tokens issued afterwards are valid.
    pub fn revoke_access_tokens(&self) {
        for token in self.state.lock().access_tokens.values_mut() {
            token.revoked = true;
        }
    }

    /// Revokes every refresh token issued so far: the `refresh_token` grant answers
    /// `invalid_grant` for them. Tokens issued afterwards are valid.
    pub fn revoke_refresh_tokens(&self) {
        for token in self.state.lock().refresh_tokens.values_mut() {
            token.revoked = true;
        }
    }

    /// Makes the next token request, whatever it is, answer `status` with the JSON error
    /// `{"error": error_code, "error_description": …}` (RFC 6749 §5.2), once. A `401` also has
    /// `WWW-Authenticate: Basic realm="aura-testkit"`; a `429` or `503` also has `Retry-After: 1`.
    /// A status outside `400..=599` is answered as `400`.
    ///
    /// ```no_run
    /// # async fn f(server: aura_testkit::OAuth2Server) {
    /// server.fail_next_token_request("temporarily_unavailable", 503);
    /// server.fail_next_token_request("slow_down", 429);
    /// # }
    /// ```
    pub fn fail_next_token_request(&self, error_code: &str, status: u16) {
        let status = if (400..=599).contains(&status) { status } else { 400 };
        self.state.lock().fail_next = Some((error_code.to_owned(), status));
    }

    /// Sets the lifetime of the access tokens issued from now on (`expires_in`). Zero makes them
    /// expire at once.
    pub fn set_access_token_ttl(&self, ttl: Duration) {
        self.state.lock().access_token_ttl = ttl;
    }

    /// How many `POST /token` requests arrived, successful or not.
    pub fn token_requests(&self) -> usize {
        self.state.lock().token_requests
    }

    /// How many successful token responses were given for `grant_type` (`"authorization_code"`,
    /// `"client_credentials"` or `"refresh_token"`).
    pub fn grants(&self, grant_type: &str) -> usize {
        self.state.lock().grants.get(grant_type).copied().unwrap_or(0)
    }

    /// How many successful `refresh_token` grants were given.
    pub fn refreshes(&self) -> usize {
        self.grants("refresh_token")
    }

    /// How many requests `/api/me` received, successful or not.
    pub fn api_calls(&self) -> usize {
        self.state.lock().api_calls
    }

    /// How many requests the authorization endpoint received, successful or not.
    pub fn authorization_requests(&self) -> usize {
        self.state.lock().authorization_requests
    }

    /// The last `POST /token` request, without secrets.
    pub fn last_token_request(&self) -> Option<RecordedTokenRequest> {
        self.state.lock().last_token_request.clone()
    }

    /// The S256 code challenge of a PKCE code verifier: `BASE64URL-NOPAD(SHA256(verifier))`
    /// (RFC 7636 §4.2).
    ///
    /// ```
    /// use aura_testkit::OAuth2Server;
    ///
    /// assert_eq!(
    ///     OAuth2Server::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
    ///     "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    /// );
    /// ```
    pub fn pkce_challenge(verifier: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    }
}

#[derive(Clone, Copy)]
pub(super) enum Endpoint {
    Authorize,
    Token,
    Api,
}

pub(super) struct Handler {
    pub(super) state: Arc<Mutex<State>>,
    pub(super) endpoint: Endpoint,
}

impl Respond for Handler {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock();
        match self.endpoint {
            Endpoint::Authorize => state.authorize(request),
            Endpoint::Token => state.token(request),
            Endpoint::Api => state.api(request),
        }
    }
}
