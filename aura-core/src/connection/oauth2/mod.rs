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
//!
//! | file | idea |
//! | --- | --- |
//! | `client.rs` | [`OAuth2Client`]: the grants and the token request |
//! | `wire.rs` | token responses and error bodies as servers send them |
//! | `token_error.rs` | [`TokenError`], [`TokenErrorCode`]: RFC 6749 §5.2 errors, typed |
//! | `pkce.rs` | [`Pkce`] (RFC 7636) and random tokens |
//! | `authorization.rs` | [`AuthorizationRequest`] and the redirect's parameters |

mod authorization;
mod client;
mod pkce;
#[cfg(test)]
mod tests;
mod token_error;
mod wire;

pub use self::authorization::AuthorizationRequest;
pub(crate) use self::authorization::Callback;
pub use self::client::{ClientAuth, OAuth2Client};
pub use self::pkce::Pkce;
pub use self::token_error::{TokenError, TokenErrorCode};
