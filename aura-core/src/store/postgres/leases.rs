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
//!
//! Each claim raises the lease's fencing token ([`Lease::token`]); a write made under a lease
//! locks the lease row (`FOR SHARE`, so a concurrent claim waits for its commit) and goes
//! through only if the owner and token are still the writer's. Released leases stay as
//! expired rows, so that a token never goes back.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgConnection;
use uuid::Uuid;

use super::PostgresStore;
use super::rows::time;
use super::writer::{Op, Reply};
use crate::error::{Error, Result};
use crate::store::{ConcurrencyLimits, Lease};

/// The server's clock, in nanoseconds since the epoch (microsecond precision).
macro_rules! now_nanos {
    () => {
        "(extract(epoch FROM now()) * 1000000000)::bigint"
    };
}

/// Takes the lease when the execution is unfinished and the lease is free, expired or already
/// this owner's (or, with `$4`, parked: nobody's); raises the fencing token; returns the new
/// end and token. (`excluded.until - $3` is the server's `now()`.)
const CLAIM: &str = concat!(
    "INSERT INTO leases (execution_id, owner, until, token) SELECT id, $2, ",
    now_nanos!(),
    " + $3, 1 FROM executions WHERE id = $1 AND status = 'running' \
     ON CONFLICT (execution_id) DO UPDATE SET owner = excluded.owner, until = excluded.until, \
     token = leases.token + 1 \
     WHERE leases.owner = excluded.owner OR leases.until <= excluded.until - $3 \
     OR ($4 AND leases.owner = '') RETURNING until, token"
);

/// Claims up to `$3` unfinished executions without a live lease, oldest first, for `$1` for
/// `$2` nanoseconds. `FOR NO KEY UPDATE … SKIP LOCKED` makes concurrent claimers take disjoint
/// sets without waiting for each other; the upsert's condition, checked against the lease
/// row's newest version, keeps a live lease taken meanwhile (by `claim`) from being taken
/// over.
const CLAIM_NEXT: &str = concat!(
    "WITH free AS (SELECT e.id FROM executions e WHERE e.status = 'running' \
     AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.execution_id = e.id AND l.until > ",
    now_nanos!(),
    ") ORDER BY e.id LIMIT $3 FOR NO KEY UPDATE OF e SKIP LOCKED) \
     INSERT INTO leases (execution_id, owner, until, token) SELECT id, $1, ",
    now_nanos!(),
    " + $2, 1 FROM free \
     ON CONFLICT (execution_id) DO UPDATE SET owner = excluded.owner, until = excluded.until, \
     token = leases.token + 1 WHERE leases.until <= excluded.until - $2 \
     RETURNING execution_id, until, token"
);

/// [`CLAIM_NEXT`] within the room each limited scenario has left (`$4`, `$5`: scenarios and
/// their max): its max less its executions holding a live lease (not a parked one). Scenarios
/// without room are passed over; of the first `$6` free executions of the others, locked with
/// `SKIP LOCKED`, each scenario's oldest are taken up to its room. Run under
/// [`CLAIM_LIMITED_LOCK`], so that two processes never count the same room.
const CLAIM_NEXT_LIMITED: &str = concat!(
    "WITH lim AS (SELECT * FROM unnest($4::text[], $5::bigint[]) AS l (scenario, max)), \
     room AS (SELECT lim.scenario, lim.max - (SELECT count(*) FROM leases l \
     JOIN executions r ON r.id = l.execution_id WHERE r.scenario_id = lim.scenario \
     AND r.status = 'running' AND l.until > ",
    now_nanos!(),
    " AND l.owner <> '') AS left_over FROM lim), \
     free AS (SELECT e.id, e.scenario_id FROM executions e WHERE e.status = 'running' \
     AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.execution_id = e.id AND l.until > ",
    now_nanos!(),
    ") AND NOT EXISTS (SELECT 1 FROM room WHERE room.scenario = e.scenario_id AND room.left_over <= 0) \
     ORDER BY e.id LIMIT $6 FOR NO KEY UPDATE OF e SKIP LOCKED), \
     ranked AS (SELECT f.id, f.scenario_id, \
     row_number() OVER (PARTITION BY f.scenario_id ORDER BY f.id) AS rank FROM free f), \
     chosen AS (SELECT r.id FROM ranked r LEFT JOIN room ON room.scenario = r.scenario_id \
     WHERE room.left_over IS NULL OR r.rank <= room.left_over ORDER BY r.id LIMIT $3) \
     INSERT INTO leases (execution_id, owner, until, token) SELECT id, $1, ",
    now_nanos!(),
    " + $2, 1 FROM chosen \
     ON CONFLICT (execution_id) DO UPDATE SET owner = excluded.owner, until = excluded.until, \
     token = leases.token + 1 WHERE leases.until <= excluded.until - $2 \
     RETURNING execution_id, until, token"
);

/// Serializes the claims that honour concurrency limits, per schema, until their transaction
/// ends.
const CLAIM_LIMITED_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('aura.claim_limited.' || current_schema()))";

