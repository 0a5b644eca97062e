//! A local OAuth 2.0 authorization server for tests and examples.
//!
//! [`OAuth2Server`] is a real HTTP server on `127.0.0.1` (a random port, served by
//! [`wiremock`]) that speaks the authorization-code grant with PKCE, the client-credentials grant
//! and the refresh-token grant, strictly after [RFC 6749] and [RFC 7636], so that it can be used to
//! test an OAuth 2.0 client implementation. It also serves a small protected resource,
//! `GET /api/me`, that takes bearer tokens as [RFC 6750] says.
//!
//! | endpoint | what |
//! | --- | --- |
//! | `GET /authorize` | authorization endpoint ([RFC 6749 §4.1.1]); auto-approves with a `302` to the redirect URI |
//! | `POST /token` | token endpoint ([RFC 6749 §3.2]); grants `authorization_code`, `client_credentials`, `refresh_token` |
//! | `GET /api/me` | protected resource: `{"sub", "client_id", "scope"}` for a valid bearer token |
//!
//! Unless configured otherwise the server knows one confidential client, [`DEFAULT_CLIENT_ID`] with
//! secret [`DEFAULT_CLIENT_SECRET`] and redirect URI [`DEFAULT_REDIRECT_URI`], and the scopes
//! `read` and `write`. There is no browser and no login page: [`OAuth2Server::approve`] performs
//! the authorization request the way a user agent would, without following the redirect, and gives
//! back the callback URL with `code` and `state`.
//!
//! ```
//! use aura_testkit::OAuth2Server;
//! use base64::Engine as _;
//! use sha2::{Digest, Sha256};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = OAuth2Server::start().await;
//!
//! // PKCE (RFC 7636 §4.1, §4.2): a code verifier and its S256 challenge.
//! let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
//! let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
//!
//! // The authorization request (RFC 6749 §4.1.1), built by hand.
//! let query = form_urlencoded::Serializer::new(String::new())
//!     .append_pair("response_type", "code")
//!     .append_pair("client_id", "aura-client")
//!     .append_pair("redirect_uri", "http://127.0.0.1/callback")
//!     .append_pair("scope", "read")
//!     .append_pair("state", "af0ifjsldkj")
//!     .append_pair("code_challenge", &challenge)
//!     .append_pair("code_challenge_method", "S256")
//!     .finish();
//! let callback = server.approve(&format!("{}?{query}", server.authorization_url())).await?;
//!
//! // The callback carries the one-time code and the state.
//! let (_, callback_query) = callback.split_once('?').ok_or("no query in the callback")?;
//! let params: Vec<(String, String)> = form_urlencoded::parse(callback_query.as_bytes()).into_owned().collect();
//! let param = |name: &str| params.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
//! assert_eq!(param("state").as_deref(), Some("af0ifjsldkj"));
//! let code = param("code").ok_or("no code in the callback")?;
//!
//! // The access token request (RFC 6749 §4.1.3), with client_secret_basic.
//! let body = form_urlencoded::Serializer::new(String::new())
//!     .append_pair("grant_type", "authorization_code")
//!     .append_pair("code", &code)
//!     .append_pair("redirect_uri", "http://127.0.0.1/callback")
//!     .append_pair("code_verifier", verifier)
//!     .finish();
//! let http = reqwest::Client::new();
//! let token: serde_json::Value = http
//!     .post(server.token_url())
//!     .basic_auth("aura-client", Some("aura-secret"))
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .body(body)
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(token["token_type"], "Bearer");
//! assert_eq!(token["expires_in"], 3600);
//! assert_eq!(token["scope"], "read");
//! assert!(token["refresh_token"].is_string());
//!
//! // The protected resource.
//! let access_token = token["access_token"].as_str().ok_or("no access token")?;
//! let me: serde_json::Value = http.get(server.api_url()).bearer_auth(access_token).send().await?.json().await?;
//! assert_eq!(me["client_id"], "aura-client");
//! assert_eq!(me["scope"], "read");
//!
//! assert_eq!(server.grants("authorization_code"), 1);
//! assert_eq!(server.api_calls(), 1);
//! # Ok(()) }
//! ```
//!
//! # How strict it is
//!
//! At the authorization endpoint:
//! - a missing, repeated or unknown `client_id`, or a missing, repeated or unregistered
//!   `redirect_uri` (compared as plain strings), answers `400` with an HTML page and never
//!   redirects (RFC 6749 §4.1.2.1). This server requires `redirect_uri` even when the client has a
//!   single registered one;
//! - every other error redirects to the redirect URI with `error`, `error_description` and the
//!   `state` (§4.1.2.1): `invalid_request` for a repeated parameter, a missing `response_type`, a
//!   missing `code_challenge`, a `code_challenge_method` other than `S256` (a missing method means
//!   `plain`, RFC 7636 §4.3, which is refused too) or a challenge that is not 43 base64url
//!   characters; `unsupported_response_type` for a `response_type` other than `code`;
//!   `invalid_scope` for an unknown or malformed scope; `access_denied` after
//!   [`OAuth2Server::deny_next_authorization`];
//! - a missing `scope` means every scope of the server (§3.3).
//!
//! At the token endpoint:
//! - only `POST`, with `Content-Type: application/x-www-form-urlencoded` (§4.1.3), and no
//!   parameter twice (§3.1); a parameter with an empty value counts as absent (§3.1);
//! - clients authenticate with HTTP Basic (`client_secret_basic`; the client id and the secret are
//!   form-urlencoded before being joined and base64-encoded, §2.3.1) or with `client_id` and
//!   `client_secret` in the body (`client_secret_post`), never both (§2.3); public clients (no
//!   secret registered) send only `client_id` and must not send a secret. A failed authentication
//!   answers `401` `invalid_client`, with `WWW-Authenticate: Basic realm="aura-testkit"` when the
//!   `Authorization` header was used (§5.2);
//! - `authorization_code` needs `code`, `redirect_uri` (identical to the one at the authorization
//!   request) and `code_verifier` (43 to 128 unreserved characters whose S256 transform is the
//!   stored challenge, RFC 7636 §4.6). A code is spent by the first exchange attempt that names it,
//!   successful or not; using it again answers `invalid_grant` and revokes the tokens it gave
//!   (§4.1.2). Codes expire after [`OAuth2ServerBuilder::code_ttl`];
//! - `client_credentials` is for confidential clients only (§4.4; a public client gets
//!   `unauthorized_client`) and gives no refresh token (§4.4.3);
//! - `refresh_token` takes an optional `scope` that must be within the original grant (§6); with
//!   rotation (the default) the answer has a new refresh token and the old one is dead, without it
//!   the answer has no `refresh_token` and the old one stays valid;
//! - every answer is JSON with `Cache-Control: no-store` and `Pragma: no-cache` (§5.1); errors are
//!   `{"error", "error_description"}` with status `400`, or `401` for `invalid_client` (§5.2).
//!
//! At `GET /api/me` (RFC 6750): the token goes in `Authorization: Bearer …` only. No bearer
//! credentials answer `401` with `WWW-Authenticate: Bearer realm="aura-testkit"` and no error code
//! (§3.1); an unknown, expired or revoked token answers `401` with
//! `WWW-Authenticate: Bearer realm="aura-testkit", error="invalid_token", error_description="…"`;
//! a malformed header answers `400` with `error="invalid_request"`.
//!
//! [RFC 6749]: https://www.rfc-editor.org/rfc/rfc6749
//! [RFC 7636]: https://www.rfc-editor.org/rfc/rfc7636
//! [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750
//! [RFC 6749 §4.1.1]: https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
//! [RFC 6749 §3.2]: https://www.rfc-editor.org/rfc/rfc6749#section-3.2

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use parking_lot::Mutex;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The id of the client every server knows unless one with the same id is registered.
pub const DEFAULT_CLIENT_ID: &str = "aura-client";
/// The secret of the default client.
pub const DEFAULT_CLIENT_SECRET: &str = "aura-secret";
/// The one redirect URI registered for the default client.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// The resource owner that approves every authorization request, unless
/// [`OAuth2ServerBuilder::subject`] says otherwise.
pub const DEFAULT_SUBJECT: &str = "aura-user";

