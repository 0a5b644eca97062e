//! [`RateLimitStore`]: rate limits kept in a store, so that every engine sharing it honours a
//! connection's limit together (N workers on N machines make at most the vendor's documented
//! rate between them, not N times it).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::rate_limit::RateLimit;

/// Rate limits shared by every engine using this store
/// ([`crate::engine::EngineBuilder::shared_rate_limits`]).
///
/// The state of a limit is the theoretical arrival time of its next call (the GCRA of
/// [`RateLimit::step`]), kept per key (a connection id) on the store's clock. `PostgresStore`
/// keeps it in a table, locked per key while a call takes its room, so that engines on any
/// number of machines share it; `MemoryStore` and `SqliteStore` keep it in the process (a
/// SQLite file serves one process), shared by every engine using that store.
#[async_trait]
pub trait RateLimitStore: Send + Sync + 'static {
    /// Takes room for one call under `limit` for `key`: `Ok(Ok(()))`, or `Ok(Err(wait))` when
    /// there is none for `wait` yet (nothing was taken; ask again then).
    async fn take_rate(&self, key: &str, limit: RateLimit) -> Result<std::result::Result<(), Duration>>;
}

/// Rate limits in the memory of this process, on the system clock: what `MemoryStore` and
/// `SqliteStore` share between the engines that use them.
#[derive(Debug, Default)]
pub(crate) struct LocalRates(Mutex<HashMap<String, u64>>);

impl LocalRates {
    pub(crate) fn take(&self, key: &str, limit: RateLimit) -> std::result::Result<(), Duration> {
        let now = now_nanos();
        let mut tats = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let tat = tats.get(key).copied().unwrap_or(0);
        match limit.step(tat, now) {
            Ok(next) => {
                tats.insert(key.to_owned(), next);
                Ok(())
            }
            Err(from) => Err(Duration::from_nanos(from.saturating_sub(now))),
        }
    }
}

/// Nanoseconds since the Unix epoch on the system clock.
fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, crate::clock::to_nanos)
}