/// Extends the lease if this owner still holds it under this token; returns the new end.
const RENEW: &str = concat!(
    "UPDATE leases SET until = ",
    now_nanos!(),
    " + $3 WHERE execution_id = $1 AND owner = $2 AND token = $4 RETURNING until"
);

/// Extends every live lease of an owner.
const RENEW_OWNED: &str = concat!(
    "UPDATE leases SET until = ",
    now_nanos!(),
    " + $2 WHERE owner = $1 AND until > ",
    now_nanos!()
);

/// Ends the lease (its row stays, expired, so that the next claim raises its token).
const RELEASE: &str = "UPDATE leases SET until = 0 WHERE execution_id = $1 AND owner = $2 AND token = $3";

/// Gives the lease to nobody (owner `''`) until `$3` nanoseconds from now, if this owner still
/// holds it under this token: no claim takes it before then, no heartbeat renews it.
const PARK: &str = concat!(
    "UPDATE leases SET owner = '', until = ",
    now_nanos!(),
    " + $3 WHERE execution_id = $1 AND owner = $2 AND token = $4"
);

/// Leases new executions (created in the same transaction), token 1.
const TAKE_NEW: &str = concat!(
    "INSERT INTO leases (execution_id, owner, until, token) SELECT v.id, v.owner, ",
    now_nanos!(),
    " + v.length, 1 FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS v (id, owner, length) \
     RETURNING execution_id, until"
);

/// The holder of each of these leases, locked until the transaction ends (a claim waits).
const HOLDERS: &str = "SELECT execution_id, owner, token FROM leases WHERE execution_id = ANY($1) FOR SHARE";

/// Expires the leases of executions that end in this transaction.
const EXPIRE: &str = "UPDATE leases SET until = 0 WHERE execution_id = ANY($1)";

/// A lease length in nanoseconds, capped at a century (so that `now + length` never
/// overflows).
pub(super) fn length_nanos(length: Duration) -> i64 {
    const CENTURY: i64 = 100 * 366 * 24 * 3600 * 1_000_000_000;
    i64::try_from(length.as_nanos()).unwrap_or(CENTURY).min(CENTURY)
}

/// Claims `id` for `owner` for `length` nanoseconds, inside the writer's transaction: the
/// lease's new end and token, or `None` when another owner's lease lives or the execution is
/// not unfinished.
pub(super) async fn claim_in(
    conn: &mut PgConnection,
    id: Uuid,
    owner: &str,
    length: i64,
    wake: bool,
) -> std::result::Result<Option<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(CLAIM)
        .bind(id)
        .bind(owner)
        .bind(length)
        .bind(wake)
        .fetch_optional(&mut *conn)
        .await
}

/// Claims free work inside the writer's transaction, within `limits` (scenario, max) if any:
/// (execution, end, token) per claim.
pub(super) async fn claim_next_in(
    conn: &mut PgConnection,
    owner: &str,
    length: i64,
    limit: i64,
    limits: &[(String, i64)],
) -> std::result::Result<Vec<(Uuid, i64, i64)>, sqlx::Error> {
    if limits.is_empty() {
        return sqlx::query_as(CLAIM_NEXT)
            .bind(owner)
            .bind(length)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await;
    }
    sqlx::query(CLAIM_LIMITED_LOCK).execute(&mut *conn).await?;
    sqlx::query_as(CLAIM_NEXT_LIMITED)
        .bind(owner)
        .bind(length)
        .bind(limit)
        .bind(limits.iter().map(|l| l.0.as_str()).collect::<Vec<_>>())
        .bind(limits.iter().map(|l| l.1).collect::<Vec<_>>())
        // A window of candidates wider than the claim, so that the oldest executions of a
        // scenario with little room do not crowd the others out.
        .bind(limit.saturating_mul(4))
        .fetch_all(&mut *conn)
        .await
}

/// Extends `owner`'s lease on `id` to `length` nanoseconds from now, inside the writer's
/// transaction: its new end, or `None` when it was lost.
pub(super) async fn renew_in(
    conn: &mut PgConnection,
    id: Uuid,
    owner: &str,
    length: i64,
    token: i64,
) -> std::result::Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(RENEW)
        .bind(id)
        .bind(owner)
        .bind(length)
        .bind(token)
        .fetch_optional(&mut *conn)
        .await
}

