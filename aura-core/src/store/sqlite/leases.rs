//! Leases on unfinished executions: one row per execution, taken or renewed by one statement.

use std::time::Duration;

use chrono::Utc;
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::SqliteStore;
use super::error::from_sqlx;
use super::executions::ROWS_PER_STATEMENT;
use super::rows::nanos;
use super::writer::{Op, Reply};
use super::writes::Writes;
use crate::error::{Error, Result};
use crate::store::{ConcurrencyLimits, Lease};

/// Takes the lease when the execution is unfinished and the lease is free, expired or already
/// this owner's (or, with `?5`, parked: nobody's).
const CLAIM: &str = "INSERT INTO leases (execution_id, owner, until) \
     SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM executions WHERE id = ?1 AND status = 'running') \
     ON CONFLICT (execution_id) DO UPDATE SET owner = excluded.owner, until = excluded.until \
     WHERE leases.owner = excluded.owner OR leases.until <= ?4 OR (?5 AND leases.owner = '')";

pub(super) async fn claim(
    conn: &mut SqliteConnection,
    id: &str,
    owner: &str,
    (until, now): (i64, i64),
    wake: bool,
) -> Result<Result<Reply>> {
    let done = sqlx::query(CLAIM)
        .bind(id)
        .bind(owner)
        .bind(until)
        .bind(now)
        .bind(wake)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(e, "claiming an execution", "leases").with_context("execution", id.to_owned()))?;
    Ok(Ok(Reply::Changed(done.rows_affected() == 1)))
}

pub(super) async fn renew(conn: &mut SqliteConnection, id: &str, owner: &str, until: i64) -> Result<Result<Reply>> {
    let done = sqlx::query("UPDATE leases SET until = ?3 WHERE execution_id = ?1 AND owner = ?2")
        .bind(id)
        .bind(owner)
        .bind(until)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(e, "renewing a lease", "leases").with_context("execution", id.to_owned()))?;
    Ok(Ok(Reply::Changed(done.rows_affected() == 1)))
}

pub(super) async fn release(conn: &mut SqliteConnection, id: &str, owner: &str) -> Result<Result<Reply>> {
    sqlx::query("DELETE FROM leases WHERE execution_id = ?1 AND owner = ?2")
        .bind(id)
        .bind(owner)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(e, "releasing a lease", "leases").with_context("execution", id.to_owned()))?;
    Ok(Ok(Reply::Done))
}

/// Gives an owner's lease to nobody (owner `''`) until `wake`: no claim takes it before then,
/// no heartbeat renews it, and opening the file does not end it.
pub(super) async fn park(conn: &mut SqliteConnection, id: &str, owner: &str, wake: i64) -> Result<Result<Reply>> {
    let done = sqlx::query("UPDATE leases SET owner = '', until = ?3 WHERE execution_id = ?1 AND owner = ?2")
        .bind(id)
        .bind(owner)
        .bind(wake)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(e, "parking an execution", "leases").with_context("execution", id.to_owned()))?;
    Ok(Ok(Reply::Changed(done.rows_affected() == 1)))
}

/// Claims up to `?4` unfinished executions without a live lease (whoever held it), oldest
/// first. (One writer: no other claim runs meanwhile.)
const CLAIM_NEXT: &str = "INSERT INTO leases (execution_id, owner, until) \
     SELECT e.id, ?1, ?2 FROM executions e WHERE e.status = 'running' \
     AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.execution_id = e.id AND l.until > ?3) \
     ORDER BY e.id LIMIT ?4 \
     ON CONFLICT (execution_id) DO UPDATE SET owner = excluded.owner, until = excluded.until \
     RETURNING execution_id";

