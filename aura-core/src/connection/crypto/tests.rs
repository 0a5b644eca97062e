//! Behaviour of the encrypted store: sealing, opening, tampering, rotation, key providers.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use parking_lot::Mutex;
use secrecy::SecretString;

use super::cipher::{open, seal};
use super::*;
use crate::connection::{ApiKeyPlacement, ConnectionId, ConnectionRecord, CredentialStore, Credentials, OAuth2Token};
use crate::{Error, ErrorKind, Result};

const CANARY: &str = "CANARY-5e2b8d";

fn key(n: u8) -> EncryptionKey {
    EncryptionKey::from_bytes([n; 32])
}

fn b64(n: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([n; 32])
}

fn store_with(ring: &KeyRing) -> EncryptedStore {
    EncryptedStore::new(MemorySealedStore::new(), Arc::new(ring.clone()))
}

fn every_kind() -> Vec<Credentials> {
    vec![
        Credentials::api_key(CANARY, ApiKeyPlacement::header("X-Api-Key")),
        Credentials::api_key(CANARY, ApiKeyPlacement::query("api_key")),
        Credentials::bearer(CANARY),
        Credentials::basic("alice", CANARY),
        Credentials::OAuth2(OAuth2Token {
            refresh_token: Some(SecretString::from(format!("{CANARY}-refresh"))),
            expires_at: Some(chrono::Utc::now() + chrono::Duration::minutes(30)),
            scopes: vec!["read".into(), "write".into()],
            ..OAuth2Token::bearer(CANARY)
        }),
        Credentials::custom([("signing_secret", CANARY), ("account", "acct-1")]),
    ]
}

fn exposed(c: &Credentials) -> serde_json::Value {
    serde_json::to_value(c.exposed()).unwrap()
}

fn assert_same(a: &ConnectionRecord, b: &ConnectionRecord) {
    assert_eq!(serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
    assert_eq!(exposed(&a.credentials), exposed(&b.credentials));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn round_trips_every_credential_kind() {
    let ring = KeyRing::new("a", key(1));
    let store = store_with(&ring);
    let mut records = Vec::new();
    for (i, creds) in every_kind().into_iter().enumerate() {
        let mut record = ConnectionRecord::new("crm", format!("conn {i}"), creds).with_id(format!("c{i}"));
        record.metadata.insert("workspace".into(), serde_json::json!({"id": i}));
        store.insert(&record).await.unwrap();
        records.push(record);
    }
    for record in &records {
        let back = store.get(&record.id).await.unwrap().unwrap();
        assert_same(record, &back);
        let sealed = store.backend().get(&record.id).await.unwrap().unwrap();
        assert_eq!(sealed.key_id, ring.current_id());
        assert_eq!(sealed.version, 1);
        assert!(!contains(&sealed.ciphertext, CANARY.as_bytes()));
        assert!(!contains(&sealed.ciphertext, b"conn "));
    }
    let listed = store.list().await.unwrap().records;
    assert_eq!(listed.len(), records.len());
    for (a, b) in records.iter().zip(&listed) {
        assert_same(a, b);
    }
    assert!(store.get(&"nope".into()).await.unwrap().is_none());
    assert_eq!(store.insert(&records[0]).await.unwrap_err().kind(), ErrorKind::Conflict);
    assert!(store.delete(&records[0].id).await.unwrap());
    assert!(!store.delete(&records[0].id).await.unwrap());
    assert!(store.get(&records[0].id).await.unwrap().is_none());
}

#[test]
fn sealing_twice_uses_fresh_nonces() {
    let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY));
    let k = key(1);
    let id = KeyId::from("a");
    let one = seal(&record, &id, &k).unwrap();
    let two = seal(&record, &id, &k).unwrap();
    assert_ne!(one.nonce, two.nonce);
    assert_ne!(one.ciphertext, two.ciphertext);
    assert_same(&open(&one, &k).unwrap(), &open(&two, &k).unwrap());
}

