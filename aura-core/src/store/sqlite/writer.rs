//! The group-commit writer: one task owns the write connection and makes many callers' writes
//! durable with one commit.
//!
//! Callers send a [`Op`] with a reply channel and wait. The task takes the first request, then
//! everything else already queued (up to `max_batch`, and for up to `commit_window`), runs them
//! in one `BEGIN IMMEDIATE … COMMIT` and answers each caller after the commit, so that every
//! answered write is on disk and one fsync serves the whole batch. Writes of the same kind are
//! grouped into multi-row statements (one `INSERT` for every node result of the batch …).
//!
//! Every request in a batch was sent while the others were in flight, so any order among them
//! is one their callers could have seen; the writer applies creates first, then node results,
//! exact payloads and finishes, then the rest in arrival order. What a caller could get wrong
//! (an unknown execution, a duplicate id) is checked before the statements run and answers
//! only that caller. If a statement fails anyway (a full disk …), the transaction is rolled
//! back and each request of the batch is tried again alone, so that the failure reaches only
//! the callers it concerns (all of them, for a full disk), as a typed error.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::SqliteConnection;
use tokio::sync::{mpsc, oneshot};

use super::error::{closed, from_sqlx, is_busy};
use super::rows::{ExecutionRow, FinishRow, NodeRow};
use super::writes::Writes;
use super::{audit, executions, leases, outbox, scenarios, sealed, triggers};
use crate::connection::SealedRecord;
use crate::error::{Error, Result};

/// One write.
#[derive(Debug)]
pub(super) enum Op {
    /// A new execution, with the node results its record holds already, and the lease it
    /// is created under (owner, end in nanoseconds), if any.
    Create(Box<ExecutionRow>, Vec<NodeRow>, Option<(String, i64)>),
    /// One node result, inserted or replaced.
    SaveNode(Box<NodeRow>),
    /// Node results of one execution and, if given, its end (with the owner whose lease
    /// ends with it): one request for what the engine checkpoints at once.
    Checkpoint(Box<CheckpointRows>),
    /// The end of an execution, and the owner whose lease on it ends with it, if any.
    Finish(Box<FinishRow>, Option<String>),
    /// A sealed exact payload.
    SaveExact(Box<executions::ExactRow>),
    /// A claim: `until` and `now` in nanoseconds; `wake`: of a parked execution too.
    Claim {
        id: String,
        owner: String,
        until: i64,
        now: i64,
        wake: bool,
    },
    /// A renewal.
    Renew { id: String, owner: String, until: i64 },
    /// A release.
    Release { id: String, owner: String },
    /// A park: the owner's lease given to nobody until `wake` (nanoseconds).
    Park { id: String, owner: String, wake: i64 },
    /// Every lease of an owner renewed: answers how many.
    RenewOwned { owner: String, until: i64 },
    /// Claims of free work (no live lease), up to `limit`, within the concurrency limits
    /// (JSON, if any): answers the executions claimed.
    ClaimNext {
        owner: String,
        until: i64,
        now: i64,
        limit: i64,
        limits: Option<String>,
    },
    /// A batch of a prune: these executions go, if finished.
    Delete(Vec<String>),
    /// Gives free pages back to the file system.
    Vacuum,
    /// A new sealed connection record.
    SealedInsert(Box<SealedRecord>),
    /// A compare-and-swap of a sealed record.
    SealedSwap {
        id: String,
        expected: [u8; 12],
        new: Box<SealedRecord>,
    },
    /// A sealed record removed.
    SealedDelete(String),
    /// A trigger's cursor set: `now` in nanoseconds.
    SetCursor {
        scenario_id: String,
        trigger_id: String,
        cursor: String,
        now: i64,
    },
    /// Dedupe keys remembered: answers the new ones.
    Remember(Box<triggers::DedupeRows>),
    /// Up to `limit` expired dedupe keys deleted.
    PruneDedupe { now: i64, limit: i64 },
    /// A poll's commit (keys, executions, cursor): answers the new keys.
    CommitPoll(Box<triggers::PollRows>),
    /// An audit entry appended.
    Audit(Box<audit::AuditRow>),
    /// A deployed scenario version kept.
    SaveScenario(Box<scenarios::ScenarioRow>),
    /// Outbox entries kept and removed, together.
    Outbox(Box<outbox::OutboxRows>),
    /// Every outbox entry of an endpoint removed: answers how many.
    ClearOutbox(String),
    /// Stops the writer after this batch and closes the write connection.
    Close,
}

