//! The [`SealedStore`] behaviour suite: what every byte-level connection store must do, as
//! [`MemorySealedStore`](aura_core::connection::MemorySealedStore) does it — and an
//! [`EncryptedStore`] over it round-trips a connection.

// A check fails by panicking with what went wrong, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::any::Any;
use std::sync::Arc;

use aura_core::ErrorKind;
use aura_core::connection::{
    ConnectionId, ConnectionRecord, CredentialStore, Credentials, EncryptedStore, EncryptionKey, KeyId, KeyRing,
    SealedRecord, SealedStore,
};

/// A fresh, empty sealed store under test.
pub struct SealedFixture {
    store: Arc<dyn SealedStore>,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for SealedFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedFixture")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl SealedFixture {
    /// A fixture over `store`.
    pub fn new(store: Arc<dyn SealedStore>) -> Self {
        Self { store, _guard: None }
    }

    /// Keeps `guard` alive as long as the fixture (a temporary directory holding the file …).
    #[must_use]
    pub fn guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }
}

/// Writes one `#[tokio::test]` per check of [`behavior::sealed`](crate::behavior::sealed),
/// each on the fixture the expression (a future of a
/// [`SealedFixture`](crate::behavior::sealed::SealedFixture)) makes afresh.
///
/// Attributes in front go on every test, so that a store which needs a server marks its suite
/// as such; `@each` runs only the checks named after the `;`:
///
/// ```ignore
/// aura_testkit::sealed_behavior!(#[ignore = "needs postgres: see .ci/run"] async { fixture().await });
/// aura_testkit::sealed_behavior!(#[ignore = "needs postgres: see .ci/run"] @each async { fixture().await }; sealed_insert_get_round_trips);
/// ```
#[macro_export]
macro_rules! sealed_behavior {
    // One test per check, each with the attributes gathered, one check at a time so that the
    // attributes repeat for each.
    (@run [$($attrs:tt)*] $fixture:expr; $check:ident $(, $rest:ident)* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attrs)*
        async fn $check() {
            let fixture: $crate::behavior::sealed::SealedFixture = $fixture.await;
            $crate::behavior::sealed::$check(&fixture).await;
        }
        $crate::sealed_behavior!(@run [$($attrs)*] $fixture; $($rest),*);
    };
    (@run [$($attrs:tt)*] $fixture:expr; $(,)?) => {};
    // The attributes in front, one by one (an expression may start with `#` too).
    (@attrs [$($attrs:tt)*] #[$attr:meta] $($rest:tt)*) => {
        $crate::sealed_behavior!(@attrs [$($attrs)* #[$attr]] $($rest)*);
    };
    // Some checks only.
    (@attrs [$($attrs:tt)*] @each $fixture:expr; $($check:ident),* $(,)?) => {
        $crate::sealed_behavior!(@run [$($attrs)*] $fixture; $($check),*);
    };
    // Every check.
    (@attrs [$($attrs:tt)*] $fixture:expr) => {
        $crate::sealed_behavior!(@run [$($attrs)*] $fixture;
            sealed_insert_get_round_trips,
            sealed_insert_twice_is_a_conflict,
            sealed_list_is_ordered_by_id,
            sealed_compare_and_swap_needs_the_nonce_read,
            sealed_delete_says_whether_there_was_one,
            an_encrypted_store_over_it_round_trips,
        );
    };
    ($($input:tt)*) => {
        $crate::sealed_behavior!(@attrs [] $($input)*);
    };
}

fn sealed(id: &str, version: u64, nonce: u8) -> SealedRecord {
    SealedRecord {
        id: ConnectionId::from(id),
        app_id: "crm".into(),
        version,
        key_id: KeyId::from("k1"),
        nonce: [nonce; 12],
        ciphertext: vec![nonce, 0, 255, 7, 42],
    }
}

/// A record reads back byte for byte.
pub async fn sealed_insert_get_round_trips(f: &SealedFixture) {
    let r = sealed("c1", 1, 1);
    f.store.insert(r.clone()).await.expect("insert");
    assert_eq!(f.store.get(&r.id).await.expect("get"), Some(r));
    assert_eq!(f.store.get(&ConnectionId::from("nope")).await.expect("get"), None);
}

/// A second record with the same id is a conflict; the first stays.
pub async fn sealed_insert_twice_is_a_conflict(f: &SealedFixture) {
    let r = sealed("c1", 1, 1);
    f.store.insert(r.clone()).await.expect("insert");
    let err = f.store.insert(sealed("c1", 2, 2)).await.expect_err("duplicate");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(f.store.get(&r.id).await.expect("get"), Some(r));
}

/// `list` gives every record, ordered by id.
pub async fn sealed_list_is_ordered_by_id(f: &SealedFixture) {
    for id in ["c3", "c1", "c2"] {
        f.store.insert(sealed(id, 1, 1)).await.expect("insert");
    }
    let ids: Vec<String> = f
        .store
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, ["c1", "c2", "c3"]);
}

