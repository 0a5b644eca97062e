//! A recording HTTP proxy in front of one upstream (a Prism mock, a vendor sandbox).

use std::net::SocketAddr;
use std::sync::Arc;

use aura_core::{Error, ErrorKind, Result};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::RecordedRequest;

/// The largest request body the proxy reads (bigger ones are refused with 413).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Headers that belong to one connection (RFC 9110 §7.6.1), never forwarded; `host` and
/// `content-length` are set again by the forwarding client.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// An HTTP proxy on `127.0.0.1` (a free port) that forwards every request to one upstream and
/// records it, so that a test can check what a client really sent (for instance with
/// [`SpecChecker`](super::SpecChecker)). It stops when dropped.
///
/// ```no_run
/// use aura_testkit::openapi::RecordingProxy;
///
/// # async fn f() -> aura_core::Result<()> {
/// let proxy = RecordingProxy::start("http://127.0.0.1:4010").await?;
/// reqwest::get(format!("{}/repos/octocat/hello", proxy.url())).await.ok();
/// assert_eq!(proxy.requests()[0].path, "/repos/octocat/hello");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RecordingProxy {
    addr: SocketAddr,
    recorded: Arc<Mutex<Vec<RecordedRequest>>>,
    stop: CancellationToken,
}

#[derive(Clone)]
struct Forward {
    upstream: Arc<str>,
    client: reqwest::Client,
    recorded: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl RecordingProxy {
    /// Starts the proxy in front of `upstream` (`http://host:port`, optionally with a base
    /// path that is put before every forwarded path). Needs a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`] when `upstream` is not an `http(s)://` URL,
    /// [`ErrorKind::Unavailable`] when no port on 127.0.0.1 can be bound.
    pub async fn start(upstream: &str) -> Result<Self> {
        let upstream = upstream.trim_end_matches('/');
        if !(upstream.starts_with("http://") || upstream.starts_with("https://")) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("the upstream `{upstream}` is not an http(s) URL"),
            ));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::new(ErrorKind::Internal, format!("no HTTP client: {e}")))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::new(ErrorKind::Unavailable, format!("cannot bind 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::new(ErrorKind::Unavailable, format!("no local address: {e}")))?;
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let state = Forward {
            upstream: upstream.into(),
            client,
            recorded: Arc::clone(&recorded),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            // An accept error ends the server; the test then sees its requests fail.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await;
        });
        Ok(Self { addr, recorded, stop })
    }

    /// The proxy's base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.recorded.lock().clone()
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        self.recorded.lock().clear();
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn forward(State(state): State<Forward>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return plain(StatusCode::PAYLOAD_TOO_LARGE, format!("proxy: {e}")),
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let mut recorded = RecordedRequest::new(parts.method.clone(), &path_and_query);
    recorded.headers = parts.headers.clone();
    recorded.body = body.clone();
    state.recorded.lock().push(recorded);

    let url = format!("{}{path_and_query}", state.upstream);
    let answer = state
        .client
        .request(parts.method, url)
        .headers(end_to_end(&parts.headers))
        .body(body)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("proxy: upstream failed: {e}")),
    };
    let status = answer.status();
    let headers = end_to_end(answer.headers());
    let body = match answer.bytes().await {
        Ok(body) => body,
        Err(e) => return plain(StatusCode::BAD_GATEWAY, format!("proxy: upstream body: {e}")),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

/// `headers` without the hop-by-hop ones (and without `content-length`, which the sender
/// sets from the body it really sends).
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in HOP_BY_HOP.iter().chain(&["content-length"]) {
        kept.remove(*name);
    }
    kept
}

fn plain(status: StatusCode, message: String) -> Response {
    let mut response = Response::new(Body::from(Bytes::from(message)));
    *response.status_mut() = status;
    response
}
