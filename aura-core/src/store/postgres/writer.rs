//! The group-commit writer: a few tasks make many callers' writes durable with one commit
//! each, as the SQLite store's writer does.
//!
//! Callers send an [`Op`] with a reply channel and wait. A writer task takes the first request,
//! then everything else already queued (up to `max_batch`, and for up to `commit_window`),
//! runs them in one transaction and answers each caller after `COMMIT`, so that every answered
//! write is committed (flushed to the server's disk under the default `synchronous_commit =
//! on`) and one flush serves the whole batch. Writes of the same kind are grouped into one
//! statement over arrays (`INSERT … SELECT * FROM unnest($1, $2, …)`): the same prepared
//! statement whatever the batch's size.
//!
//! Several tasks (`writers`, 2 by default) take turns at the queue, so that one batch's
//! statements and commit overlap the next one's: each has a connection of its own, from a
//! small pool apart from the readers'. Every request in a batch was sent while the others were
//! in flight, so any order among them is one their callers could have seen; a batch applies
//! creates first, then node results, exact payloads and finishes, then lease operations in
//! arrival order. Two writes of the same row in one batch (which no caller waits for both of)
//! are applied as the later one.
//!
//! A write made under a lease carries its fence (owner, token): the batch locks those lease
//! rows `FOR SHARE` and answers a write whose lease was lost with a `Conflict`, writing
//! nothing of it. A new execution created without a lease is work for any worker: the batch
//! `NOTIFY`s the store's channel, delivered at `COMMIT`. A server that cannot be reached is
//! ridden out for up to the outage timeout (see [`ride_out`]).
//!
//! What a caller could get wrong (an unknown execution, a duplicate id) is checked before the
//! statements run and answers only that caller. If the batch fails anyway, it is rolled back:
//! a serialization failure or deadlock is tried again whole; an error that would reach every
//! write (the server gone, its disk full) answers every caller; any other is narrowed by
//! trying each request again alone, so that it reaches only the callers it concerns.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use crate::store::StoreAvailability;

use super::error::{from_sqlx, is_outage, retrying};
use super::executions::{self, ExactRow};
use super::leases;
use super::rows::{ExecutionRow, FinishRow, NodeRow};
use crate::error::{Error, ErrorKind, Result};

/// The lease a write is made under: it goes through only while the lease row still has this
/// owner and token.
#[derive(Debug)]
pub(super) struct Fence {
    pub(super) owner: String,
    pub(super) token: i64,
}

/// One write.
#[derive(Debug)]
pub(super) enum Op {
    /// A new execution, with the node results its record holds already, and the lease it is
    /// created under (owner, length in nanoseconds), if any. One created without a lease is
    /// work for any worker: the batch notifies the store's channel.
    Create(Box<ExecutionRow>, Vec<NodeRow>, Option<(String, i64)>),
    /// One node result of an execution, inserted or replaced.
    SaveNode(Uuid, Box<NodeRow>, Option<Fence>),
    /// The end of an execution (under a lease, which ends with it).
    Finish(Box<FinishRow>, Option<Fence>),
    /// A sealed exact payload.
    SaveExact(Box<ExactRow>, Option<Fence>),
    /// A claim for `length` nanoseconds on the server's clock; `wake`: of a parked execution
    /// too.
    Claim {
        id: Uuid,
        owner: String,
        length: i64,
        wake: bool,
    },
    /// Claims of free work, up to `limit`, within concurrency limits (scenario, max).
    ClaimNext {
        owner: String,
        length: i64,
        limit: i64,
        limits: Vec<(String, i64)>,
    },
    /// A renewal for `length` nanoseconds from the server's now.
    Renew {
        id: Uuid,
        owner: String,
        length: i64,
        token: i64,
    },
    /// Every live lease of an owner renewed.
    RenewOwned { owner: String, length: i64 },
    /// A release.
    Release { id: Uuid, owner: String, token: i64 },
    /// A park: the lease given to nobody for `length` nanoseconds from the server's now.
    Park {
        id: Uuid,
        owner: String,
        length: i64,
        token: i64,
    },
    /// Stops the writer: the writes queued before are done, every later one fails.
    Close,
}

