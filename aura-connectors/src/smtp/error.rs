//! SMTP failures mapped to [`aura_core::Error`], in one place.
//!
//! | failure | kind | retry | context |
//! | --- | --- | --- | --- |
//! | `530`, `534`, `535`, `538` (authentication) | `Unauthorized` | no | `server` |
//! | `550`, `551`, `552`, `553`, `501`, `555` on a recipient | `InvalidInput` | no | violation at the recipient's path (`/bcc/0`), `recipient` |
//! | the same on `MAIL FROM` | `InvalidInput` | no | violation at `/from` |
//! | `552` after the message (too large) | `InvalidInput` | no | violation at the root |
//! | any `5.7.x` refusal (policy: relaying denied, spam) | `Forbidden` | no | `recipient` when on one |
//! | `421`, any other `4xx` (greylisting, mailbox busy, too many recipients) | `Unavailable` | yes | `recipient` when on one |
//! | other `5xx` | `Upstream` | no | `server`, `reply` |
//! | no answer in time | `Timeout` | yes | `server`, `stage` |
//! | TLS handshake or certificate | `Unavailable` | yes | `server` |
//! | connection refused, reset, DNS | `Unavailable` | yes | `server` |
//! | the server lacks what the connection asks (`STARTTLS`, `AUTH`) | `Upstream` | no | `server` |
//!
//! Every refusal the server answered is marked [`not_sent`](Error::not_sent): nothing was
//! delivered, a retry cannot send twice. Only a failure after the message's final `.` (the
//! reply lost) leaves open whether the server took the message.
//!
//! Texts the server sent back are scrubbed of the connection's password (in every encoding the
//! [`Scrubber`] knows) before they go into an error.

use std::error::Error as _;

use aura_core::secret::Scrubber;
use aura_core::{Error, ErrorKind, Violation};
use lettre::transport::smtp::Error as SmtpError;

/// Where in the SMTP exchange a failure happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// TCP, the greeting, `EHLO` (and the TLS handshake with implicit TLS).
    Connect,
    /// `STARTTLS` and its handshake.
    StartTls,
    /// `AUTH`.
    Auth,
    /// `MAIL FROM`.
    MailFrom,
    /// `RCPT TO` for one recipient.
    Rcpt {
        /// Where the recipient is in the input (`/to/0`).
        path: String,
        /// The address.
        address: String,
    },
    /// `DATA`.
    Data,
    /// The message's bytes and the final `.`, up to the server's answer.
    Message,
    /// `NOOP` (a connection test).
    Noop,
}

impl Stage {
    fn name(&self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::StartTls => "starttls",
            Self::Auth => "auth",
            Self::MailFrom => "mail_from",
            Self::Rcpt { .. } => "rcpt_to",
            Self::Data => "data",
            Self::Message => "message",
            Self::Noop => "noop",
        }
    }

    /// Whether a failure here proves the message was not taken (anything before its end).
    fn before_message_end(&self) -> bool {
        !matches!(self, Self::Message)
    }
}

/// Maps lettre's SMTP error at `stage`, talking to `server` (`host:port`), to an Aura error.
/// The one mapping: every SMTP failure of the connector goes through it.
pub(crate) fn from_smtp(err: &SmtpError, stage: &Stage, server: &str, scrubber: &Scrubber) -> Error {
    let detail = scrub(&cause(err), scrubber);
    if let Some(code) = err.status() {
        return from_reply(u16::from(code), &detail, stage, server);
    }
    if err.is_timeout() {
        return timed_out(stage, server);
    }
    let mapped = if is_tls_failure(err, stage) {
        Error::unavailable(format!(
            "TLS with the SMTP server {server} failed: {detail} (a server with a private CA needs its certificate in `ca_certificate`)"
        ))
    } else if err.is_client() {
        // lettre's own refusals: the server lacks a usable AUTH mechanism, say.
        Error::new(
            ErrorKind::Upstream,
            format!("the SMTP server {server} cannot do what the connection asks: {detail}"),
        )
    } else if err.is_response() {
        Error::new(
            ErrorKind::Upstream,
            format!("the SMTP server {server} sent an answer that is not SMTP: {detail}"),
        )
    } else {
        // Network, connection, transport shut down.
        Error::unavailable(format!("cannot talk to the SMTP server {server}: {detail}"))
    };
    located(mapped, stage, server)
}

