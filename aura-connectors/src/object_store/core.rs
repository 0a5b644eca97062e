//! The stores: one per connection id and credential version, built from the connection's
//! configuration; object keys checked before any call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::object_store as store;
use aura_core::secret::Scrubber;
use aura_core::{Context, Error, Result, Violation};
use parking_lot::Mutex;
use store::aws::AmazonS3Builder;
use store::azure::MicrosoftAzureBuilder;
use store::gcp::GoogleCloudStorageBuilder;
use store::local::LocalFileSystem;
use store::path::Path;
use store::signer::Signer;
use store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use super::config::{Provider, StoreConfig};
use super::error::{from_object_store, scrubbed};

/// The S3 region when the connection names none.
const DEFAULT_REGION: &str = "us-east-1";
/// The longest key the cloud stores take (S3 and GCS: 1024 bytes).
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// One connection's store: the [`ObjectStore`] every action goes through, the [`Signer`]
/// of the cloud backends, and the secrets to scrub from the driver's messages.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) objects: Arc<dyn ObjectStore>,
    pub(crate) signer: Option<Arc<dyn Signer>>,
    pub(crate) provider: Provider,
    pub(crate) scrubber: Scrubber,
}

impl Store {
    /// Maps a driver error about `key`.
    pub(crate) fn error(&self, err: store::Error, key: Option<&str>) -> Error {
        from_object_store(err, key, &self.scrubber)
    }

    /// The object's metadata (a `HEAD`).
    pub(crate) async fn head(&self, path: &Path) -> store::Result<store::ObjectMeta> {
        let options = store::GetOptions {
            head: true,
            ..store::GetOptions::default()
        };
        Ok(self.objects.get_opts(path, options).await?.meta)
    }

    /// Deletes one object.
    pub(crate) async fn delete(&self, path: &Path) -> store::Result<()> {
        use futures::StreamExt as _;
        let one = futures::stream::iter([Ok(path.clone())]).boxed();
        let mut deleted = self.objects.delete_stream(one);
        while let Some(done) = deleted.next().await {
            done?;
        }
        Ok(())
    }

    /// Whether listings come in key order (S3, Azure and GCS list lexicographically; a
    /// directory walk does not), so a page may stop reading early.
    pub(crate) fn lists_in_order(&self) -> bool {
        self.provider != Provider::Local
    }
}

/// The stores of every connection, keyed by connection id; an entry built for an older
/// credential version is replaced (a replaced secret drops the old client).
#[derive(Clone, Debug, Default)]
pub(crate) struct Stores {
    cache: Arc<Mutex<HashMap<String, Cached>>>,
}

/// A store and the credential version it was built with.
type Cached = (u64, Arc<Store>);

impl Stores {
    /// The store of the step's connection, built on first use.
    pub(crate) fn of(&self, cx: &Context) -> Result<Arc<Store>> {
        let connection = cx.require_connection()?;
        let id = connection.id().as_str().to_owned();
        let version = connection.version();
        if let Some((v, store)) = self.cache.lock().get(&id)
            && *v == version
        {
            return Ok(store.clone());
        }
        let config = StoreConfig::from_credentials(&connection.credentials())?;
        let store = Arc::new(build(&config)?);
        self.cache.lock().insert(id, (version, store.clone()));
        Ok(store)
    }

    /// How many stores are cached (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.cache.lock().len()
    }
}

/// Timeouts and retries for the cloud backends: bounded, so that an unreachable server fails
/// within seconds (object_store's defaults retry for minutes).
fn client_options(config: &StoreConfig) -> (ClientOptions, RetryConfig) {
    let options = ClientOptions::new()
        .with_allow_http(config.allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(60));
    let backoff = BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
        ..BackoffConfig::default()
    };
    let retry = RetryConfig {
        backoff,
        max_retries: 2,
        retry_timeout: Duration::from_secs(20),
    };
    (options, retry)
}