/// The realm of the `WWW-Authenticate` challenges.
const REALM: &str = "aura-testkit";
const AUTHORIZE_PATH: &str = "/authorize";
const TOKEN_PATH: &str = "/token";
const API_PATH: &str = "/api/me";

/// A local OAuth 2.0 authorization server on `127.0.0.1`, with a protected resource at
/// `/api/me`. See the [module documentation](self) for what it does and how strictly.
///
/// It stops when dropped.
pub struct OAuth2Server {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for OAuth2Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2Server")
            .field("uri", &self.uri())
            .finish_non_exhaustive()
    }
}

impl OAuth2Server {
    /// Starts a server with the default configuration: the client [`DEFAULT_CLIENT_ID`] /
    /// [`DEFAULT_CLIENT_SECRET`] with redirect URI [`DEFAULT_REDIRECT_URI`], scopes `read` and
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

/// Configures an [`OAuth2Server`]; made by [`OAuth2Server::builder`].
#[derive(Debug, Clone)]
pub struct OAuth2ServerBuilder {
    clients: BTreeMap<String, Client>,
    scopes: Vec<String>,
    subject: String,
    access_token_ttl: Duration,
    code_ttl: Duration,
    rotate_refresh_tokens: bool,
}

impl Default for OAuth2ServerBuilder {
    fn default() -> Self {
        let mut clients = BTreeMap::new();
        clients.insert(
            DEFAULT_CLIENT_ID.to_owned(),
            Client {
                secret: Some(DEFAULT_CLIENT_SECRET.to_owned()),
                redirect_uris: vec![DEFAULT_REDIRECT_URI.to_owned()],
            },
        );
        Self {
            clients,
            scopes: vec!["read".to_owned(), "write".to_owned()],
            subject: DEFAULT_SUBJECT.to_owned(),
            access_token_ttl: Duration::from_secs(3600),
            code_ttl: Duration::from_secs(60),
            rotate_refresh_tokens: true,
        }
    }
}

impl OAuth2ServerBuilder {
    /// Registers a client: confidential with `Some(secret)`, public with `None`, and the redirect
    /// URIs it may use (absolute, without fragment; compared as plain strings). A client with the
    /// id [`DEFAULT_CLIENT_ID`] replaces the default client; any other id is added beside it.
    #[must_use]
    pub fn client<S: Into<String>>(
        mut self,
        id: impl Into<String>,
        secret: Option<&str>,
        redirect_uris: impl IntoIterator<Item = S>,
    ) -> Self {
        let client = Client {
            secret: secret.map(str::to_owned),
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
        };
        self.clients.insert(id.into(), client);
        self
    }

