//! The triggers: `new_rows` (polling by an increasing column) and `notify` (LISTEN/NOTIFY,
//! drained on each poll).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aura_core::trigger::{Poll, PollingTrigger, TriggerItem, TriggerParams};
use aura_core::{ConnectionId, Context, Error, Result, Violation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::{mpsc, oneshot};

use super::PostgresState;
use super::core::{self, application_name};
use super::error::from_sqlx;
use super::sql;

/// The default and the largest `batch_size` of `new_rows`.
const DEFAULT_BATCH: u32 = 100;
const MAX_BATCH: u32 = 1_000;
/// Notifications a listener keeps between polls; more are dropped (and logged).
const NOTIFY_BUFFER: usize = 10_000;
/// The most notifications one poll returns (`more: true` when it had more).
const NOTIFY_BATCH: usize = 1_000;
/// How long a poll that finds nothing waits for a notification on its way.
const NOTIFY_GRACE: Duration = Duration::from_millis(200);

/// The `new_rows` trigger's parameters.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRowsParams {
    /// The table, plain or schema-qualified.
    pub table: String,
    /// An increasing, unique column (a serial or identity id, or a timestamp without ties):
    /// rows with a greater value than the last one seen are new. Its value is the cursor and
    /// each row's dedupe key.
    pub key_column: String,
    /// The columns to return (default all); the key column is always among them.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// The most rows per poll (default 100, at most 1000); a full batch sets `more`.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub batch_size: Option<u32>,
}

/// `postgres.new_rows`.
pub(crate) struct NewRows {
    pub(crate) state: Arc<PostgresState>,
}

/// A key value as dedupe text: strings as they are, anything else as JSON.
fn key_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[async_trait]
impl PollingTrigger for NewRows {
    type Item = Map<String, Value>;
    /// The key column's value in the last row seen (`null` before any).
    type Cursor = Value;

    async fn poll(&self, cx: &Context, cursor: Option<Value>) -> Result<Poll<Self::Item, Value>> {
        let p: NewRowsParams = TriggerParams::required(cx, "postgres.new_rows")?;
        let batch = p.batch_size.unwrap_or(DEFAULT_BATCH);
        if batch == 0 || batch > MAX_BATCH {
            return Err(Error::invalid_input(
                format!("batch_size must be between 1 and {MAX_BATCH}"),
                vec![Violation::new("/batch_size", "out of range")],
            ));
        }
        let columns = p.columns.map(|mut cols| {
            if !cols.contains(&p.key_column) {
                cols.push(p.key_column.clone());
            }
            cols
        });
        let after = cursor.filter(|c| !c.is_null());
        // Checked (names quoted) before any connection is made.
        let statement = sql::new_rows(&p.table, &p.key_column, columns.as_deref(), after.as_ref(), batch)?;
        let session = self.state.pools.session(cx)?;
        let mut conn = session.acquire().await?;
        let out = core::run(&mut conn, &session, &statement.sql, &statement.params, batch as usize).await?;
        let more = out.rows.len() == batch as usize;
        let mut next = after.unwrap_or(Value::Null);
        let mut items = Vec::with_capacity(out.rows.len());
        for row in out.rows {
            let key = row.get(&p.key_column).cloned().unwrap_or(Value::Null);
            items.push(TriggerItem::new(key_text(&key), row));
            next = key;
        }
        Ok(Poll {
            items,
            cursor: next,
            more,
        })
    }
}

/// The `notify` trigger's parameters.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyParams {
    /// The channel to `LISTEN` on (a plain identifier; exact, case-sensitive).
    pub channel: String,
}

/// One notification received.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Notification {
    /// The channel it came on.
    pub channel: String,
    /// Its payload, as sent.
    pub payload: String,
    /// The payload parsed as JSON, when it is JSON (else `null`).
    pub json: Value,
    /// The PID of the server process that sent it.
    pub process_id: u32,
}

/// One running listener: its notifications arrive on `rx`, filled by a task that ends when
/// the entry is dropped (`stop`).
struct Listening {
    version: u64,
    rx: tokio::sync::Mutex<mpsc::Receiver<Notification>>,
    failed: Arc<Mutex<Option<Error>>>,
    /// Names this listener in dedupe keys: a new listener (a restart) never reuses a key.
    instance: String,
    seq: AtomicU64,
    _stop: oneshot::Sender<()>,
}

/// The listeners, per connection and channel.
#[derive(Default)]
pub(crate) struct Listeners {
    entries: Mutex<HashMap<(ConnectionId, String), Arc<Listening>>>,
    started: AtomicU64,
}

