//! How the generic apps (`http`, `graphql`) take a connection: any credentials that go on an
//! HTTP request as they are, so that a connection created through a
//! [`ConnectionManager`](aura_core::connection::ConnectionManager) reaches them.

use aura_core::AppManifest;
use aura_core::app::AuthMethod;

/// `manifest` accepting no credentials, a bearer token, basic credentials, or a set of
/// headers of any names (an API key in `X-API-Key` …).
pub(crate) fn generic_auth(manifest: AppManifest) -> AppManifest {
    manifest
        .auth(AuthMethod::None)
        .auth(AuthMethod::Bearer)
        .auth(AuthMethod::Basic)
        .auth(AuthMethod::Headers { names: Vec::new() })
}