/// What [`Op::Checkpoint`] writes.
#[derive(Debug)]
pub(super) struct CheckpointRows {
    pub(super) execution_id: String,
    pub(super) nodes: Vec<NodeRow>,
    /// The end, and the owner whose lease ends with it.
    pub(super) end: Option<(FinishRow, String)>,
}

impl Op {
    /// The table a failure of this write concerns, for its error's context.
    fn table(&self) -> &'static str {
        match self {
            Op::Create(..) | Op::Finish(..) | Op::Delete(_) | Op::Vacuum | Op::Close => "executions",
            Op::SaveNode(_) | Op::Checkpoint(_) => "node_results",
            Op::SaveExact(_) => "exact_payloads",
            Op::Claim { .. }
            | Op::Renew { .. }
            | Op::Release { .. }
            | Op::Park { .. }
            | Op::RenewOwned { .. }
            | Op::ClaimNext { .. } => "leases",
            Op::SealedInsert(_) | Op::SealedSwap { .. } | Op::SealedDelete(_) => "connections",
            Op::SetCursor { .. } => "trigger_cursors",
            Op::Remember(_) | Op::PruneDedupe { .. } | Op::CommitPoll(_) => "dedupe_keys",
            Op::Audit(_) => "audit_log",
            Op::SaveScenario(_) => "scenarios",
            Op::Outbox(_) | Op::ClearOutbox(_) => "webhook_outbox",
        }
    }

    /// The execution it writes, if it writes one (checked to exist first).
    fn execution(&self) -> Option<&str> {
        match self {
            Op::Create(row, ..) => Some(&row.id),
            Op::SaveNode(row) => Some(&row.execution_id),
            Op::Checkpoint(rows) => Some(&rows.execution_id),
            Op::Finish(row, _) => Some(&row.id),
            Op::SaveExact(row) => Some(&row.execution_id),
            _ => None,
        }
    }
}

/// What a write answers.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply {
    /// Done.
    Done,
    /// Whether it changed something (a claim taken, a swap made, a record deleted …).
    Changed(bool),
    /// How many rows went.
    Count(u64),
    /// Which dedupe keys were new.
    Fresh(Vec<String>),
    /// Which executions were claimed.
    Claimed(Vec<String>),
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Reply>>,
}

/// The sending side, held by the store.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Request>,
}

/// How the writer batches and waits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub(super) max_batch: usize,
    pub(super) commit_window: Duration,
    pub(super) busy_timeout: Duration,
    /// With a size cap: the pages in use past which new executions are refused, so that the
    /// room left lets the running ones checkpoint and finish.
    pub(super) room_for_new: Option<i64>,
}

impl Writer {
    /// Starts the writer on `conn`, on a thread of its own; it ends when every [`Writer`] is
    /// dropped (after the queued writes) or on [`Op::Close`], and closes the connection.
    ///
    /// Its own thread and runtime: on the caller's runtime the writer would wait behind every
    /// ready task after each statement, and under load (thousands of executions) that wait,
    /// not SQLite, would set the pace of every write.
    pub(super) fn start(conn: SqliteConnection, settings: Settings) -> Result<Self> {
        let (tx, rx) = mpsc::channel(settings.max_batch.saturating_mul(4).max(64));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| Error::internal("the SQLite writer's runtime could not start").with_source(e))?;
        std::thread::Builder::new()
            .name("aura-sqlite-writer".into())
            .spawn(move || runtime.block_on(run(conn, rx, settings)))
            .map_err(|e| Error::internal("the SQLite writer's thread could not start").with_source(e))?;
        Ok(Self { tx })
    }

    /// Sends a write and waits until it is durable (or failed).
    pub(super) async fn write(&self, op: Op) -> Result<Reply> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request { op, reply }).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Request>, settings: Settings) {
    let mut batch: Vec<Request> = Vec::with_capacity(settings.max_batch);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        fill(&mut rx, &mut batch, settings).await;
        let ops: Vec<&Op> = batch.iter().map(|r| &r.op).collect();
        let closing = ops.iter().any(|op| matches!(op, Op::Close));
        let answers = match apply(&mut conn, &ops, settings).await {
            Ok(answers) => answers,
            Err(err) if ops.len() == 1 => vec![Err(err)],
            Err(_) => {
                // Each alone, so that a failure reaches only its own caller.
                let mut answers = Vec::with_capacity(ops.len());
                for op in &ops {
                    answers.push(match apply(&mut conn, &[*op], settings).await {
                        Ok(mut one) => one.pop().unwrap_or(Ok(Reply::Done)),
                        Err(err) => Err(err),
                    });
                }
                answers
            }
        };
        for (request, answer) in batch.drain(..).zip(answers) {
            // A caller that stopped waiting does not mind: its write is done either way.
            let _ = request.reply.send(answer);
        }
        if closing {
            break;
        }
    }
    let _ = sqlx::Connection::close(conn).await;
}

