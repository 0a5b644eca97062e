//! Mapping an HTTP answer to an [`Error`]: the one place every HTTP-speaking connector uses.
//!
//! | status | kind | retryable |
//! | --- | --- | --- |
//! | 401 | [`ErrorKind::Unauthorized`] | no |
//! | 403 | [`ErrorKind::Forbidden`] | no |
//! | 404, 410 | [`ErrorKind::NotFound`] | no |
//! | 408 | [`ErrorKind::Timeout`] | yes |
//! | 409 | [`ErrorKind::Conflict`] | no |
//! | 429 | [`ErrorKind::RateLimited`], with `Retry-After` | yes |
//! | 503 | [`ErrorKind::Unavailable`], with `Retry-After` | yes |
//! | other 5xx | [`ErrorKind::Upstream`] | yes |
//! | other 4xx | [`ErrorKind::Upstream`] | no |
//!
//! Services that answer an error with a success status (Slack's `ok: false`, GraphQL's
//! `errors`, vendor codes that mean "rate limited" in a 200) are classified by a
//! [`ResponseCheck`] the connector writes once, and [`read_response`] applies it after the
//! status mapping: one place per connector, one mapping for all (Vector's
//! `should_retry_response` idea).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode, header::RETRY_AFTER};

use super::{Error, ErrorKind, Result};

impl Error {
    /// The error an HTTP answer with a non-success `status` stands for (see the module table).
    ///
    /// `body` is kept as a short excerpt; `Retry-After` is read in both of its forms (seconds or
    /// an HTTP date) for 429 and 503.
    ///
    /// ```
    /// use aura_core::{Error, ErrorKind};
    /// use http::{HeaderMap, StatusCode};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("retry-after", "30".parse().unwrap());
    /// let err = Error::from_http(StatusCode::TOO_MANY_REQUESTS, &headers, b"slow down");
    /// assert_eq!(err.kind(), ErrorKind::RateLimited);
    /// assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(30)));
    /// assert!(err.is_retryable());
    /// ```
    pub fn from_http(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        Self::from_http_at(status, headers, body, SystemTime::now())
    }

    /// [`Error::from_http`] with an explicit "now", for reading `Retry-After` dates.
    pub fn from_http_at(status: StatusCode, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Self {
        let code = status.as_u16();
        let body = String::from_utf8_lossy(body);
        let retry_after = || {
            headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, now))
        };
        let kind = match status {
            StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized,
            StatusCode::FORBIDDEN => ErrorKind::Forbidden,
            StatusCode::NOT_FOUND | StatusCode::GONE => ErrorKind::NotFound,
            StatusCode::REQUEST_TIMEOUT => ErrorKind::Timeout,
            StatusCode::CONFLICT => ErrorKind::Conflict,
            StatusCode::TOO_MANY_REQUESTS => ErrorKind::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => ErrorKind::Unavailable,
            _ => ErrorKind::Upstream,
        };
        let mut err = Error::upstream_raw(kind, code, &body);
        if matches!(kind, ErrorKind::RateLimited | ErrorKind::Unavailable) {
            err.inner.retry_after = retry_after();
        }
        err
    }
}

/// Returns the response when its status is a success, or the [`Error`] it stands for
/// (reading at most a short excerpt of the body).
///
/// ```no_run
/// # async fn demo(client: reqwest::Client) -> aura_core::Result<()> {
/// let resp = client.get("https://api.example.com/contacts").send().await?;
/// let resp = aura_core::error::error_for_response(resp).await?;
/// # Ok(()) }
/// ```
pub async fn error_for_response(resp: reqwest::Response) -> Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() || status.is_informational() || status.is_redirection() {
        return Ok(resp);
    }
    let headers = resp.headers().clone();
    // The body only feeds an excerpt; a body that cannot be read leaves it empty.
    let body = resp.bytes().await.unwrap_or_default();
    Err(Error::from_http(status, &headers, &body))
}

/// Classifies answers whose status says success but whose body says error.
///
/// Return `Some(error)` to fail the call; the error's kind decides retries as everywhere else
/// (a vendor code meaning "rate limited" becomes [`ErrorKind::RateLimited`], one meaning "token
/// revoked" [`ErrorKind::Unauthorized`] …). Closures of the right shape are checks:
///
/// ```
/// use aura_core::error::{ResponseCheck, read_response_parts};
/// use aura_core::{Error, ErrorKind};
/// use http::{HeaderMap, StatusCode};
///
/// // Slack answers 200 with `{"ok": false, "error": "ratelimited"}`.
/// let slack = |_: StatusCode, _: &HeaderMap, body: &[u8]| -> Option<Error> {
///     let v: serde_json::Value = serde_json::from_slice(body).ok()?;
///     if v["ok"].as_bool() != Some(false) {
///         return None;
///     }
///     let code = v["error"].as_str().unwrap_or("unknown");
///     Some(match code {
///         "ratelimited" => Error::rate_limited("Slack rate limit", None),
///         "invalid_auth" | "token_revoked" => Error::unauthorized("Slack refused the token"),
///         _ => Error::upstream(200, code),
///     })
/// };
/// let err = read_response_parts(StatusCode::OK, &HeaderMap::new(), br#"{"ok":false,"error":"ratelimited"}"#, &slack)
///     .unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::RateLimited);
/// assert!(read_response_parts(StatusCode::OK, &HeaderMap::new(), br#"{"ok":true}"#, &slack).is_ok());
/// ```
pub trait ResponseCheck: Send + Sync {
    /// The error a successful-status answer stands for, if it stands for one.
    fn check(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<Error>;
}

impl<F> ResponseCheck for F
where
    F: Fn(StatusCode, &HeaderMap, &[u8]) -> Option<Error> + Send + Sync,
{
    fn check(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Option<Error> {
        self(status, headers, body)
    }
}

/// The check that accepts every successful answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusOnly;

impl ResponseCheck for StatusOnly {
    fn check(&self, _: StatusCode, _: &HeaderMap, _: &[u8]) -> Option<Error> {
        None
    }
}

/// An answer read whole and found to be a success.
#[derive(Debug, Clone)]
pub struct CheckedResponse {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: bytes::Bytes,
}

impl CheckedResponse {
    /// The body as JSON of type `T`; a body that does not fit is an [`ErrorKind::Upstream`]
    /// error (the answer was not what the service documents).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(ErrorKind::Upstream, "the answer is not the JSON expected")
                .with_status(self.status.as_u16())
                .with_source(e)
        })
    }
}

