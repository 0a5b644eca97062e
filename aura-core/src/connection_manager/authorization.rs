//! Connecting an account with OAuth2: the authorization-code grant (with PKCE and state) and
//! the client-credentials grant.

use std::time::{Duration, Instant};

use reqwest::Url;
use serde_json::Map;

use super::{ConnectionManager, GRANT_KEY, NewConnection};
use crate::connection::oauth2::Callback;
use crate::connection::{AuthorizationRequest, ConnectionRecord, Credentials};
use crate::error::{Error, Result};

/// How long a started authorization (its `state`) waits for the user to come back.
const AUTHORIZATION_TTL: Duration = Duration::from_secs(600);

/// An authorization started and waiting for the user to come back.
pub(super) struct Pending {
    app_id: String,
    name: String,
    request: AuthorizationRequest,
    started: Instant,
}

impl ConnectionManager {
    /// Starts connecting an account of `app_id` with the authorization-code grant: returns the
    /// URL to send the user to. The redirect comes back to
    /// [`complete_authorization`](Self::complete_authorization) within ten minutes.
    pub async fn start_authorization(&self, app_id: &str, name: impl Into<String>) -> Result<Url> {
        let manifest = self.shared.registry.manifest(app_id)?;
        if !manifest.auth.iter().any(|m| m.kind() == "oauth2") {
            return Err(
                Error::invalid_definition("this app does not authenticate with OAuth2").with_context("app", app_id)
            );
        }
        let client = self.shared.client(app_id)?;
        let request = client.authorization_request()?;
        let url = request.url().clone();
        let mut pending = self.shared.pending.lock();
        pending.retain(|_, p| p.started.elapsed() < AUTHORIZATION_TTL);
        pending.insert(
            request.state().to_owned(),
            Pending {
                app_id: app_id.to_owned(),
                name: name.into(),
                request,
                started: Instant::now(),
            },
        );
        Ok(url)
    }

    /// Finishes an authorization from the redirect URL (or its query string): checks the
    /// state, exchanges the code (with the PKCE verifier) and creates the connection.
    pub async fn complete_authorization(&self, callback: &str) -> Result<ConnectionRecord> {
        let state = Callback::parse(callback).state.unwrap_or_default();
        let pending = {
            let mut map = self.shared.pending.lock();
            map.remove(&state)
                .filter(|p| p.started.elapsed() < AUTHORIZATION_TTL)
                .ok_or_else(|| {
                    Error::forbidden("unknown or expired authorization state: start the authorization again")
                })?
        };
        let client = self.shared.client(&pending.app_id)?;
        let token = client
            .complete(&pending.request, callback)
            .await
            .map_err(|e| e.with_context("app", pending.app_id.clone()))?;
        let mut metadata = Map::new();
        metadata.insert(GRANT_KEY.into(), "authorization_code".into());
        self.create(NewConnection::new(pending.app_id, pending.name, Credentials::OAuth2(token)).metadata(metadata))
            .await
    }

    /// Connects `app_id` with the client-credentials grant (machine to machine). The token is
    /// asked for again whenever it expires.
    pub async fn connect_client_credentials(&self, app_id: &str, name: impl Into<String>) -> Result<ConnectionRecord> {
        let client = self.shared.client(app_id)?;
        let token = client
            .client_credentials()
            .await
            .map_err(|e| e.with_context("app", app_id))?;
        let mut metadata = Map::new();
        metadata.insert(GRANT_KEY.into(), "client_credentials".into());
        self.create(NewConnection::new(app_id, name, Credentials::OAuth2(token)).metadata(metadata))
            .await
    }
}