/// Builds the store a configuration describes.
pub(crate) fn build(config: &StoreConfig) -> Result<Store> {
    use aura_core::secrecy::ExposeSecret;
    let scrubber = config.scrubber();
    let refused = |err: store::Error| {
        Error::invalid_input(
            format!(
                "the connection's configuration is refused: {}",
                scrubbed(&err.to_string(), &scrubber)
            ),
            vec![],
        )
        .with_context("field", "credentials")
    };
    let (options, retry) = client_options(config);
    let bucket = config.bucket.clone().unwrap_or_default();
    let (objects, signer): (Arc<dyn ObjectStore>, Option<Arc<dyn Signer>>) = match config.provider {
        Provider::S3 => {
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(config.region.as_deref().unwrap_or(DEFAULT_REGION))
                .with_access_key_id(config.access_key_id.clone().unwrap_or_default())
                .with_allow_http(config.allow_http)
                .with_client_options(options)
                .with_retry(retry);
            if let Some(secret) = &config.secret_access_key {
                builder = builder.with_secret_access_key(secret.expose_secret());
            }
            if let Some(endpoint) = &config.endpoint {
                // Path-style requests: what S3-compatible servers expect.
                builder = builder
                    .with_endpoint(endpoint.trim_end_matches('/'))
                    .with_virtual_hosted_style_request(false);
            }
            let s3 = Arc::new(builder.build().map_err(refused)?);
            (s3.clone(), Some(s3))
        }
        Provider::Azure => {
            let mut builder = MicrosoftAzureBuilder::new()
                .with_account(config.account.clone().unwrap_or_default())
                .with_container_name(bucket)
                .with_allow_http(config.allow_http)
                .with_client_options(options)
                .with_retry(retry);
            if let Some(key) = &config.access_key {
                builder = builder.with_access_key(key.expose_secret());
            }
            if let Some(endpoint) = &config.endpoint {
                builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_owned());
            }
            let azure = Arc::new(builder.build().map_err(refused)?);
            (azure.clone(), Some(azure))
        }
        Provider::Gcs => {
            let gcs = Arc::new(gcs_builder(config, options, retry).build().map_err(refused)?);
            (gcs.clone(), Some(gcs))
        }
        Provider::Local => {
            let root = config.root.clone().unwrap_or_default();
            let local = LocalFileSystem::new_with_prefix(&root).map_err(|e| {
                Error::invalid_input(
                    format!(
                        "the connection's root directory cannot be used: {}",
                        scrubbed(&e.to_string(), &scrubber)
                    ),
                    vec![Violation::new("/root", "not a usable directory")],
                )
                .with_context("field", "root")
            })?;
            (Arc::new(local), None)
        }
    };
    Ok(Store {
        objects,
        signer,
        provider: config.provider,
        scrubber,
    })
}

/// The GCS builder (apart, so that a unit test checks it without a server).
pub(crate) fn gcs_builder(
    config: &StoreConfig,
    options: ClientOptions,
    retry: RetryConfig,
) -> GoogleCloudStorageBuilder {
    use aura_core::secrecy::ExposeSecret;
    let mut builder = GoogleCloudStorageBuilder::new()
        .with_bucket_name(config.bucket.clone().unwrap_or_default())
        .with_client_options(options)
        .with_retry(retry);
    if let Some(key) = &config.service_account_key {
        builder = builder.with_service_account_key(key.expose_secret());
    }
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_base_url(endpoint.trim_end_matches('/'));
    }
    builder
}

/// The default GCS options, for [`gcs_builder`] in tests.
#[cfg(test)]
pub(crate) fn default_options(config: &StoreConfig) -> (ClientOptions, RetryConfig) {
    client_options(config)
}

/// A refused input field: `InvalidInput` naming it by JSON pointer.
pub(crate) fn bad_field(field: &str, message: impl Into<String>) -> Error {
    let message = message.into();
    Error::invalid_input(
        format!("`{field}`: {message}"),
        vec![Violation::new(format!("/{field}"), message.clone())],
    )
    .with_context("field", field.to_owned())
}

/// An object key, checked by object_store's [`Path`] rules before any call: not empty, no
/// leading or trailing `/`, no empty, `.` or `..` segment, no control character, at most
/// 1024 bytes. `field` is the input's field path (`"key"`, `"from"` …).
pub(crate) fn key(field: &str, key: &str) -> Result<Path> {
    if key.is_empty() {
        return Err(bad_field(field, "an object key cannot be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(bad_field(field, "an object key has at most 1024 bytes"));
    }
    if key.starts_with('/') || key.ends_with('/') {
        return Err(bad_field(field, "an object key neither starts nor ends with `/`"));
    }
    let path = Path::parse(key).map_err(|_| {
        bad_field(
            field,
            "an object key is segments separated by `/`: none empty, `.` or `..`, no control characters",
        )
    })?;
    Ok(path)
}

/// A listing prefix: whole segments (`reports/2024` lists `reports/2024/…`); empty for
/// everything; a trailing `/` is allowed.
pub(crate) fn prefix(field: &str, prefix: &str) -> Result<Option<Path>> {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() {
        return Ok(None);
    }
    key(field, trimmed).map(Some)
}
