//! The one send path: a [`Mailer`] per connection (id + credential version) keeps a few open,
//! authenticated SMTP sessions and runs each transaction itself (`MAIL FROM`, one `RCPT TO` per
//! recipient, `DATA`), so that a refusal names the recipient it was for.
//!
//! Why not lettre's `AsyncSmtpTransport` and its pool: its `send` runs the whole transaction
//! and reports a refused `RCPT TO` without saying which recipient, nor whether the server
//! refused the sender, a recipient or the message. lettre's [`AsyncSmtpConnection`] speaks the
//! protocol (EHLO, STARTTLS, AUTH, dot-stuffing); this file only orders its steps.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aura_core::secrecy::ExposeSecret;
use aura_core::secret::Scrubber;
use aura_core::{Connection, ConnectionId, Error, Result, Violation};
use lettre::transport::smtp::authentication::{Credentials as Login, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Noop, Quit, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::sync::Semaphore;

use super::config::{Security, SmtpConfig};
use super::error::{Stage, from_smtp, lacks, timed_out};
use super::message::Outgoing;

/// How long one step (connect, a command, the message) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long after the message's final `.` the server may think (RFC 5321 says 10 minutes).
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(300);
/// Sessions kept open per connection, and for how long unused.
const MAX_IDLE: usize = 4;
const IDLE_FOR: Duration = Duration::from_secs(30);
/// Transactions at once per connection.
const MAX_OPEN: usize = 8;

/// The mailers of every connection used so far: one per connection id, rebuilt when the
/// connection's credentials change (a new version drops the old sessions).
#[derive(Default)]
pub(crate) struct Mailers {
    by_connection: Mutex<HashMap<ConnectionId, Arc<Mailer>>>,
}

impl fmt::Debug for Mailers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.by_connection.lock().map(|m| m.len()).unwrap_or_default();
        f.debug_struct("Mailers").field("connections", &count).finish()
    }
}

impl Mailers {
    /// The mailer for `connection` at its current credential version.
    pub(crate) fn get(&self, connection: &dyn Connection) -> Result<Arc<Mailer>> {
        let version = connection.version();
        {
            let map = self.by_connection.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(m) = map.get(connection.id()).filter(|m| m.version == version) {
                return Ok(m.clone());
            }
        }
        let mailer = Arc::new(Mailer::new(
            SmtpConfig::from_credentials(&connection.credentials())?,
            version,
        )?);
        let mut map = self.by_connection.lock().unwrap_or_else(|e| e.into_inner());
        // A racing call may have built one for the same version: keep the first.
        let kept = map
            .entry(connection.id().clone())
            .and_modify(|m| {
                if m.version != version {
                    *m = mailer.clone();
                }
            })
            .or_insert_with(|| mailer.clone());
        Ok(kept.clone())
    }

    /// Closes every idle session (`QUIT`) and forgets the mailers.
    pub(crate) async fn close_all(&self) {
        let all: Vec<_> = self
            .by_connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, m)| m)
            .collect();
        for mailer in all {
            mailer.close().await;
        }
    }
}

/// One connection's SMTP sessions.
pub(crate) struct Mailer {
    config: SmtpConfig,
    version: u64,
    tls: Option<TlsParameters>,
    hello: ClientId,
    server: String,
    scrubber: Scrubber,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    open: Semaphore,
    step_timeout: Duration,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("config", &self.config)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// What the server said to a message it took.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// The final reply's text (`2.0.0 OK: queued as 1A2B3C`).
    pub(crate) reply: String,
}

impl Mailer {
    pub(crate) fn new(config: SmtpConfig, version: u64) -> Result<Self> {
        let tls = match config.security {
            Security::None => None,
            Security::Starttls | Security::Tls => {
                let mut builder = TlsParameters::builder(config.host.clone());
                if let Some(pem) = &config.ca_certificate {
                    let cert = Certificate::from_pem(pem.as_bytes()).map_err(|_| {
                        Error::invalid_input(
                            "the smtp connection's settings are invalid",
                            vec![Violation::new(
                                "/credentials/ca_certificate",
                                "is one or more PEM certificates",
                            )],
                        )
                    })?;
                    builder = builder.add_root_certificate(cert);
                }
                Some(
                    builder
                        .build_rustls()
                        .map_err(|e| Error::internal(format!("cannot set up TLS for {}: {e}", config.server())))?,
                )
            }
        };
        let mut scrubber = Scrubber::new();
        if let Some((user, password)) = &config.login {
            scrubber.add(password.expose_secret());
            // AUTH PLAIN's `\0user\0password`, which a server could echo in base64.
            scrubber.add(&format!("\0{user}\0{}", password.expose_secret()));
        }
        Ok(Self {
            server: config.server(),
            config,
            version,
            tls,
            hello: ClientId::default(),
            scrubber,
            idle: Mutex::new(Vec::new()),
            open: Semaphore::new(MAX_OPEN),
            step_timeout: STEP_TIMEOUT,
        })
    }

