//! Rate limits shared by every process using the database: one row per key holding the
//! theoretical arrival time of its next call (GCRA, [`RateLimit::step`]), on the server's
//! clock, locked while a call takes its room so that two processes never take the same.

use std::time::Duration;

use async_trait::async_trait;

use super::PostgresStore;
use super::error::from_sqlx;
use crate::error::Result;
use crate::rate_limit::RateLimit;
use crate::store::RateLimitStore;

const TABLE: &str = "rate_limits";

#[async_trait]
impl RateLimitStore for PostgresStore {
    async fn take_rate(&self, key: &str, limit: RateLimit) -> Result<std::result::Result<(), Duration>> {
        let failed = |e| from_sqlx(e, "taking room under a rate limit", TABLE).with_context("key", key.to_owned());
        let mut tx = self.inner.pool.begin().await.map_err(failed)?;
        sqlx::query("INSERT INTO rate_limits (key, tat) VALUES ($1, 0) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        let (tat, now): (i64, i64) = sqlx::query_as(
            "SELECT tat, (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint \
             FROM rate_limits WHERE key = $1 FOR UPDATE",
        )
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .map_err(failed)?;
        let (tat, now) = (u64::try_from(tat).unwrap_or(0), u64::try_from(now).unwrap_or(0));
        let taken = match limit.step(tat, now) {
            Ok(next) => {
                sqlx::query("UPDATE rate_limits SET tat = $2 WHERE key = $1")
                    .bind(key)
                    .bind(i64::try_from(next).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await
                    .map_err(failed)?;
                Ok(())
            }
            Err(from) => Err(Duration::from_nanos(from.saturating_sub(now))),
        };
        tx.commit().await.map_err(failed)?;
        Ok(taken)
    }
}
