#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Requests checked against real vendor OpenAPI documents served by Prism: a valid request
//! must be answered 2xx by Prism *and* accepted by [`SpecChecker`]; a bad one refused by the
//! checker. Prism and the specs are started by `.ci/run` (`start_prisms`), which exports
//! `AURA_TEST_PRISM_<VENDOR>_URL` and `AURA_TEST_<VENDOR>_SPEC`.

use std::time::Instant;

use aura_testkit::openapi::{RecordingProxy, SpecChecker};
use serde_json::{Value, json};

/// The vendor's spec and a recording proxy in front of its Prism. Fails (never skips) when the
/// environment does not name them.
async fn fixture(vendor: &str) -> (SpecChecker, RecordingProxy) {
    let how = "start Prism as CI does: `source .ci/run && start_prisms` (or run `bash .ci/run`); \
               `bash .ci/specs.sh` prints the spec paths alone";
    let spec_var = format!("AURA_TEST_{vendor}_SPEC");
    let url_var = format!("AURA_TEST_PRISM_{vendor}_URL");
    let spec_path = std::env::var(&spec_var).unwrap_or_else(|_| panic!("{spec_var} is not set: {how}"));
    let url = std::env::var(&url_var).unwrap_or_else(|_| panic!("{url_var} is not set: {how}"));
    let text = std::fs::read(&spec_path).unwrap_or_else(|e| panic!("cannot read {spec_path}: {e}"));
    let spec: Value = serde_json::from_slice(&text).unwrap();
    let start = Instant::now();
    let checker = SpecChecker::new(&spec).unwrap();
    eprintln!(
        "{vendor}: {} operations, checker built in {:?}",
        checker.operation_count(),
        start.elapsed()
    );
    (checker, RecordingProxy::start(&url).await.unwrap())
}

/// Sends `request` through the proxy and asserts Prism answered 2xx.
async fn send_ok(request: reqwest::RequestBuilder) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let violations = response
        .headers()
        .get("sl-violations")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    assert!(
        status.is_success(),
        "Prism answered {status} (violations: {violations:?}): {}",
        response.text().await.unwrap_or_default()
    );
}

/// Asserts the checker accepted every recorded request, returning the operation ids.
fn accepted(checker: &SpecChecker, proxy: &RecordingProxy) -> Vec<String> {
    proxy
        .requests()
        .iter()
        .map(|request| match checker.check(request) {
            Ok(matched) => matched.operation_id.unwrap_or(matched.path_template),
            Err(problems) => panic!("{} {} refused: {problems:#?}", request.method, request.path),
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs prism: see .ci/run"]
async fn github_requests_fit_githubs_spec_and_a_bad_one_is_refused() {
    let (checker, proxy) = fixture("GITHUB").await;
    let http = reqwest::Client::new();
    let base = proxy.url();
    send_ok(http.get(format!("{base}/repos/octocat/hello-world"))).await;
    send_ok(http.get(format!("{base}/repos/octocat/hello-world/issues?state=open&per_page=5"))).await;
    send_ok(
        http.post(format!("{base}/repos/octocat/hello-world/issues"))
            .bearer_auth("x")
            .json(&json!({ "title": "Found a bug", "body": "It breaks.", "labels": ["bug"] })),
    )
    .await;
    assert_eq!(
        accepted(&checker, &proxy),
        ["repos/get", "issues/list-for-repo", "issues/create"]
    );

    proxy.clear();
    // per_page is an integer; `colour` is no parameter of the operation.
    http.get(format!(
        "{base}/repos/octocat/hello-world/issues?per_page=five&colour=red"
    ))
    .send()
    .await
    .unwrap();
    let problems = checker.check(&proxy.requests()[0]).unwrap_err().join("\n");
    assert!(problems.contains("query parameter `per_page`"), "{problems}");
    assert!(problems.contains("unknown query parameter `colour`"), "{problems}");
}

#[tokio::test]
#[ignore = "needs prism: see .ci/run"]
async fn shipengine_requests_fit_shipengines_spec_and_a_bad_one_is_refused() {
    let (checker, proxy) = fixture("SHIPENGINE").await;
    let http = reqwest::Client::new();
    let base = proxy.url();
    send_ok(http.get(format!("{base}/v1/carriers")).header("API-Key", "TEST_x")).await;
    send_ok(
        http.get(format!(
            "{base}/v1/labels?label_status=completed&page=1&page_size=5&sort_dir=desc"
        ))
        .header("API-Key", "TEST_x"),
    )
    .await;
    send_ok(http.post(format!("{base}/v1/tags/Fragile")).header("API-Key", "TEST_x")).await;
    assert_eq!(
        accepted(&checker, &proxy),
        ["list_carriers", "list_labels", "create_tag"]
    );

    proxy.clear();
    // label_status is an enum.
    http.get(format!("{base}/v1/labels?label_status=lost"))
        .header("API-Key", "TEST_x")
        .send()
        .await
        .unwrap();
    let problems = checker.check(&proxy.requests()[0]).unwrap_err().join("\n");
    assert!(problems.contains("query parameter `label_status`"), "{problems}");
}

#[tokio::test]
#[ignore = "needs prism: see .ci/run"]
async fn directus_requests_fit_directus_spec_and_a_bad_one_is_refused() {
    let (checker, proxy) = fixture("DIRECTUS").await;
    let http = reqwest::Client::new();
    let base = proxy.url();
    // Directus' security: an `Authorization` header (or `?access_token=`) on every operation.
    send_ok(http.get(format!("{base}/server/ping")).bearer_auth("x")).await;
    send_ok(http.get(format!("{base}/users?limit=5&offset=10&sort=-email&access_token=x"))).await;
    send_ok(
        http.post(format!("{base}/collections"))
            .bearer_auth("x")
            .json(&json!({ "collection": "articles", "fields": [{ "field": "id", "type": "integer" }], "note": null })),
    )
    .await;
    assert_eq!(accepted(&checker, &proxy), ["ping", "getUsers", "createCollection"]);

    proxy.clear();
    // limit's minimum is -1; `fields` must be an array.
    http.get(format!("{base}/users?limit=-5"))
        .bearer_auth("x")
        .send()
        .await
        .unwrap();
    http.post(format!("{base}/collections"))
        .bearer_auth("x")
        .json(&json!({ "collection": "articles", "fields": "id" }))
        .send()
        .await
        .unwrap();
    let requests = proxy.requests();
    let problems = checker.check(&requests[0]).unwrap_err().join("\n");
    assert!(problems.contains("query parameter `limit`"), "{problems}");
    let problems = checker.check(&requests[1]).unwrap_err().join("\n");
    assert!(problems.contains("request body at /fields"), "{problems}");
}
