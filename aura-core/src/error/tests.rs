//! Unit tests of the error type: display, kinds, retry classification, excerpts.

use super::*;

#[test]
fn display_lists_context_and_every_violation() {
    let err = Error::invalid_input(
        "2 fields are invalid",
        vec![
            Violation::new("/email", "is not an email"),
            Violation::new("/age", "must be at least 0"),
        ],
    )
    .with_context("node", "create_contact");
    let text = err.to_string();
    assert!(text.starts_with("invalid_input: 2 fields are invalid (node: create_contact)"));
    assert!(text.contains("/email: is not an email"));
    assert!(text.contains("/age: must be at least 0"));
}

#[test]
fn retryable_kinds() {
    assert!(Error::rate_limited("slow down", None).is_retryable());
    assert!(Error::timeout("t").is_retryable());
    assert!(Error::unavailable("u").is_retryable());
    assert!(Error::upstream(502, "").is_retryable());
    assert!(!Error::upstream(400, "").is_retryable());
    assert!(!Error::invalid_input("x", vec![]).is_retryable());
    assert!(!Error::unauthorized("x").is_retryable());
    assert!(!Error::cancelled("x").is_retryable());
}

#[test]
fn every_kind_reads_back_from_its_name() {
    assert_eq!(ErrorKind::all().len(), KIND_NAMES.len());
    for kind in ErrorKind::all() {
        assert_eq!(kind.as_str().parse::<ErrorKind>(), Ok(kind));
    }
    let names: std::collections::HashSet<_> = ErrorKind::all().map(ErrorKind::as_str).collect();
    assert_eq!(names.len(), KIND_NAMES.len(), "two kinds share a name");
    assert_eq!(
        "rate_limted".parse::<ErrorKind>(),
        Err(UnknownErrorKind("rate_limted".into()))
    );
}

#[test]
fn persistent_errors_keep_their_kind_but_are_not_retryable() {
    let err = Error::rate_limited("slow down", Some(std::time::Duration::from_secs(3))).persistent();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(3)));
    assert!(!err.is_retryable());
    assert!(err.is_persistent());
    assert!(!Error::upstream(502, "").persistent().is_retryable());
}

#[test]
fn only_proof_of_not_sending_makes_a_transport_failure_safe() {
    assert!(Error::unavailable("connection reset").may_have_been_accepted());
    assert!(Error::upstream(503, "").may_have_been_accepted());
    assert!(Error::upstream(500, "").may_have_been_accepted());
    assert!(Error::timeout("t").may_have_been_accepted());
    assert!(!Error::unavailable("refused").not_sent().may_have_been_accepted());
    assert!(!Error::timeout("connect timeout").not_sent().may_have_been_accepted());
    assert!(!Error::rate_limited("slow", None).may_have_been_accepted());
    assert!(!Error::upstream(400, "").may_have_been_accepted());
    assert!(!Error::invalid_input("x", vec![]).may_have_been_accepted());
}

#[test]
fn upstream_follows_the_http_mapping() {
    assert_eq!(Error::upstream(429, "").kind(), ErrorKind::RateLimited);
    assert_eq!(Error::upstream(401, "").kind(), ErrorKind::Unauthorized);
    assert_eq!(Error::upstream(503, "").kind(), ErrorKind::Unavailable);
    assert_eq!(Error::upstream(500, "").kind(), ErrorKind::Upstream);
    assert_eq!(Error::upstream(500, "").status(), Some(500));
    // Not a valid status code: kept as a plain upstream error.
    assert_eq!(Error::upstream(1000, "").kind(), ErrorKind::Upstream);
}

#[tokio::test]
async fn a_refused_connection_is_marked_not_sent() {
    // Bind then drop a listener, so the port is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    let err: Error = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/"))
        .body("x")
        .send()
        .await
        .map(|_| ())
        .unwrap_err()
        .into();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_not_sent());
    assert!(!err.may_have_been_accepted());
}

#[test]
fn long_bodies_are_cut_on_a_char_boundary() {
    let body = "é".repeat(600);
    let err = Error::upstream(500, &body);
    let ex = err.body_excerpt().unwrap_or_default();
    assert!(ex.len() < body.len());
    assert!(ex.contains("1200 bytes in all"));
}

#[test]
fn path_prefix_applies_to_every_violation() {
    let err = Error::invalid_input("bad", vec![Violation::new("/a", "x")]).with_path_prefix("/input");
    assert_eq!(err.violations()[0].path, "/input/a");
}
