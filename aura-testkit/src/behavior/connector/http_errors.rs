//! The HTTP connectors' check: how answers that mean "error" come out.

// A check fails by panicking with what went wrong, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aura_core::connection::{ConnectionRecord, StaticConnection};
use aura_core::{App, Context, ErrorKind, Registry};
use serde_json::Value;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::ConnectorFixture;
use super::checks::{assert_no_secret, registry, shown, skipped};

type Aim = Arc<dyn Fn(&str) -> Value + Send + Sync>;
type AppAt = Arc<dyn Fn(&str) -> Arc<dyn App> + Send + Sync>;

/// How to aim one call of an HTTP connector at a local server: the action and its input for a
/// base URL (`http://127.0.0.1:PORT`). The app must let requests reach loopback (its SSRF
/// guard allowing `127.0.0.0/8`).
pub struct HttpErrorCase {
    pub(crate) action: String,
    pub(crate) aim: Aim,
    pub(crate) error_body: Option<(Value, ErrorKind)>,
    pub(crate) app_at: Option<AppAt>,
}

impl fmt::Debug for HttpErrorCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpErrorCase")
            .field("action", &self.action)
            .field("error_body", &self.error_body)
            .finish_non_exhaustive()
    }
}

impl HttpErrorCase {
    /// `action` (its full reference) with the input `aim` gives for a base URL.
    pub fn new(action: impl Into<String>, aim: impl Fn(&str) -> Value + Send + Sync + 'static) -> Self {
        Self {
            action: action.into(),
            aim: Arc::new(aim),
            error_body: None,
            app_at: None,
        }
    }

    /// For an app whose base URL is its own setting rather than part of the input (an LLM
    /// vendor, a declarative app): the app to check, built for the local server's base URL.
    #[must_use]
    pub fn app_at(mut self, app: impl Fn(&str) -> Arc<dyn App> + Send + Sync + 'static) -> Self {
        self.app_at = Some(Arc::new(app));
        self
    }

    /// A body the vendor sends with `200 OK` to say the call failed (Slack's `ok: false`,
    /// GraphQL's `errors`), and the kind it must end in.
    #[must_use]
    pub fn error_body(mut self, body: Value, kind: ErrorKind) -> Self {
        self.error_body = Some((body, kind));
        self
    }
}

/// One answer and what it must become.
struct Expect {
    status: u16,
    retry_after: Option<u64>,
    kind: ErrorKind,
    retryable: bool,
}

const ANSWERS: [Expect; 6] = [
    Expect {
        status: 401,
        retry_after: None,
        kind: ErrorKind::Unauthorized,
        retryable: false,
    },
    Expect {
        status: 403,
        retry_after: None,
        kind: ErrorKind::Forbidden,
        retryable: false,
    },
    Expect {
        status: 404,
        retry_after: None,
        kind: ErrorKind::NotFound,
        retryable: false,
    },
    Expect {
        status: 429,
        retry_after: Some(7),
        kind: ErrorKind::RateLimited,
        retryable: true,
    },
    Expect {
        status: 500,
        retry_after: None,
        kind: ErrorKind::Upstream,
        retryable: true,
    },
    Expect {
        status: 503,
        retry_after: Some(3),
        kind: ErrorKind::Unavailable,
        retryable: true,
    },
];

/// A careless server: its error bodies quote the request's `Authorization` header and URL.
fn echoing(status: u16, retry_after: Option<u64>) -> impl Fn(&Request) -> ResponseTemplate {
    move |request: &Request| {
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut answer = ResponseTemplate::new(status)
            .set_body_string(format!("{{\"error\":\"refused {} with {auth}\"}}", request.url));
        if let Some(seconds) = retry_after {
            answer = answer.insert_header("retry-after", seconds.to_string());
        }
        answer
    }
}

/// 401, 403, 404, 429 (with `Retry-After: 7`), 500 and 503 (with `Retry-After: 3`) end in
/// Unauthorized, Forbidden, NotFound, RateLimited (retryable, after 7 s), Upstream (retryable)
/// and Unavailable (retryable, after 3 s); the fixture's 200-with-error body ends in its kind;
/// no error shows a secret although the server quotes the request's credentials back.
pub async fn error_answers_map_to_kinds(f: &ConnectorFixture) {
    let Some(case) = &f.http_errors else {
        return skipped(
            f,
            "error_answers_map_to_kinds",
            "not an HTTP connector (no HttpErrorCase)",
        );
    };
    let server = MockServer::start().await;
    let registry = match &case.app_at {
        Some(app_at) => {
            let registry = Registry::new();
            registry
                .register_with_config(app_at(&server.uri()), f.config.clone())
                .unwrap_or_else(|e| panic!("the app built for the local server does not register: {e}"));
            Arc::new(registry)
        }
        None => registry(f),
    };
    let action = registry.action(&case.action).await.expect("the action exists");
    let input = (case.aim)(&server.uri());
    let credentials = f.credentials.clone().unwrap_or_default();
    let call = |input: Value| {
        let conn = StaticConnection::new(ConnectionRecord::new(f.app_id(), "behaviour", credentials.clone()));
        let cx = Context::builder().connection(Arc::new(conn)).build();
        let action = action.clone();
        async move { action.call(cx, input).await }
    };

    for expect in ANSWERS {
        server.reset().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(echoing(expect.status, expect.retry_after))
            .mount(&server)
            .await;
        let err = call(input.clone())
            .await
            .expect_err(&format!("`{}` took a {} for a success", case.action, expect.status));
        assert_eq!(
            (err.kind(), err.is_retryable()),
            (expect.kind, expect.retryable),
            "`{}`: a {} gave {:?} (retryable: {}): {err}",
            case.action,
            expect.status,
            err.kind(),
            err.is_retryable()
        );
        if let Some(seconds) = expect.retry_after {
            assert_eq!(
                err.retry_after(),
                Some(Duration::from_secs(seconds)),
                "`{}`: a {}'s Retry-After was lost",
                case.action,
                expect.status
            );
        }
        assert_no_secret(f, "an HTTP error", &shown(&err));
    }

    if let Some((body, kind)) = &case.error_body {
        server.reset().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(200).set_body_json(body.clone()))
            .mount(&server)
            .await;
        let err = call(input.clone())
            .await
            .expect_err(&format!("`{}` took a 200 saying error for a success", case.action));
        assert_eq!(err.kind(), *kind, "`{}`: a 200 saying error gave {err}", case.action);
    }
}
