//! Per-connection rate limits and the result cache.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;

use crate::app::RateLimit;
use crate::connection::ConnectionId;

/// One token bucket per connection (governor's GCRA), created on first use.
#[derive(Default)]
pub(crate) struct RateLimiters {
    overrides: HashMap<ConnectionId, RateLimit>,
    limiters: Mutex<HashMap<ConnectionId, Arc<DefaultDirectRateLimiter>>>,
}

impl RateLimiters {
    pub(crate) fn new(overrides: HashMap<ConnectionId, RateLimit>) -> Self {
        Self {
            overrides,
            limiters: Mutex::default(),
        }
    }

    fn quota(limit: RateLimit) -> Option<Quota> {
        let burst = NonZeroU32::new(limit.requests)?;
        let period = limit.per.checked_div(limit.requests)?;
        Some(Quota::with_period(period)?.allow_burst(burst))
    }

    /// Waits (on tokio's clock) until the connection may make one more call.
    pub(crate) async fn acquire(&self, connection: &ConnectionId, manifest_limit: Option<RateLimit>) {
        let Some(limit) = self.overrides.get(connection).copied().or(manifest_limit) else {
            return;
        };
        let limiter = {
            let mut map = self.limiters.lock().unwrap_or_else(PoisonError::into_inner);
            match map.get(connection) {
                Some(l) => l.clone(),
                None => {
                    let Some(quota) = Self::quota(limit) else { return };
                    let l = Arc::new(RateLimiter::direct(quota));
                    map.insert(connection.clone(), l.clone());
                    l
                }
            }
        };
        let clock = DefaultClock::default();
        while let Err(not_until) = limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(clock.now())).await;
        }
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