    /// Sets the scopes the server knows (default `read` and `write`). A request without `scope`
    /// gets them all.
    #[must_use]
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the resource owner that approves authorization requests, the `sub` that `/api/me`
    /// answers for their tokens (default [`DEFAULT_SUBJECT`]). For client-credentials tokens the
    /// `sub` is the client id.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into();
        self
    }

    /// Sets the lifetime of access tokens, `expires_in` (default one hour). Zero makes them expire
    /// at once.
    #[must_use]
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }

    /// Sets the lifetime of authorization codes (default 60 seconds).
    #[must_use]
    pub fn code_ttl(mut self, ttl: Duration) -> Self {
        self.code_ttl = ttl;
        self
    }

    /// Turns refresh-token rotation on (the default) or off. On, each `refresh_token` grant
    /// answers a new refresh token and the one used becomes invalid; off, the answer has no
    /// `refresh_token` and the one used stays valid.
    #[must_use]
    pub fn rotate_refresh_tokens(mut self, rotate: bool) -> Self {
        self.rotate_refresh_tokens = rotate;
        self
    }

    /// Starts the server on `127.0.0.1`, on a random port.
    pub async fn start(self) -> OAuth2Server {
        let state = Arc::new(Mutex::new(State {
            clients: self.clients,
            scopes: self.scopes,
            subject: self.subject,
            access_token_ttl: self.access_token_ttl,
            code_ttl: self.code_ttl,
            rotate_refresh_tokens: self.rotate_refresh_tokens,
            deny_next: false,
            fail_next: None,
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            next_family: 0,
            token_requests: 0,
            authorization_requests: 0,
            api_calls: 0,
            grants: HashMap::new(),
            last_token_request: None,
        }));
        let server = MockServer::builder().disable_request_recording().start().await;
        for (route, endpoint) in [
            (AUTHORIZE_PATH, Endpoint::Authorize),
            (TOKEN_PATH, Endpoint::Token),
            (API_PATH, Endpoint::Api),
        ] {
            Mock::given(path(route))
                .respond_with(Handler {
                    state: Arc::clone(&state),
                    endpoint,
                })
                .mount(&server)
                .await;
        }
        OAuth2Server { server, state }
    }
}

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

