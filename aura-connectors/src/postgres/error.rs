//! The one mapping from [`sqlx::Error`] to [`aura_core::Error`].
//!
//! | failure | kind |
//! | --- | --- |
//! | SQLSTATE `28P01` (wrong password), `28000` (no such role, refused by `pg_hba.conf`) | `Unauthorized` |
//! | `42501` (insufficient privilege) | `Forbidden` |
//! | class `23` (integrity: `23505` unique, `23503` foreign key, `23502` not null, `23514` check …) | `Conflict` |
//! | class `42` (syntax error, undefined table / column / function …), class `22` (bad data), `2F`/`P0` raised by a function, `0A` (not supported), `21` (cardinality), `44` (check option), `3F` (no such schema) | `InvalidInput` |
//! | `3D000` (no such database) | `NotFound` |
//! | `40001` (serialization failure), `40P01` (deadlock), class `08` (connection), class `53` (resources), class `57` except `57014`, `55P03` (lock not available) | `Unavailable` (retryable) |
//! | `57014` (statement timeout, query cancelled) | `Timeout` |
//! | other SQLSTATEs | `Upstream` |
//! | connection refused, other I/O, TLS, pool closed | `Unavailable` (connection refused and TLS set-up failures marked not sent) |
//! | no pooled connection within the acquire timeout | `Unavailable` |
//! | protocol or decoding surprises | `Internal` |
//!
//! Each error carries the SQLSTATE (`sqlstate`) and the server's message, detail, constraint,
//! table and column in its context. Every text is scrubbed of the connection's secrets (raw,
//! base64, percent-encoded, JSON-escaped) before it is put in the error, and the driver's error
//! is never kept as the source: the password cannot reach a message.

use aura_core::secret::Scrubber;
use aura_core::{Error, ErrorKind};
use sqlx::postgres::PgDatabaseError;

/// The kind of failure a SQLSTATE stands for.
pub fn kind_of_sqlstate(code: &str) -> ErrorKind {
    match code {
        "28P01" | "28000" => ErrorKind::Unauthorized,
        "42501" => ErrorKind::Forbidden,
        "57014" => ErrorKind::Timeout,
        "40001" | "40P01" | "55P03" => ErrorKind::Unavailable,
        "3D000" => ErrorKind::NotFound,
        _ => match code.get(..2) {
            Some("23") => ErrorKind::Conflict,
            Some("42" | "22" | "2F" | "P0" | "0A" | "21" | "44" | "3F" | "26" | "34") => ErrorKind::InvalidInput,
            Some("08" | "53" | "57" | "58") => ErrorKind::Unavailable,
            Some("28") => ErrorKind::Unauthorized,
            _ => ErrorKind::Upstream,
        },
    }
}

/// Maps a driver error, its texts scrubbed by `scrubber` (the connection's secrets).
pub fn from_sqlx(err: sqlx::Error, scrubber: &Scrubber) -> Error {
    let clean = |text: &str| scrubber.scrub(text).unwrap_or_else(|| text.to_owned());
    match &err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let kind = kind_of_sqlstate(&code);
            let message = clean(db.message());
            let mut out = Error::new(kind, format!("PostgreSQL: {message}"))
                .with_context("sqlstate", code.clone())
                .with_context("server_message", message);
            if kind == ErrorKind::Unauthorized {
                // Refused at login: nothing was run.
                out = out.not_sent();
            }
            if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
                if let Some(detail) = pg.detail() {
                    out = out.with_context("detail", clean(detail));
                }
                if let Some(hint) = pg.hint() {
                    out = out.with_context("hint", clean(hint));
                }
                if let Some(constraint) = pg.constraint() {
                    out = out.with_context("constraint", constraint.to_owned());
                }
                if let Some(table) = pg.table() {
                    out = out.with_context("table", table.to_owned());
                }
                if let Some(column) = pg.column() {
                    out = out.with_context("column", column.to_owned());
                }
            }
            out
        }
        sqlx::Error::Io(io) => {
            let refused = matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::AddrNotAvailable
            );
            let out = Error::unavailable(format!("PostgreSQL unreachable: {}", clean(&io.to_string())));
            if refused { out.not_sent() } else { out }
        }
        sqlx::Error::Tls(e) => {
            Error::unavailable(format!("PostgreSQL TLS failed: {}", clean(&e.to_string()))).not_sent()
        }
        sqlx::Error::PoolTimedOut => Error::unavailable(
            "no PostgreSQL connection within the acquire timeout (server unreachable or every pooled connection busy)",
        )
        .not_sent(),
        sqlx::Error::PoolClosed => {
            Error::unavailable("the PostgreSQL pool was closed (its credentials were replaced): try again").not_sent()
        }
        sqlx::Error::Configuration(e) => Error::invalid_input(
            format!("the PostgreSQL settings are invalid: {}", clean(&e.to_string())),
            vec![],
        ),
        sqlx::Error::InvalidArgument(e) => Error::invalid_input(clean(e), vec![]),
        other => Error::internal(format!("PostgreSQL driver: {}", clean(&other.to_string()))),
    }
}
