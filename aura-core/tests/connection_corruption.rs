//! One corrupted record among three: listing, loading and key rotation report it (connection
//! and key id, never its bytes) and go on with the others.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use aura_core::connection::{
    ConnectionManager, ConnectionRecord, CredentialStore, Credentials, EncryptedStore, EncryptionKey, KeyId, KeyRing,
    MemorySealedStore, SealedStore,
};
use aura_core::{ErrorKind, Registry};

const SECRET: &str = "corruption-canary-31f";

/// Three records sealed under key `k1`, the middle one's ciphertext altered.
async fn store_with_one_corrupted() -> (Arc<EncryptedStore>, KeyRing) {
    let ring = KeyRing::new("k1", EncryptionKey::generate().unwrap());
    let store = Arc::new(EncryptedStore::new(MemorySealedStore::new(), Arc::new(ring.clone())));
    for id in ["c1", "c2", "c3"] {
        let record = ConnectionRecord::new("crm", id, Credentials::bearer(format!("{SECRET}-{id}"))).with_id(id);
        store.insert(&record).await.unwrap();
    }
    let mut sealed = store.backend().get(&"c2".into()).await.unwrap().unwrap();
    let nonce = sealed.nonce;
    sealed.ciphertext[5] ^= 0x40;
    assert!(
        store
            .backend()
            .compare_and_swap(&"c2".into(), &nonce, sealed)
            .await
            .unwrap()
    );
    (store, ring)
}

fn assert_reported(bad: &aura_core::connection::UnreadableRecord) {
    assert_eq!(bad.id.as_str(), "c2");
    assert_eq!(bad.key_id, Some(KeyId::from("k1")));
    assert_eq!(bad.kind, ErrorKind::Internal);
    assert!(bad.reason.contains("c2"), "{}", bad.reason);
    assert!(!format!("{bad:?}").contains(SECRET), "{bad:?}");
}

#[tokio::test]
async fn listing_reports_the_corrupted_record_and_returns_the_others() {
    let (store, _) = store_with_one_corrupted().await;
    let listing = store.list().await.unwrap();
    let ids: Vec<_> = listing.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["c1", "c3"]);
    assert_eq!(listing.unreadable.len(), 1);
    assert_reported(&listing.unreadable[0]);
}

#[tokio::test]
async fn loading_brings_back_every_readable_connection() {
    let (store, _) = store_with_one_corrupted().await;
    let manager = ConnectionManager::builder(Arc::new(Registry::new()))
        .store(store)
        .build();
    let report = manager.load().await.unwrap();
    assert_eq!(report.loaded, ["c1".into(), "c3".into()]);
    assert_eq!(report.unreadable.len(), 1);
    assert_reported(&report.unreadable[0]);
    let live = manager.connections();
    assert!(live.get(&"c1".into()).is_some() && live.get(&"c3".into()).is_some());
    assert!(live.get(&"c2".into()).is_none());
    let listing = manager.list().await.unwrap();
    assert_eq!((listing.records.len(), listing.unreadable.len()), (2, 1));
}

#[tokio::test]
async fn rotation_reseals_the_others_and_reports_the_corrupted_one() {
    let (store, ring) = store_with_one_corrupted().await;
    ring.add("k2", EncryptionKey::generate().unwrap()).unwrap();
    ring.set_current("k2").unwrap();

    let report = store.rotate_key().await.unwrap();
    assert_eq!((report.rotated, report.already_current), (2, 0));
    assert_eq!(report.unreadable.len(), 1);
    assert_reported(&report.unreadable[0]);
    for id in ["c1", "c3"] {
        let sealed = store.backend().get(&id.into()).await.unwrap().unwrap();
        assert_eq!(sealed.key_id.as_str(), "k2");
    }
    // The corrupted record is left as it was, under its old key.
    let sealed = store.backend().get(&"c2".into()).await.unwrap().unwrap();
    assert_eq!(sealed.key_id.as_str(), "k1");
}
