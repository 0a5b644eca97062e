//! The pools (one per connection id and credential version) and the one path every statement
//! takes: prepare, bind each JSON parameter as the type the server inferred, run, decode.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aura_core::secret::Scrubber;
use aura_core::{Connection, ConnectionId, Context, Error, Result, Violation};
use futures::TryStreamExt as _;
use serde_json::{Map, Value};
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgArguments, PgConnection, PgPool, PgPoolOptions, PgTypeInfo, Postgres};
use sqlx::{Arguments as _, Column as _, Connection as _, Executor as _, Row as _, SqlSafeStr as _, Statement as _};
use sqlx::{AssertSqlSafe, Either, ValueRef as _};

use super::actions::QueryOutput;
use super::codec::{self, PgKind};
use super::config::PostgresConfig;
use super::error::from_sqlx;

/// How each connection's pool is sized.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolSettings {
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) idle_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 5,
            acquire_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// A connection's pool with the scrubber of the credentials it was built with.
#[derive(Clone)]
pub(crate) struct Session {
    pub(crate) pool: PgPool,
    pub(crate) scrubber: Scrubber,
    pub(crate) config: Arc<PostgresConfig>,
    pub(crate) version: u64,
}

impl Session {
    /// Maps a driver error with this session's secrets scrubbed.
    pub(crate) fn error(&self, err: sqlx::Error) -> Error {
        from_sqlx(err, &self.scrubber)
    }

    /// A pooled connection.
    pub(crate) async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<Postgres>> {
        self.pool.acquire().await.map_err(|e| self.error(e))
    }
}

/// The pools, keyed by connection id; each remembers the credential version it was built for,
/// and a newer version replaces it (the old pool is closed: its sessions end).
#[derive(Default)]
pub(crate) struct Pools {
    entries: Mutex<HashMap<ConnectionId, Session>>,
    pub(crate) settings: PoolSettings,
}

/// The `application_name` a pool's sessions carry (seen in `pg_stat_activity`).
pub(crate) fn application_name(id: &ConnectionId, version: u64) -> String {
    // PostgreSQL keeps 63 bytes of it.
    let mut name = format!("aura v{version} {}", id.as_str());
    name.truncate(name.floor_char_boundary(63));
    name
}

impl Pools {
    pub(crate) fn new(settings: PoolSettings) -> Self {
        Self {
            entries: Mutex::default(),
            settings,
        }
    }

    /// The session of the connection in `cx`, built on first use and rebuilt when its
    /// credentials changed version.
    pub(crate) fn session(&self, cx: &Context) -> Result<Session> {
        let conn = cx.require_connection()?;
        self.session_of(conn.as_ref())
    }

    pub(crate) fn session_of(&self, conn: &dyn Connection) -> Result<Session> {
        let (id, version) = (conn.id(), conn.version());
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(session) = entries.get(id)
            && session.version == version
        {
            return Ok(session.clone());
        }
        let credentials = conn.credentials();
        let config = PostgresConfig::from_credentials(&credentials)?;
        let pool = PgPoolOptions::new()
            .max_connections(self.settings.max_connections)
            .acquire_timeout(self.settings.acquire_timeout)
            .idle_timeout(self.settings.idle_timeout)
            .connect_lazy_with(config.connect_options(&application_name(id, version)));
        let session = Session {
            pool,
            scrubber: credentials.scrubber(),
            config: Arc::new(config),
            version,
        };
        if let Some(old) = entries.insert(id.clone(), session.clone()) {
            tracing::debug!(connection = %id, old = old.version, new = version, "postgres credentials replaced: closing the old pool");
            close_later(old.pool);
        }
        Ok(session)
    }

    /// The connection ids and credential versions with a pool now.
    pub(crate) fn held(&self) -> Vec<(ConnectionId, u64)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<_> = entries.iter().map(|(id, s)| (id.clone(), s.version)).collect();
        out.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        out
    }

    /// Closes every pool.
    pub(crate) async fn close_all(&self) {
        let pools: Vec<PgPool> = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.drain().map(|(_, s)| s.pool).collect()
        };
        for pool in pools {
            pool.close().await;
        }
    }
}

/// Closes a pool in the background (its checked-out connections close as they come back).
pub(crate) fn close_later(pool: PgPool) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(async move { pool.close().await });
        }
        // No runtime: dropping the last handle closes idle connections anyway.
        Err(_) => drop(pool),
    }
}

/// A connection made for one check and closed after it: `SELECT 1` with the credentials of
/// the connection in `cx`, never through the cached pool (the credentials under test may be a
/// replacement not live yet).
pub(crate) async fn check(cx: &Context, connect_timeout: Duration) -> Result<()> {
    let conn = cx.require_connection()?;
    let credentials = conn.credentials();
    let config = PostgresConfig::from_credentials(&credentials)?;
    let scrubber = credentials.scrubber();
    let options = config.connect_options(&application_name(conn.id(), conn.version()));
    let mut pg = match tokio::time::timeout(connect_timeout, PgConnection::connect_with(&options)).await {
        Ok(result) => result.map_err(|e| from_sqlx(e, &scrubber))?,
        Err(_) => {
            return Err(Error::timeout(format!(
                "no PostgreSQL connection within {} s",
                connect_timeout.as_secs()
            ))
            .with_context("host", config.host.clone()));
        }
    };
    let result = pg
        .execute("SELECT 1")
        .await
        .map(drop)
        .map_err(|e| from_sqlx(e, &scrubber));
    // The check is done either way; a failed goodbye changes nothing.
    let _ = pg.close().await;
    result
}

