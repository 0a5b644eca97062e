//! Finding secrets in text and replacing them: the one redaction mechanism that errors,
//! connections and stored records share.
//!
//! A leaf module: it depends on nothing else in aura-core (only std, serde_json, base64 and
//! secrecy), so [`error`](crate::error), [`connection`](crate::connection) and the engine all
//! use it without an import circle.
//!
//! | file | idea |
//! | --- | --- |
//! | `scrubber.rs` | [`Scrubber`]: a set of secrets, found and replaced in text |
//! | `cause.rs` | an error's cause as scrubbed text, chain included |
//! | `forms.rs` | the forms one secret takes: raw, base64, percent-encoded, JSON-escaped |

mod cause;
mod forms;
mod scrubber;

pub(crate) use self::cause::ScrubbedCause;
pub use self::scrubber::{MIN_ANYWHERE, MIN_TOKEN, Scrubber};

/// What a redacted secret serializes as, and what replaces a secret found in text.
pub const REDACTED: &str = "[redacted]";
