//! The `send` action.

use std::sync::Arc;
use std::time::SystemTime;

use aura_core::{Context, Result};
use schemars::JsonSchema;
use serde::Serialize;

use super::core::Mailers;
use super::message::SendInput;

/// What the `send` action returns.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct SendOutput {
    /// The message's `Message-ID` (`<…@…>`): how replies and bounces refer to it.
    pub message_id: String,
    /// The envelope recipients the server accepted (`to`, `cc` and `bcc`, each once).
    pub accepted: Vec<String>,
    /// The server's answer to the message (`2.0.0 OK: queued as 1A2B3C`).
    pub reply: String,
}

/// Checks the input, builds the message and sends it with the node's connection.
pub(crate) async fn send(mailers: Arc<Mailers>, cx: Context, input: SendInput) -> Result<SendOutput> {
    // Everything about the input is checked before the connection is looked at.
    let out = input.to_outgoing(SystemTime::now(), &uuid::Uuid::now_v7().simple().to_string())?;
    let connection = cx.require_connection()?;
    let mailer = mailers.get(connection.as_ref())?;
    let accepted = mailer.send(&out).await?;
    Ok(SendOutput {
        accepted: out.addresses(),
        message_id: out.message_id,
        reply: accepted.reply,
    })
}