impl Op {
    /// What the write does, for its error's message.
    fn what(&self) -> &'static str {
        match self {
            Op::Create(..) => "creating an execution",
            Op::SaveNode(..) => "saving a node result",
            Op::Finish(..) => "finishing an execution",
            Op::SaveExact(..) => "saving an exact payload",
            Op::Claim { .. } => "claiming an execution",
            Op::ClaimNext { .. } => "claiming work",
            Op::RenewOwned { .. } => "renewing an owner's leases",
            Op::Renew { .. } => "renewing a lease",
            Op::Release { .. } => "releasing a lease",
            Op::Park { .. } => "parking an execution",
            Op::Close => "closing the store",
        }
    }

    /// The table a failure of this write concerns, for its error's context.
    fn table(&self) -> &'static str {
        match self {
            Op::Create(..) | Op::Finish(..) | Op::Close => "executions",
            Op::SaveNode(..) => "node_results",
            Op::SaveExact(..) => "exact_payloads",
            Op::Claim { .. }
            | Op::ClaimNext { .. }
            | Op::Renew { .. }
            | Op::RenewOwned { .. }
            | Op::Release { .. }
            | Op::Park { .. } => "leases",
        }
    }

    /// The execution it writes (checked to exist first, or not to, for a create).
    fn execution(&self) -> Option<Uuid> {
        match self {
            Op::Create(row, ..) => Some(row.id),
            Op::SaveNode(id, ..) => Some(*id),
            Op::Finish(row, _) => Some(row.id),
            Op::SaveExact(row, _) => Some(row.execution_id),
            _ => None,
        }
    }

    /// The lease it is made under, if any.
    fn fence(&self) -> Option<&Fence> {
        match self {
            Op::SaveNode(_, _, fence) | Op::Finish(_, fence) | Op::SaveExact(_, fence) => fence.as_ref(),
            _ => None,
        }
    }

    /// The execution it concerns, for its error's context.
    fn concerns(&self) -> Option<Uuid> {
        match self {
            Op::Claim { id, .. } | Op::Renew { id, .. } | Op::Release { id, .. } | Op::Park { id, .. } => Some(*id),
            _ => self.execution(),
        }
    }
}

/// What a write answers.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply {
    /// Done.
    Done,
    /// A lease's new end (server nanoseconds) and token, or `None` when it was not taken or
    /// renewed.
    Lease(Option<(i64, i64)>),
    /// Claimed work: (execution, end, token) each.
    Claimed(Vec<(Uuid, i64, i64)>),
    /// How many rows a write changed.
    Count(u64),
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Reply>>,
}

/// How the writer batches and waits.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) max_batch: usize,
    pub(super) commit_window: Duration,
    pub(super) writers: u32,
    pub(super) acquire_timeout: Duration,
    /// How long a server that cannot be reached is waited for.
    pub(super) outage: Duration,
    /// The channel executions created without a lease (enqueued work) are announced on.
    pub(super) channel: String,
    /// Told when the server cannot be reached, and when it answers again.
    pub(super) availability: Arc<tokio::sync::watch::Sender<StoreAvailability>>,
}

/// The sending side, held by the store.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Request>,
}

impl Writer {
    /// Starts the writer tasks with connections of their own to the server `options` name, on
    /// a thread of their own; they end when every [`Writer`] is dropped (after the queued
    /// writes) or on [`Op::Close`], and close their connections.
    ///
    /// Their own thread and runtime: on the caller's runtime a writer would wait behind every
    /// ready task after each statement, and under load (thousands of executions) that wait,
    /// not PostgreSQL, would set the pace of every write.
    pub(super) fn start(options: PgConnectOptions, settings: Settings) -> Result<Self> {
        let (tx, rx) = mpsc::channel(settings.max_batch.saturating_mul(4).max(64));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal("the PostgreSQL writer's runtime could not start").with_source(e))?;
        std::thread::Builder::new()
            .name("aura-postgres-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let pool = PgPoolOptions::new()
                        .max_connections(settings.writers)
                        .min_connections(0)
                        .acquire_timeout(settings.acquire_timeout)
                        .connect_lazy_with(options);
                    let rx = Arc::new(Mutex::new(rx));
                    let tasks: Vec<_> = (0..settings.writers)
                        .map(|_| tokio::spawn(run(pool.clone(), rx.clone(), settings.clone())))
                        .collect();
                    for task in tasks {
                        // A writer task that panicked has answered nothing more: its callers
                        // see the store closed.
                        let _ = task.await;
                    }
                    pool.close().await;
                });
            })
            .map_err(|e| Error::internal("the PostgreSQL writer's thread could not start").with_source(e))?;
        Ok(Self { tx })
    }

    /// Sends a write and waits until it is committed (or failed).
    pub(super) async fn write(&self, op: Op) -> Result<Reply> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Request { op, reply }).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