#[derive(Debug, Clone)]
struct Client {
    secret: Option<String>,
    redirect_uris: Vec<String>,
}

struct State {
    clients: BTreeMap<String, Client>,
    scopes: Vec<String>,
    subject: String,
    access_token_ttl: Duration,
    code_ttl: Duration,
    rotate_refresh_tokens: bool,
    deny_next: bool,
    fail_next: Option<(String, u16)>,
    codes: HashMap<String, Code>,
    access_tokens: HashMap<String, AccessToken>,
    refresh_tokens: HashMap<String, RefreshToken>,
    /// Numbers grants, so that reusing a code can revoke the tokens it gave.
    next_family: u64,
    token_requests: usize,
    authorization_requests: usize,
    api_calls: usize,
    grants: HashMap<String, usize>,
    last_token_request: Option<RecordedTokenRequest>,
}

struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: Vec<String>,
    expires_at: Instant,
    used: bool,
    family: u64,
}

struct AccessToken {
    client_id: String,
    subject: String,
    scope: Vec<String>,
    expires_at: Instant,
    revoked: bool,
    family: Option<u64>,
}

struct RefreshToken {
    client_id: String,
    subject: String,
    scope: Vec<String>,
    revoked: bool,
    family: u64,
}

#[derive(Clone, Copy)]
enum Endpoint {
    Authorize,
    Token,
    Api,
}

