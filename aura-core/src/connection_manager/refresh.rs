//! Refreshing a managed connection's OAuth2 token: one flight at a time, its outcome shared by
//! every caller that waited on it, and a back-off after a failure.
//!
//! Callers that need a fresh token queue on the connection's [`Flight`]. The first one in asks
//! the token endpoint; the others, once in, find the work done: a newer version of the record
//! (the refresh succeeded), or the failure of that flight, which they return without asking
//! again. Later callers get the same failure until its back-off has passed on the manager's
//! [`Clock`](crate::clock::Clock): 1 s after the first failure, doubling up to 5 minutes, and
//! never shorter than the `Retry-After` the endpoint asked for. New credentials (a replacement,
//! a successful refresh) have a new version, which the failure does not apply to.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::managed::ManagedConnection;
use super::shared::Shared;
use super::{ConnectionEventKind, GRANT_KEY};
use crate::connection::{ConnectionRecord, ConnectionStatus, Credentials, TokenError, TokenErrorCode};
use crate::error::{Error, ErrorKind, Result};

/// The first back-off after a failed refresh.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The state behind a connection's single flight of refreshes.
#[derive(Debug, Default)]
pub(super) struct Flight {
    /// The last refresh's failure, while it applies.
    failure: Option<Failure>,
    /// Refreshes failed in a row (reset by a success).
    failures_in_a_row: u32,
}

/// A failed refresh, replayed to every caller until `retry_at`.
#[derive(Debug)]
struct Failure {
    /// The record version the refresh was for: newer credentials are not concerned.
    version: u64,
    /// On the manager's clock: when the token endpoint may be asked again.
    retry_at: Duration,
    kind: ErrorKind,
    message: String,
    context: Vec<(&'static str, String)>,
    status: Option<u16>,
    retry_after: Option<Duration>,
    token_error: Option<TokenError>,
}

impl Failure {
    /// Remembers what `err` says (it has been scrubbed of secrets by the OAuth2 client).
    fn of(err: &Error, version: u64, retry_at: Duration) -> Self {
        Self {
            version,
            retry_at,
            kind: err.kind(),
            message: err.message().to_owned(),
            context: err.context().to_vec(),
            status: err.status(),
            retry_after: err.retry_after(),
            token_error: TokenError::of(err).cloned(),
        }
    }

    /// The failure again, for a caller that did not run the refresh: same kind, message,
    /// context, status and token-endpoint error, and how long until the next attempt.
    fn replay(&self, now: Duration) -> Error {
        let mut err = Error::new(self.kind, self.message.clone());
        for (key, value) in &self.context {
            err = err.with_context(key, value.clone());
        }
        if let Some(status) = self.status {
            err = err.with_status(status);
        }
        let wait = self.retry_at.saturating_sub(now);
        err = err.with_retry_after(Some(self.retry_after.map_or(wait, |r| r.max(wait))));
        if let Some(token_error) = &self.token_error {
            err = err.with_source(token_error.clone());
        }
        err.with_context("refresh", "failed recently; not tried again yet")
    }
}

/// How long to wait after the `n`-th failure in a row (from 1): doubling from
/// [`FIRST_BACKOFF`], capped at [`MAX_BACKOFF`], and at least what the server asked for.
fn backoff(n: u32, asked: Option<Duration>) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1u32 << n.saturating_sub(1).min(16));
    doubled.min(MAX_BACKOFF).max(asked.unwrap_or_default())
}

impl ManagedConnection {
    /// Whether the token of `record` can be renewed: OAuth2, a client for the app, and a
    /// refresh token or the client-credentials grant.
    pub(super) fn refreshable(&self, record: &ConnectionRecord) -> bool {
        let Credentials::OAuth2(token) = &record.credentials else {
            return false;
        };
        let has_client = self
            .shared
            .upgrade()
            .is_some_and(|s| s.oauth2.read().contains_key(&self.app_id));
        has_client
            && (token.refresh_token.is_some()
                || record.metadata.get(GRANT_KEY).and_then(Value::as_str) == Some("client_credentials"))
    }

