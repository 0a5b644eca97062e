//! [`Scrubber`]: a set of secrets, in every form they take, found and replaced in text.

use std::fmt;
use std::ops::Range;

use secrecy::{ExposeSecret, SecretString};

use super::REDACTED;
use super::forms::forms;

/// Secrets at least this long are found anywhere in a text; shorter ones only as whole tokens.
pub const MIN_ANYWHERE: usize = 6;
/// Secrets shorter than this are not looked for at all: as whole tokens they would still be
/// ordinary words (`"a"`, `"ok"`). Fields named like secrets are redacted whatever their length.
pub const MIN_TOKEN: usize = 3;

/// Secrets to find and replace with [`REDACTED`] in text: errors, bodies services sent back,
/// stored payloads.
///
/// Each secret is looked for in every form it takes on the wire: raw, base64 (standard and
/// URL-safe, padded or not, alone or inside a longer base64 text such as
/// `Basic base64(user:password)`), percent-encoded and JSON-escaped. A secret of at least
/// [`MIN_ANYWHERE`] characters is found anywhere; a shorter one only as a whole token (not
/// inside a longer word: the PIN `1234` is redacted from `pin=1234` but not from `12345`), so
/// that short secrets do not mangle unrelated text. Secrets shorter than [`MIN_TOKEN`] are not
/// looked for.
///
/// The forms are kept in [`SecretString`]s (zeroized on drop); `Debug` shows only how many.
///
/// ```
/// use aura_core::secret::Scrubber;
///
/// let mut scrubber = Scrubber::new();
/// scrubber.add("p@ss/w0rd!");
/// scrubber.add("1234");
/// assert_eq!(
///     scrubber.scrub("password p@ss/w0rd!, pin 1234, code 12345").as_deref(),
///     Some("password [redacted], pin [redacted], code 12345")
/// );
/// // Percent-encoded and base64 forms too.
/// assert_eq!(scrubber.scrub("?password=p%40ss%2Fw0rd%21").as_deref(), Some("?password=[redacted]"));
/// assert_eq!(scrubber.scrub("basic cEBzcy93MHJkIQ==").as_deref(), Some("basic [redacted]"));
/// assert_eq!(scrubber.scrub("nothing here"), None);
/// ```
#[derive(Clone, Default)]
pub struct Scrubber {
    /// Longest first, so that a longer form wins over a shorter one at the same place.
    needles: Vec<Needle>,
}

#[derive(Clone)]
struct Needle {
    text: SecretString,
    /// Matched only when not inside a longer token.
    whole_token: bool,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber").field("forms", &self.needles.len()).finish()
    }
}

impl Scrubber {
    /// An empty set: it finds nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set of `secrets`.
    pub fn of<'a>(secrets: impl IntoIterator<Item = &'a SecretString>) -> Self {
        let mut out = Self::new();
        for s in secrets {
            out.add(s.expose_secret());
        }
        out
    }

    /// Whether it holds no secret.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// Adds a secret, in every form it takes. Secrets shorter than [`MIN_TOKEN`] characters
    /// (and surrounding whitespace) are ignored.
    pub fn add(&mut self, secret: &str) {
        let secret = secret.trim();
        let chars = secret.chars().count();
        if chars < MIN_TOKEN {
            return;
        }
        let whole_token = chars < MIN_ANYWHERE;
        for form in forms(secret, !whole_token) {
            if !form.is_empty() && !self.needles.iter().any(|n| n.text.expose_secret() == form.as_str()) {
                self.needles.push(Needle {
                    text: SecretString::from(form.as_str()),
                    whole_token,
                });
            }
        }
        self.needles
            .sort_by_key(|n| std::cmp::Reverse(n.text.expose_secret().len()));
    }

    /// Adds every secret of `other`.
    pub fn extend(&mut self, other: &Scrubber) {
        for n in &other.needles {
            if !self
                .needles
                .iter()
                .any(|m| m.text.expose_secret() == n.text.expose_secret())
            {
                self.needles.push(n.clone());
            }
        }
        self.needles
            .sort_by_key(|n| std::cmp::Reverse(n.text.expose_secret().len()));
    }

    /// Whether `text` holds a secret. Allocates nothing.
    pub fn finds(&self, text: &str) -> bool {
        self.needles.iter().any(|n| n.occurrences(text).next().is_some())
    }

    /// `text` with every secret replaced by [`REDACTED`], or `None` when it holds none (the
    /// common case, found without allocating).
    pub fn scrub(&self, text: &str) -> Option<String> {
        let mut found: Vec<Range<usize>> = Vec::new();
        for n in &self.needles {
            found.extend(n.occurrences(text));
        }
        if found.is_empty() {
            return None;
        }
        found.sort_by_key(|r| r.start);
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for r in found {
            if r.end <= at {
                continue; // inside a secret already replaced
            }
            if r.start >= at {
                out.push_str(&text[at..r.start]);
                out.push_str(REDACTED);
            }
            // An overlapping match extends the replaced span.
            at = r.end;
        }
        out.push_str(&text[at..]);
        Some(out)
    }

    /// Scrubs `text` in place; `true` when it held a secret.
    pub fn scrub_in_place(&self, text: &mut String) -> bool {
        match self.scrub(text) {
            Some(clean) => {
                *text = clean;
                true
            }
            None => false,
        }
    }
}