struct Handler {
    state: Arc<Mutex<State>>,
    endpoint: Endpoint,
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

/// Form-urlencoded parameters, with empty values dropped (RFC 6749 §3.1).
struct Params {
    values: BTreeMap<String, String>,
    names: Vec<String>,
    repeated: Vec<String>,
}

impl Params {
    fn parse(input: &[u8]) -> Self {
        let mut params = Self {
            values: BTreeMap::new(),
            names: Vec::new(),
            repeated: Vec::new(),
        };
        for (name, value) in form_urlencoded::parse(input) {
            if value.is_empty() {
                continue;
            }
            if params.values.contains_key(name.as_ref()) {
                if !params.repeated.iter().any(|r| r == name.as_ref()) {
                    params.repeated.push(name.into_owned());
                }
                continue;
            }
            params.names.push(name.clone().into_owned());
            params.values.insert(name.into_owned(), value.into_owned());
        }
        params
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A parameter the request must have: `invalid_request` when it is missing.
    fn require(&self, name: &str) -> Result<&str, TokenError> {
        self.get(name)
            .ok_or_else(|| TokenError::invalid_request(format!("The {name} parameter is missing.")))
    }

    fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }
}

/// An RFC 6749 §5.2 error from the token endpoint.
struct TokenError {
    status: u16,
    error: String,
    description: String,
    basic_challenge: bool,
}

impl TokenError {
    fn new(error: &str, description: impl Into<String>) -> Self {
        Self {
            status: 400,
            error: error.to_owned(),
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new("invalid_grant", description)
    }

    fn invalid_client(description: impl Into<String>, basic_used: bool) -> Self {
        Self {
            status: 401,
            basic_challenge: basic_used,
            ..Self::new("invalid_client", description)
        }
    }

    fn into_response(self) -> ResponseTemplate {
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

/// How the client authenticated at the token endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientAuth {
    Basic,
    Post,
    None,
}

impl ClientAuth {
    fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "client_secret_basic",
            Self::Post => "client_secret_post",
            Self::None => "none",
        }
    }
}

impl State {
    fn authorize(&mut self, request: &Request) -> ResponseTemplate {
        self.authorization_requests += 1;
        if request.method != Method::GET {
            return error_page(405, "The authorization endpoint takes GET requests.")
                .insert_header(header::ALLOW, "GET");
        }
        let params = Params::parse(request.url.query().unwrap_or_default().as_bytes());

        // Errors about the client or the redirect URI must not redirect (§4.1.2.1).
        if params.is_repeated("client_id") {
            return error_page(400, "The client_id parameter is repeated.");
        }
        if params.is_repeated("redirect_uri") {
            return error_page(400, "The redirect_uri parameter is repeated.");
        }
        let Some(client_id) = params.get("client_id") else {
            return error_page(400, "The client_id parameter is missing.");
        };
        let Some(client) = self.clients.get(client_id) else {
            return error_page(400, "The client_id is unknown.");
        };
        let Some(redirect_uri) = params.get("redirect_uri") else {
            return error_page(400, "The redirect_uri parameter is missing: this server requires it.");
        };
        if !client.redirect_uris.iter().any(|registered| registered == redirect_uri) {
            return error_page(400, "The redirect_uri is not registered for this client.");
        }
        let client_state = params.get("state");
        let redirect_error = |error: &str, description: &str| {
            let mut pairs = vec![("error", error), ("error_description", description)];
            if let Some(client_state) = client_state {
                pairs.push(("state", client_state));
            }
            redirect(redirect_uri, &pairs)
        };

        if let Some(name) = params.repeated.first() {
            return redirect_error(
                "invalid_request",
                &sanitize(&format!("The parameter {name} is repeated.")),
            );
        }
        match params.get("response_type") {
            None => return redirect_error("invalid_request", "The response_type parameter is missing."),
            Some("code") => {}
            Some(_) => {
                return redirect_error("unsupported_response_type", "Only response_type=code is supported.");
            }
        }
        let Some(challenge) = params.get("code_challenge") else {
            return redirect_error(
                "invalid_request",
                "PKCE is required: the code_challenge parameter is missing.",
            );
        };
        match params.get("code_challenge_method") {
            Some("S256") => {}
            None => {
                return redirect_error(
                    "invalid_request",
                    "The code_challenge_method is missing, which means plain: only S256 is supported.",
                );
            }
            Some(_) => {
                return redirect_error("invalid_request", "Only code_challenge_method=S256 is supported.");
            }
        }
        if challenge.len() != 43 || !challenge.bytes().all(is_base64url) {
            return redirect_error(
                "invalid_request",
                "The code_challenge is not 43 base64url characters, as an S256 challenge is.",
            );
        }
        let scope = match parse_scope(params.get("scope"), &self.scopes) {
            Ok(scope) => scope,
            Err(description) => return redirect_error("invalid_scope", &description),
        };
        if std::mem::take(&mut self.deny_next) {
            return redirect_error("access_denied", "The resource owner denied the request.");
        }

        let Some(code) = random_token("code_") else {
            return redirect_error("server_error", "No randomness for the code.");
        };
        let family = self.new_family();
        let stored = Code {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            challenge: challenge.to_owned(),
            scope,
            expires_at: Instant::now() + self.code_ttl,
            used: false,
            family,
        };
        self.codes.insert(code.clone(), stored);
        let mut pairs = vec![("code", code.as_str())];
        if let Some(client_state) = client_state {
            pairs.push(("state", client_state));
        }
        redirect(redirect_uri, &pairs)
    }

