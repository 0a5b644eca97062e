//! The webhook receiver as an `axum::Router` (feature `webhook-axum`).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;

use super::TriggerRuntime;
use crate::trigger::WebhookRequest;

impl TriggerRuntime {
    /// The webhook receiver as a router to mount anywhere in a host's app
    /// (`app.nest("/hooks", triggers.router())`): every path under it goes to
    /// [`TriggerRuntime::handle`]. Bodies are read up to the largest limit of the runtime
    /// (`413` past it, without reading the rest). For allowlists, serve the app with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so that the peer address is
    /// known; without it, a route with an allowlist refuses every request.
    ///
    /// ```no_run
    /// # async fn run(triggers: aura_core::runtime::TriggerRuntime) -> std::io::Result<()> {
    /// let app = axum::Router::new().nest("/hooks", triggers.router());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
    /// # }
    /// ```
    pub fn router(&self) -> axum::Router {
        axum::Router::new().fallback(receive).with_state(self.clone())
    }
}

async fn receive(State(runtime): State<TriggerRuntime>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let (parts, body) = request.into_parts();
    let limit = runtime.shared.largest_body_limit();
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(_) => {
            let response = super::receive::too_large();
            return response.map(Body::from);
        }
    };
    let request = WebhookRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    runtime.handle(request, peer).await.map(Body::from)
}