/// [`CLAIM_NEXT`] within the room each limited scenario has left (`?5`: a JSON list of
/// `[scenario, max]`): its max less its executions holding a live lease (not a parked one),
/// taken oldest first.
const CLAIM_NEXT_LIMITED: &str = "WITH lim (scenario, max) AS \
     (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?5)), \
     room (scenario, left) AS (SELECT lim.scenario, lim.max - (SELECT count(*) FROM leases l \
     JOIN executions r ON r.id = l.execution_id WHERE r.scenario_id = lim.scenario \
     AND r.status = 'running' AND l.until > ?3 AND l.owner <> '') FROM lim), \
     free (id, scenario, rank) AS (SELECT e.id, e.scenario_id, \
     row_number() OVER (PARTITION BY e.scenario_id ORDER BY e.id) FROM executions e \
     WHERE e.status = 'running' \
     AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.execution_id = e.id AND l.until > ?3)) \
     INSERT INTO leases (execution_id, owner, until) \
     SELECT f.id, ?1, ?2 FROM free f LEFT JOIN room ON room.scenario = f.scenario \
     WHERE room.left IS NULL OR f.rank <= room.left ORDER BY f.id LIMIT ?4 \
     ON CONFLICT (execution_id) DO UPDATE SET owner = excluded.owner, until = excluded.until \
     RETURNING execution_id";

pub(super) async fn claim_next(
    conn: &mut SqliteConnection,
    owner: &str,
    (until, now): (i64, i64),
    limit: i64,
    limits: Option<&str>,
) -> Result<Result<Reply>> {
    let query = sqlx::query_scalar(if limits.is_some() {
        CLAIM_NEXT_LIMITED
    } else {
        CLAIM_NEXT
    })
    .bind(owner)
    .bind(until)
    .bind(now)
    .bind(limit);
    let query = match limits {
        Some(limits) => query.bind(limits),
        None => query,
    };
    let claimed: Vec<String> = query
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| from_sqlx(e, "claiming work", "leases"))?;
    Ok(Ok(Reply::Claimed(claimed)))
}

/// Leases new executions (created in the same transaction): (execution, owner, end) each.
pub(super) fn take_many(writes: &mut Writes, new: &[(&str, &str, i64)]) {
    for chunk in new.chunks(ROWS_PER_STATEMENT) {
        let q = writes.statement(
            "INSERT OR REPLACE INTO leases (execution_id, owner, until) ",
            "leasing new executions",
            "leases",
        );
        q.push_values(chunk, |mut b, (id, owner, until)| {
            b.push_bind(*id).push_bind(*owner).push_bind(*until);
        });
    }
}

/// Ends the leases of executions that end in the same transaction: (execution, owner) each.
pub(super) fn release_many(writes: &mut Writes, ended: &[(&str, &str)]) -> Result<()> {
    if ended.is_empty() {
        return Ok(());
    }
    let pairs = serde_json::to_string(ended).map_err(|_| Error::internal("leases could not be serialized"))?;
    // A positional parameter: it is one statement among the batch's (see `Writes`).
    writes
        .statement(
            "DELETE FROM leases WHERE (execution_id, owner) IN \
             (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(",
            "releasing leases",
            "leases",
        )
        .push_bind(pairs)
        .push("))");
    Ok(())
}

pub(super) async fn renew_owned(conn: &mut SqliteConnection, owner: &str, until: i64) -> Result<Result<Reply>> {
    let done = sqlx::query("UPDATE leases SET until = ?2 WHERE owner = ?1")
        .bind(owner)
        .bind(until)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(e, "renewing an owner's leases", "leases"))?;
    Ok(Ok(Reply::Count(done.rows_affected())))
}

/// A lease for `owner` from now for `length` (capped at the latest storable time).
fn lease_for(execution_id: Uuid, owner: &str, length: Duration) -> Lease {
    let until = Utc::now() + chrono::Duration::from_std(length).unwrap_or(chrono::Duration::MAX);
    Lease {
        execution_id,
        owner: owner.to_owned(),
        until,
        token: 0,
    }
}

