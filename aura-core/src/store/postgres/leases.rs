//! Leases on unfinished executions: one row per execution, taken, renewed and released by one
//! atomic statement each (run by the group-commit writer, in its batch's transaction), on the
//! database's clock.
//!
//! The claim is an `INSERT … ON CONFLICT DO UPDATE … WHERE`: PostgreSQL locks the existing
//! lease row (waiting for a concurrent claimer's transaction to end) and checks the condition
//! against its newest version, so two processes claiming at once never both succeed while a
//! lease lives. Times are taken from the server's `now()`, not from each process's clock: the
//! trait speaks of lease *lengths*, so which clock measures them is the store's choice, and one
//! clock for every process means a machine whose clock runs ahead cannot take a lease early.
//! The [`Lease::until`] a call returns is on that clock too.

use std::time::Duration;

use sqlx::PgConnection;
use uuid::Uuid;

use super::PostgresStore;
use super::rows::time;
use super::writer::{Op, Reply};
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

/// Claims `id` for `owner` for `length` nanoseconds, inside the writer's transaction: the
/// lease's new end, or `None` when another owner's lease lives or the execution is not
/// unfinished.
pub(super) async fn claim_in(
    conn: &mut PgConnection,
    id: Uuid,
    owner: &str,
    length: i64,
) -> std::result::Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(CLAIM)
        .bind(id)
        .bind(owner)
        .bind(length)
        .fetch_optional(&mut *conn)
        .await
}

/// Extends `owner`'s lease on `id` to `length` nanoseconds from now, inside the writer's
/// transaction: its new end, or `None` when it was lost.
pub(super) async fn renew_in(
    conn: &mut PgConnection,
    id: Uuid,
    owner: &str,
    length: i64,
) -> std::result::Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(RENEW)
        .bind(id)
        .bind(owner)
        .bind(length)
        .fetch_optional(&mut *conn)
        .await
}

/// Gives `owner`'s lease on `id` up, inside the writer's transaction.
pub(super) async fn release_in(conn: &mut PgConnection, id: Uuid, owner: &str) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(RELEASE)
        .bind(id)
        .bind(owner)
        .execute(&mut *conn)
        .await
        .map(drop)
}

fn until(reply: Reply) -> Option<i64> {
    match reply {
        Reply::Until(until) => until,
        Reply::Done => None,
    }
}

pub(super) async fn claim(store: &PostgresStore, id: Uuid, owner: &str, length: Duration) -> Result<Option<Lease>> {
    let op = Op::Claim {
        id,
        owner: owner.to_owned(),
        length: length_nanos(length),
    };
    let until = until(store.inner.writer.write(op).await?);
    Ok(until.map(|until| Lease {
        execution_id: id,
        owner: owner.to_owned(),
        until: time(until),
    }))
}

pub(super) async fn renew(store: &PostgresStore, held: &Lease, extend: Duration) -> Result<Option<Lease>> {
    let op = Op::Renew {
        id: held.execution_id,
        owner: held.owner.clone(),
        length: length_nanos(extend),
    };
    let until = until(store.inner.writer.write(op).await?);
    Ok(until.map(|until| Lease {
        execution_id: held.execution_id,
        owner: held.owner.clone(),
        until: time(until),
    }))
}

pub(super) async fn release(store: &PostgresStore, held: &Lease) -> Result<()> {
    let op = Op::Release {
        id: held.execution_id,
        owner: held.owner.clone(),
    };
    store.inner.writer.write(op).await.map(drop)
}
