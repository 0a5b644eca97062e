#![doc = include_str!("docs.md")]

mod actions;
mod config;
mod core;
mod error;
mod triggers;

use async_trait::async_trait;
use aura_core::app::Category;
use aura_core::trigger::TriggerDef;
use aura_core::{ActionDef, App, AppManifest, Context, Result};
use futures::StreamExt as _;

pub use self::actions::{
    ByteRange, CopyInput, CopyOutput, DEFAULT_MAX_BYTES, DeleteInput, DeleteOutput, Encoding, GetInput, GetOutput,
    ListInput, ListOutput, MAX_BYTES, MAX_EXPIRY_SECS, MAX_RESULTS, ObjectInfo, PresignInput, PresignOutput, PutInput,
    PutOutput, SignedMethod,
};
pub use self::config::{Provider, StoreConfig};
pub use self::triggers::{NewObjectsCursor, NewObjectsParams, dedupe_key, select};

/// Where `test_connection` lists (one page, usually empty).
const PROBE_PREFIX: &str = "aura-connection-test";

/// The `object_store` app: S3, Azure Blob, GCS and the local filesystem through one
/// [`ObjectStore`](::object_store::ObjectStore) trait. Stores are cached per connection id and
/// credential version.
///
/// ```
/// use aura_connectors::object_store::ObjectStoreApp;
///
/// let registry = aura_core::Registry::new();
/// registry.register(ObjectStoreApp::new())?;
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ObjectStoreApp {
    stores: self::core::Stores,
}

impl ObjectStoreApp {
    /// The app, with no store built yet.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl App for ObjectStoreApp {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("object_store", "Object storage", semver::Version::new(1, 0, 0))
            .category(Category::Storage)
            .description("Objects in S3, Azure Blob Storage, Google Cloud Storage or a local directory: put, get, list, delete, copy, presigned URLs, and new objects under a prefix")
            .tags(["s3", "azure", "gcs", "object-storage", "files"])
            .auth(config::auth_method())
    }

    fn actions(&self) -> Vec<ActionDef> {
        let stores = &self.stores;
        vec![
            ActionDef::with_state("put", stores.clone(), actions::put)
                .name("Put an object")
                .description("Writes text or base64 content under a key, with a content type and metadata"),
            ActionDef::with_state("get", stores.clone(), actions::get)
                .name("Get an object")
                .description("Reads an object (or a byte range of it): text when UTF-8, else base64, with its size, ETag and time"),
            ActionDef::with_state("list", stores.clone(), actions::list)
                .name("List objects")
                .description("One page of the objects under a prefix, optionally grouped into folders"),
            ActionDef::with_state("delete", stores.clone(), actions::delete)
                .name("Delete an object")
                .description("Deletes an object; an absent one is no error"),
            ActionDef::with_state("copy", stores.clone(), actions::copy)
                .name("Copy an object")
                .description("Copies an object to another key, replacing it or not"),
            ActionDef::with_state("presign", stores.clone(), actions::presign)
                .name("Presign a URL")
                .description("A URL that lets whoever holds it GET or PUT one object until it expires (S3, Azure, GCS)"),
        ]
    }

    fn triggers(&self) -> Vec<TriggerDef> {
        vec![
            TriggerDef::polling(
                "new_objects",
                triggers::NewObjects {
                    stores: self.stores.clone(),
                },
            )
            .name("New objects")
            .description("Objects written under a prefix since the last poll, oldest first")
            .params_schema(aura_core::schema::generate::<NewObjectsParams>()),
        ]
    }

    /// Lists one page under a prefix that is usually empty: an authenticated call that
    /// proves the bucket exists and the credentials may read it.
    async fn test_connection(&self, cx: &Context) -> Result<()> {
        let store = self.stores.of(cx)?;
        let probe = ::object_store::path::Path::from(PROBE_PREFIX);
        let mut listed = store.objects.list(Some(&probe));
        match listed.next().await {
            None | Some(Ok(_)) => Ok(()),
            // A missing bucket is `NotFound`, refused credentials `Unauthorized`/`Forbidden`.
            Some(Err(e)) => Err(store.error(e, None)),
        }
    }
}

#[cfg(test)]
mod tests;
