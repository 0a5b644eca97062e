//! Big exact payloads kept out of line ([`PayloadStore`]): sealed in a directory rather than
//! in the database, read back through the store, gone from the directory when their execution
//! is pruned, and never in plain text there.

#![cfg(any(feature = "store-sqlite", feature = "store-postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::path::Path;
use std::sync::Arc;

use aura_core::store::{DirPayloadStore, ExecutionStatus, ExecutionStore, PayloadKey, PayloadStore, Prune};
use aura_testkit::behavior::store::record;
use serde_json::json;

#[cfg(feature = "store-postgres")]
mod postgres_schema;

/// The files under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `store` keeps payloads whose sealed size is over 1 KiB in `dir`.
async fn big_payloads_live_out_of_line(store: Arc<dyn ExecutionStore>, dir: &Path) {
    let canary = "c4n4ry-s3cr3t-v4lue";
    let mut r = record("s");
    store.create(&r).await.unwrap();
    let small = Arc::new(json!({ "token": canary }));
    let big = Arc::new(json!({ "token": canary, "rows": vec!["row"; 1000] }));
    let (small_key, big_key) = (
        PayloadKey::Trigger,
        PayloadKey::Output {
            node: "load".into(),
            item: None,
        },
    );
    store.save_exact(r.id, &small_key, &small).await.unwrap();
    assert!(files(dir).is_empty(), "a small payload stays in the database");
    store.save_exact(r.id, &big_key, &big).await.unwrap();
    let [file] = files(dir).try_into().expect("one file for the big payload");
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        !String::from_utf8_lossy(&bytes).contains(canary) && !String::from_utf8_lossy(&bytes).contains("row"),
        "the file holds sealed bytes only"
    );
    assert_eq!(store.exact(r.id, &big_key).await.unwrap(), Some(big.clone()));
    assert_eq!(store.exact(r.id, &small_key).await.unwrap(), Some(small));

    // Saved again (a node re-run): the new bytes are read back, whatever the old file.
    let bigger = Arc::new(json!({ "rows": vec!["again"; 1000] }));
    store.save_exact(r.id, &big_key, &bigger).await.unwrap();
    assert_eq!(store.exact(r.id, &big_key).await.unwrap(), Some(bigger));

    // A payload store that lost the file: a clear error naming the execution.
    for file in files(dir) {
        std::fs::remove_file(file).unwrap();
    }
    let lost = store.exact(r.id, &big_key).await.unwrap_err();
    assert_eq!(lost.kind(), aura_core::ErrorKind::NotFound, "{lost}");
    assert!(
        lost.context()
            .iter()
            .any(|(k, v)| *k == "execution" && *v == r.id.to_string()),
        "{lost:?}"
    );

    // Pruned with its execution.
    store.save_exact(r.id, &big_key, &big).await.unwrap();
    assert!(!files(dir).is_empty());
    r.status = ExecutionStatus::Completed;
    r.ended_at = Some(chrono::Utc::now());
    store.finish(&r).await.unwrap();
    assert_eq!(store.prune(Prune::new().keep_newest(0)).await.unwrap(), 1);
    assert!(files(dir).is_empty(), "the payloads went with their execution");
}

fn payloads(dir: &tempfile::TempDir) -> Arc<dyn PayloadStore> {
    Arc::new(DirPayloadStore::new(dir.path().join("payloads")).unwrap())
}

fn key() -> secrecy::SecretBox<[u8; 32]> {
    secrecy::SecretBox::new(Box::new([9u8; 32]))
}

#[cfg(feature = "store-sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_payloads_live_out_of_line_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = aura_core::store::SqliteStore::builder(dir.path().join("aura.db"))
        .exact_payload_key(key())
        .payload_store(payloads(&dir))
        .out_of_line_above(1024)
        .open()
        .await
        .unwrap();
    big_payloads_live_out_of_line(Arc::new(store), &dir.path().join("payloads")).await;
}

#[cfg(feature = "store-postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn big_payloads_live_out_of_line_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let schema = postgres_schema::Schema::new();
    let store = schema
        .builder()
        .exact_payload_key(key())
        .payload_store(payloads(&dir))
        .out_of_line_above(1024)
        .open()
        .await
        .unwrap();
    big_payloads_live_out_of_line(Arc::new(store), &dir.path().join("payloads")).await;
}
