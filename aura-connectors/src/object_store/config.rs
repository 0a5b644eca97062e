//! The connection's configuration: which backend, which bucket, which credentials, read from
//! the connection's custom credential fields and checked before any store is built.

use std::fmt;
use std::path::PathBuf;

use aura_core::app::{AuthMethod, CredentialField};
use aura_core::secrecy::{ExposeSecret, SecretString};
use aura_core::{Credentials, Error, Result, Violation};

/// The backend a connection speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Amazon S3 or an S3-compatible server (MinIO, moto, Ceph …).
    S3,
    /// Azure Blob Storage (or azurite).
    Azure,
    /// Google Cloud Storage.
    Gcs,
    /// A directory of the local filesystem (tests and single hosts).
    Local,
}

impl Provider {
    /// The name in the `provider` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Azure => "azure",
            Self::Gcs => "gcs",
            Self::Local => "local",
        }
    }

    /// The fields this provider reads (besides `provider`): the others are refused.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Self::S3 => &[
                "bucket",
                "region",
                "endpoint",
                "access_key_id",
                "secret_access_key",
                "allow_http",
            ],
            Self::Azure => &["bucket", "endpoint", "account", "access_key", "allow_http"],
            Self::Gcs => &["bucket", "endpoint", "service_account_key", "allow_http"],
            Self::Local => &["root"],
        }
    }

    /// The fields this provider needs.
    fn required(self) -> &'static [&'static str] {
        match self {
            Self::S3 => &["bucket", "access_key_id", "secret_access_key"],
            Self::Azure => &["bucket", "account", "access_key"],
            Self::Gcs => &["bucket", "service_account_key"],
            Self::Local => &["root"],
        }
    }
}

/// Every field a connection may hold, as the manifest declares them.
pub(crate) fn auth_method() -> AuthMethod {
    AuthMethod::Custom {
        fields: vec![
            CredentialField::plain("provider", "Provider (s3, azure, gcs or local)"),
            CredentialField::plain("bucket", "Bucket (the container, for Azure)").optional(),
            CredentialField::plain("region", "Region (S3)").optional(),
            CredentialField::plain(
                "endpoint",
                "Endpoint URL (an S3-compatible server, azurite, a GCS emulator)",
            )
            .optional(),
            CredentialField::plain("access_key_id", "Access key id (S3)").optional(),
            CredentialField::secret("secret_access_key", "Secret access key (S3)").optional(),
            CredentialField::plain("account", "Storage account (Azure)").optional(),
            CredentialField::secret("access_key", "Storage account key (Azure)").optional(),
            CredentialField::secret("service_account_key", "Service account key, JSON (GCS)").optional(),
            CredentialField::plain("root", "Root directory (local)").optional(),
            CredentialField::plain("allow_http", "Allow plain HTTP (true for a loopback test server)").optional(),
        ],
    }
}

