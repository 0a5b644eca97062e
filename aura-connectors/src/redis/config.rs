//! [`RedisConfig`]: where the server is and how to log in, read from a connection's custom
//! credential fields.

use std::fmt;

use aura_core::app::{AuthMethod, CredentialField};
use aura_core::secrecy::{ExposeSecret, SecretString};
use aura_core::{Credentials, Error, Result, Violation};

/// The default Redis port.
pub const DEFAULT_PORT: u16 = 6379;

/// Where a Redis server is and how to log in to it: the fields of a connection's
/// [`Credentials::Custom`] (see [`RedisConfig::auth_method`]).
///
/// `Debug` never shows the password.
///
/// ```
/// use aura_connectors::redis::RedisConfig;
/// use aura_core::Credentials;
///
/// let creds = Credentials::custom([("host", "127.0.0.1"), ("port", "6390"), ("password", "s3cret")]);
/// let config = RedisConfig::from_credentials(&creds)?;
/// assert_eq!(config.port, 6390);
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The server's host name or address.
    pub host: String,
    /// Its port (default 6379).
    pub port: u16,
    /// The ACL user (Redis 6 and later); none logs in as `default` with the password alone.
    pub username: Option<String>,
    /// The password (`requirepass`, or the ACL user's).
    pub password: Option<SecretString>,
    /// The database index (default 0).
    pub db: i64,
    /// Whether to speak TLS (`rediss://`), through rustls.
    pub tls: bool,
    /// A PEM CA certificate to trust instead of the system's roots (for TLS).
    pub ca_cert: Option<String>,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("db", &self.db)
            .field("tls", &self.tls)
            .field("ca_cert", &self.ca_cert.as_ref().map(|_| "[set]"))
            .finish()
    }
}

impl RedisConfig {
    /// The auth method the `redis` app declares: custom fields `host`, `port`, `username`,
    /// `password` (the only secret one), `db`, `tls` and `ca_cert`; only `host` is required.
    pub fn auth_method() -> AuthMethod {
        AuthMethod::Custom {
            fields: vec![
                CredentialField::plain("host", "Host"),
                CredentialField::plain("port", "Port (default 6379)").optional(),
                CredentialField::plain("username", "User (ACL; empty for the default user)").optional(),
                CredentialField::secret("password", "Password").optional(),
                CredentialField::plain("db", "Database index (default 0)").optional(),
                CredentialField::plain("tls", "TLS: true or false (default false)").optional(),
                CredentialField::plain(
                    "ca_cert",
                    "CA certificate to trust, PEM (TLS; default the system's roots)",
                )
                .optional(),
            ],
        }
    }

    /// Reads the connection's fields. A field that does not parse is refused with
    /// [`InvalidInput`](aura_core::ErrorKind::InvalidInput), its path under
    /// `/credentials/fields/`; the message never repeats the value.
    pub fn from_credentials(credentials: &Credentials) -> Result<Self> {
        if !matches!(credentials, Credentials::Custom { .. }) {
            return Err(Error::invalid_input(
                "a redis connection takes custom credentials (host, port, username, password, db)",
                vec![Violation::new("/credentials/type", "must be `custom`")],
            ));
        }
        let text = |name: &str| {
            credentials
                .field(name)
                .map(|v| v.expose_secret().trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let bad = |name: &str, why: &str| {
            Error::invalid_input(
                "the redis connection's fields are invalid",
                vec![Violation::new(format!("/credentials/fields/{name}"), why)],
            )
        };
        let host = text("host").ok_or_else(|| bad("host", "is required"))?;
        if host.contains(['/', '@', ' ']) {
            return Err(bad("host", "must be a host name or an address, not a URL"));
        }
        let port = match text("port") {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("port", "must be a port number (1 to 65535)"))?,
        };
        let db = match text("db") {
            None => 0,
            Some(d) => d
                .parse::<i64>()
                .ok()
                .filter(|d| *d >= 0)
                .ok_or_else(|| bad("db", "must be a database index (0 or more)"))?,
        };
        let tls = match text("tls").as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("false" | "no" | "0") => false,
            Some("true" | "yes" | "1") => true,
            Some(_) => return Err(bad("tls", "must be true or false")),
        };
        let ca_cert = text("ca_cert");
        if ca_cert.is_some() && !tls {
            return Err(bad("ca_cert", "is only used with tls: true"));
        }
        // The password is kept as given (spaces may be part of it); an empty one is none.
        let password = credentials
            .field("password")
            .filter(|p| !p.expose_secret().is_empty())
            .cloned();
        Ok(Self {
            host,
            port,
            username: text("username"),
            password,
            db,
            tls,
            ca_cert,
        })
    }

    /// Whether `other` says the same in every field (the password included).
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        self.host == other.host
            && self.port == other.port
            && self.username == other.username
            && self.db == other.db
            && self.tls == other.tls
            && self.ca_cert == other.ca_cert
            && self.password.as_ref().map(ExposeSecret::expose_secret)
                == other.password.as_ref().map(ExposeSecret::expose_secret)
    }

    /// `host:port`, for error context (never the password).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The driver's connection info: the address (TLS or not), user, password and database.
    pub(crate) fn connection_info(&self) -> Result<redis::ConnectionInfo> {
        use redis::IntoConnectionInfo as _;
        let addr = if self.tls {
            redis::ConnectionAddr::TcpTls {
                host: self.host.clone(),
                port: self.port,
                insecure: false,
                tls_params: None,
            }
        } else {
            redis::ConnectionAddr::Tcp(self.host.clone(), self.port)
        };
        let mut redis_info = redis::RedisConnectionInfo::default().set_db(self.db);
        if let Some(user) = &self.username {
            redis_info = redis_info.set_username(user);
        }
        if let Some(password) = &self.password {
            redis_info = redis_info.set_password(password.expose_secret());
        }
        let info = addr.into_connection_info().map_err(|e| {
            Error::internal("the redis connection info could not be built").with_context("cause", e.to_string())
        })?;
        Ok(info.set_redis_settings(redis_info))
    }

    /// The driver's client for this configuration (no network yet).
    pub(crate) fn client(&self) -> Result<redis::Client> {
        let info = self.connection_info()?;
        match &self.ca_cert {
            Some(pem) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.as_bytes().to_vec()),
                },
            )
            .map_err(|_| {
                Error::invalid_input(
                    "the redis connection's TLS settings are invalid",
                    vec![Violation::new(
                        "/credentials/fields/ca_cert",
                        "must be a PEM certificate",
                    )],
                )
            }),
            None => redis::Client::open(info).map_err(|e| {
                Error::internal("the redis client could not be built").with_context("cause", e.to_string())
            }),
        }
    }
}
