//! The `graphql` app against a local server that answers like GitHub's GraphQL API.

use aura_core::http::HttpPolicy;
use aura_core::net::SsrfGuard;
use aura_core::{Context, ErrorKind, Registry};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;

async fn action() -> aura_core::action::Action {
    let guard = SsrfGuard::new().allow_network("127.0.0.0/8").unwrap();
    let registry = Registry::new();
    registry
        .register(GraphqlApp::new().policy(HttpPolicy::builder().guard(guard).build()))
        .unwrap();
    registry.action("graphql.query").await.unwrap()
}

#[tokio::test]
async fn a_query_sends_its_variables_and_returns_data() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(body_partial_json(
            json!({ "variables": { "login": "octocat" }, "operationName": "Who" }),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "data": { "user": { "name": "The Octocat" } } })),
        )
        .mount(&server)
        .await;
    let out = action()
        .await
        .call(
            Context::new(),
            json!({ "url": format!("{}/graphql", server.uri()), "query": "query Who($login: String!) { user(login: $login) { name } }", "variables": { "login": "octocat" }, "operation_name": "Who" }),
        )
        .await
        .unwrap();
    assert_eq!(out["data"]["user"]["name"], "The Octocat");
    assert_eq!(out["errors"], json!([]));
}

#[tokio::test]
async fn errors_without_data_are_typed_and_partial_data_is_kept() {
    let server = MockServer::start().await;
    Mock::given(body_partial_json(json!({ "variables": { "case": "limited" } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "data": null, "errors": [{ "type": "RATE_LIMITED", "message": "API rate limit exceeded" }] }),
        ))
        .mount(&server)
        .await;
    Mock::given(body_partial_json(json!({ "variables": { "case": "partial" } })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "a": 1, "b": null },
            "errors": [{ "message": "no b", "path": ["b"], "extensions": { "code": "FORBIDDEN" } }]
        })))
        .mount(&server)
        .await;
    let action = action().await;
    let url = format!("{}/graphql", server.uri());
    let err = action
        .call(
            Context::new(),
            json!({ "url": url, "query": "{ a }", "variables": { "case": "limited" } }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.context_value("code"), Some("RATE_LIMITED"));

    let out = action
        .call(
            Context::new(),
            json!({ "url": url, "query": "{ a b }", "variables": { "case": "partial" } }),
        )
        .await
        .unwrap();
    assert_eq!(out["data"], json!({ "a": 1, "b": null }));
    assert_eq!(out["errors"][0]["kind"], "forbidden");
    assert_eq!(out["errors"][0]["path"], json!(["b"]));
}

#[tokio::test]
async fn cursor_pagination_follows_page_info() {
    let server = MockServer::start().await;
    Mock::given(path("/graphql"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let (nodes, next, more) = match body["variables"]["after"].as_str() {
                None => (json!([{ "n": 1 }, { "n": 2 }]), json!("c2"), true),
                Some("c2") => (json!([{ "n": 3 }]), json!("c3"), false),
                Some(other) => panic!("cursor {other}"),
            };
            ResponseTemplate::new(200).set_body_json(json!({
                "data": { "repository": { "issues": { "nodes": nodes, "pageInfo": { "hasNextPage": more, "endCursor": next } } } }
            }))
        })
        .mount(&server)
        .await;
    let out = action()
        .await
        .call(
            Context::new(),
            json!({
                "url": format!("{}/graphql", server.uri()),
                "query": "query($after: String) { repository(owner: \"o\", name: \"r\") { issues(first: 2, after: $after) { nodes { n } pageInfo { hasNextPage endCursor } } } }",
                "paginate": { "connection": "/data/repository/issues" }
            }),
        )
        .await
        .unwrap();
    assert_eq!(out["data"], json!([{ "n": 1 }, { "n": 2 }, { "n": 3 }]));
}
