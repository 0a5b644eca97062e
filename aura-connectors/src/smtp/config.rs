//! [`SmtpConfig`]: where and how to reach the SMTP server, read from a connection's custom
//! credential fields.

use std::fmt;
use std::net::IpAddr;

use aura_core::app::{AuthMethod, CredentialField};
use aura_core::secrecy::{ExposeSecret, SecretString};
use aura_core::{Credentials, Error, Result, Violation};
use serde::{Deserialize, Serialize};

/// How the connection to the server is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain TCP, then `STARTTLS`, which the server must offer (the default; port 587).
    #[default]
    Starttls,
    /// TLS from the first byte ("implicit TLS", SMTPS; port 465).
    Tls,
    /// No TLS at all: the password and the mail travel in the clear. Refused unless the host
    /// is a loopback address (`localhost`, `127.0.0.0/8`, `::1`): for local test servers only.
    None,
}

impl Security {
    /// The port a server listens on for this kind of connection.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Starttls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "starttls" => Some(Self::Starttls),
            "tls" => Some(Self::Tls),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// Where and how to reach the SMTP server: a connection's `custom` credential fields.
///
/// | field | required | secret | what |
/// | --- | --- | --- | --- |
/// | `host` | yes | no | the server's name or address |
/// | `port` | no | no | default 587 (`starttls`), 465 (`tls`), 25 (`none`) |
/// | `security` | no | no | `starttls` (default), `tls` or `none` (loopback only) |
/// | `username` | no | no | the AUTH user; without it, no AUTH is tried |
/// | `password` | with `username` | yes | the AUTH password |
/// | `ca_certificate` | no | no | extra trusted root certificate(s), PEM, for a server with a private CA |
///
/// `Debug` shows no password.
///
/// ```
/// use aura_connectors::smtp::{Security, SmtpConfig};
/// use aura_core::Credentials;
///
/// let config = SmtpConfig::from_credentials(&Credentials::custom([
///     ("host", "smtp.example.com"),
///     ("username", "mailer"),
///     ("password", "hunter2-long"),
/// ]))?;
/// assert_eq!((config.port, config.security), (587, Security::Starttls));
/// assert!(!format!("{config:?}").contains("hunter2"));
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct SmtpConfig {
    /// The server's host name or IP address.
    pub host: String,
    /// The port.
    pub port: u16,
    /// How the connection is secured.
    pub security: Security,
    /// The AUTH user and password, when the server wants them.
    pub login: Option<(String, SecretString)>,
    /// Extra root certificates (PEM) trusted besides the system's.
    pub ca_certificate: Option<String>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.login.as_ref().map(|(user, _)| user))
            .field("ca_certificate", &self.ca_certificate.is_some())
            .finish()
    }
}

/// The credential fields, as the app's manifest declares them.
pub(crate) fn auth_method() -> AuthMethod {
    AuthMethod::Custom {
        fields: vec![
            CredentialField::plain("host", "Server host"),
            CredentialField::plain("port", "Port (587 for STARTTLS, 465 for TLS)").optional(),
            CredentialField::plain("security", "Security: starttls, tls or none (loopback only)").optional(),
            CredentialField::plain("username", "User name").optional(),
            CredentialField::secret("password", "Password").optional(),
            CredentialField::plain("ca_certificate", "Extra trusted CA certificate (PEM)").optional(),
        ],
    }
}

impl SmtpConfig {
    /// Reads the configuration from a connection's `custom` credentials.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](aura_core::ErrorKind::InvalidInput) listing each bad field by path
    /// (`/credentials/port`): not `custom` credentials, no host, a port that is not a number,
    /// an unknown security, `none` for a host that is not loopback, a password without a user
    /// or a user without a password.
    pub fn from_credentials(credentials: &Credentials) -> Result<Self> {
        let Credentials::Custom { .. } = credentials else {
            return Err(Error::invalid_input(
                "an smtp connection takes custom credentials (host, port, security, username, password)",
                vec![Violation::new("/credentials", "are `custom` fields")],
            ));
        };
        let text = |name: &str| {
            credentials
                .field(name)
                .map(|v| v.expose_secret().trim())
                .filter(|v| !v.is_empty())
        };
        let mut bad = Vec::new();
        let host = text("host").unwrap_or_default().to_owned();
        if host.is_empty() {
            bad.push(Violation::new("/credentials/host", "is required"));
        } else if host.chars().any(|c| c.is_whitespace() || c == '/' || c == '@') {
            bad.push(Violation::new("/credentials/host", "is a host name or an IP address"));
        }
        let security = match text("security") {
            None => Security::default(),
            Some(s) => Security::parse(s).unwrap_or_else(|| {
                bad.push(Violation::new(
                    "/credentials/security",
                    "is `starttls`, `tls` or `none`",
                ));
                Security::default()
            }),
        };
        if security == Security::None && !host.is_empty() && !is_loopback(&host) {
            bad.push(Violation::new(
                "/credentials/security",
                "`none` sends the password and the mail in the clear: only for a server on loopback (localhost, 127.0.0.1, ::1); use `starttls` or `tls`",
            ));
        }
        let port = match text("port") {
            None => security.default_port(),
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).unwrap_or_else(|| {
                bad.push(Violation::new("/credentials/port", "is a port number (1 to 65535)"));
                0
            }),
        };
        let login = match (text("username"), credentials.field("password")) {
            (Some(user), Some(password)) if !password.expose_secret().is_empty() => {
                Some((user.to_owned(), password.clone()))
            }
            (None, None) => None,
            (None, Some(p)) if p.expose_secret().is_empty() => None,
            (Some(_), _) => {
                bad.push(Violation::new("/credentials/password", "is required with a username"));
                None
            }
            (None, Some(_)) => {
                bad.push(Violation::new("/credentials/username", "is required with a password"));
                None
            }
        };
        let ca_certificate = text("ca_certificate").map(str::to_owned);
        if ca_certificate.as_deref().is_some_and(|pem| {
            !pem.contains("-----BEGIN CERTIFICATE-----")
                || lettre::transport::smtp::client::Certificate::from_pem(pem.as_bytes()).is_err()
        }) {
            bad.push(Violation::new(
                "/credentials/ca_certificate",
                "is one or more PEM certificates",
            ));
        }
        if !bad.is_empty() {
            return Err(Error::invalid_input("the smtp connection's settings are invalid", bad));
        }
        Ok(Self {
            host,
            port,
            security,
            login,
            ca_certificate,
        })
    }

    /// `host:port`, for messages.
    pub(crate) fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
