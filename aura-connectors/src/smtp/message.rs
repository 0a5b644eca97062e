//! The `send` action's input, and the message it stands for: checked and built apart from
//! sending, so that a test can read the exact bytes without a server.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::SystemTime;

use aura_core::{Error, Result, Violation};
use base64::Engine as _;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use schemars::JsonSchema;
use serde::Deserialize;

/// What the `send` action sends.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendInput {
    /// The sender (`From`, and the envelope's `MAIL FROM`).
    pub from: MailboxInput,
    /// The `To` recipients.
    #[serde(default)]
    pub to: Vec<MailboxInput>,
    /// The `Cc` recipients.
    #[serde(default)]
    pub cc: Vec<MailboxInput>,
    /// The `Bcc` recipients: in the envelope only, never in the message's headers.
    #[serde(default)]
    pub bcc: Vec<MailboxInput>,
    /// Where replies go (`Reply-To`).
    #[serde(default)]
    pub reply_to: Vec<MailboxInput>,
    /// The subject (any text; non-ASCII is encoded as RFC 2047 encoded words).
    pub subject: String,
    /// The plain-text body.
    #[serde(default)]
    pub text: Option<String>,
    /// The HTML body; with `text` too, the two are sent as `multipart/alternative`.
    #[serde(default)]
    pub html: Option<String>,
    /// Files attached (`multipart/mixed`).
    #[serde(default)]
    pub attachments: Vec<AttachmentInput>,
    /// Extra headers (`X-Campaign`, `List-Unsubscribe`, `In-Reply-To` …). Names are printable
    /// ASCII without `:`; the headers this action writes itself (`From`, `To`, `Subject`,
    /// `Content-Type` …) cannot be set here; values have no line breaks.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The `Message-ID` (`<unique@domain>`); default a new one at the sender's domain. Give the
    /// same one on a retry so that receivers can tell it is the same message.
    #[serde(default)]
    pub message_id: Option<String>,
}

/// An address, as text (`"ada@example.com"`, `"Ada Lovelace <ada@example.com>"`) or as parts
/// (`{ "email": "ada@example.com", "name": "Ada Lovelace" }`: any name, non-ASCII included).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MailboxInput {
    /// `ada@example.com` or `Ada Lovelace <ada@example.com>`.
    Text(String),
    /// The address and an optional display name.
    Parts {
        /// The address.
        email: String,
        /// The display name.
        #[serde(default)]
        name: Option<String>,
    },
}

/// A file to attach.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentInput {
    /// The file name the receiver sees (non-ASCII is encoded as RFC 2231).
    pub filename: String,
    /// Its media type (default `application/octet-stream`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// The content, base64 (standard alphabet, padded).
    pub content: String,
}

/// One envelope recipient and where it came from in the input (`/bcc/0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Recipient {
    pub(crate) address: Address,
    pub(crate) path: String,
}

/// A message ready to go: the envelope and the exact bytes of `DATA`.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub(crate) from: Address,
    /// `To`, `Cc` then `Bcc`, each address once.
    pub(crate) recipients: Vec<Recipient>,
    pub(crate) message_id: String,
    pub(crate) bytes: Vec<u8>,
}

/// Headers the action writes itself: not settable through `headers`.
const OWN_HEADERS: &[&str] = &[
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
];

