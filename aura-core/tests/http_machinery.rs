//! The shared HTTP machinery against local servers: credentials, redirects, limits, the SSRF
//! guard, error mapping and every pagination strategy.

use std::sync::Arc;
use std::time::Duration;

use aura_core::connection::{ConnectionRecord, Credentials, StaticConnection};
use aura_core::http::{HttpPolicy, HttpRequest, Paginate, Pagination};
use aura_core::net::SsrfGuard;
use aura_core::{Context, ErrorKind};
use serde_json::json;
use wiremock::matchers::{header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn loopback_policy() -> HttpPolicy {
    let guard = SsrfGuard::new().allow_network("127.0.0.0/8");
    HttpPolicy::builder()
        .guard(guard.unwrap_or_else(|e| panic!("{e}")))
        .build()
}

fn with_token(token: &str) -> Context {
    let record = ConnectionRecord::new("api", "test", Credentials::bearer(token));
    Context::builder()
        .connection(Arc::new(StaticConnection::new(record)))
        .build()
}

#[tokio::test]
async fn the_connections_credentials_go_on_the_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 1 })))
        .mount(&server)
        .await;
    let answer = loopback_policy()
        .send(&with_token("tok-1"), &HttpRequest::get(format!("{}/me", server.uri())))
        .await
        .unwrap();
    assert_eq!(answer.json().unwrap(), json!({ "id": 1 }));
}