/// The error of a write sent to a closed store.
fn closed() -> Error {
    Error::unavailable("the PostgreSQL store is closed")
}

/// One writer task: takes a batch off the queue (the others wait their turn), writes it,
/// answers, again.
async fn run(pool: PgPool, rx: Arc<Mutex<mpsc::Receiver<Request>>>, settings: Settings) {
    loop {
        let mut batch = Vec::new();
        {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            batch.push(first);
            fill(&mut rx, &mut batch, &settings).await;
            if batch.iter().any(|r| matches!(r.op, Op::Close)) {
                // What is queued still runs (then `recv` answers `None`); nothing more is
                // accepted.
                rx.close();
            }
        }
        let ops: Vec<&Op> = batch.iter().map(|r| &r.op).collect();
        let answers = write_batch(&pool, &ops, &settings).await;
        for (request, answer) in batch.into_iter().zip(answers) {
            // A caller that stopped waiting does not mind: its write is done either way.
            let _ = request.reply.send(answer);
        }
    }
}

/// Takes what is queued, up to the batch size, waiting up to the commit window for more.
async fn fill(rx: &mut mpsc::Receiver<Request>, batch: &mut Vec<Request>, settings: &Settings) {
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

/// Writes `ops` in one transaction (tried again whole on a serialization failure or a
/// deadlock) and answers each; on a failure, narrows it to the requests it concerns.
async fn write_batch(pool: &PgPool, ops: &[&Op], settings: &Settings) -> Vec<Result<Reply>> {
    let channel = settings.channel.as_str();
    let failed = match ride_out(pool, ops, settings).await {
        Ok(answers) => return answers,
        Err(e) => e,
    };
    let first = ops.first().copied().unwrap_or(&Op::Close);
    let err = with_execution(from_sqlx(failed, first.what(), first.table()), first);
    if ops.len() == 1 {
        return vec![Err(err)];
    }
    if err.kind() == ErrorKind::Unavailable {
        // The server is gone, full or read-only: every write would fail alike.
        return ops.iter().map(|op| Err(like(&err, op))).collect();
    }
    let mut answers = Vec::with_capacity(ops.len());
    for op in ops {
        answers.push(
            match retrying(|| apply(pool, std::slice::from_ref(op), channel)).await {
                Ok(Applied::Committed(mut one)) => one.pop().unwrap_or(Ok(Reply::Done)),
                Ok(Applied::Unknown { error: e, .. }) | Err(e) => {
                    Err(with_execution(from_sqlx(e, op.what(), op.table()), op))
                }
            },
        );
    }
    answers
}

fn with_execution(err: Error, op: &Op) -> Error {
    match op.concerns() {
        Some(id) => err.with_context("execution", id.to_string()),
        None => err,
    }
}

/// `err` again, for another write of the batch (errors are not `Clone`: their sources are not).
fn like(err: &Error, op: &Op) -> Error {
    let mut copy = Error::new(err.kind(), err.message().to_owned());
    for (key, value) in err.context() {
        if *key != "execution" {
            copy = copy.with_context(key, value.clone());
        }
    }
    with_execution(copy, op)
}

/// How a transaction of the writer ended.
enum Applied {
    /// Committed: each write's answer.
    Committed(Vec<Result<Reply>>),
    /// `COMMIT` was sent and got no answer: the transaction `xid` may or may not have
    /// committed; the answers hold if it did.
    Unknown {
        xid: i64,
        answers: Vec<Result<Reply>>,
        error: sqlx::Error,
    },
}

/// Writes the batch, riding out a server that cannot be reached, for up to the outage
/// timeout, with back-off: a try that failed before its `COMMIT` was sent is made again; one
/// whose `COMMIT` got no answer is looked up once the server answers again (`txid_status`):
/// committed, its answers stand; aborted, it is made again. `Err` is the last failure.
async fn ride_out(
    pool: &PgPool,
    ops: &[&Op],
    settings: &Settings,
) -> std::result::Result<Vec<Result<Reply>>, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + settings.outage;
    let mut backoff = backon::BackoffBuilder::build(
        backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .without_max_times(),
    );
    let mut tries = 0u32;
    // A transaction whose outcome is not known yet: the answers it would give.
    let mut unknown: Option<(i64, Vec<Result<Reply>>)> = None;
    loop {
        let failed = match unknown.take() {
            Some((xid, answers)) => match outcome(pool, xid).await {
                Ok(Some(true)) => return Ok(answers),
                // Rolled back: made again below, on the next turn.
                Ok(Some(false)) => None,
                Ok(None) => {
                    unknown = Some((xid, answers));
                    None
                }
                Err(e) => {
                    unknown = Some((xid, answers));
                    Some(e)
                }
            },
            None => match retrying(|| apply(pool, ops, &settings.channel)).await {
                Ok(Applied::Committed(answers)) => {
                    if tries > 0 {
                        tracing::info!(
                            tries,
                            "the PostgreSQL server is back: the writes waiting for it are done"
                        );
                        settings.availability.send_if_modified(|now| {
                            let away = matches!(now, StoreAvailability::Away { .. });
                            *now = StoreAvailability::Available;
                            away
                        });
                    }
                    return Ok(answers);
                }
                Ok(Applied::Unknown { xid, answers, error }) => {
                    unknown = Some((xid, answers));
                    Some(error)
                }
                Err(e) => Some(e),
            },
        };
        if let Some(e) = &failed
            && !is_outage(e)
        {
            return Err(failed.unwrap_or(sqlx::Error::PoolClosed));
        }
        if failed.is_none() && unknown.is_none() {
            continue;
        }
        let pause = backoff.next().unwrap_or(Duration::from_secs(5));
        if tokio::time::Instant::now() + pause > deadline {
            return Err(failed.unwrap_or(sqlx::Error::PoolTimedOut));
        }
        tries += 1;
        if let Some(e) = &failed {
            settings.availability.send_if_modified(|now| match now {
                StoreAvailability::Available => {
                    *now = StoreAvailability::Away {
                        since: chrono::Utc::now(),
                        reason: e.to_string(),
                    };
                    true
                }
                _ => false,
            });
        }
        match &failed {
            Some(e) => tracing::warn!(error = %e, tries, writes = ops.len(),
                "the PostgreSQL server cannot be reached: the writes wait and are tried again"),
            None => tracing::debug!(tries, "a commit's outcome is not known yet"),
        }
        tokio::time::sleep(pause).await;
    }
}