impl Listeners {
    fn get(&self, key: &(ConnectionId, String)) -> Option<Arc<Listening>> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn remove(&self, key: &(ConnectionId, String)) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }

    /// Stops every listener.
    pub(crate) fn clear(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// `postgres.notify`.
pub(crate) struct Notify {
    pub(crate) state: Arc<PostgresState>,
}

impl Notify {
    /// Connects a listener (its own one-connection pool), `LISTEN`s and starts the task that
    /// moves notifications into the buffer.
    async fn start(&self, cx: &Context, channel: &str) -> Result<Arc<Listening>> {
        let conn = cx.require_connection()?;
        let session = self.state.pools.session_of(conn.as_ref())?;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(self.state.pools.settings.acquire_timeout)
            .connect_lazy_with(
                session
                    .config
                    .connect_options(&application_name(conn.id(), session.version)),
            );
        let scrubber = session.scrubber.clone();
        let mut listener = PgListener::connect_with(&pool)
            .await
            .map_err(|e| from_sqlx(e, &scrubber))?;
        listener
            .listen(channel)
            .await
            .map_err(|e| from_sqlx(e, &scrubber).with_context("channel", channel.to_owned()))?;
        let (tx, rx) = mpsc::channel(NOTIFY_BUFFER);
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let failed = Arc::new(Mutex::new(None));
        let task_failed = failed.clone();
        let channel_name = channel.to_owned();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    received = listener.recv() => match received {
                        Ok(n) => {
                            let payload = n.payload().to_owned();
                            let note = Notification {
                                channel: n.channel().to_owned(),
                                json: serde_json::from_str(&payload).unwrap_or(Value::Null),
                                payload,
                                process_id: n.process_id(),
                            };
                            if tx.try_send(note).is_err() {
                                tracing::warn!(channel = %channel_name, "postgres.notify buffer full: a notification was dropped");
                            }
                        }
                        Err(e) => {
                            let err = from_sqlx(e, &scrubber).with_context("channel", channel_name.clone());
                            *task_failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(err);
                            break;
                        }
                    },
                }
            }
            drop(listener);
            pool.close().await;
        });
        let started = self.state.listeners.started.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Ok(Arc::new(Listening {
            version: session.version,
            rx: tokio::sync::Mutex::new(rx),
            failed,
            instance: format!("{nanos:x}.{started}"),
            seq: AtomicU64::new(0),
            _stop: stop_tx,
        }))
    }
}

#[async_trait]
impl PollingTrigger for Notify {
    type Item = Notification;
    /// Unused (`null`): notifications are not stored by the server, there is nothing to resume.
    type Cursor = Value;

    async fn poll(&self, cx: &Context, _cursor: Option<Value>) -> Result<Poll<Notification, Value>> {
        let p: NotifyParams = TriggerParams::required(cx, "postgres.notify")?;
        if !sql::is_identifier(&p.channel) {
            return Err(Error::invalid_input(
                "the channel is not a plain identifier",
                vec![Violation::new(
                    "/channel",
                    "letters, digits, _ and $, starting with a letter or _",
                )],
            ));
        }
        let conn = cx.require_connection()?;
        let key = (conn.id().clone(), p.channel.clone());
        let current = self.get_live(&key, conn.version());
        let (listening, fresh) = match current {
            Some(l) => (l, false),
            None => {
                let l = self.start(cx, &p.channel).await?;
                // Two first polls at once: the later one replaces the earlier (both listen).
                self.state
                    .listeners
                    .entries
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key.clone(), l.clone());
                (l, true)
            }
        };
        let mut rx = listening.rx.lock().await;
        let mut received = Vec::new();
        while received.len() < NOTIFY_BATCH {
            match rx.try_recv() {
                Ok(n) => received.push(n),
                Err(_) => break,
            }
        }
        if received.is_empty()
            && !fresh
            && let Ok(Some(n)) = tokio::time::timeout(NOTIFY_GRACE, rx.recv()).await
        {
            received.push(n);
            while received.len() < NOTIFY_BATCH {
                match rx.try_recv() {
                    Ok(n) => received.push(n),
                    Err(_) => break,
                }
            }
        }
        drop(rx);
        if received.is_empty() {
            let failure = listening.failed.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(err) = failure {
                self.state.listeners.remove(&key);
                return Err(err);
            }
        }
        let more = received.len() == NOTIFY_BATCH;
        let items = received
            .into_iter()
            .map(|n| {
                let seq = listening.seq.fetch_add(1, Ordering::Relaxed);
                TriggerItem::new(format!("{}.{seq}", listening.instance), n)
            })
            .collect();
        Ok(Poll {
            items,
            cursor: Value::Null,
            more,
        })
    }
}

impl Notify {
    /// The listener for `key` if it runs with the current credential version; an older one
    /// is stopped.
    fn get_live(&self, key: &(ConnectionId, String), version: u64) -> Option<Arc<Listening>> {
        match self.state.listeners.get(key) {
            Some(l) if l.version == version => Some(l),
            Some(_) => {
                self.state.listeners.remove(key);
                None
            }
            None => None,
        }
    }
}