/// A connection's configuration, checked. `Debug` shows no secret.
#[derive(Clone)]
pub struct StoreConfig {
    /// The backend.
    pub provider: Provider,
    /// The bucket (S3, GCS) or container (Azure).
    pub bucket: Option<String>,
    /// The S3 region (default `us-east-1`).
    pub region: Option<String>,
    /// An endpoint overriding the provider's.
    pub endpoint: Option<String>,
    /// The S3 access key id.
    pub access_key_id: Option<String>,
    /// The S3 secret access key.
    pub secret_access_key: Option<SecretString>,
    /// The Azure storage account.
    pub account: Option<String>,
    /// The Azure storage account key.
    pub access_key: Option<SecretString>,
    /// The GCS service account key (JSON).
    pub service_account_key: Option<SecretString>,
    /// The local root directory.
    pub root: Option<PathBuf>,
    /// Whether plain HTTP is allowed.
    pub allow_http: bool,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |s: &Option<SecretString>| s.as_ref().map(|_| aura_core::connection::REDACTED);
        f.debug_struct("StoreConfig")
            .field("provider", &self.provider)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("account", &self.account)
            .field("access_key", &hidden(&self.access_key))
            .field("service_account_key", &hidden(&self.service_account_key))
            .field("root", &self.root)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// A refused field: `InvalidInput` naming it.
fn bad(field: &str, message: impl Into<String>) -> Error {
    let message = message.into();
    Error::invalid_input(
        format!("the connection's `{field}` field: {message}"),
        vec![Violation::new(format!("/{field}"), message)],
    )
    .with_context("field", field)
}

impl StoreConfig {
    /// Reads and checks the connection's credentials: a known provider, its required fields,
    /// no field of another provider, well-formed values.
    pub fn from_credentials(credentials: &Credentials) -> Result<Self> {
        let Credentials::Custom { fields } = credentials else {
            return Err(Error::invalid_input(
                format!(
                    "an object_store connection holds custom credentials (provider, bucket …), not {}",
                    credentials.kind()
                ),
                vec![],
            ));
        };
        // Only for the fields that are not secret: a secret is never copied out of its box.
        let text = |name: &str| fields.get(name).map(|v| v.expose_secret().trim().to_owned());
        let provider = match text("provider").as_deref() {
            Some("s3") => Provider::S3,
            Some("azure") => Provider::Azure,
            Some("gcs") => Provider::Gcs,
            Some("local") => Provider::Local,
            Some(other) => {
                return Err(bad(
                    "provider",
                    format!("`{other}` is not one of s3, azure, gcs, local"),
                ));
            }
            None => return Err(bad("provider", "missing (s3, azure, gcs or local)")),
        };
        for name in fields.keys() {
            if name != "provider" && !provider.fields().contains(&name.as_str()) {
                return Err(bad(
                    name,
                    format!("not used by provider `{}`: remove it", provider.as_str()),
                ));
            }
        }
        for name in provider.required() {
            if fields.get(*name).is_none_or(|v| v.expose_secret().trim().is_empty()) {
                return Err(bad(name, format!("required by provider `{}`", provider.as_str())));
            }
        }
        let secret = |name: &str| fields.get(name).cloned();
        let allow_http = match text("allow_http").as_deref() {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(bad("allow_http", "`true` or `false`")),
        };
        let endpoint = text("endpoint").filter(|e| !e.is_empty());
        if let Some(endpoint) = &endpoint {
            let scheme_ok = endpoint.starts_with("https://") || (allow_http && endpoint.starts_with("http://"));
            if !scheme_ok {
                return Err(bad("endpoint", "an https:// URL (http:// only with allow_http = true)"));
            }
        }
        let root = match text("root") {
            Some(root) => {
                let path = PathBuf::from(&root);
                if !path.is_absolute() {
                    return Err(bad("root", "an absolute directory path"));
                }
                if !path.is_dir() {
                    return Err(bad("root", "not an existing directory"));
                }
                Some(path)
            }
            None => None,
        };
        if let Some(key) = secret("service_account_key")
            && !matches!(serde_json::from_str::<serde_json::Value>(key.expose_secret()), Ok(v) if v.is_object())
        {
            // The message never quotes the key.
            return Err(bad(
                "service_account_key",
                "not a JSON object (a service account key file's text)",
            ));
        }
        if let Some(bucket) = text("bucket")
            && (bucket.contains('/') || bucket.chars().any(char::is_whitespace))
        {
            return Err(bad("bucket", "a bucket or container name, without `/` or spaces"));
        }
        Ok(Self {
            provider,
            bucket: text("bucket"),
            region: text("region").filter(|r| !r.is_empty()),
            endpoint,
            access_key_id: text("access_key_id"),
            secret_access_key: secret("secret_access_key"),
            account: text("account"),
            access_key: secret("access_key"),
            service_account_key: secret("service_account_key"),
            root,
            allow_http,
        })
    }

    /// Every secret of this configuration, for scrubbing driver messages.
    pub(crate) fn scrubber(&self) -> aura_core::secret::Scrubber {
        let mut scrubber = aura_core::secret::Scrubber::of(
            [&self.secret_access_key, &self.access_key, &self.service_account_key]
                .into_iter()
                .flatten(),
        );
        // The private key inside a service account key shows alone in PEM errors.
        if let Some(key) = &self.service_account_key
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(key.expose_secret())
            && let Some(private) = json.get("private_key").and_then(|v| v.as_str())
        {
            scrubber.add(private);
        }
        scrubber
    }
}
