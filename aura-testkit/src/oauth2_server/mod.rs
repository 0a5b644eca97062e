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

mod authorize;
mod builder;
mod client_auth;
mod params;
mod resource;
mod response;
mod server;
mod state;
mod token;

pub use builder::OAuth2ServerBuilder;
pub use server::OAuth2Server;
pub use token::RecordedTokenRequest;

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
pub(super) const REALM: &str = "aura-testkit";
pub(super) const AUTHORIZE_PATH: &str = "/authorize";
pub(super) const TOKEN_PATH: &str = "/token";
pub(super) const API_PATH: &str = "/api/me";