/// Maps an answer read whole: the status mapping of [`Error::from_http`] first, then `check`
/// on successful answers.
pub fn read_response_parts(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    check: &dyn ResponseCheck,
) -> Result<()> {
    if !(status.is_success() || status.is_informational() || status.is_redirection()) {
        return Err(Error::from_http(status, headers, body));
    }
    match check.check(status, headers, body) {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Reads `resp` whole and maps it: an error status by [`Error::from_http`], a success by
/// `check` (see [`ResponseCheck`]).
pub async fn read_response(resp: reqwest::Response, check: &dyn ResponseCheck) -> Result<CheckedResponse> {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await?;
    read_response_parts(status, &headers, &body, check)?;
    Ok(CheckedResponse { status, headers, body })
}

/// Reads a `Retry-After` value: delay-seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`). A date in the past is a zero wait; anything else that
/// does not parse is `None`.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use aura_core::error::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_470); // 07:27:50 GMT
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(
///     parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
///     Some(Duration::from_secs(10)),
/// );
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn headers(retry_after: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = retry_after {
            h.insert(RETRY_AFTER, v.parse().unwrap());
        }
        h
    }

    fn kind_of(code: u16) -> (ErrorKind, bool) {
        let err = Error::from_http(StatusCode::from_u16(code).unwrap(), &headers(None), b"");
        (err.kind(), err.is_retryable())
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(kind_of(401), (ErrorKind::Unauthorized, false));
        assert_eq!(kind_of(403), (ErrorKind::Forbidden, false));
        assert_eq!(kind_of(404), (ErrorKind::NotFound, false));
        assert_eq!(kind_of(408), (ErrorKind::Timeout, true));
        assert_eq!(kind_of(409), (ErrorKind::Conflict, false));
        assert_eq!(kind_of(422), (ErrorKind::Upstream, false));
        assert_eq!(kind_of(400), (ErrorKind::Upstream, false));
        assert_eq!(kind_of(429), (ErrorKind::RateLimited, true));
        assert_eq!(kind_of(500), (ErrorKind::Upstream, true));
        assert_eq!(kind_of(502), (ErrorKind::Upstream, true));
        assert_eq!(kind_of(503), (ErrorKind::Unavailable, true));
        assert_eq!(kind_of(504), (ErrorKind::Upstream, true));
    }

    #[test]
    fn status_and_body_excerpt_are_kept() {
        let err = Error::from_http(StatusCode::BAD_REQUEST, &headers(None), b"{\"error\":\"bad\"}");
        assert_eq!(err.status(), Some(400));
        assert_eq!(err.body_excerpt(), Some("{\"error\":\"bad\"}"));
    }

    #[test]
    fn retry_after_in_seconds() {
        let err = Error::from_http(StatusCode::TOO_MANY_REQUESTS, &headers(Some("7")), b"");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_as_http_date() {
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777 seconds after the epoch.
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777 - 90);
        let err = Error::from_http_at(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(Some("Sun, 06 Nov 1994 08:49:37 GMT")),
            b"",
            now,
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(90)));
    }

    #[test]
    fn retry_after_date_in_the_past_is_zero() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777 + 5);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_on_503_is_read_too() {
        let err = Error::from_http(StatusCode::SERVICE_UNAVAILABLE, &headers(Some("3")), b"");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn garbage_retry_after_is_ignored() {
        let err = Error::from_http(StatusCode::TOO_MANY_REQUESTS, &headers(Some("later")), b"");
        assert_eq!(err.retry_after(), None);
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn a_check_classifies_success_answers_that_say_error() {
        let check = |_: StatusCode, _: &HeaderMap, body: &[u8]| -> Option<Error> {
            (body == b"{\"ok\":false}").then(|| Error::unauthorized("token revoked"))
        };
        let resp: reqwest::Response = http::Response::builder()
            .status(200)
            .body("{\"ok\":false}")
            .unwrap()
            .into();
        let err = read_response(resp, &check).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);

        // Error statuses are mapped before the check runs.
        let resp: reqwest::Response = http::Response::builder()
            .status(429)
            .body("{\"ok\":false}")
            .unwrap()
            .into();
        assert_eq!(
            read_response(resp, &check).await.unwrap_err().kind(),
            ErrorKind::RateLimited
        );

        let resp: reqwest::Response = http::Response::builder().status(200).body("{\"n\":1}").unwrap().into();
        let ok = read_response(resp, &StatusOnly).await.unwrap();
        assert_eq!(ok.json::<serde_json::Value>().unwrap()["n"], 1);
    }

    #[tokio::test]
    async fn error_for_response_maps_a_real_response() {
        let resp: reqwest::Response = http::Response::builder()
            .status(429)
            .header("retry-after", "2")
            .body("rate limited")
            .unwrap()
            .into();
        let err = error_for_response(resp).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));

        let ok: reqwest::Response = http::Response::builder().status(200).body("").unwrap().into();
        assert!(error_for_response(ok).await.is_ok());
    }
}