#[tokio::test]
async fn a_flipped_byte_is_refused_without_leaking() {
    let ring = KeyRing::new("a", key(1));
    let store = store_with(&ring);
    let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY));
    store.insert(&record).await.unwrap();

    let mut sealed = store.backend().get(&record.id).await.unwrap().unwrap();
    let nonce = sealed.nonce;
    sealed.ciphertext[3] ^= 0x01;
    assert!(
        store
            .backend()
            .compare_and_swap(&record.id, &nonce, sealed)
            .await
            .unwrap()
    );

    let err = store.get(&record.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(err.context_value("connection"), Some(record.id.as_str()));
    assert_eq!(err.context_value("key"), Some("a"));
    assert!(err.message().contains(record.id.as_str()), "{err}");
    assert!(
        err.message().contains("the ciphertext was altered or the key is wrong"),
        "{err}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(CANARY), "{shown}");
    // Listing goes on past it, and names it by connection and key.
    let listing = store.list().await.unwrap();
    assert!(listing.records.is_empty());
    assert_eq!(listing.unreadable.len(), 1);
    assert_eq!(listing.unreadable[0].id, record.id);
    assert_eq!(listing.unreadable[0].key_id.as_ref().map(KeyId::as_str), Some("a"));
}

#[tokio::test]
async fn a_wrong_key_under_the_right_id_is_refused() {
    let store = store_with(&KeyRing::new("a", key(1)));
    let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY));
    store.insert(&record).await.unwrap();
    let sealed = store.backend().get(&record.id).await.unwrap().unwrap();
    let err = open(&sealed, &key(2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.message().contains("the key is wrong"));
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_record_is_refused() {
    let store = store_with(&KeyRing::new("a", key(1)));
    let one = ConnectionRecord::new("crm", "One", Credentials::bearer(CANARY)).with_id("one");
    let two = ConnectionRecord::new("crm", "Two", Credentials::bearer("other")).with_id("two");
    store.insert(&one).await.unwrap();
    store.insert(&two).await.unwrap();

    let sealed_one = store.backend().get(&one.id).await.unwrap().unwrap();
    let sealed_two = store.backend().get(&two.id).await.unwrap().unwrap();
    let moved = SealedRecord {
        nonce: sealed_one.nonce,
        ciphertext: sealed_one.ciphertext.clone(),
        ..sealed_two.clone()
    };
    assert!(
        store
            .backend()
            .compare_and_swap(&two.id, &sealed_two.nonce, moved)
            .await
            .unwrap()
    );
    let err = store.get(&two.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(err.context_value("connection"), Some("two"));
    // The record it came from still opens.
    assert_same(&one, &store.get(&one.id).await.unwrap().unwrap());

    // Relabelling the version is refused too.
    let relabelled = SealedRecord {
        version: 7,
        ..sealed_one.clone()
    };
    assert!(
        store
            .backend()
            .compare_and_swap(&one.id, &sealed_one.nonce, relabelled)
            .await
            .unwrap()
    );
    assert_eq!(store.get(&one.id).await.unwrap_err().kind(), ErrorKind::Internal);
}

#[tokio::test]
async fn an_unknown_key_id_is_a_clear_error() {
    let ring = KeyRing::new("a", key(1));
    let store = store_with(&ring);
    let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY)).with_id("c1");
    store.insert(&record).await.unwrap();
    ring.add("b", key(2)).unwrap();
    ring.set_current("b").unwrap();
    assert!(ring.remove("a").unwrap());

    let err = store.get(&record.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("connection"), Some("c1"));
    assert_eq!(err.context_value("key"), Some("a"));
    assert!(err.message().contains("c1") && err.message().contains("key a"), "{err}");
    assert!(!format!("{err} {err:?}").contains(CANARY));
}

#[tokio::test]
async fn updates_are_compare_and_swap() {
    let ring = KeyRing::new("a", key(1));
    let store = store_with(&ring);
    let mut record = ConnectionRecord::new("crm", "Sales", Credentials::bearer("t1"));
    store.insert(&record).await.unwrap();
    let first_nonce = store.backend().get(&record.id).await.unwrap().unwrap().nonce;

    record.credentials = Credentials::bearer("t2");
    record.version = 2;
    let err = store.update(&record, 5).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.context_value("connection"), Some(record.id.as_str()));

    ring.add("b", key(2)).unwrap();
    ring.set_current("b").unwrap();
    store.update(&record, 1).await.unwrap();
    let back = store.get(&record.id).await.unwrap().unwrap();
    assert_eq!(back.version, 2);
    assert_eq!(exposed(&back.credentials), exposed(&Credentials::bearer("t2")));
    let sealed = store.backend().get(&record.id).await.unwrap().unwrap();
    assert_eq!(sealed.key_id.as_str(), "b");
    assert_ne!(sealed.nonce, first_nonce);

    assert_eq!(store.update(&record, 1).await.unwrap_err().kind(), ErrorKind::Conflict);
    assert!(store.delete(&record.id).await.unwrap());
    assert_eq!(store.update(&record, 2).await.unwrap_err().kind(), ErrorKind::NotFound);
}