/// One bound parameter: its type's OID and its binary value (`None` for `NULL`).
struct Bound {
    oid: u32,
    bytes: Option<Vec<u8>>,
}

impl sqlx::Type<Postgres> for Bound {
    fn type_info() -> PgTypeInfo {
        // Never used: every value says its own type (`produces`).
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for Bound {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> std::result::Result<sqlx::encode::IsNull, BoxDynError> {
        match &self.bytes {
            Some(bytes) => {
                buf.extend_from_slice(bytes);
                Ok(sqlx::encode::IsNull::No)
            }
            None => Ok(sqlx::encode::IsNull::Yes),
        }
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(PgTypeInfo::with_oid(Oid(self.oid)))
    }
}

/// Runs one statement on `conn`: prepared first (the server says each parameter's type and
/// each column's), its parameters bound from JSON, at most `max_rows` rows decoded.
pub(crate) async fn run(
    conn: &mut PgConnection,
    session: &Session,
    sql: &str,
    params: &[Value],
    max_rows: usize,
) -> Result<QueryOutput> {
    let statement = conn
        .prepare(AssertSqlSafe(sql.to_owned()).into_sql_str())
        .await
        .map_err(|e| session.error(e))?;
    let types: &[PgTypeInfo] = match statement.parameters() {
        Some(Either::Left(types)) => types,
        _ => &[],
    };
    if types.len() != params.len() {
        return Err(Error::invalid_input(
            format!(
                "the statement takes {} parameter(s) and {} were given",
                types.len(),
                params.len()
            ),
            vec![Violation::new("/params", "does not match the statement's $1..$n")],
        ));
    }
    let mut args = PgArguments::default();
    for (i, (ty, value)) in types.iter().zip(params).enumerate() {
        let kind = codec::kind_of(ty);
        let oid = ty.oid().map_or(0, |o| o.0);
        let bytes = codec::encode(&kind, value).map_err(|e| {
            let n = i + 1;
            let hint = match &kind {
                PgKind::Unsupported(name) => format!(": cast it in the SQL (`${n}::text::{name}`)"),
                _ => String::new(),
            };
            Error::invalid_input(
                format!(
                    "parameter ${n} ({}) cannot take this value: {}{hint}",
                    type_name(ty),
                    e.0
                ),
                vec![Violation::new(format!("/params/{i}"), e.0)],
            )
        })?;
        args.add(Bound { oid, bytes })
            .map_err(|e| Error::internal(format!("a parameter could not be bound: {e}")))?;
    }
    let columns: Vec<(String, PgKind)> = statement
        .columns()
        .iter()
        .map(|c| (c.name().to_owned(), codec::kind_of(c.type_info())))
        .collect();
    if let Some((name, PgKind::Unsupported(ty))) = columns.iter().find(|(_, k)| matches!(k, PgKind::Unsupported(_))) {
        return Err(Error::invalid_input(
            format!("the column `{name}` has the type {ty}, which has no JSON mapping here: cast it in the SQL (`{name}::text`)"),
            vec![Violation::new("/sql", "selects a column of an unmapped type")],
        )
        .with_context("column", name.clone()));
    }
    if columns.is_empty() {
        let done = statement
            .query_with(args)
            .execute(&mut *conn)
            .await
            .map_err(|e| session.error(e))?;
        return Ok(QueryOutput {
            rows: Vec::new(),
            row_count: done.rows_affected(),
            truncated: false,
        });
    }
    let mut rows = Vec::new();
    let mut truncated = false;
    {
        let mut stream = statement.query_with(args).fetch(&mut *conn);
        while let Some(row) = stream.try_next().await.map_err(|e| session.error(e))? {
            if rows.len() == max_rows {
                truncated = true;
                break;
            }
            let mut out = Map::with_capacity(columns.len());
            for (i, (name, kind)) in columns.iter().enumerate() {
                let raw = row.try_get_raw(i).map_err(|e| session.error(e))?;
                let value = if raw.is_null() {
                    Value::Null
                } else {
                    let bytes = raw
                        .as_bytes()
                        .map_err(|e| Error::internal(format!("column `{name}` could not be read: {e}")))?;
                    codec::decode(kind, bytes).map_err(|e| {
                        Error::internal(format!("column `{name}` could not be decoded: {}", e.0))
                            .with_context("column", name.clone())
                    })?
                };
                out.insert(name.clone(), value);
            }
            rows.push(out);
        }
    }
    let row_count = rows.len() as u64;
    Ok(QueryOutput {
        rows,
        row_count,
        truncated,
    })
}

fn type_name(ty: &PgTypeInfo) -> String {
    sqlx::TypeInfo::name(ty).to_owned()
}