/// Whether transaction `xid` committed: `Some(true)`, `Some(false)` (rolled back, or too old
/// to tell, which cannot be for a transaction of seconds ago), `None` while in progress.
async fn outcome(pool: &PgPool, xid: i64) -> std::result::Result<Option<bool>, sqlx::Error> {
    let status: Option<String> = sqlx::query_scalar("SELECT txid_status($1)")
        .bind(xid)
        .fetch_one(pool)
        .await?;
    Ok(match status.as_deref() {
        Some("committed") => Some(true),
        Some("in progress") => None,
        _ => Some(false),
    })
}

/// Runs `ops` in one transaction and commits. `Err` means it was rolled back before `COMMIT`
/// was sent.
async fn apply(pool: &PgPool, ops: &[&Op], channel: &str) -> std::result::Result<Applied, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let xid: i64 = sqlx::query_scalar("SELECT txid_current()").fetch_one(&mut *tx).await?;
    let answers = statements(&mut tx, ops, channel).await?;
    Ok(match tx.commit().await {
        Ok(()) => Applied::Committed(answers),
        Err(error) => Applied::Unknown { xid, answers, error },
    })
}

/// The statements of a batch, inside its transaction.
async fn statements(
    conn: &mut sqlx::PgConnection,
    ops: &[&Op],
    channel: &str,
) -> std::result::Result<Vec<Result<Reply>>, sqlx::Error> {
    let mut answers: Vec<Option<Result<Reply>>> = ops.iter().map(|_| None).collect();

    // Which executions exist: one query for the whole batch.
    let wanted: Vec<Uuid> = ops.iter().filter_map(|op| op.execution()).collect();
    let mut known: HashSet<Uuid> = if wanted.is_empty() {
        HashSet::new()
    } else {
        executions::existing(conn, &wanted).await?
    };

    // Who holds the executions written under a lease: the lease rows locked until COMMIT.
    let fenced: Vec<Uuid> = ops
        .iter()
        .filter(|op| op.fence().is_some())
        .filter_map(|op| op.execution())
        .collect();
    let holders = leases::holders_in(conn, &fenced).await?;

    let mut creates: Vec<&ExecutionRow> = Vec::new();
    let mut leased: Vec<(Uuid, &str, i64)> = Vec::new();
    let mut enqueued = false;
    let mut nodes: Vec<(Uuid, &NodeRow)> = Vec::new();
    let mut exacts: Vec<&ExactRow> = Vec::new();
    let mut finishes: Vec<&FinishRow> = Vec::new();
    let mut ended: Vec<Uuid> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Op::Create(row, with, lease) = op {
            if known.insert(row.id) {
                creates.push(row);
                nodes.extend(with.iter().map(|n| (row.id, n)));
                match lease {
                    Some((owner, length)) => leased.push((row.id, owner, *length)),
                    None => enqueued = true,
                }
                answers[i] = Some(Ok(Reply::Done));
            } else {
                answers[i] = Some(Err(executions::duplicate(row.id)));
            }
        }
    }
    for (i, op) in ops.iter().enumerate() {
        let Some(id) = op.execution() else { continue };
        if matches!(op, Op::Create(..)) {
            continue;
        }
        if !known.contains(&id) {
            answers[i] = Some(Err(executions::missing(id)));
            continue;
        }
        if let Some(fence) = op.fence()
            && holders.get(&id) != Some(&(fence.owner.clone(), fence.token))
        {
            answers[i] = Some(Err(leases::lost(id, &fence.owner)));
            continue;
        }
        match op {
            Op::SaveNode(id, row, _) => nodes.push((*id, row)),
            Op::SaveExact(row, _) => exacts.push(row),
            Op::Finish(row, fence) => {
                finishes.push(row);
                if fence.is_some() {
                    ended.push(row.id);
                }
            }
            _ => continue,
        }
        answers[i] = Some(Ok(Reply::Done));
    }
    executions::insert(conn, &creates).await?;
    executions::upsert_nodes(conn, &nodes).await?;
    executions::upsert_exact(conn, &exacts).await?;
    executions::finish(conn, &finishes).await?;
    let taken = leases::take_new_in(conn, &leased).await?;
    leases::expire_in(conn, &ended).await?;
    if enqueued {
        // Delivered at COMMIT, to every process listening.
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(channel)
            .execute(&mut *conn)
            .await?;
    }
    for (i, op) in ops.iter().enumerate() {
        if let Op::Create(row, _, Some(_)) = op
            && let Some(Ok(_)) = &answers[i]
        {
            answers[i] = Some(Ok(Reply::Lease(taken.get(&row.id).map(|until| (*until, 1)))));
        }
    }

    for (i, op) in ops.iter().enumerate() {
        let answer = match op {
            Op::Claim {
                id,
                owner,
                length,
                wake,
            } => Reply::Lease(leases::claim_in(conn, *id, owner, *length, *wake).await?),
            Op::ClaimNext {
                owner,
                length,
                limit,
                limits,
            } => Reply::Claimed(leases::claim_next_in(conn, owner, *length, *limit, limits).await?),
            Op::Renew {
                id,
                owner,
                length,
                token,
            } => Reply::Lease(
                leases::renew_in(conn, *id, owner, *length, *token)
                    .await?
                    .map(|until| (until, *token)),
            ),
            Op::RenewOwned { owner, length } => Reply::Count(leases::renew_owned_in(conn, owner, *length).await?),
            Op::Release { id, owner, token } => {
                leases::release_in(conn, *id, owner, *token).await?;
                Reply::Done
            }
            Op::Park {
                id,
                owner,
                length,
                token,
            } => Reply::Count(leases::park_in(conn, *id, owner, *length, *token).await?),
            Op::Close => Reply::Done,
            Op::Create(..) | Op::SaveNode(..) | Op::SaveExact(..) | Op::Finish(..) => continue,
        };
        answers[i] = Some(Ok(answer));
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(Error::internal("a write of the batch got no answer"))))
        .collect())
}