impl SendInput {
    /// Checks the input and builds the message, dated `date`. The `Message-ID` is the input's,
    /// or `<{new_id}@{sender's domain}>`.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](aura_core::ErrorKind::InvalidInput) listing every bad field by JSON
    /// pointer (`/to/1`, `/attachments/0/content`, `/headers/X-Bad Name`), all of them at once.
    pub(crate) fn to_outgoing(&self, date: SystemTime, new_id: &str) -> Result<Outgoing> {
        let mut bad = Vec::new();
        let from = mailbox(&self.from, "/from", &mut bad);
        let mut builder = Message::builder();
        if let Some(from) = &from {
            builder = builder.from(from.clone());
        }
        let mut recipients: Vec<Recipient> = Vec::new();
        for (field, list) in [("to", &self.to), ("cc", &self.cc), ("bcc", &self.bcc)] {
            for (i, m) in list.iter().enumerate() {
                let path = format!("/{field}/{i}");
                let Some(mbox) = mailbox(m, &path, &mut bad) else {
                    continue;
                };
                if !recipients.iter().any(|r| r.address == mbox.email) {
                    recipients.push(Recipient {
                        address: mbox.email.clone(),
                        path,
                    });
                }
                builder = match field {
                    "to" => builder.to(mbox),
                    "cc" => builder.cc(mbox),
                    _ => builder, // Bcc: the envelope only.
                };
            }
        }
        if self.to.is_empty() && self.cc.is_empty() && self.bcc.is_empty() {
            bad.push(Violation::new(
                "/to",
                "has at least one recipient (in `to`, `cc` or `bcc`)",
            ));
        }
        for (i, m) in self.reply_to.iter().enumerate() {
            if let Some(mbox) = mailbox(m, &format!("/reply_to/{i}"), &mut bad) {
                builder = builder.reply_to(mbox);
            }
        }
        if has_line_break(&self.subject) {
            bad.push(Violation::new("/subject", "has no line breaks"));
        }
        builder = builder.subject(self.subject.clone()).date(date);
        let message_id = match &self.message_id {
            Some(id) if is_message_id(id) => id.clone(),
            Some(_) => {
                bad.push(Violation::new(
                    "/message_id",
                    "is `<left@right>`: printable ASCII, no spaces",
                ));
                String::new()
            }
            None => {
                let domain = from
                    .as_ref()
                    .map(|f| f.email.domain())
                    .filter(|d| d.is_ascii() && !d.starts_with('['))
                    .unwrap_or("aura.invalid");
                format!("<{new_id}@{domain}>")
            }
        };
        builder = builder.message_id(Some(message_id.clone()));
        for (name, value) in &self.headers {
            let path = format!("/headers/{name}");
            if !is_header_name(name) {
                bad.push(Violation::new(
                    path,
                    "is a header name: printable ASCII without `:` or spaces, at most 76 characters",
                ));
            } else if OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                bad.push(Violation::new(
                    path,
                    "is set by the action itself (use the input's own field)",
                ));
            } else if has_line_break(value) {
                bad.push(Violation::new(path, "has no line breaks"));
            } else if let Ok(header) = HeaderName::new_from_ascii(name.clone()) {
                builder = builder.raw_header(HeaderValue::new(header, value.clone()));
            }
        }
        let body = self.body(&mut bad);
        // `Envelope::new` refuses an empty list, reported above already.
        let envelope = from.as_ref().and_then(|f| {
            lettre::address::Envelope::new(
                Some(f.email.clone()),
                recipients.iter().map(|r| r.address.clone()).collect(),
            )
            .ok()
        });
        let (Some(from), Some(envelope), Some(body), true) = (from, envelope, body, bad.is_empty()) else {
            return Err(Error::invalid_input("the message cannot be sent as given", bad));
        };
        let message = match body {
            Body::Single(part) => builder.envelope(envelope).singlepart(part),
            Body::Multi(part) => builder.envelope(envelope).multipart(part),
        }
        .map_err(|e| {
            Error::invalid_input(
                "the message cannot be sent as given",
                vec![Violation::new("", e.to_string())],
            )
        })?;
        Ok(Outgoing {
            from: from.email,
            recipients,
            message_id,
            bytes: message.formatted(),
        })
    }

    /// The body: text, HTML or both (`multipart/alternative`), then the attachments
    /// (`multipart/mixed`).
    fn body(&self, bad: &mut Vec<Violation>) -> Option<Body> {
        let main = match (&self.text, &self.html) {
            (Some(text), Some(html)) => Some(Body::Multi(
                MultiPart::alternative()
                    .singlepart(text_part(text, ContentType::TEXT_PLAIN))
                    .singlepart(text_part(html, ContentType::TEXT_HTML)),
            )),
            (Some(text), None) => Some(Body::Single(text_part(text, ContentType::TEXT_PLAIN))),
            (None, Some(html)) => Some(Body::Single(text_part(html, ContentType::TEXT_HTML))),
            (None, None) => None,
        };
        let mut files = Vec::new();
        for (i, a) in self.attachments.iter().enumerate() {
            let at = format!("/attachments/{i}");
            let content_type = match &a.content_type {
                None => Some(ContentType::parse("application/octet-stream")),
                Some(t) => Some(ContentType::parse(t)),
            }
            .and_then(|t| t.ok());
            if content_type.is_none() {
                bad.push(Violation::new(
                    format!("{at}/content_type"),
                    "is a media type (`application/pdf`)",
                ));
            }
            let content = base64::engine::general_purpose::STANDARD
                .decode(a.content.trim())
                .map_err(|_| bad.push(Violation::new(format!("{at}/content"), "is base64")))
                .ok();
            if a.filename.trim().is_empty() || has_line_break(&a.filename) {
                bad.push(Violation::new(format!("{at}/filename"), "is a file name, on one line"));
            }
            if let (Some(t), Some(c)) = (content_type, content) {
                // Always base64: lettre would pick 7bit for bytes that happen to be ASCII
                // control characters (a NUL in 7bit text is not valid mail).
                let body = lettre::message::Body::new_with_encoding(c, ContentTransferEncoding::Base64)
                    .unwrap_or_else(lettre::message::Body::new);
                files.push(Attachment::new(a.filename.clone()).body(body, t));
            }
        }
        if main.is_none() && self.attachments.is_empty() {
            bad.push(Violation::new("/text", "a message has `text`, `html` or attachments"));
            return None;
        }
        if self.attachments.is_empty() {
            return main;
        }
        let mut mixed = MultiPart::mixed().build();
        match main {
            Some(Body::Single(part)) => mixed = mixed.singlepart(part),
            Some(Body::Multi(part)) => mixed = mixed.multipart(part),
            None => {}
        }
        for file in files {
            mixed = mixed.singlepart(file);
        }
        Some(Body::Multi(mixed))
    }
}