/// No answer within the step's time limit.
pub(crate) fn timed_out(stage: &Stage, server: &str) -> Error {
    located(
        Error::timeout(format!(
            "the SMTP server {server} did not answer in time ({})",
            stage.name()
        )),
        stage,
        server,
    )
}

/// The server lacks what the connection's settings ask for (`STARTTLS`).
pub(crate) fn lacks(what: &str, stage: &Stage, server: &str) -> Error {
    located(
        Error::new(ErrorKind::Upstream, format!("the SMTP server {server} {what}")),
        stage,
        server,
    )
}

/// Says where, and whether the failure proves the message was not taken.
fn located(err: Error, stage: &Stage, server: &str) -> Error {
    let err = err.with_context("server", server).with_context("stage", stage.name());
    if stage.before_message_end() {
        err.not_sent()
    } else {
        err
    }
}

/// Maps the server's negative reply `code` (with its text, already scrubbed) at `stage`.
pub(crate) fn from_reply(code: u16, text: &str, stage: &Stage, server: &str) -> Error {
    let reply = format!("{code} {text}");
    let enhanced_policy = text.trim_start().starts_with("5.7.");
    let recipient = match stage {
        Stage::Rcpt { path, address } => Some((path.as_str(), address.as_str())),
        _ => None,
    };
    let err = match (code, stage) {
        (530 | 534 | 535 | 538, _) | (_, Stage::Auth) if code >= 500 => {
            Error::unauthorized(format!("the SMTP server {server} refused the login: {reply}"))
        }
        (421, _) => Error::unavailable(format!("the SMTP server {server} is closing the connection: {reply}")),
        (400..=499, _) => match recipient {
            Some((_, address)) => Error::unavailable(format!(
                "the SMTP server {server} cannot take mail for {address} now: {reply}"
            )),
            None => Error::unavailable(format!("the SMTP server {server} cannot take the message now: {reply}")),
        },
        _ if enhanced_policy => match recipient {
            Some((_, address)) => Error::forbidden(format!(
                "the SMTP server {server} does not let this connection send to {address}: {reply}"
            )),
            None => Error::forbidden(format!(
                "the SMTP server {server} refused the message by policy: {reply}"
            )),
        },
        (501 | 550 | 551 | 552 | 553 | 555, Stage::Rcpt { path, address }) => Error::invalid_input(
            format!("the SMTP server {server} refused the recipient {address}: {reply}"),
            vec![Violation::new(
                path.clone(),
                format!("was refused by the server: {reply}"),
            )],
        ),
        (501 | 550 | 553 | 555, Stage::MailFrom) => Error::invalid_input(
            format!("the SMTP server {server} refused the sender: {reply}"),
            vec![Violation::new("/from", format!("was refused by the server: {reply}"))],
        ),
        (552, Stage::MailFrom | Stage::Data | Stage::Message) => Error::invalid_input(
            format!("the message is larger than the SMTP server {server} accepts: {reply}"),
            vec![Violation::new("", format!("is too large for the server: {reply}"))],
        ),
        _ => Error::new(
            ErrorKind::Upstream,
            format!("the SMTP server {server} refused {}: {reply}", stage.name()),
        ),
    };
    let err = err
        .with_context("server", server)
        .with_context("stage", stage.name())
        .with_context("reply", reply.clone());
    let err = match recipient {
        Some((_, address)) => err.with_context("recipient", address),
        None => err,
    };
    // The server answered: whatever it refused, it did not take the message.
    err.not_sent()
}

/// Whether the failure is TLS's: lettre reports a failed handshake (an untrusted certificate,
/// a wrong host name, no common cipher) as a connection error whose cause is the I/O error
/// rustls raises, of kind `InvalidData`; anything but a reply during `STARTTLS` is TLS too.
fn is_tls_failure(err: &SmtpError, stage: &Stage) -> bool {
    if err.is_tls() || *stage == Stage::StartTls {
        return true;
    }
    let mut source = err.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::InvalidData;
        }
        source = s.source();
    }
    false
}

/// The text under lettre's error: the server's reply text, or the I/O or TLS cause.
fn cause(err: &SmtpError) -> String {
    let mut parts = Vec::new();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

fn scrub(text: &str, scrubber: &Scrubber) -> String {
    scrubber.scrub(text).unwrap_or_else(|| text.to_owned())
}