/// Takes what is queued, up to the batch size, waiting up to the commit window for more.
async fn fill(rx: &mut mpsc::Receiver<Request>, batch: &mut Vec<Request>, settings: Settings) {
    while batch.len() < settings.max_batch {
        match rx.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
    if settings.commit_window.is_zero() || batch.len() >= settings.max_batch {
        return;
    }
    let deadline = tokio::time::Instant::now() + settings.commit_window;
    while batch.len() < settings.max_batch {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => batch.push(r),
            Ok(None) | Err(_) => break,
        }
    }
}

/// Runs `ops` in one transaction and commits. `Err` means the transaction was rolled back and
/// nothing of it was kept.
async fn apply(conn: &mut SqliteConnection, ops: &[&Op], settings: Settings) -> Result<Vec<Result<Reply>>> {
    let busy = settings.busy_timeout;
    let table = ops.first().map_or("executions", |op| op.table());
    // The transaction begins with the lookup of the executions the batch writes (one query for
    // the whole batch), in the same round trip.
    let wanted: Vec<&str> = ops.iter().filter_map(|op| op.execution()).collect();
    let known = match retrying(conn, busy, async |conn| executions::begin_and_find(conn, &wanted).await).await {
        Ok(known) => known,
        Err(e) => {
            // The lookup may have failed after the transaction began.
            rollback(conn).await;
            return Err(from_sqlx(e, "starting a write", table));
        }
    };
    match statements(conn, ops, settings.room_for_new, known).await {
        Ok((answers, Committed::Yes)) => Ok(answers),
        Ok((answers, Committed::No)) => {
            let committed = retrying(conn, busy, async |conn| {
                sqlx::query("COMMIT").execute(&mut *conn).await.map(drop)
            })
            .await;
            match committed {
                Ok(()) => Ok(answers),
                Err(e) => {
                    rollback(conn).await;
                    Err(from_sqlx(e, "committing a write", table))
                }
            }
        }
        Err(err) => {
            rollback(conn).await;
            Err(err)
        }
    }
}

async fn rollback(conn: &mut SqliteConnection) {
    // SQLite may have rolled back already (a full disk does): then this fails, harmlessly.
    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
}

