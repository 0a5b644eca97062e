//! The connection an operation sends with: the context's, its credentials shaped the way the
//! manifest's authentication method says.

use std::sync::Arc;

use secrecy::ExposeSecret;

use super::model::{AuthSpec, KeyLocation};
use crate::connection::{ApiKeyPlacement, Connection, ConnectionRecord, Credentials, StaticConnection};
use crate::context::Context;

/// The manifest's authentication methods.
#[derive(Debug, Clone)]
pub(crate) struct AuthPlan {
    methods: Vec<AuthSpec>,
}

impl AuthPlan {
    pub(crate) fn new(methods: &[AuthSpec]) -> Self {
        Self {
            methods: methods.to_vec(),
        }
    }

    /// `cx`, or a context whose connection carries the credentials where the manifest puts
    /// them: an API key in the manifest's header or query parameter (whatever placement the
    /// connection gave it), and custom fields (`api_key`, `token`, `username` + `password`)
    /// as the API key, bearer token or basic credentials the manifest asks for. Credentials
    /// already of the right shape go as they are (OAuth2 tokens keep their refresh).
    pub(crate) fn context(&self, cx: &Context) -> Context {
        let Some(conn) = cx.connection() else { return cx.clone() };
        let credentials = conn.credentials();
        let Some(shaped) = self.methods.iter().find_map(|m| shape(m, &credentials)) else {
            return cx.clone();
        };
        let record = ConnectionRecord::new(conn.app_id(), "declarative", shaped).with_id(conn.id().clone());
        let connection: Arc<dyn Connection> = Arc::new(StaticConnection::new(record));
        cx.to_builder().connection(connection).build()
    }
}

/// The credentials `method` wants made from `credentials`, when they need reshaping.
fn shape(method: &AuthSpec, credentials: &Credentials) -> Option<Credentials> {
    match (method, credentials) {
        (AuthSpec::ApiKey { location, name }, Credentials::ApiKey { key, placement }) => {
            let wanted = placement_of(*location, name);
            (wanted != *placement).then(|| Credentials::api_key(key.expose_secret(), wanted))
        }
        (AuthSpec::ApiKey { location, name }, Credentials::Custom { .. }) => credentials
            .field("api_key")
            .map(|key| Credentials::api_key(key.expose_secret(), placement_of(*location, name))),
        (AuthSpec::Bearer, Credentials::Custom { .. }) => credentials
            .field("token")
            .map(|t| Credentials::bearer(t.expose_secret())),
        (AuthSpec::Basic, Credentials::Custom { .. }) => {
            let user = credentials.field("username")?;
            let password = credentials.field("password")?;
            Some(Credentials::basic(user.expose_secret(), password.expose_secret()))
        }
        _ => None,
    }
}

fn placement_of(location: KeyLocation, name: &str) -> ApiKeyPlacement {
    match location {
        KeyLocation::Header => ApiKeyPlacement::header(name),
        KeyLocation::Query => ApiKeyPlacement::query(name),
    }
}
