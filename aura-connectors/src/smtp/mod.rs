#![doc = include_str!("docs.md")]

mod actions;
mod config;
mod core;
mod error;
mod message;

use std::sync::Arc;

use async_trait::async_trait;
use aura_core::app::Category;
use aura_core::{ActionDef, App, AppManifest, Context, Result};

pub use self::actions::SendOutput;
pub use self::config::{Security, SmtpConfig};
pub use self::message::{AttachmentInput, MailboxInput, SendInput};

/// The `smtp` app: mail sent through an SMTP server with a connection's settings and login.
///
/// ```
/// use aura_connectors::smtp::SmtpApp;
///
/// let registry = aura_core::Registry::new();
/// registry.register(SmtpApp::new())?;
/// assert!(registry.manifest("smtp").is_ok());
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct SmtpApp {
    mailers: Arc<core::Mailers>,
}

impl SmtpApp {
    /// The app.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl App for SmtpApp {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("smtp", "Email (SMTP)", semver::Version::new(1, 0, 0))
            .category(Category::Communication)
            .description("Sends email through any SMTP server: text, HTML, attachments, STARTTLS or TLS, AUTH")
            .tags(["email", "smtp", "mail"])
            .auth(config::auth_method())
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::with_state("send", self.mailers.clone(), actions::send)
                .name("Send an email")
                .description(
                    "Sends a message (text, HTML or both, attachments, custom headers) to to/cc/bcc \
                     recipients; returns its Message-ID and the accepted recipients",
                ),
        ]
    }

    /// Connects, secures the session (STARTTLS or TLS), logs in and sends `NOOP`.
    async fn test_connection(&self, cx: &Context) -> Result<()> {
        let connection = cx.require_connection()?;
        self.mailers.get(connection.as_ref())?.test().await
    }

    async fn cleanup(&self) -> Result<()> {
        self.mailers.close_all().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
