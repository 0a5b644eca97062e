//! [`PostgresConfig`]: where and as whom to connect, read from a connection's custom credential
//! fields.

use std::fmt;
use std::time::Duration;

use aura_core::app::{AuthMethod, CredentialField};
use aura_core::secrecy::{ExposeSecret, SecretString};
use aura_core::{Credentials, Error, Result, Violation};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// How long a statement may run before the server cancels it (SQLSTATE 57014, a
/// [`Timeout`](aura_core::ErrorKind::Timeout)).
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The credential fields a `postgres` connection gives (an [`AuthMethod::Custom`]).
pub(crate) fn auth_method() -> AuthMethod {
    AuthMethod::Custom {
        fields: vec![
            CredentialField::plain("host", "Host"),
            CredentialField::plain("port", "Port (default 5432)").optional(),
            CredentialField::plain("database", "Database"),
            CredentialField::plain("user", "User"),
            CredentialField::secret("password", "Password"),
            CredentialField::plain("ssl_mode", "TLS: disable, prefer (default), require or verify-full").optional(),
        ],
    }
}

/// Whether and how the connection uses TLS (rustls on aws-lc-rs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, else plain TCP (the default, as libpq's).
    #[default]
    Prefer,
    /// TLS, without checking the server's certificate.
    Require,
    /// TLS with the certificate checked against the host name.
    VerifyFull,
}

impl SslMode {
    /// Reads `disable`, `prefer`, `require` or `verify-full`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-full" | "verify_full" => Self::VerifyFull,
            _ => return None,
        })
    }

    fn to_sqlx(self) -> PgSslMode {
        match self {
            Self::Disable => PgSslMode::Disable,
            Self::Prefer => PgSslMode::Prefer,
            Self::Require => PgSslMode::Require,
            Self::VerifyFull => PgSslMode::VerifyFull,
        }
    }
}

/// Where and as whom a connection connects. `Debug` hides the password.
#[derive(Clone)]
pub struct PostgresConfig {
    /// The server's host name or address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The database.
    pub database: String,
    /// The role to log in as.
    pub user: String,
    /// Its password.
    pub password: SecretString,
    /// TLS.
    pub ssl_mode: SslMode,
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"[REDACTED]")
            .field("ssl_mode", &self.ssl_mode)
            .finish()
    }
}

impl PostgresConfig {
    /// Reads the custom fields `host`, `port`, `database`, `user`, `password` and `ssl_mode`.
    /// A missing or malformed field is an [`InvalidInput`](aura_core::ErrorKind::InvalidInput)
    /// error naming the field (never its value).
    pub fn from_credentials(credentials: &Credentials) -> Result<Self> {
        if !matches!(credentials, Credentials::Custom { .. }) {
            return Err(Error::invalid_input(
                "a postgres connection takes custom credentials (host, port, database, user, password)",
                vec![],
            ));
        }
        let mut violations = Vec::new();
        let mut text = |name: &str, required: bool| -> Option<String> {
            match credentials.field(name).map(|v| v.expose_secret().trim().to_owned()) {
                Some(v) if !v.is_empty() => Some(v),
                _ => {
                    if required {
                        violations.push(Violation::new(format!("/{name}"), "is required"));
                    }
                    None
                }
            }
        };
        let host = text("host", true);
        let port = text("port", false);
        let database = text("database", true);
        let user = text("user", true);
        let ssl_mode = text("ssl_mode", false);
        let password = credentials.field("password").cloned();
        if password.is_none() {
            violations.push(Violation::new("/password", "is required"));
        }
        let port = match port.as_deref().map(str::parse::<u16>) {
            None => 5432,
            Some(Ok(p)) if p > 0 => p,
            Some(_) => {
                violations.push(Violation::new("/port", "is not a port number (1-65535)"));
                0
            }
        };
        let ssl_mode = match ssl_mode.as_deref().map(SslMode::parse) {
            None => SslMode::default(),
            Some(Some(mode)) => mode,
            Some(None) => {
                violations.push(Violation::new(
                    "/ssl_mode",
                    "is not one of disable, prefer, require, verify-full",
                ));
                SslMode::default()
            }
        };
        match (host, database, user, password) {
            (Some(host), Some(database), Some(user), Some(password)) if violations.is_empty() => Ok(Self {
                host,
                port,
                database,
                user,
                password,
                ssl_mode,
            }),
            _ => Err(Error::invalid_input(
                "the postgres connection's credentials are incomplete",
                violations,
            )),
        }
    }

    /// The options sqlx connects with; `application_name` says which connection and version
    /// (seen in `pg_stat_activity`).
    pub(crate) fn connect_options(&self, application_name: &str) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .host(&self.host)
            .port(self.port)
            .database(&self.database)
            .username(&self.user)
            .password(self.password.expose_secret())
            .ssl_mode(self.ssl_mode.to_sqlx())
            .application_name(application_name)
            .options([("statement_timeout", format!("{}", STATEMENT_TIMEOUT.as_millis()))])
    }
}