/// Fails every compare-and-swap once `cas_left` reaches zero; `None` never fails.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemorySealedStore,
    cas_left: Mutex<Option<usize>>,
}

#[async_trait]
impl SealedStore for Flaky {
    async fn insert(&self, record: SealedRecord) -> Result<()> {
        self.inner.insert(record).await
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<SealedRecord>> {
        self.inner.get(id).await
    }

    async fn list(&self) -> Result<Vec<SealedRecord>> {
        self.inner.list().await
    }

    async fn compare_and_swap(&self, id: &ConnectionId, expected: &[u8; 12], new: SealedRecord) -> Result<bool> {
        if let Some(left) = self.cas_left.lock().as_mut() {
            if *left == 0 {
                return Err(Error::unavailable("disk full"));
            }
            *left -= 1;
        }
        self.inner.compare_and_swap(id, expected, new).await
    }

    async fn delete(&self, id: &ConnectionId) -> Result<bool> {
        self.inner.delete(id).await
    }
}

#[tokio::test]
async fn an_interrupted_rotation_loses_nothing() {
    let ring = KeyRing::new("a", key(1));
    let store = EncryptedStore::new(Flaky::default(), Arc::new(ring.clone()));
    let mut records = Vec::new();
    for i in 0..10 {
        let creds = Credentials::custom([("secret", format!("{CANARY}-{i}"))]);
        let record = ConnectionRecord::new("crm", format!("conn {i}"), creds).with_id(format!("c{i:02}"));
        store.insert(&record).await.unwrap();
        records.push(record);
    }
    ring.add("b", key(2)).unwrap();
    ring.set_current("b").unwrap();

    *store.backend().cas_left.lock() = Some(4);
    let err = store.rotate_key().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    let key_ids = |sealed: Vec<SealedRecord>| sealed.into_iter().map(|s| s.key_id.to_string()).collect::<Vec<_>>();
    let ids = key_ids(store.backend().list().await.unwrap());
    assert_eq!(ids.iter().filter(|k| *k == "b").count(), 4);
    assert_eq!(ids.iter().filter(|k| *k == "a").count(), 6);
    for record in &records {
        assert_same(record, &store.get(&record.id).await.unwrap().unwrap());
    }

    *store.backend().cas_left.lock() = None;
    let report = store.rotate_key().await.unwrap();
    assert_eq!(
        report,
        RotationReport {
            key_id: "b".into(),
            rotated: 6,
            already_current: 4,
            unreadable: Vec::new(),
        }
    );
    assert!(key_ids(store.backend().list().await.unwrap()).iter().all(|k| k == "b"));

    let again = store.rotate_key().await.unwrap();
    assert_eq!((again.rotated, again.already_current), (0, 10));

    assert!(ring.remove("a").unwrap());
    for (record, back) in records.iter().zip(store.list().await.unwrap().records) {
        assert_same(record, &back);
        assert_eq!(back.version, 1);
    }
}

/// Before the next compare-and-swap, writes `interloper` over the stored record, as a
/// concurrent writer would.
#[derive(Debug, Default)]
struct Racing {
    inner: MemorySealedStore,
    interloper: Mutex<Option<SealedRecord>>,
}

#[async_trait]
impl SealedStore for Racing {
    async fn insert(&self, record: SealedRecord) -> Result<()> {
        self.inner.insert(record).await
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<SealedRecord>> {
        self.inner.get(id).await
    }

    async fn list(&self) -> Result<Vec<SealedRecord>> {
        self.inner.list().await
    }

    async fn compare_and_swap(&self, id: &ConnectionId, expected: &[u8; 12], new: SealedRecord) -> Result<bool> {
        let interloper = self.interloper.lock().take();
        if let Some(other) = interloper {
            let stored = self.inner.get(&other.id).await?.unwrap();
            assert!(self.inner.compare_and_swap(&stored.id, &stored.nonce, other).await?);
        }
        self.inner.compare_and_swap(id, expected, new).await
    }

    async fn delete(&self, id: &ConnectionId) -> Result<bool> {
        self.inner.delete(id).await
    }
}

/// `record` sealed the way `ring` would seal it now.
async fn sealed_now(ring: &KeyRing, record: &ConnectionRecord) -> SealedRecord {
    let (id, key) = ring.current().await.unwrap();
    seal(record, &id, &key).unwrap()
}

#[tokio::test]
async fn an_update_during_a_rotation_wins() {
    let ring = KeyRing::new("a", key(1));
    let store = EncryptedStore::new(Racing::default(), Arc::new(ring.clone()));
    let mut record = ConnectionRecord::new("crm", "Sales", Credentials::bearer("old")).with_id("c1");
    store.insert(&record).await.unwrap();
    ring.add("b", key(2)).unwrap();
    ring.set_current("b").unwrap();

    // An update lands between the rotation's read and its compare-and-swap.
    record.credentials = Credentials::bearer("new");
    record.version = 2;
    *store.backend().interloper.lock() = Some(sealed_now(&ring, &record).await);

    let report = store.rotate_key().await.unwrap();
    assert_eq!((report.rotated, report.already_current), (0, 1));
    let back = store.get(&record.id).await.unwrap().unwrap();
    assert_same(&record, &back);
    assert_eq!(
        store.backend().get(&record.id).await.unwrap().unwrap().key_id.as_str(),
        "b"
    );
}

#[tokio::test]
async fn a_rotation_during_an_update_does_not_lose_it() {
    let ring = KeyRing::new("a", key(1));
    let store = EncryptedStore::new(Racing::default(), Arc::new(ring.clone()));
    let original = ConnectionRecord::new("crm", "Sales", Credentials::bearer("old")).with_id("c1");
    store.insert(&original).await.unwrap();
    ring.add("b", key(2)).unwrap();
    ring.set_current("b").unwrap();

    // A rotation re-seals the record between the update's read and its compare-and-swap.
    *store.backend().interloper.lock() = Some(sealed_now(&ring, &original).await);
    let mut updated = original.clone();
    updated.credentials = Credentials::bearer("new");
    updated.version = 2;
    store.update(&updated, 1).await.unwrap();

    assert_same(&updated, &store.get(&updated.id).await.unwrap().unwrap());
    let report = store.rotate_key().await.unwrap();
    assert_eq!((report.rotated, report.already_current), (0, 1));
}

fn lookup(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    move |name| vars.get(name).cloned()
}

const VAR: &str = "AURA_CREDENTIALS_KEY";

#[tokio::test]
async fn env_provider_reads_current_previous_and_id() {
    let provider = EnvKeyProvider::from_lookup(VAR, lookup(&[(VAR, format!(" {} ", b64(1)))])).unwrap();
    let (id, current) = provider.current().await.unwrap();
    assert_eq!(id.as_str(), key(1).fingerprint());
    assert!(id.as_str().starts_with("k-") && id.as_str().len() == 18, "{id}");
    assert!(current.same_as(&key(1)));
    assert_eq!(provider.variable(), VAR);

    let provider = EnvKeyProvider::from_lookup(
        VAR,
        lookup(&[
            (VAR, b64(2)),
            ("AURA_CREDENTIALS_KEY_ID", "prod-2".into()),
            (
                "AURA_CREDENTIALS_KEY_PREVIOUS",
                format!("{}, prod-0:{},", b64(1), b64(3)),
            ),
        ]),
    )
    .unwrap();
    assert_eq!(provider.current_id().as_str(), "prod-2");
    let old = provider.key(&key(1).default_id()).await.unwrap().unwrap();
    assert!(old.same_as(&key(1)));
    assert!(provider.key(&"prod-0".into()).await.unwrap().unwrap().same_as(&key(3)));
    assert!(provider.key(&"unknown".into()).await.unwrap().is_none());
    assert_eq!(provider.ids().len(), 3);

    // A store sealed under the old key reads through the rotation set-up and rotates.
    let old_ring = KeyRing::new(key(1).default_id(), key(1));
    let backend = MemorySealedStore::new();
    let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY));
    backend.insert(sealed_now(&old_ring, &record).await).await.unwrap();
    let store = EncryptedStore::new(backend, Arc::new(provider));
    assert_same(&record, &store.get(&record.id).await.unwrap().unwrap());
    assert_eq!(store.rotate_key().await.unwrap().rotated, 1);
    assert_eq!(
        store.backend().get(&record.id).await.unwrap().unwrap().key_id.as_str(),
        "prod-2"
    );
}

