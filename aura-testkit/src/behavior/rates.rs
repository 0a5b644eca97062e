//! The [`RateLimitStore`] checks: what every store sharing rate limits must do. Each is an
//! async function over the store under test, panicking with what went wrong; a store's tests
//! call them (`aura-core/tests/store_*.rs`).

// A check fails by panicking with what went wrong, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use aura_core::rate_limit::RateLimit;
use aura_core::store::RateLimitStore;

/// Calls are spaced as the limit says, per key: a call without room is told how long to wait
/// (and takes nothing), and gets its room once that wait is over.
pub async fn rate_limits_space_calls_per_key(store: Arc<dyn RateLimitStore>) {
    let key = format!("conn-{}", uuid::Uuid::new_v4());
    let limit = RateLimit::per_second(5);
    store
        .take_rate(&key, limit)
        .await
        .expect("take")
        .expect("room for the first call");
    let wait = store
        .take_rate(&key, limit)
        .await
        .expect("take")
        .expect_err("no room for a second call at once");
    assert!(
        !wait.is_zero() && wait <= Duration::from_millis(200),
        "the wait is at most one interval, not {wait:?}"
    );
    let other = format!("conn-{}", uuid::Uuid::new_v4());
    store
        .take_rate(&other, limit)
        .await
        .expect("take")
        .expect("another key has its own room");
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    store
        .take_rate(&key, limit)
        .await
        .expect("take")
        .expect("room once the wait is over");
}

/// Many engines taking room at once never take more than the limit allows: of 12 concurrent
/// calls under "1 an hour, bursts of 3", exactly 3 get room.
pub async fn concurrent_takes_never_exceed_the_limit(store: Arc<dyn RateLimitStore>) {
    let key = format!("conn-{}", uuid::Uuid::new_v4());
    let limit = RateLimit::new(1, Duration::from_secs(3600)).burst(3);
    let takes: Vec<_> = (0..12)
        .map(|_| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move { store.take_rate(&key, limit).await.expect("take") })
        })
        .collect();
    let mut granted = 0;
    for take in takes {
        granted += usize::from(take.await.expect("the take ran").is_ok());
    }
    assert_eq!(granted, 3, "the burst, and no more");
}
