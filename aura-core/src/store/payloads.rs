//! [`PayloadStore`]: where a durable store puts the big exact payloads it keeps out of line
//! (sealed), so that they need not live in the database: a directory
//! ([`DirPayloadStore`]), or object storage through a host's own implementation.

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::error::{Error, Result};

/// Bytes by name, durably: the out-of-line home of big sealed payloads
/// (`SqliteStoreBuilder::payload_store`, `PostgresStoreBuilder::payload_store`).
///
/// What a store hands over is already sealed (AES-256-GCM under the store's exact-payload
/// key): the payload store never sees plain text. Names are made of ASCII letters, digits,
/// `-` and one `/` (`<execution id>/<hex>`), each written once; a name is deleted when its
/// execution is pruned. An implementation over object storage (S3, Azure Blob, GCS) maps a
/// name to an object key under a prefix of its choice.
#[async_trait]
pub trait PayloadStore: Send + Sync + fmt::Debug + 'static {
    /// Keeps `bytes` under `name`, durably before it returns.
    async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<()>;

    /// The bytes kept under `name`, if any.
    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Deletes what is kept under these names (a name not kept is no error).
    async fn delete(&self, names: &[String]) -> Result<()>;
}

/// A [`PayloadStore`] in a directory of the local file system: one file per payload, in a
/// folder per execution, written to a temporary file, flushed to disk and renamed into place
/// (a crash leaves the old file or the new one, never half of one).
///
/// ```
/// use aura_core::store::DirPayloadStore;
///
/// let dir = tempfile::tempdir().unwrap();
/// let payloads = DirPayloadStore::new(dir.path().join("payloads")).unwrap();
/// # drop(payloads);
/// ```
#[derive(Clone, Debug)]
pub struct DirPayloadStore {
    root: PathBuf,
}

impl DirPayloadStore {
    /// A payload store in `root` (created if it does not exist).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| io_error(e, "creating the payload directory", &root))?;
        Ok(Self { root })
    }

    /// The file of `name`, refusing a name that could leave the directory.
    fn path(&self, name: &str) -> Result<PathBuf> {
        let safe = !name.is_empty()
            && name.split('/').count() <= 2
            && name
                .split('/')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !safe {
            return Err(Error::invalid_input("not a payload name", Vec::new()).with_context("name", name.to_owned()));
        }
        Ok(self.root.join(name))
    }
}

fn io_error(e: std::io::Error, what: &str, path: &Path) -> Error {
    let kind = if e.kind() == std::io::ErrorKind::StorageFull {
        crate::ErrorKind::Unavailable
    } else {
        crate::ErrorKind::Internal
    };
    Error::new(kind, format!("{what} failed: {}", e.kind())).with_context("path", path.display().to_string())
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Error::internal("a payload file task stopped"))?
}

#[async_trait]
impl PayloadStore for DirPayloadStore {
    async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(name)?;
        blocking(move || {
            use std::io::Write as _;
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            std::fs::create_dir_all(&dir).map_err(|e| io_error(e, "creating a payload folder", &dir))?;
            let temp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
            let written = (|| {
                let mut file = std::fs::File::create(&temp)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                std::fs::rename(&temp, &path)?;
                // The rename itself is durable once the folder is.
                std::fs::File::open(&dir)?.sync_all()
            })();
            if let Err(e) = written {
                let _ = std::fs::remove_file(&temp);
                return Err(io_error(e, "writing a payload", &path));
            }
            Ok(())
        })
        .await
    }

    async fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(name)?;
        blocking(move || match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(e, "reading a payload", &path)),
        })
        .await
    }

    async fn delete(&self, names: &[String]) -> Result<()> {
        let paths = names.iter().map(|n| self.path(n)).collect::<Result<Vec<_>>>()?;
        blocking(move || {
            for path in paths {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(e, "deleting a payload", &path)),
                }
                // The execution's folder goes with its last payload (not empty: it stays).
                if let Some(dir) = path.parent() {
                    let _ = std::fs::remove_dir(dir);
                }
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_directory_keeps_payloads_by_name_and_refuses_names_that_leave_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirPayloadStore::new(dir.path().join("p")).unwrap();
        store.put("exec-1/abc", b"sealed".to_vec()).await.unwrap();
        assert_eq!(store.get("exec-1/abc").await.unwrap().as_deref(), Some(&b"sealed"[..]));
        assert_eq!(store.get("exec-1/none").await.unwrap(), None);
        for bad in ["../x", "a/../../b", "/abs", "a/b/c", "", "a b"] {
            assert_eq!(
                store.put(bad, Vec::new()).await.unwrap_err().kind(),
                crate::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
        store
            .delete(&["exec-1/abc".into(), "exec-1/none".into()])
            .await
            .unwrap();
        assert_eq!(store.get("exec-1/abc").await.unwrap(), None);
        assert!(!dir.path().join("p/exec-1").exists(), "the empty folder went too");
    }
}
