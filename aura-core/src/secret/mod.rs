//! Finding secrets in text and replacing them: the one redaction mechanism that errors,
//! connections and stored records share.
//!
//! A leaf module: it depends on nothing else in aura-core, so [`error`](crate::error),
//! [`connection`](crate::connection) and the engine can all use it without an import circle.

/// What a redacted secret serializes as, and what replaces a secret found in text.
pub const REDACTED: &str = "[redacted]";

/// `text` with every occurrence of `secrets` replaced by [`REDACTED`], or `None` when it holds
/// none (the common case, found without allocating). Empty secrets are ignored.
pub(crate) fn redacted(text: &str, secrets: &[String]) -> Option<String> {
    let mut present = secrets.iter().filter(|s| !s.is_empty() && text.contains(s.as_str()));
    let first = present.next()?;
    let mut out = text.replace(first.as_str(), REDACTED);
    for s in present {
        out = out.replace(s.as_str(), REDACTED);
    }
    Some(out)
}