    fn token(&mut self, request: &Request) -> ResponseTemplate {
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

    fn token_grant(
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

    /// Client authentication (RFC 6749 §2.3, §3.2.1): the client id and how it authenticated.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        params: &Params,
        basic: Option<Result<(String, String), String>>,
    ) -> Result<(String, ClientAuth), TokenError> {
        if let Some(basic) = basic {
            if params.get("client_secret").is_some() {
                return Err(TokenError::invalid_request(
                    "The client used more than one authentication method (Basic and client_secret).",
                ));
            }
            let (id, secret) = basic.map_err(|description| TokenError::invalid_client(description, true))?;
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(TokenError::invalid_request(
                    "The client_id parameter differs from the client of the Authorization header.",
                ));
            }
            let client = self
                .clients
                .get(&id)
                .ok_or_else(|| TokenError::invalid_client("Unknown client.", true))?;
            match &client.secret {
                None => Err(TokenError::invalid_client(
                    "This client is public: it has no secret to authenticate with.",
                    true,
                )),
                Some(expected) if *expected == secret => Ok((id, ClientAuth::Basic)),
                Some(_) => Err(TokenError::invalid_client("Wrong client secret.", true)),
            }
        } else if headers.contains_key(header::AUTHORIZATION) {
            Err(TokenError::invalid_client(
                "Unsupported authentication scheme: use Basic or client_secret_post.",
                true,
            ))
        } else if let Some(secret) = params.get("client_secret") {
            let id = params.get("client_id").ok_or_else(|| {
                TokenError::invalid_client("The client_secret parameter came without client_id.", false)
            })?;
            let client = self
                .clients
                .get(id)
                .ok_or_else(|| TokenError::invalid_client("Unknown client.", false))?;
            match &client.secret {
                None => Err(TokenError::invalid_client(
                    "This client is public: it has no secret to authenticate with.",
                    false,
                )),
                Some(expected) if expected == secret => Ok((id.to_owned(), ClientAuth::Post)),
                Some(_) => Err(TokenError::invalid_client("Wrong client secret.", false)),
            }
        } else if let Some(id) = params.get("client_id") {
            let client = self
                .clients
                .get(id)
                .ok_or_else(|| TokenError::invalid_client("Unknown client.", false))?;
            if client.secret.is_some() {
                return Err(TokenError::invalid_client(
                    "This client is confidential: it must authenticate.",
                    false,
                ));
            }
            Ok((id.to_owned(), ClientAuth::None))
        } else {
            Err(TokenError::invalid_client(
                "No client authentication was included.",
                false,
            ))
        }
    }

