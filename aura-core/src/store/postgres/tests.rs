//! Unit tests of the PostgreSQL store that need no server: the error mapping, the bounded
//! retry, the schema-name check.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, Ordering};

use super::error::{from_sqlx, retrying};
use super::options::check_schema_name;
use crate::ErrorKind;

/// A database error as PostgreSQL would send it: a SQLSTATE and a message.
#[derive(Debug)]
struct Pg {
    code: &'static str,
    message: &'static str,
}

impl std::fmt::Display for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for Pg {}

impl sqlx::error::DatabaseError for Pg {
    fn message(&self) -> &str {
        self.message
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.code))
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

fn pg(code: &'static str, message: &'static str) -> sqlx::Error {
    sqlx::Error::Database(Box::new(Pg { code, message }))
}

#[test]
fn sqlstates_map_to_the_kinds_a_caller_acts_on() {
    let cases = [
        ("40001", ErrorKind::Unavailable),
        ("40P01", ErrorKind::Unavailable),
        ("23505", ErrorKind::Conflict),
        ("23514", ErrorKind::Conflict),
        ("23503", ErrorKind::NotFound),
        ("53100", ErrorKind::Unavailable),
        ("57P01", ErrorKind::Unavailable),
        ("08006", ErrorKind::Unavailable),
        ("28P01", ErrorKind::Unauthorized),
        ("3D000", ErrorKind::Unauthorized),
        ("42501", ErrorKind::Forbidden),
        ("42P01", ErrorKind::Internal),
    ];
    for (code, kind) in cases {
        let e = from_sqlx(pg(code, "m"), "saving", "node_results");
        assert_eq!(e.kind(), kind, "{code}: {e}");
        assert_eq!(e.context_value("sqlstate"), Some(code));
        assert_eq!(e.context_value("table"), Some("node_results"));
    }
    let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    let e = from_sqlx(sqlx::Error::Io(refused), "connecting", "aura_schema");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.is_retryable(), "{e}");
    let e = from_sqlx(sqlx::Error::PoolTimedOut, "reading", "executions");
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.is_retryable(), "{e}");
}

#[test]
fn messages_that_could_quote_a_value_are_dropped() {
    // 22P02 (invalid text representation) quotes the value it could not read.
    let e = from_sqlx(
        pg("22P02", "invalid input syntax for type uuid: \"secret-value\""),
        "reading",
        "executions",
    );
    assert!(!format!("{e} {e:?}").contains("secret-value"), "{e:?}");
    let e = from_sqlx(sqlx::Error::Protocol("secret-value".into()), "saving", "node_results");
    assert!(!format!("{e} {e:?}").contains("secret-value"), "{e:?}");
    let e = from_sqlx(
        sqlx::Error::Configuration("postgres://u:secret-value@h".into()),
        "connecting",
        "aura_schema",
    );
    assert!(!format!("{e} {e:?}").contains("secret-value"), "{e:?}");
    // A constraint's message names the constraint, which helps: kept.
    let e = from_sqlx(
        pg(
            "23505",
            "duplicate key value violates unique constraint \"connections_pkey\"",
        ),
        "adding",
        "connections",
    );
    assert_eq!(
        e.context_value("postgres"),
        Some("duplicate key value violates unique constraint \"connections_pkey\"")
    );
}

#[tokio::test(start_paused = true)]
async fn serialization_failures_and_deadlocks_are_retried_a_bounded_number_of_times() {
    let tries = AtomicU32::new(0);
    let done = retrying(|| async {
        let n = tries.fetch_add(1, Ordering::SeqCst);
        match n {
            0 => Err(pg("40001", "could not serialize access")),
            1 => Err(pg("40P01", "deadlock detected")),
            _ => Ok(n),
        }
    })
    .await;
    assert_eq!(done.unwrap(), 2, "the third try succeeds");

    let tries = AtomicU32::new(0);
    let failed = retrying(|| async {
        tries.fetch_add(1, Ordering::SeqCst);
        Err::<(), _>(pg("40001", "could not serialize access"))
    })
    .await;
    assert!(failed.is_err());
    assert_eq!(tries.load(Ordering::SeqCst), 5, "five tries in all, then the error");

    let tries = AtomicU32::new(0);
    let failed = retrying(|| async {
        tries.fetch_add(1, Ordering::SeqCst);
        Err::<(), _>(pg("23505", "duplicate key"))
    })
    .await;
    assert!(failed.is_err());
    assert_eq!(tries.load(Ordering::SeqCst), 1, "other errors are not retried");
}

#[test]
fn schema_names_are_checked_before_they_are_quoted() {
    for good in ["aura", "aura_1", "_x", &"a".repeat(63)] {
        assert!(check_schema_name(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "Aura",
        "1aura",
        "aura-x",
        "a\"; DROP TABLE x; --",
        "aüra",
        &"a".repeat(64),
    ] {
        let e = check_schema_name(bad).expect_err(bad);
        assert_eq!(e.kind(), ErrorKind::InvalidDefinition);
    }
}