    /// The time limit of each step but the message's end (tests shorten it).
    #[cfg(test)]
    pub(crate) fn step_timeout(mut self, limit: Duration) -> Self {
        self.step_timeout = limit;
        self
    }

    /// Connects, says EHLO, secures the session as configured and logs in.
    pub(crate) async fn connect(&self) -> Result<AsyncSmtpConnection> {
        let wrapper = match self.config.security {
            Security::Tls => self.tls.clone(),
            Security::Starttls | Security::None => None,
        };
        let mut conn = self
            .step(
                Stage::Connect,
                self.step_timeout,
                AsyncSmtpConnection::connect_tokio1(
                    (self.config.host.as_str(), self.config.port),
                    Some(self.step_timeout),
                    &self.hello,
                    wrapper,
                    None,
                ),
            )
            .await?;
        if let (Security::Starttls, Some(tls)) = (self.config.security, &self.tls) {
            if !conn.can_starttls() {
                conn.abort().await;
                return Err(lacks(
                    "does not offer STARTTLS: choose `tls` (implicit TLS, port 465) if it speaks it",
                    &Stage::StartTls,
                    &self.server,
                ));
            }
            self.step(
                Stage::StartTls,
                self.step_timeout,
                conn.starttls(tls.clone(), &self.hello),
            )
            .await?;
        }
        if let Some((user, password)) = &self.config.login {
            let login = Login::new(user.clone(), password.expose_secret().to_owned());
            self.step(Stage::Auth, self.step_timeout, conn.auth(DEFAULT_MECHANISMS, &login))
                .await?;
        }
        Ok(conn)
    }

    /// Connects, logs in, `NOOP`, `QUIT`: the connection test.
    pub(crate) async fn test(&self) -> Result<()> {
        let mut conn = self.connect().await?;
        self.step(Stage::Noop, self.step_timeout, conn.command(Noop)).await?;
        let _ = tokio::time::timeout(self.step_timeout, conn.quit()).await;
        Ok(())
    }

    /// Sends `out`: on an idle session when one is open, else on a new one.
    pub(crate) async fn send(&self, out: &Outgoing) -> Result<Accepted> {
        // Never closed (the semaphore lives as long as the mailer): an error cannot happen.
        let _permit = self
            .open
            .acquire()
            .await
            .map_err(|_| Error::internal("the SMTP session limit was closed"))?;
        if let Some(mut conn) = self.take_idle() {
            match self.transact(&mut conn, out).await {
                Ok(done) => {
                    self.put_back(conn);
                    return Ok(done);
                }
                // The server closed the idle session under us before taking anything: once
                // more on a new session.
                Err(e) if e.stale => conn.abort().await,
                Err(e) => return Err(self.after_failure(conn, e).await),
            }
        }
        let mut conn = self.connect().await?;
        match self.transact(&mut conn, out).await {
            Ok(done) => {
                self.put_back(conn);
                Ok(done)
            }
            Err(e) => Err(self.after_failure(conn, e).await),
        }
    }

