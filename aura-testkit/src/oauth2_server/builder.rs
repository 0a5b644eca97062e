//! The configuration of a server: clients, scopes, lifetimes, rotation.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer};

use super::server::{Endpoint, Handler, OAuth2Server};
use super::state::{Client, State};
use super::{
    API_PATH, AUTHORIZE_PATH, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI, DEFAULT_SUBJECT,
    TOKEN_PATH,
};

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
