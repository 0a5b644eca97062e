//! Per-connection rate limits and the result cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::clock::{Clock, SystemClock};
use crate::connection::ConnectionId;
use crate::rate_limit::{RateLimit, RateLimiter};
use crate::store::RateLimitStore;

/// One [`RateLimiter`] per connection (Aura's one GCRA, the router's too), created on first
/// use, read against one [`Clock`].
pub(crate) struct RateLimiters {
    overrides: HashMap<ConnectionId, RateLimit>,
    limiters: Mutex<HashMap<ConnectionId, Arc<RateLimiter>>>,
    clock: Arc<dyn Clock>,
    /// Where limits are shared with other engines, if they are.
    shared: Option<Arc<dyn RateLimitStore>>,
}

impl RateLimiters {
    /// Limiters on the [`SystemClock`] (tokio's time, so paused tokio time drives them).
    pub(crate) fn new(overrides: HashMap<ConnectionId, RateLimit>) -> Self {
        Self {
            overrides,
            limiters: Mutex::default(),
            clock: Arc::new(SystemClock::new()),
            shared: None,
        }
    }

    /// The same limiters kept in `shared`, with every engine using it.
    #[must_use]
    pub(crate) fn shared(mut self, shared: Option<Arc<dyn RateLimitStore>>) -> Self {
        self.shared = shared;
        self
    }

    /// The same limiters on `clock` (a [`ManualClock`](crate::clock::ManualClock) in tests).
    #[allow(dead_code)] // for the engine builder's clock
    #[must_use]
    pub(crate) fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Waits, on the limiters' [`Clock`], until the connection may make one more call. The
    /// host's override for the connection wins over the manifest's limit; a limit of zero
    /// requests or a zero period limits nothing (a manifest refuses both).
    pub(crate) async fn acquire(&self, connection: &ConnectionId, manifest_limit: Option<RateLimit>) {
        let Some(limit) = self.overrides.get(connection).copied().or(manifest_limit) else {
            return;
        };
        if limit.requests == 0 || limit.per.is_zero() {
            return;
        }
        if let Some(shared) = &self.shared {
            // On the store's clock (real time, shared by every process).
            loop {
                match shared.take_rate(connection.as_str(), limit).await {
                    Ok(Ok(())) => return,
                    Ok(Err(wait)) => tokio::time::sleep(wait).await,
                    Err(e) => {
                        // The store is away: this engine limits its own calls meanwhile.
                        tracing::warn!(connection = %connection, error = %e, "the shared rate limit could not be read; limiting this engine's calls alone");
                        break;
                    }
                }
            }
        }
        let limiter = {
            let mut map = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
            map.entry(connection.clone())
                .or_insert_with(|| Arc::new(RateLimiter::new(limit)))
                .clone()
        };
        limiter.acquire(&*self.clock).await;
    }
}

/// Results of cacheable actions, by action, connection and input.
pub(crate) struct ResultCache {
    cache: moka::sync::Cache<String, (Arc<Value>, Instant)>,
}

impl ResultCache {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            cache: moka::sync::Cache::new(capacity),
        }
    }

    pub(crate) fn key(reference: &str, connection: Option<&ConnectionId>, input: &Value) -> String {
        format!(
            "{reference}\u{0}{}\u{0}{input}",
            connection.map(ConnectionId::as_str).unwrap_or_default()
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<Value>> {
        let (value, expires) = self.cache.get(key)?;
        if Instant::now() < expires {
            Some(value)
        } else {
            self.cache.invalidate(key);
            None
        }
    }

    pub(crate) fn put(&self, key: String, value: Arc<Value>, ttl: Duration) {
        if let Some(expires) = Instant::now().checked_add(ttl) {
            self.cache.insert(key, (value, expires));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn a_connection_waits_on_the_limiters_clock() {
        let clock = ManualClock::new();
        let limiters = RateLimiters::new(HashMap::new()).with_clock(clock.shared());
        let id = ConnectionId::from("main");
        let limit = Some(RateLimit::per_minute(1));
        limiters.acquire(&id, limit).await;
        assert_eq!(clock.now(), Duration::ZERO);
        limiters.acquire(&id, limit).await;
        assert_eq!(clock.now(), Duration::from_secs(60));
        // Another connection has its own limiter.
        limiters.acquire(&ConnectionId::from("other"), limit).await;
        assert_eq!(clock.now(), Duration::from_secs(60));
    }
}
