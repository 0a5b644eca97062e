//! [`OAuth2Client`]: one registered client of one authorization server, and its grants.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

use crate::connection::OAuth2Token;
use crate::connection::auth_method::{AuthMethod, OAuth2Grant};
use crate::error::{Error, ErrorKind, Result};
use crate::http_client::shared_http_client;
use crate::secret::Scrubber;

use super::authorization::constant_time_eq;
use super::pkce::random_token;
use super::wire::{TokenAnswer, TokenErrorBody, grant_name};
use super::{AuthorizationRequest, Callback, Pkce, TokenError, TokenErrorCode};

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
