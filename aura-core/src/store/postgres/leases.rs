//! Leases on unfinished executions: one row per execution, taken, renewed and released by one
//! atomic statement each, on the database's clock.
//!
//! The claim is an `INSERT … ON CONFLICT DO UPDATE … WHERE`: PostgreSQL locks the existing
//! lease row (waiting for a concurrent claimer's transaction to end) and checks the condition
//! against its newest version, so two processes claiming at once never both succeed while a
//! lease lives. Times are taken from the server's `now()`, not from each process's clock: the
//! trait speaks of lease *lengths*, so which clock measures them is the store's choice, and one
//! clock for every process means a machine whose clock runs ahead cannot take a lease early.
//! The [`Lease::until`] a call returns is on that clock too.

use std::time::Duration;

use sqlx::Row;
use uuid::Uuid;

use super::PostgresStore;
use super::error::{from_sqlx, retrying};
use super::rows::time;
use crate::error::Result;
use crate::store::Lease;

/// The server's clock, in nanoseconds since the epoch (microsecond precision).
macro_rules! now_nanos {
    () => {
        "(extract(epoch FROM now()) * 1000000000)::bigint"
    };
}

/// Takes the lease when the execution is unfinished and the lease is free, expired or already
/// this owner's; returns the new end. (`excluded.until - $3` is the server's `now()`.)
const CLAIM: &str = concat!(
    "INSERT INTO leases (execution_id, owner, until) SELECT id, $2, ",
    now_nanos!(),
    " + $3 FROM executions WHERE id = $1 AND status = 'running' \
     ON CONFLICT (execution_id) DO UPDATE SET owner = excluded.owner, until = excluded.until \
     WHERE leases.owner = excluded.owner OR leases.until <= excluded.until - $3 \
     RETURNING until"
);

/// Extends the lease if this owner still holds it; returns the new end.
const RENEW: &str = concat!(
    "UPDATE leases SET until = ",
    now_nanos!(),
    " + $3 WHERE execution_id = $1 AND owner = $2 RETURNING until"
);

const RELEASE: &str = "DELETE FROM leases WHERE execution_id = $1 AND owner = $2";

/// A lease length in nanoseconds, capped at a century (so that `now + length` never
/// overflows).
fn length_nanos(length: Duration) -> i64 {
    const CENTURY: i64 = 100 * 366 * 24 * 3600 * 1_000_000_000;
    i64::try_from(length.as_nanos()).unwrap_or(CENTURY).min(CENTURY)
}

pub(super) async fn claim(store: &PostgresStore, id: Uuid, owner: &str, length: Duration) -> Result<Option<Lease>> {
    let length = length_nanos(length);
    let until = retrying(|| {
        sqlx::query(CLAIM)
            .bind(id)
            .bind(owner)
            .bind(length)
            .fetch_optional(&store.inner.pool)
    })
    .await
    .and_then(|row| row.map(|r| r.try_get::<i64, _>("until")).transpose())
    .map_err(|e| from_sqlx(e, "claiming an execution", "leases").with_context("execution", id.to_string()))?;
    Ok(until.map(|until| Lease {
        execution_id: id,
        owner: owner.to_owned(),
        until: time(until),
    }))
}

pub(super) async fn renew(store: &PostgresStore, held: &Lease, extend: Duration) -> Result<Option<Lease>> {
    let length = length_nanos(extend);
    let until = retrying(|| {
        sqlx::query(RENEW)
            .bind(held.execution_id)
            .bind(held.owner.as_str())
            .bind(length)
            .fetch_optional(&store.inner.pool)
    })
    .await
    .and_then(|row| row.map(|r| r.try_get::<i64, _>("until")).transpose())
    .map_err(|e| from_sqlx(e, "renewing a lease", "leases").with_context("execution", held.execution_id.to_string()))?;
    Ok(until.map(|until| Lease {
        execution_id: held.execution_id,
        owner: held.owner.clone(),
        until: time(until),
    }))
}

pub(super) async fn release(store: &PostgresStore, held: &Lease) -> Result<()> {
    retrying(|| {
        sqlx::query(RELEASE)
            .bind(held.execution_id)
            .bind(held.owner.as_str())
            .execute(&store.inner.pool)
    })
    .await
    .map_err(|e| {
        from_sqlx(e, "releasing a lease", "leases").with_context("execution", held.execution_id.to_string())
    })?;
    Ok(())
}