    /// Refreshes the token unless a newer version than `seen` exists already, or a refresh of
    /// `seen` failed and its back-off has not passed (that failure is returned again).
    pub(super) async fn refresh_once(&self, seen: u64) -> Result<()> {
        let mut flight = self.refresh.lock().await;
        let record = self.record();
        if record.version != seen {
            return Ok(());
        }
        let now = self.clock.now();
        if let Some(failure) = &flight.failure
            && failure.version == seen
            && now < failure.retry_at
        {
            return Err(failure.replay(now).with_context("connection", self.id.to_string()));
        }
        let Some(shared) = self.shared.upgrade() else {
            return Err(Error::unavailable("the connection manager has been dropped"));
        };
        let client = shared.client(&self.app_id)?;
        let Credentials::OAuth2(token) = &record.credentials else {
            return Ok(());
        };
        let result = if token.refresh_token.is_some() {
            client.refresh(token).await
        } else {
            client.client_credentials().await
        };
        let token = match result {
            Ok(token) => token,
            Err(err) => {
                flight.failures_in_a_row = flight.failures_in_a_row.saturating_add(1);
                let wait = backoff(flight.failures_in_a_row, err.retry_after());
                flight.failure = Some(Failure::of(&err, seen, self.clock.now() + wait));
                return Err(self.refresh_failed(&shared, err).await);
            }
        };
        flight.failure = None;
        flight.failures_in_a_row = 0;
        self.usage.refreshes.fetch_add(1, Ordering::Relaxed);
        let expires_at = token.expires_at;
        let new_credentials = Credentials::OAuth2(token);
        let version = match shared
            .modify(&self.id, |r| {
                r.credentials = new_credentials.clone();
                true
            })
            .await
        {
            Ok(stored) => stored.version,
            Err(err) => {
                // The server may have rotated the refresh token: dropping the new one would
                // lose the account. Keep it in memory; the next write persists it.
                tracing::error!(connection = %self.id, error = %err, "refreshed token could not be stored; kept in memory");
                shared.emit(
                    &self.id,
                    &self.app_id,
                    ConnectionEventKind::PersistFailed {
                        error: err.kind().as_str(),
                    },
                );
                let mut next = (*record).clone();
                next.credentials = new_credentials;
                next.version += 1;
                next.updated_at = Utc::now();
                let version = next.version;
                self.set_record(Arc::new(next));
                version
            }
        };
        tracing::info!(connection = %self.id, version, "oauth2 token refreshed");
        shared.emit(
            &self.id,
            &self.app_id,
            ConnectionEventKind::TokenRefreshed { version, expires_at },
        );
        Ok(())
    }

    async fn refresh_failed(&self, shared: &Shared, err: Error) -> Error {
        let oauth2_error = TokenError::of(&err).map(|t| t.code.clone());
        tracing::warn!(connection = %self.id, error = %err, "oauth2 token refresh failed");
        shared.emit(
            &self.id,
            &self.app_id,
            ConnectionEventKind::RefreshFailed {
                error: err.kind().as_str(),
                oauth2_error: oauth2_error.as_ref().map(|c| c.as_str().to_owned()),
            },
        );
        // The grant is dead (revoked, expired, password changed): only the user can fix it.
        if matches!(
            oauth2_error,
            Some(TokenErrorCode::InvalidGrant | TokenErrorCode::InvalidClient)
        ) && let Err(e) = shared.set_status(&self.id, ConnectionStatus::Error).await
        {
            tracing::error!(connection = %self.id, error = %e, "could not record the connection's failed status");
        }
        err.with_context("connection", self.id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_honours_retry_after() {
        assert_eq!(backoff(1, None), Duration::from_secs(1));
        assert_eq!(backoff(2, None), Duration::from_secs(2));
        assert_eq!(backoff(4, None), Duration::from_secs(8));
        assert_eq!(backoff(30, None), MAX_BACKOFF);
        assert_eq!(backoff(1, Some(Duration::from_secs(30))), Duration::from_secs(30));
    }
}