fn until_nanos(lease: &Lease) -> i64 {
    nanos(lease.until).unwrap_or(i64::MAX)
}

pub(super) async fn claim_lease(
    store: &SqliteStore,
    execution_id: Uuid,
    owner: &str,
    length: Duration,
    wake: bool,
) -> Result<Option<Lease>> {
    let now = nanos(Utc::now()).unwrap_or(i64::MAX);
    let lease = lease_for(execution_id, owner, length);
    let op = Op::Claim {
        id: execution_id.to_string(),
        owner: owner.to_owned(),
        until: until_nanos(&lease),
        now,
        wake,
    };
    Ok(match store.inner.writer.write(op).await? {
        Reply::Changed(true) => Some(lease),
        _ => None,
    })
}

pub(super) async fn renew_lease(store: &SqliteStore, held: &Lease, extend: Duration) -> Result<Option<Lease>> {
    let lease = lease_for(held.execution_id, &held.owner, extend);
    let op = Op::Renew {
        id: held.execution_id.to_string(),
        owner: held.owner.clone(),
        until: until_nanos(&lease),
    };
    Ok(match store.inner.writer.write(op).await? {
        Reply::Changed(true) => Some(lease),
        _ => None,
    })
}

pub(super) async fn release_lease(store: &SqliteStore, held: &Lease) -> Result<()> {
    let op = Op::Release {
        id: held.execution_id.to_string(),
        owner: held.owner.clone(),
    };
    store.inner.writer.write(op).await.map(drop)
}

pub(super) async fn park_lease(store: &SqliteStore, held: &Lease, wake_in: Duration) -> Result<bool> {
    let wake = lease_for(held.execution_id, "", wake_in);
    let op = Op::Park {
        id: held.execution_id.to_string(),
        owner: held.owner.clone(),
        wake: until_nanos(&wake),
    };
    Ok(matches!(store.inner.writer.write(op).await?, Reply::Changed(true)))
}

pub(super) async fn renew_owned_leases(store: &SqliteStore, owner: &str, extend: Duration) -> Result<u64> {
    let lease = lease_for(Uuid::nil(), owner, extend);
    let op = Op::RenewOwned {
        owner: owner.to_owned(),
        until: until_nanos(&lease),
    };
    Ok(match store.inner.writer.write(op).await? {
        Reply::Count(n) => n,
        _ => 0,
    })
}

/// The lease a new execution is created under, as the writer takes it, and as the caller gets it.
pub(super) fn new_lease(execution_id: Uuid, owner: &str, length: Duration) -> ((String, i64), Lease) {
    let lease = lease_for(execution_id, owner, length);
    ((owner.to_owned(), until_nanos(&lease)), lease)
}

pub(super) async fn claim_next_leases(
    store: &SqliteStore,
    owner: &str,
    length: Duration,
    limit: usize,
    limits: &ConcurrencyLimits,
) -> Result<Vec<Lease>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let now = nanos(Utc::now()).unwrap_or(i64::MAX);
    let lease = lease_for(Uuid::nil(), owner, length);
    let op = Op::ClaimNext {
        owner: owner.to_owned(),
        until: until_nanos(&lease),
        now,
        limit: i64::try_from(limit).unwrap_or(i64::MAX),
        limits: (!limits.is_empty())
            .then(|| serde_json::to_string(&limits.iter().collect::<Vec<_>>()))
            .transpose()
            .map_err(|_| Error::internal("concurrency limits could not be serialized"))?,
    };
    let Reply::Claimed(ids) = store.inner.writer.write(op).await? else {
        return Ok(Vec::new());
    };
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        let execution_id = Uuid::parse_str(&id).map_err(|_| {
            crate::error::Error::internal("the store holds an execution id that is not a UUID")
                .with_context("execution", id)
        })?;
        claimed.push(Lease {
            execution_id,
            ..lease.clone()
        });
    }
    Ok(claimed)
}