    fn authorization_code_grant(&mut self, client_id: &str, params: &Params) -> Result<ResponseTemplate, TokenError> {
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

    fn client_credentials_grant(
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

    fn refresh_token_grant(&mut self, client_id: &str, params: &Params) -> Result<ResponseTemplate, TokenError> {
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

    fn token_response(&self, access_token: &str, refresh_token: Option<&str>, scope: &[String]) -> ResponseTemplate {
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

    fn issue_access_token(
        &mut self,
        client_id: &str,
        subject: &str,
        scope: &[String],
        family: Option<u64>,
    ) -> Result<String, TokenError> {
        let token = random_token("at_").ok_or_else(no_randomness)?;
        self.access_tokens.insert(
            token.clone(),
            AccessToken {
                client_id: client_id.to_owned(),
                subject: subject.to_owned(),
                scope: scope.to_vec(),
                expires_at: Instant::now() + self.access_token_ttl,
                revoked: false,
                family,
            },
        );
        Ok(token)
    }

    fn issue_refresh_token(
        &mut self,
        client_id: &str,
        subject: &str,
        scope: &[String],
        family: u64,
    ) -> Result<String, TokenError> {
        let token = random_token("rt_").ok_or_else(no_randomness)?;
        self.refresh_tokens.insert(
            token.clone(),
            RefreshToken {
                client_id: client_id.to_owned(),
                subject: subject.to_owned(),
                scope: scope.to_vec(),
                revoked: false,
                family,
            },
        );
        Ok(token)
    }

    fn new_family(&mut self) -> u64 {
        self.next_family += 1;
        self.next_family
    }

    /// Revokes the tokens given from one authorization code.
    fn revoke_family(&mut self, family: u64) {
        for token in self.access_tokens.values_mut() {
            if token.family == Some(family) {
                token.revoked = true;
            }
        }
        for token in self.refresh_tokens.values_mut() {
            if token.family == family {
                token.revoked = true;
            }
        }
    }

    fn api(&mut self, request: &Request) -> ResponseTemplate {
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

/// The Basic credentials of the `Authorization` header, if it uses the Basic scheme: the client
/// id and secret, form-urldecoded (RFC 6749 §2.3.1), or why they cannot be read.
fn basic_header(headers: &HeaderMap) -> Option<Result<(String, String), String>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let value = value.to_str().unwrap_or_default();
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    Some(decode_basic(credentials.trim()))
}

fn decode_basic(credentials: &str) -> Result<(String, String), String> {
    let decoded = STANDARD
        .decode(credentials)
        .map_err(|_| "The Basic credentials are not base64.".to_owned())?;
    let decoded = String::from_utf8(decoded).map_err(|_| "The Basic credentials are not UTF-8.".to_owned())?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| "The Basic credentials have no colon.".to_owned())?;
    let undo = |part: &str| {
        form_urldecode(part).ok_or_else(|| "The Basic credentials are not form-urlencoded (RFC 6749 2.3.1).".to_owned())
    };
    Ok((undo(id)?, undo(secret)?))
}

/// Decodes one application/x-www-form-urlencoded value: `+` is a space, `%XX` a byte.
fn form_urldecode(input: &str) -> Option<String> {
    let mut bytes = input.bytes();
    let mut out = Vec::with_capacity(input.len());
    while let Some(byte) = bytes.next() {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let high = char::from(bytes.next()?).to_digit(16)?;
                let low = char::from(bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(high * 16 + low).ok()?);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

/// Parses a `scope` parameter (RFC 6749 §3.3) against the scopes allowed; none means all of
/// them.
fn parse_scope(raw: Option<&str>, allowed: &[String]) -> Result<Vec<String>, String> {
    let Some(raw) = raw else {
        return Ok(allowed.to_vec());
    };
    let mut scope: Vec<String> = Vec::new();
    for token in raw.split(' ') {
        if token.is_empty() || !token.bytes().all(is_nqchar) {
            return Err("The scope is malformed: scope tokens separated by single spaces.".to_owned());
        }
        if !allowed.iter().any(|known| known == token) {
            return Err(format!("Unknown scope {token}."));
        }
        if !scope.iter().any(|seen| seen == token) {
            scope.push(token.to_owned());
        }
    }
    Ok(scope)
}

/// `NQCHAR` of RFC 6749 Appendix A.
fn is_nqchar(byte: u8) -> bool {
    byte == 0x21 || (0x23..=0x5B).contains(&byte) || (0x5D..=0x7E).contains(&byte)
}

/// The unreserved characters of RFC 3986, the alphabet of a code verifier (RFC 7636 §4.1).
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_')
}

/// `b64token` of RFC 6750 §2.1.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
}

/// Keeps to the characters an `error_description` may hold (RFC 6749 §5.2).
fn sanitize(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E' => c,
            _ => '?',
        })
        .collect()
}

/// A random token: `prefix` and 32 random bytes in base64url.
fn random_token(prefix: &str) -> Option<String> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

fn no_randomness() -> TokenError {
    TokenError {
        status: 500,
        ..TokenError::new("server_error", "No randomness for the token.")
    }
}

fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn no_store(response: ResponseTemplate) -> ResponseTemplate {
    response
        .insert_header(header::CACHE_CONTROL, "no-store")
        .insert_header(header::PRAGMA, "no-cache")
}

/// A `302` to `base` with `pairs` added to its query, keeping any query it has (RFC 6749 §3.1.2).
fn redirect(base: &str, pairs: &[(&str, &str)]) -> ResponseTemplate {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    let query = query.finish();
    let separator = match base.find('?') {
        None => "?",
        Some(_) if base.ends_with('?') || base.ends_with('&') => "",
        Some(_) => "&",
    };
    let location = format!("{base}{separator}{query}");
    if HeaderValue::from_str(&location).is_err() {
        return error_page(400, "The redirect_uri cannot be put in a Location header.");
    }
    ResponseTemplate::new(StatusCode::FOUND).insert_header(header::LOCATION, location)
}

/// The HTML page of an authorization error that must not redirect.
fn error_page(status: u16, message: &str) -> ResponseTemplate {
    let message: String = message
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            _ => c.to_string(),
        })
        .collect();
    let page = format!(
        "<!DOCTYPE html>\n<html><head><title>Authorization error</title></head>\
         <body><h1>Authorization error</h1><p>{message}</p></body></html>\n"
    );
    ResponseTemplate::new(status).set_body_raw(page, "text/html; charset=utf-8")
}

/// `401` for a request without bearer credentials: a challenge without error code (RFC 6750
/// §3.1).
fn bearer_challenge() -> ResponseTemplate {
    ResponseTemplate::new(401).insert_header(header::WWW_AUTHENTICATE, format!("Bearer realm=\"{REALM}\""))
}

/// A bearer-token error (RFC 6750 §3, §3.1).
fn bearer_error(status: u16, error: &str, description: &str) -> ResponseTemplate {
    let description = sanitize(description);
    json_response(status, &json!({ "error": error, "error_description": description })).insert_header(
        header::WWW_AUTHENTICATE,
        format!("Bearer realm=\"{REALM}\", error=\"{error}\", error_description=\"{description}\""),
    )
}