    /// One transaction: `MAIL FROM`, `RCPT TO` for each recipient, `DATA`, the message.
    async fn transact(&self, conn: &mut AsyncSmtpConnection, out: &Outgoing) -> std::result::Result<Accepted, Failed> {
        let mut options = Vec::new();
        let non_ascii = std::iter::once(&out.from)
            .chain(out.recipients.iter().map(|r| &r.address))
            .find(|a| !AsRef::<str>::as_ref(*a).is_ascii());
        if let Some(address) = non_ascii {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                let path = out
                    .recipients
                    .iter()
                    .find(|r| &r.address == address)
                    .map_or("/from".to_owned(), |r| r.path.clone());
                return Err(Failed::usable(
                    Error::invalid_input(
                        format!(
                            "the SMTP server {} does not take non-ASCII addresses (no SMTPUTF8)",
                            self.server
                        ),
                        vec![Violation::new(path, "is ASCII for this server")],
                    )
                    .not_sent(),
                ));
            }
            options.push(MailParameter::SmtpUtfEight);
        }
        if !out.bytes.is_ascii() {
            // lettre's builder encodes every body as 7-bit text; kept for custom header values.
            if !conn.server_info().supports_feature(Extension::EightBitMime) {
                return Err(Failed::usable(
                    Error::invalid_input(
                        format!(
                            "the SMTP server {} does not take 8-bit messages (no 8BITMIME)",
                            self.server
                        ),
                        vec![Violation::new("/headers", "are ASCII for this server")],
                    )
                    .not_sent(),
                ));
            }
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let first = self
            .command(conn, Stage::MailFrom, Mail::new(Some(out.from.clone()), options))
            .await;
        if let Err(mut e) = first {
            // A dead session or `421` before anything was taken: worth a new session.
            e.stale = e.at_start;
            return Err(e);
        }
        for r in &out.recipients {
            let stage = Stage::Rcpt {
                path: r.path.clone(),
                address: r.address.to_string(),
            };
            self.command(conn, stage, Rcpt::new(r.address.clone(), vec![])).await?;
        }
        self.command(conn, Stage::Data, Data).await?;
        // lettre ends DATA with `\r\n.\r\n`: without the message's own last line break, the
        // server stores exactly the bytes built (else it would keep one more empty line).
        let bytes = out.bytes.strip_suffix(b"\r\n").unwrap_or(&out.bytes);
        let reply = match tokio::time::timeout(MESSAGE_TIMEOUT, conn.message(bytes)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                let usable = e.status().is_some() && !conn.has_broken();
                return Err(Failed {
                    error: from_smtp(&e, &Stage::Message, &self.server, &self.scrubber),
                    usable,
                    stale: false,
                    at_start: false,
                });
            }
            Err(_) => return Err(Failed::broken(self.timed_out(&Stage::Message))),
        };
        Ok(Accepted {
            reply: reply.message().collect::<Vec<_>>().join(" "),
        })
    }

    async fn command<C: fmt::Display>(
        &self,
        conn: &mut AsyncSmtpConnection,
        stage: Stage,
        command: C,
    ) -> std::result::Result<(), Failed> {
        match tokio::time::timeout(self.step_timeout, conn.command(command)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                let code = e.status().map(u16::from);
                Err(Failed {
                    error: from_smtp(&e, &stage, &self.server, &self.scrubber),
                    // After a refusal (a reply) the session goes on once reset, unless the
                    // server said it is closing.
                    usable: code.is_some_and(|c| c != 421) && !conn.has_broken(),
                    stale: false,
                    at_start: code.is_none_or(|c| c == 421),
                })
            }
            Err(_) => Err(Failed::broken(self.timed_out(&stage))),
        }
    }

    /// Runs one connection step with a time limit, mapping its failure.
    async fn step<T>(
        &self,
        stage: Stage,
        limit: Duration,
        fut: impl Future<Output = std::result::Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(from_smtp(&e, &stage, &self.server, &self.scrubber)),
            Err(_) => Err(self.timed_out(&stage)),
        }
    }

    fn timed_out(&self, stage: &Stage) -> Error {
        timed_out(stage, &self.server)
    }

    /// After a failed transaction: a session the server only refused something on is reset
    /// and kept; any other is closed.
    async fn after_failure(&self, mut conn: AsyncSmtpConnection, failed: Failed) -> Error {
        if failed.usable
            && matches!(
                tokio::time::timeout(self.step_timeout, conn.command(Rset)).await,
                Ok(Ok(_))
            )
        {
            self.put_back(conn);
        } else {
            drop(tokio::time::timeout(Duration::from_secs(2), conn.abort()).await);
        }
        failed.error
    }

    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < IDLE_FOR && !conn.has_broken() {
                return Some(conn);
            }
            // Too old: the server may have dropped it; dropping closes the socket.
        }
        None
    }

    fn put_back(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE && !conn.has_broken() {
            idle.push((conn, Instant::now()));
        }
    }

    /// Closes the idle sessions politely (`QUIT`).
    pub(crate) async fn close(&self) {
        let idle: Vec<_> = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for (mut conn, _) in idle {
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.command(Quit)).await;
        }
    }
}

/// A failed transaction: the error, and what is left of the session.
struct Failed {
    error: Error,
    /// The server refused something but the session is fine (after `RSET`).
    usable: bool,
    /// The session was dead before anything was taken: try a new one.
    stale: bool,
    /// The failure came without an SMTP refusal of the command, or was `421`.
    at_start: bool,
}

impl Failed {
    fn usable(error: Error) -> Self {
        Self {
            error,
            usable: true,
            stale: false,
            at_start: false,
        }
    }

    fn broken(error: Error) -> Self {
        Self {
            error,
            usable: false,
            stale: false,
            at_start: false,
        }
    }
}