#[test]
fn env_provider_errors_name_the_variable_not_the_value() {
    let short = base64::engine::general_purpose::STANDARD.encode(b"CANARYCANARY1234");
    let not_base64 = format!("{CANARY}!!");
    let cases = [
        (vec![], VAR),
        (vec![(VAR, "  ".to_owned())], VAR),
        (vec![(VAR, not_base64.clone())], VAR),
        (vec![(VAR, short.clone())], VAR),
        (
            vec![
                (VAR, b64(1)),
                ("AURA_CREDENTIALS_KEY_PREVIOUS", format!("{},{short}", b64(2))),
            ],
            "AURA_CREDENTIALS_KEY_PREVIOUS",
        ),
        (
            vec![
                (VAR, b64(1)),
                ("AURA_CREDENTIALS_KEY_PREVIOUS", format!("old:{not_base64}")),
            ],
            "AURA_CREDENTIALS_KEY_PREVIOUS",
        ),
    ];
    for (vars, named) in cases {
        let err = EnvKeyProvider::from_lookup(VAR, lookup(&vars)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
        assert_eq!(err.context_value("variable"), Some(named), "{err}");
        assert!(err.message().contains(named), "{err}");
        let shown = format!("{err} {err:?}");
        for secret in [CANARY, &short, &not_base64, &b64(1), &b64(2)] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
    let err = EnvKeyProvider::from_lookup(VAR, lookup(&[(VAR, short)])).unwrap_err();
    assert!(
        err.message().contains("expected 32 bytes of base64, got 16 bytes"),
        "{err}"
    );
}

#[test]
fn keys_from_base64_and_random() {
    assert!(EncryptionKey::from_base64(&b64(7)).unwrap().same_as(&key(7)));
    let err = EncryptionKey::from_base64("AAAA").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.message(), "expected 32 bytes of base64, got 3 bytes");
    assert!(EncryptionKey::from_base64("%%%").is_err());
    let (a, b) = (EncryptionKey::generate().unwrap(), EncryptionKey::generate().unwrap());
    assert!(!a.same_as(&b));
    assert_ne!(a.fingerprint(), b.fingerprint());
    assert_eq!(key(1).fingerprint(), key(1).fingerprint());
}

#[tokio::test]
async fn key_ring_guards_its_keys() {
    let ring = KeyRing::new("a", key(1));
    ring.add("a", key(1)).unwrap();
    assert_eq!(ring.add("a", key(2)).unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(ring.set_current("b").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(ring.remove("a").unwrap_err().kind(), ErrorKind::Conflict);
    assert!(!ring.remove("b").unwrap());
    ring.add("b", key(2)).unwrap();
    let handle = ring.clone();
    handle.set_current("b").unwrap();
    assert_eq!(ring.current().await.unwrap().0.as_str(), "b");
    assert_eq!(ring.ids(), vec![KeyId::from("a"), KeyId::from("b")]);
}

#[tokio::test]
async fn debug_never_shows_keys_or_plaintext() {
    let raw = [0xA7u8; 32];
    let ring = KeyRing::new("a", EncryptionKey::from_bytes(raw));
    let env = EnvKeyProvider::from_lookup(VAR, lookup(&[(VAR, b64(0xA7))])).unwrap();
    let store = store_with(&ring);
    let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY));
    store.insert(&record).await.unwrap();
    let sealed = store.backend().get(&record.id).await.unwrap().unwrap();
    let key_dec = format!("{:?}", raw);
    let outputs = [
        format!("{:?}", EncryptionKey::from_bytes(raw)),
        format!("{ring:?}"),
        format!("{env:?}"),
        format!("{sealed:?}"),
        format!("{store:?}"),
    ];
    for out in &outputs {
        for secret in [CANARY, &b64(0xA7), "a7a7a7a7", "A7A7", &key_dec, "167, 167"] {
            assert!(!out.contains(secret), "{out}");
        }
    }
    assert!(outputs[3].contains("bytes"), "{}", outputs[3]);
}
