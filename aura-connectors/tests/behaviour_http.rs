//! The connector behaviour suite on the `http` and `graphql` apps, against a local server
//! (wiremock on 127.0.0.1, let through the SSRF guard explicitly). These generic apps refuse
//! no credentials up front (they have no fixed server to test a connection against), so the
//! bad-credentials check is skipped for them; every other check runs.

#![cfg(any(feature = "http", feature = "graphql"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use aura_core::connection::Credentials;
use aura_core::http::HttpPolicy;
use aura_core::net::SsrfGuard;
use aura_testkit::behavior::connector::{ConnectorFixture, HttpErrorCase, PollingCase};
use parking_lot::Mutex;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "canary-http-Token-9f3e";

fn loopback() -> HttpPolicy {
    HttpPolicy::builder()
        .guard(SsrfGuard::new().allow_network("127.0.0.0/8").unwrap())
        .build()
}

/// A server with `GET /items` (a list that `produce` grows) that answers only the bearer
/// token, and `POST /graphql`.
async fn server() -> (MockServer, Arc<Mutex<Vec<Value>>>) {
    let server = MockServer::start().await;
    let items = Arc::new(Mutex::new(vec![json!({ "id": 1, "name": "first" })]));
    let listed = items.clone();
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(move |request: &wiremock::Request| {
            let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok());
            if auth == Some(&format!("Bearer {TOKEN}")) {
                // `?since=N`: the items after id N, as a cursor-paged API answers.
                let since = request
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "since")
                    .and_then(|(_, v)| v.parse::<u64>().ok())
                    .unwrap_or(0);
                let items: Vec<Value> = listed
                    .lock()
                    .iter()
                    .filter(|i| i["id"].as_u64().is_some_and(|id| id > since))
                    .cloned()
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({ "items": items }))
            } else {
                ResponseTemplate::new(401).set_body_string("who are you?")
            }
        })
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "data": { "viewer": { "login": "aura" } } })))
        .mount(&server)
        .await;
    (server, items)
}

#[cfg(feature = "http")]
async fn http_fixture() -> ConnectorFixture {
    use aura_connectors::http::HttpApp;
    let (server, items) = server().await;
    let url = format!("{}/items", server.uri());
    ConnectorFixture::new(HttpApp::new().policy(loopback()))
        .credentials(Credentials::bearer(TOKEN))
        .bad_input("http.request", json!({ "url": 5 }))
        .bad_input("http.request", json!({ "url": "http://127.0.0.1/", "method": "FETCH" }))
        .bad_input("http.request", json!({ "url": "not a url" }))
        .call("http.request", json!({ "url": url }))
        .polling(
            PollingCase::new(
                "http.poll",
                json!({ "url": url, "items": "/items", "key": "/id", "cursor_param": "since", "cursor_item": "/id" }),
            )
            .produce(move || {
                let items = items.clone();
                async move {
                    let mut items = items.lock();
                    let id = items.len() + 1;
                    items.push(json!({ "id": id, "name": format!("item {id}") }));
                }
            }),
        )
        .http_errors(HttpErrorCase::new(
            "http.request",
            |base| json!({ "url": format!("{base}/anything") }),
        ))
        .guard(server)
}

#[cfg(feature = "graphql")]
async fn graphql_fixture() -> ConnectorFixture {
    use aura_connectors::graphql::GraphqlApp;
    use aura_core::ErrorKind;
    let (server, _) = server().await;
    let url = format!("{}/graphql", server.uri());
    ConnectorFixture::new(GraphqlApp::new().policy(loopback()))
        .credentials(Credentials::bearer(TOKEN))
        .bad_input("graphql.query", json!({ "url": url, "query": 5 }))
        .bad_input("graphql.query", json!({ "query": "{ viewer { login } }" }))
        .call("graphql.query", json!({ "url": url, "query": "{ viewer { login } }" }))
        .http_errors(
            HttpErrorCase::new(
                "graphql.query",
                |base| json!({ "url": format!("{base}/graphql"), "query": "{ viewer { login } }" }),
            )
            .error_body(
                json!({ "data": null, "errors": [{ "message": "rate limit", "type": "RATE_LIMITED" }] }),
                ErrorKind::RateLimited,
            ),
        )
        .guard(server)
}

#[cfg(feature = "http")]
mod http_app {
    use super::*;
    aura_testkit::connector_behavior!(async { http_fixture().await });
}

#[cfg(feature = "graphql")]
mod graphql_app {
    use super::*;
    aura_testkit::connector_behavior!(async { graphql_fixture().await });
}
