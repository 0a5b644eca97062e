//! The store behaviour suites (aura-testkit) on the in-memory stores.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use aura_core::connection::MemorySealedStore;
use aura_core::store::MemoryStore;
use aura_testkit::behavior::sealed::SealedFixture;
use aura_testkit::behavior::store::StoreFixture;

mod memory {
    use super::*;

    aura_testkit::store_behavior!(async { StoreFixture::new(Arc::new(MemoryStore::new())).keeps_exact(true) });
}

mod memory_sealed {
    use super::*;

    aura_testkit::sealed_behavior!(async { SealedFixture::new(Arc::new(MemorySealedStore::new())) });
}

mod memory_rates {
    use super::*;
    use aura_testkit::behavior::rates;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limits_space_calls_per_key() {
        rates::rate_limits_space_calls_per_key(Arc::new(MemoryStore::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_takes_never_exceed_the_limit() {
        rates::concurrent_takes_never_exceed_the_limit(Arc::new(MemoryStore::new())).await;
    }
}