impl Needle {
    /// Where the needle is in `text` (as a whole token when it must be).
    fn occurrences<'t>(&'t self, text: &'t str) -> impl Iterator<Item = Range<usize>> + 't {
        let needle = self.text.expose_secret();
        text.match_indices(needle)
            .map(move |(i, m)| i..i + m.len())
            .filter(move |r| !self.whole_token || (!token_char_before(text, r.start) && !token_char_after(text, r.end)))
    }
}

/// Characters that continue a token: a short secret next to one is part of a longer word.
fn is_token_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

fn token_char_before(text: &str, at: usize) -> bool {
    text[..at].chars().next_back().is_some_and(is_token_char)
}

fn token_char_after(text: &str, at: usize) -> bool {
    text[at..].chars().next().is_some_and(is_token_char)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    use super::*;

    fn scrubber(secrets: &[&str]) -> Scrubber {
        let mut s = Scrubber::new();
        for secret in secrets {
            s.add(secret);
        }
        s
    }

    #[test]
    fn raw_and_encoded_forms_are_replaced() {
        let secret = "sk_live_a+b/c=d?e";
        let s = scrubber(&[secret]);
        let json = serde_json::to_string(&serde_json::json!({ "k": "sk_live_a+b/c=d?e\"" })).unwrap_or_default();
        for text in [
            format!("raw {secret} end"),
            format!("b64 {} end", STANDARD.encode(secret)),
            format!("b64url {} end", URL_SAFE_NO_PAD.encode(secret)),
            "pct sk_live_a%2Bb%2Fc%3Dd%3Fe end".to_owned(),
            "pct sk_live_a%2bb%2fc%3dd%3fe end".to_owned(),
            format!("basic {} end", STANDARD.encode(format!("alice:{secret}"))),
            json,
        ] {
            let clean = s.scrub(&text).unwrap_or_else(|| panic!("not found in {text}"));
            assert!(!clean.contains("sk_live"), "{clean}");
            assert!(clean.contains(REDACTED), "{clean}");
        }
    }

    #[test]
    fn short_secrets_are_replaced_only_as_whole_tokens() {
        let s = scrubber(&["ab12"]);
        assert_eq!(s.scrub("pin ab12.").as_deref(), Some("pin [redacted]."));
        assert_eq!(
            s.scrub("{\"pin\":\"ab12\"}").as_deref(),
            Some("{\"pin\":\"[redacted]\"}")
        );
        assert_eq!(
            s.scrub("Authorization: ab12").as_deref(),
            Some("Authorization: [redacted]")
        );
        assert_eq!(s.scrub("xab12 ab123 tab12s"), None);
        // Too short to look for at all.
        assert!(scrubber(&["a", "ok"]).is_empty());
    }

    #[test]
    fn overlapping_secrets_leave_nothing_behind() {
        let s = scrubber(&["abcdefgh", "efghijkl"]);
        assert_eq!(s.scrub("xx abcdefghijkl yy").as_deref(), Some("xx [redacted] yy"));
        assert!(!s.finds("nothing"));
        assert!(s.finds("..efghijkl.."));
        assert!(!format!("{s:?}").contains("abcd"));
    }
}