/// A text part, in the encoding lettre finds best (7bit, quoted-printable or base64), or
/// quoted-printable when the text has control characters lettre would leave raw in 7bit.
fn text_part(text: &str, content_type: ContentType) -> SinglePart {
    let controls = text
        .chars()
        .any(|c| c.is_ascii_control() && !matches!(c, '\t' | '\r' | '\n'));
    let body = if controls {
        lettre::message::Body::new_with_encoding(text.to_owned(), ContentTransferEncoding::QuotedPrintable)
            .unwrap_or_else(lettre::message::Body::new)
    } else {
        lettre::message::Body::new(text.to_owned())
    };
    SinglePart::builder().header(content_type).body(body)
}

enum Body {
    Single(SinglePart),
    Multi(MultiPart),
}

/// The mailbox `m` stands for, or a violation at `path`.
fn mailbox(m: &MailboxInput, path: &str, bad: &mut Vec<Violation>) -> Option<Mailbox> {
    let parsed = match m {
        MailboxInput::Text(text) => Mailbox::from_str(text.trim()).ok(),
        MailboxInput::Parts { email, name } => {
            if name.as_deref().is_some_and(has_line_break) {
                bad.push(Violation::new(format!("{path}/name"), "has no line breaks"));
                return None;
            }
            Address::from_str(email.trim())
                .ok()
                .map(|address| Mailbox::new(name.clone().filter(|n| !n.trim().is_empty()), address))
        }
    };
    if parsed.is_none() {
        let at = match m {
            MailboxInput::Text(_) => path.to_owned(),
            MailboxInput::Parts { .. } => format!("{path}/email"),
        };
        bad.push(Violation::new(
            at,
            "is an email address (`ada@example.com` or `Ada <ada@example.com>`)",
        ));
    }
    parsed
}

fn has_line_break(text: &str) -> bool {
    text.contains(['\r', '\n', '\0'])
}

/// Printable ASCII except `:` (RFC 5322 `ftext`), as lettre also wants at most 76 of them.
fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 76 && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// `<left@right>`, printable ASCII without spaces or more angle brackets.
fn is_message_id(id: &str) -> bool {
    let Some(inner) = id.strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
        return false;
    };
    let mut halves = inner.splitn(2, '@');
    let (Some(left), Some(right)) = (halves.next(), halves.next()) else {
        return false;
    };
    !left.is_empty()
        && !right.is_empty()
        && id.len() <= 250
        && inner.bytes().all(|b| (33..=126).contains(&b) && b != b'<' && b != b'>')
}

impl Outgoing {
    /// The recipients' addresses, in envelope order.
    pub(crate) fn addresses(&self) -> Vec<String> {
        self.recipients.iter().map(|r| r.address.to_string()).collect()
    }
}