/// Runs `step` again while SQLite answers busy (another process holds the lock), with
/// back-off, for up to six busy timeouts in all.
async fn retrying<T>(
    conn: &mut SqliteConnection,
    busy: Duration,
    mut step: impl AsyncFnMut(&mut SqliteConnection) -> std::result::Result<T, sqlx::Error>,
) -> std::result::Result<T, sqlx::Error> {
    let give_up = tokio::time::Instant::now() + busy.saturating_mul(6).max(Duration::from_secs(1));
    let mut pause = Duration::from_millis(2);
    loop {
        match step(conn).await {
            Err(e) if is_busy(&e) && tokio::time::Instant::now() < give_up => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// Whether [`statements`] committed the transaction itself.
enum Committed {
    /// With the row writes, in the same round trip: the batch had nothing else to run.
    Yes,
    /// The caller commits.
    No,
}

/// The statements of a batch, inside its transaction (`known`: which of the executions it
/// writes exist). A batch of row writes only (the usual one: executions created,
/// checkpointed, ended) is committed with them.
async fn statements(
    conn: &mut SqliteConnection,
    ops: &[&Op],
    room_for_new: Option<i64>,
    mut known: HashSet<String>,
) -> Result<(Vec<Result<Reply>>, Committed)> {
    let mut answers: Vec<Option<Result<Reply>>> = ops.iter().map(|_| None).collect();

    // Near the size cap, new executions wait for a prune: the rest is kept for those running.
    let full = match room_for_new {
        Some(limit) if ops.iter().any(|op| matches!(op, Op::Create(..))) => {
            executions::pages_in_use(conn).await? >= limit
        }
        _ => false,
    };

    let mut creates: Vec<&ExecutionRow> = Vec::new();
    let mut nodes: Vec<&NodeRow> = Vec::new();
    let mut exacts: Vec<&executions::ExactRow> = Vec::new();
    let mut finishes: Vec<&FinishRow> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Op::Create(row, with, _) = op {
            if full {
                answers[i] = Some(Err(executions::full(&row.id)));
            } else if known.insert(row.id.clone()) {
                creates.push(row);
                nodes.extend(with.iter());
                answers[i] = Some(Ok(Reply::Done));
            } else {
                answers[i] = Some(Err(executions::duplicate(&row.id)));
            }
        }
    }
    for (i, op) in ops.iter().enumerate() {
        let Some(id) = op.execution() else { continue };
        if matches!(op, Op::Create(..)) {
            continue;
        }
        if !known.contains(id) {
            answers[i] = Some(Err(executions::missing(id)));
            continue;
        }
        match op {
            Op::SaveNode(row) => nodes.push(row),
            Op::Checkpoint(rows) => {
                nodes.extend(rows.nodes.iter());
                finishes.extend(rows.end.as_ref().map(|(row, _)| row));
            }
            Op::SaveExact(row) => exacts.push(row),
            Op::Finish(row, _) => finishes.push(row),
            _ => continue,
        }
        answers[i] = Some(Ok(Reply::Done));
    }
    let mut writes = Writes::new();
    executions::insert(&mut writes, &creates);
    executions::upsert_nodes(&mut writes, &nodes);
    executions::upsert_exact(&mut writes, &exacts);
    executions::finish(&mut writes, &finishes);
    // A new execution's lease, an ended one's release: in the same transaction, one
    // statement each for the batch.
    let mut takes: Vec<(&str, &str, i64)> = Vec::new();
    let mut releases: Vec<(&str, &str)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if !answers[i].as_ref().is_some_and(|a| a.is_ok()) {
            continue;
        }
        match op {
            Op::Create(row, _, Some((owner, until))) => takes.push((&row.id, owner, *until)),
            Op::Finish(row, Some(owner)) => releases.push((&row.id, owner)),
            Op::Checkpoint(rows) => {
                releases.extend(rows.end.as_ref().map(|(row, owner)| (row.id.as_str(), owner.as_str())))
            }
            _ => {}
        }
    }
    leases::take_many(&mut writes, &takes);
    leases::release_many(&mut writes, &releases)?;
    // Every row write of the batch in one round trip to SQLite's thread, with the commit
    // when nothing else follows. (A commit that fails fails the query: the caller rolls back.)
    let committed = if ops.iter().all(|op| op.execution().is_some()) {
        let table = ops.first().map_or("executions", |op| op.table());
        writes.statement("COMMIT", "committing a write", table);
        Committed::Yes
    } else {
        Committed::No
    };
    writes.run(conn).await?;

    for (i, op) in ops.iter().enumerate() {
        let answer = match op {
            Op::Create(..) | Op::SaveNode(_) | Op::Checkpoint(_) | Op::SaveExact(_) | Op::Finish(..) => continue,
            Op::RenewOwned { owner, until } => leases::renew_owned(conn, owner, *until).await?,
            Op::ClaimNext {
                owner,
                until,
                now,
                limit,
                limits,
            } => leases::claim_next(conn, owner, (*until, *now), *limit, limits.as_deref()).await?,
            Op::Claim {
                id,
                owner,
                until,
                now,
                wake,
            } => leases::claim(conn, id, owner, (*until, *now), *wake).await?,
            Op::Renew { id, owner, until } => leases::renew(conn, id, owner, *until).await?,
            Op::Release { id, owner } => leases::release(conn, id, owner).await?,
            Op::Park { id, owner, wake } => leases::park(conn, id, owner, *wake).await?,
            Op::Delete(ids) => executions::delete(conn, ids).await?,
            Op::Vacuum => executions::vacuum(conn).await?,
            Op::SealedInsert(record) => sealed::insert(conn, record).await?,
            Op::SealedSwap { id, expected, new } => sealed::swap(conn, id, expected, new).await?,
            Op::SealedDelete(id) => sealed::delete(conn, id).await?,
            Op::SetCursor {
                scenario_id,
                trigger_id,
                cursor,
                now,
            } => triggers::set_cursor(conn, scenario_id, trigger_id, cursor, *now)
                .await
                .map(|()| Ok(Reply::Done))?,
            Op::Remember(rows) => triggers::remember(conn, rows).await?,
            Op::PruneDedupe { now, limit } => triggers::prune(conn, *now, *limit).await?,
            Op::CommitPoll(poll) => triggers::commit(conn, poll).await?,
            Op::Audit(row) => audit::append(conn, row).await?,
            Op::SaveScenario(row) => scenarios::save(conn, row).await?,
            Op::Outbox(rows) => outbox::write(conn, rows).await?,
            Op::ClearOutbox(endpoint) => outbox::clear(conn, endpoint).await?,
            Op::Close => Ok(Reply::Done),
        };
        answers[i] = Some(answer);
    }
    let answers = answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(Error::internal("a write of the batch got no answer"))))
        .collect();
    Ok((answers, committed))
}