/// A swap happens only against the nonce last written; a swap under another id is refused.
pub async fn sealed_compare_and_swap_needs_the_nonce_read(f: &SealedFixture) {
    let r = sealed("c1", 1, 1);
    f.store.insert(r.clone()).await.expect("insert");
    let next = sealed("c1", 2, 2);
    assert!(
        f.store
            .compare_and_swap(&r.id, &r.nonce, next.clone())
            .await
            .expect("swap")
    );
    assert_eq!(f.store.get(&r.id).await.expect("get"), Some(next.clone()));
    let stale = sealed("c1", 3, 3);
    assert!(
        !f.store
            .compare_and_swap(&r.id, &r.nonce, stale)
            .await
            .expect("stale swap"),
        "stale nonce"
    );
    assert_eq!(f.store.get(&r.id).await.expect("get"), Some(next));
    let missing = sealed("nope", 1, 1);
    assert!(
        !f.store
            .compare_and_swap(&missing.id, &missing.nonce, missing.clone())
            .await
            .expect("swap")
    );
    assert!(
        f.store
            .compare_and_swap(&r.id, &[2; 12], sealed("other", 3, 3))
            .await
            .is_err(),
        "a record under another id is refused"
    );
}

/// `delete` removes a record and says whether there was one.
pub async fn sealed_delete_says_whether_there_was_one(f: &SealedFixture) {
    let r = sealed("c1", 1, 1);
    f.store.insert(r.clone()).await.expect("insert");
    assert!(f.store.delete(&r.id).await.expect("delete"));
    assert!(!f.store.delete(&r.id).await.expect("delete again"));
    assert_eq!(f.store.get(&r.id).await.expect("get"), None);
}

/// An [`EncryptedStore`] over the backend stores, reads and updates a connection, and the
/// backend never holds the secret in the clear.
pub async fn an_encrypted_store_over_it_round_trips(f: &SealedFixture) {
    const SECRET: &str = "CANARY-sealed-behaviour";
    let ring = KeyRing::new("k1", EncryptionKey::from_bytes([9; 32]));
    let store = EncryptedStore::new(Shared(f.store.clone()), Arc::new(ring));
    let mut record = ConnectionRecord::new("crm", "main", Credentials::bearer(SECRET));
    store.insert(&record).await.expect("insert");
    let back = store.get(&record.id).await.expect("get").expect("there");
    assert_eq!(back.name, record.name);
    let exposed = serde_json::to_string(&back.credentials.exposed()).expect("json");
    assert!(exposed.contains(SECRET), "the credentials come back");
    let raw = f.store.get(&record.id).await.expect("raw").expect("there");
    assert!(!raw.ciphertext.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));

    record.name = "renamed".into();
    let expected = record.version;
    record.version += 1;
    store.update(&record, expected).await.expect("update");
    assert_eq!(
        store.get(&record.id).await.expect("get").expect("there").name,
        "renamed"
    );
}

/// A shared backend as a backend of its own, for [`EncryptedStore::new`].
#[derive(Debug)]
struct Shared(Arc<dyn SealedStore>);

#[async_trait::async_trait]
impl SealedStore for Shared {
    async fn insert(&self, record: SealedRecord) -> aura_core::Result<()> {
        self.0.insert(record).await
    }

    async fn get(&self, id: &ConnectionId) -> aura_core::Result<Option<SealedRecord>> {
        self.0.get(id).await
    }

    async fn list(&self) -> aura_core::Result<Vec<SealedRecord>> {
        self.0.list().await
    }

    async fn compare_and_swap(
        &self,
        id: &ConnectionId,
        expected: &[u8; 12],
        new: SealedRecord,
    ) -> aura_core::Result<bool> {
        self.0.compare_and_swap(id, expected, new).await
    }

    async fn delete(&self, id: &ConnectionId) -> aura_core::Result<bool> {
        self.0.delete(id).await
    }
}