/// Extends every live lease of `owner`, inside the writer's transaction: how many.
pub(super) async fn renew_owned_in(
    conn: &mut PgConnection,
    owner: &str,
    length: i64,
) -> std::result::Result<u64, sqlx::Error> {
    let done = sqlx::query(RENEW_OWNED)
        .bind(owner)
        .bind(length)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// Gives `owner`'s lease on `id` up, inside the writer's transaction.
pub(super) async fn release_in(
    conn: &mut PgConnection,
    id: Uuid,
    owner: &str,
    token: i64,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(RELEASE)
        .bind(id)
        .bind(owner)
        .bind(token)
        .execute(&mut *conn)
        .await
        .map(drop)
}

/// Parks `id` for `length` nanoseconds, inside the writer's transaction: how many leases it
/// parked (0 when the lease was lost).
pub(super) async fn park_in(
    conn: &mut PgConnection,
    id: Uuid,
    owner: &str,
    length: i64,
    token: i64,
) -> std::result::Result<u64, sqlx::Error> {
    let done = sqlx::query(PARK)
        .bind(id)
        .bind(owner)
        .bind(length)
        .bind(token)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// Leases executions created in this transaction: (execution, owner, length) each; answers
/// each one's end.
pub(super) async fn take_new_in(
    conn: &mut PgConnection,
    new: &[(Uuid, &str, i64)],
) -> std::result::Result<HashMap<Uuid, i64>, sqlx::Error> {
    if new.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(TAKE_NEW)
        .bind(new.iter().map(|n| n.0).collect::<Vec<_>>())
        .bind(new.iter().map(|n| n.1).collect::<Vec<_>>())
        .bind(new.iter().map(|n| n.2).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Who holds each of `ids` now (owner, token), the lease rows locked until the transaction
/// ends: the check behind every write made under a lease.
pub(super) async fn holders_in(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> std::result::Result<HashMap<Uuid, (String, i64)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(HOLDERS).bind(ids).fetch_all(&mut *conn).await?;
    Ok(rows
        .into_iter()
        .map(|(id, owner, token)| (id, (owner, token)))
        .collect())
}

/// Expires the leases of executions finished in this transaction.
pub(super) async fn expire_in(conn: &mut PgConnection, ids: &[Uuid]) -> std::result::Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(EXPIRE).bind(ids).execute(&mut *conn).await.map(drop)
}

/// The error of a write whose lease was lost.
pub(super) fn lost(id: Uuid, owner: &str) -> Error {
    Error::conflict(
        "the execution's lease was lost: another worker claimed it, so this worker may not write it \
         (nothing was written)",
    )
    .with_context("execution", id.to_string())
    .with_context("owner", owner.to_owned())
}

fn lease(id: Uuid, owner: &str, reply: Reply) -> Option<Lease> {
    match reply {
        Reply::Lease(Some((until, token))) => Some(Lease {
            execution_id: id,
            owner: owner.to_owned(),
            until: time(until),
            token,
        }),
        _ => None,
    }
}

pub(super) async fn claim(
    store: &PostgresStore,
    id: Uuid,
    owner: &str,
    length: Duration,
    wake: bool,
) -> Result<Option<Lease>> {
    let op = Op::Claim {
        id,
        owner: owner.to_owned(),
        length: length_nanos(length),
        wake,
    };
    Ok(lease(id, owner, store.inner.writer.write(op).await?))
}

pub(super) async fn claim_next(
    store: &PostgresStore,
    owner: &str,
    length: Duration,
    limit: usize,
    limits: &ConcurrencyLimits,
) -> Result<Vec<Lease>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let op = Op::ClaimNext {
        owner: owner.to_owned(),
        length: length_nanos(length),
        limit: i64::try_from(limit).unwrap_or(i64::MAX),
        limits: limits.iter().map(|(s, max)| (s.to_owned(), i64::from(max))).collect(),
    };
    Ok(match store.inner.writer.write(op).await? {
        Reply::Claimed(claimed) => claimed
            .into_iter()
            .map(|(id, until, token)| Lease {
                execution_id: id,
                owner: owner.to_owned(),
                until: time(until),
                token,
            })
            .collect(),
        _ => Vec::new(),
    })
}

pub(super) async fn renew(store: &PostgresStore, held: &Lease, extend: Duration) -> Result<Option<Lease>> {
    let op = Op::Renew {
        id: held.execution_id,
        owner: held.owner.clone(),
        length: length_nanos(extend),
        token: held.token,
    };
    Ok(match store.inner.writer.write(op).await? {
        Reply::Lease(Some((until, _))) => Some(Lease {
            until: time(until),
            ..held.clone()
        }),
        _ => None,
    })
}

pub(super) async fn renew_owned(store: &PostgresStore, owner: &str, extend: Duration) -> Result<u64> {
    let op = Op::RenewOwned {
        owner: owner.to_owned(),
        length: length_nanos(extend),
    };
    Ok(match store.inner.writer.write(op).await? {
        Reply::Count(n) => n,
        _ => 0,
    })
}

pub(super) async fn release(store: &PostgresStore, held: &Lease) -> Result<()> {
    let op = Op::Release {
        id: held.execution_id,
        owner: held.owner.clone(),
        token: held.token,
    };
    store.inner.writer.write(op).await.map(drop)
}

pub(super) async fn park(store: &PostgresStore, held: &Lease, wake_in: Duration) -> Result<bool> {
    let op = Op::Park {
        id: held.execution_id,
        owner: held.owner.clone(),
        length: length_nanos(wake_in),
        token: held.token,
    };
    Ok(matches!(store.inner.writer.write(op).await?, Reply::Count(1)))
}