#[tokio::test]
async fn loopback_is_refused_by_default() {
    let server = MockServer::start().await;
    let err = HttpPolicy::default()
        .send(&Context::new(), &HttpRequest::get(format!("{}/x", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_is_not_followed() {
    let server = MockServer::start().await;
    Mock::given(path("/go"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "http://169.254.169.254/latest/meta-data/"))
        .mount(&server)
        .await;
    let err = loopback_policy()
        .send(&Context::new(), &HttpRequest::get(format!("{}/go", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.context_value("host"), Some("169.254.169.254"));
}

#[tokio::test]
async fn a_cross_origin_redirect_leaves_the_credentials_behind() {
    let first = MockServer::start().await;
    let second = MockServer::start().await;
    Mock::given(path("/start"))
        .respond_with(ResponseTemplate::new(301).insert_header("location", format!("{}/landed", second.uri())))
        .mount(&first)
        .await;
    Mock::given(path("/landed"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&second)
        .await;
    let request = HttpRequest::get(format!("{}/start", first.uri())).header("Cookie", "session=s3cret");
    let answer = loopback_policy().send(&with_token("tok-2"), &request).await.unwrap();
    assert_eq!(answer.text(), "ok");
    let seen = &second.received_requests().await.unwrap()[0];
    assert!(seen.headers.get("authorization").is_none());
    assert!(seen.headers.get("cookie").is_none());
}

#[tokio::test]
async fn a_same_origin_redirect_keeps_the_credentials() {
    let server = MockServer::start().await;
    Mock::given(path("/old"))
        .respond_with(ResponseTemplate::new(308).insert_header("location", "/new"))
        .mount(&server)
        .await;
    Mock::given(path("/new"))
        .and(header("authorization", "Bearer tok-3"))
        .respond_with(ResponseTemplate::new(200).set_body_string("moved"))
        .mount(&server)
        .await;
    let answer = loopback_policy()
        .send(&with_token("tok-3"), &HttpRequest::get(format!("{}/old", server.uri())))
        .await
        .unwrap();
    assert_eq!(answer.text(), "moved");
}

#[tokio::test]
async fn a_post_is_not_redirected_by_default() {
    let server = MockServer::start().await;
    Mock::given(path("/submit"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", "/elsewhere"))
        .mount(&server)
        .await;
    let request = HttpRequest::post(format!("{}/submit", server.uri())).json(json!({ "a": 1 }));
    let answer = loopback_policy()
        .send_unchecked(&Context::new(), &request)
        .await
        .unwrap();
    assert_eq!(answer.status.as_u16(), 307);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // When allowed, a 307 keeps the method and the body.
    Mock::given(method("POST"))
        .and(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let policy = HttpPolicy::builder()
        .guard(SsrfGuard::allow_all())
        .redirect_non_get(true)
        .build();
    let answer = policy.send(&Context::new(), &request).await.unwrap();
    assert_eq!(answer.status.as_u16(), 201);
    let last = server.received_requests().await.unwrap().pop().unwrap();
    assert_eq!(last.body, br#"{"a":1}"#);
}

#[tokio::test]
async fn too_many_redirects_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(path("/loop"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/loop"))
        .mount(&server)
        .await;
    let err = loopback_policy()
        .send(&Context::new(), &HttpRequest::get(format!("{}/loop", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert_eq!(err.context_value("max_redirects"), Some("5"));
}

#[tokio::test]
async fn an_answer_over_the_size_limit_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(4096)))
        .mount(&server)
        .await;
    let policy = HttpPolicy::builder()
        .guard(SsrfGuard::allow_all())
        .max_response_bytes(1024)
        .build();
    let err = policy
        .send(&Context::new(), &HttpRequest::get(format!("{}/big", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert_eq!(err.context_value("max_response_bytes"), Some("1024"));
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout_after_the_policys_limit() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let policy = HttpPolicy::builder()
        .guard(SsrfGuard::allow_all())
        .timeout(Duration::from_millis(200))
        .build();
    let started = std::time::Instant::now();
    let err = policy
        .send(&Context::new(), &HttpRequest::get(format!("{}/slow", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // Stopped by the limit, not by the server's 30 s (a bound, not a timing assertion).
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn cancelling_the_context_stops_a_request_and_its_reading() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let cx = Context::new();
    let cancel = cx.cancellation().clone();
    let url = format!("{}/slow", server.uri());
    let call = tokio::spawn(async move {
        let policy = HttpPolicy::builder().guard(SsrfGuard::allow_all()).build();
        policy.send(&cx, &HttpRequest::get(url)).await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    cancel.cancel();
    assert_eq!(call.await.unwrap().unwrap_err().kind(), ErrorKind::Cancelled);

    // A context cancelled before the request sends nothing.
    let cx = Context::new();
    cx.cancellation().cancel();
    let policy = HttpPolicy::builder().guard(SsrfGuard::allow_all()).build();
    let err = policy
        .send(&cx, &HttpRequest::get(format!("{}/never", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    let sent = server.received_requests().await.unwrap_or_default();
    assert!(sent.iter().all(|r| r.url.path() != "/never"));
}

#[tokio::test]
async fn a_429_carries_its_retry_after_and_no_echoed_secret() {
    let server = MockServer::start().await;
    Mock::given(path("/limited"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_string("slow down, tok-echo-123"),
        )
        .mount(&server)
        .await;
    let err = loopback_policy()
        .send(
            &with_token("tok-echo-123"),
            &HttpRequest::get(format!("{}/limited", server.uri())),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(7)));
    assert!(!format!("{err:?} {err}").contains("tok-echo-123"));
}

#[tokio::test]
async fn a_success_that_says_error_is_classified_by_the_check() {
    let server = MockServer::start().await;
    Mock::given(path("/rpc"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": false, "error": "ratelimited" })))
        .mount(&server)
        .await;
    let policy = HttpPolicy::builder()
        .guard(SsrfGuard::allow_all())
        .check(|_: http::StatusCode, _: &http::HeaderMap, body: &[u8]| {
            let v: serde_json::Value = serde_json::from_slice(body).ok()?;
            (v["ok"] == false).then(|| aura_core::Error::rate_limited("said so", None))
        })
        .build();
    let err = policy
        .send(&Context::new(), &HttpRequest::get(format!("{}/rpc", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
}

/// A listing of 7 items served 3 per page under every strategy.
async fn seven_items(server: &MockServer) {
    let all: Vec<_> = (1..=7).map(|i| json!({ "id": i })).collect();
    let page_of = |start: usize| all[start.min(7)..(start + 3).min(7)].to_vec();
    let (a, b, c, d) = (page_of(0), page_of(3), page_of(6), all.clone());
    let base = server.uri();
    Mock::given(path("/paged"))
        .respond_with(move |req: &Request| {
            let page: usize = query(req, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
            ResponseTemplate::new(200).set_body_json(json!({ "data": d[((page - 1) * 3).min(7)..(page * 3).min(7)] }))
        })
        .mount(server)
        .await;
    let d2 = all.clone();
    Mock::given(path("/offset"))
        .respond_with(move |req: &Request| {
            let offset: usize = query(req, "offset").and_then(|p| p.parse().ok()).unwrap_or(0);
            ResponseTemplate::new(200).set_body_json(d2[offset.min(7)..(offset + 3).min(7)].to_vec())
        })
        .mount(server)
        .await;
    let (a2, b2, c2) = (a.clone(), b.clone(), c.clone());
    Mock::given(path("/cursor"))
        .respond_with(move |req: &Request| {
            let (items, next) = match query(req, "after").as_deref() {
                None => (a2.clone(), json!("c3")),
                Some("c3") => (b2.clone(), json!("c6")),
                _ => (c2.clone(), json!(null)),
            };
            ResponseTemplate::new(200).set_body_json(json!({ "items": items, "meta": { "next": next } }))
        })
        .mount(server)
        .await;
    let (a3, b3, c3, base3) = (a.clone(), b.clone(), c.clone(), base.clone());
    Mock::given(path("/linked"))
        .respond_with(move |req: &Request| {
            let page: usize = query(req, "p").and_then(|p| p.parse().ok()).unwrap_or(1);
            let items = [&a3, &b3, &c3][page.min(3) - 1].clone();
            let mut r = ResponseTemplate::new(200).set_body_json(items);
            if page < 3 {
                r = r.insert_header(
                    "link",
                    format!(
                        r#"<{base3}/linked?p={}>; rel="next", <{base3}/linked?p=3>; rel="last""#,
                        page + 1
                    ),
                );
            }
            r
        })
        .mount(server)
        .await;
    Mock::given(path("/next-url"))
        .respond_with(move |req: &Request| {
            let page: usize = query(req, "p").and_then(|p| p.parse().ok()).unwrap_or(1);
            let items = [&a, &b, &c][page.min(3) - 1].clone();
            let next = (page < 3).then(|| format!("/next-url?p={}", page + 1));
            ResponseTemplate::new(200).set_body_json(json!({ "results": items, "next": next }))
        })
        .mount(server)
        .await;
}

fn query(req: &Request, name: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn every_pagination_strategy_reads_the_whole_listing() {
    let server = MockServer::start().await;
    seven_items(&server).await;
    let policy = loopback_policy();
    let cx = Context::new();
    let cases = [
        (
            "/paged",
            Paginate::new(
                Pagination::Page {
                    param: "page".into(),
                    start: 1,
                    size_param: Some("per_page".into()),
                    size: Some(3),
                },
                "/data",
            ),
        ),
        (
            "/offset",
            Paginate::new(
                Pagination::Offset {
                    offset_param: "offset".into(),
                    limit_param: "limit".into(),
                    limit: 3,
                },
                "",
            ),
        ),
        (
            "/cursor",
            Paginate::new(
                Pagination::Cursor {
                    from: "/meta/next".into(),
                    param: Some("after".into()),
                    body: None,
                    more: None,
                },
                "/items",
            ),
        ),
        ("/linked", Paginate::new(Pagination::Link, "")),
        (
            "/next-url",
            Paginate::new(Pagination::NextUrl { from: "/next".into() }, "/results"),
        ),
    ];
    for (at, paginate) in cases {
        paginate.check().unwrap();
        let pages = paginate
            .collect(&policy, &cx, &HttpRequest::get(format!("{}{at}", server.uri())))
            .await
            .unwrap_or_else(|e| panic!("{at}: {e}"));
        let ids: Vec<_> = pages.items.iter().map(|i| i["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7], "{at}");
        assert_eq!(pages.pages, 3, "{at}");
        assert!(!pages.truncated, "{at}");
    }
}

#[tokio::test]
async fn a_listing_stops_at_its_page_limit_and_says_so() {
    let server = MockServer::start().await;
    seven_items(&server).await;
    let mut paginate = Paginate::new(Pagination::Link, "");
    paginate.max_pages = 2;
    let pages = paginate
        .collect(
            &loopback_policy(),
            &Context::new(),
            &HttpRequest::get(format!("{}/linked", server.uri())),
        )
        .await
        .unwrap();
    assert_eq!(pages.items.len(), 6);
    assert!(pages.truncated);
}

#[tokio::test]
async fn a_page_without_its_items_names_the_pointer() {
    let server = MockServer::start().await;
    Mock::given(path("/odd"))
        .and(query_param("page", "1"))
        .and(header_exists("user-agent"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "rows": [] })))
        .mount(&server)
        .await;
    let paginate = Paginate::new(
        Pagination::Page {
            param: "page".into(),
            start: 1,
            size_param: None,
            size: None,
        },
        "/data",
    );
    let err = paginate
        .collect(
            &loopback_policy(),
            &Context::new(),
            &HttpRequest::get(format!("{}/odd", server.uri())),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert_eq!(err.context_value("pointer"), Some("/data"));
}
