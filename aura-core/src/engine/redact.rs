//! What goes into stored records: secrets redacted, big payloads truncated.

use std::sync::Arc;

use serde_json::{Value, json};

use parking_lot::RwLock;

use crate::connection::Connection;
use crate::error::Error;
use crate::secret::{REDACTED, Scrubber};
use crate::store::{ErrorRecord, ExecutionRecord};

/// Field names whose values are always redacted in records.
const SENSITIVE_KEYS: [&str; 10] = [
    "password",
    "passwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "apikey",
    "authorization",
    "client_secret",
];

/// The length of the shortest word of [`SENSITIVE_KEYS`].
const SHORTEST_SENSITIVE: usize = 5;

/// The last letters of the words of [`SENSITIVE_KEYS`].
const SENSITIVE_ENDINGS: [u8; 4] = [b'd', b't', b'n', b'y'];

/// `password`, `db_password`, `API_KEY` …: a sensitive word, alone or after an underscore,
/// in any case. Allocates nothing: this runs on every key of every stored payload.
fn is_sensitive(key: &str) -> bool {
    let k = key.as_bytes();
    // Most keys end in none of the words' last letters, or are shorter than all of them:
    // answered without comparing each word.
    match k.last() {
        Some(last) if k.len() >= SHORTEST_SENSITIVE && SENSITIVE_ENDINGS.contains(&last.to_ascii_lowercase()) => {}
        _ => return false,
    }
    SENSITIVE_KEYS.iter().any(|s| {
        let s = s.as_bytes();
        k.len() >= s.len()
            && k[k.len() - s.len()..].eq_ignore_ascii_case(s)
            && (k.len() == s.len() || k[k.len() - s.len() - 1] == b'_')
    })
}

/// Redacts secrets and truncates big payloads before they are stored.
///
/// The secrets are those of the connections the execution can use, read again whenever a
/// connection's credentials change (a token refreshed mid-run is redacted too; the old one
/// stays on the list).
pub(crate) struct Redactor {
    connections: Box<[Arc<dyn Connection>]>,
    cache: RwLock<Secrets>,
    /// Without connections the secrets never change: read without the lock or a reference
    /// count (twice per node).
    still: Option<Arc<Scrubber>>,
    limit: usize,
}

/// The secrets as read: borrowed when they never change, else the cached list.
enum SecretsRef<'a> {
    Still(&'a Scrubber),
    Live(Arc<Scrubber>),
}

impl std::ops::Deref for SecretsRef<'_> {
    type Target = Scrubber;

    fn deref(&self) -> &Scrubber {
        match self {
            Self::Still(list) => list,
            Self::Live(list) => list,
        }
    }
}

struct Secrets {
    versions: Vec<u64>,
    /// Every secret seen so far, in every form (kept in `secrecy` types).
    list: Arc<Scrubber>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("connections", &self.connections.len())
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// `connections`: those the execution can use; `limit`: the largest payload stored whole,
    /// in bytes (approximate).
    pub(crate) fn new(connections: Vec<Arc<dyn Connection>>, limit: usize) -> Self {
        let mut connections = connections;
        connections.sort_by(|a, b| a.id().cmp(b.id()));
        connections.dedup_by(|a, b| a.id() == b.id());
        let mut redactor = Self {
            connections: connections.into_boxed_slice(),
            cache: RwLock::new(Secrets {
                versions: Vec::new(),
                list: Arc::new(Scrubber::new()),
            }),
            still: None,
            limit,
        };
        let list = redactor.refresh(Scrubber::new());
        if redactor.connections.is_empty() {
            redactor.still = Some(list);
        }
        redactor
    }

    /// A redactor for fixed secrets (tests).
    #[cfg(test)]
    fn fixed(secrets: Vec<String>, limit: usize) -> Self {
        let mut r = Self::new(Vec::new(), limit);
        let mut scrubber = Scrubber::new();
        for s in &secrets {
            scrubber.add(s);
        }
        r.still = Some(r.refresh(scrubber));
        r
    }

    /// The current secrets: the cached list while no connection changed (one version read per
    /// connection), rebuilt when one did.
    fn secrets(&self) -> SecretsRef<'_> {
        if let Some(still) = &self.still {
            return SecretsRef::Still(still);
        }
        SecretsRef::Live(self.live_secrets())
    }

    /// [`secrets`](Self::secrets) with connections, whose credentials may change.
    fn live_secrets(&self) -> Arc<Scrubber> {
        {
            let cache = self.cache.read();
            if cache.versions.len() == self.connections.len()
                && self
                    .connections
                    .iter()
                    .zip(&cache.versions)
                    .all(|(c, v)| c.version() == *v)
            {
                return cache.list.clone();
            }
        }
        let old = (*self.cache.read().list).clone();
        self.refresh(old)
    }

    /// `secrets` (those seen before) and the connections' current ones. Short secrets are
    /// matched only as whole tokens, so they do not redact ordinary words (see [`Scrubber`]).
    fn refresh(&self, mut secrets: Scrubber) -> Arc<Scrubber> {
        let versions = self.connections.iter().map(|c| c.version()).collect();
        for c in &self.connections {
            secrets.extend(&c.credentials().scrubber());
        }
        let list = Arc::new(secrets);
        *self.cache.write() = Secrets {
            versions,
            list: list.clone(),
        };
        list
    }

    /// An error as it may be stored: secrets scrubbed from its message, context and
    /// violations.
    pub(crate) fn error(&self, err: &Error) -> ErrorRecord {
        let mut record = ErrorRecord::from(err);
        let secrets = self.secrets();
        let scrub = |text: &mut String| {
            secrets.scrub_in_place(text);
        };
        scrub(&mut record.message);
        record.context.iter_mut().for_each(|(_, v)| scrub(v));
        record.violations.iter_mut().for_each(|v| scrub(&mut v.message));
        if let Some(body) = &mut record.body_excerpt {
            scrub(body);
        }
        record
    }

    /// The value as it may be stored: shared as it is when nothing needs redacting or cutting
    /// (the common case, found without allocating), a cleaned copy otherwise.
    pub(crate) fn clean(&self, value: &Arc<Value>) -> Arc<Value> {
        self.clean_shared(value.clone())
    }

    /// [`clean`](Self::clean) on a shared value the caller gives up: handed back as it is
    /// when nothing needs cleaning (no reference counted).
    pub(crate) fn clean_shared(&self, value: Arc<Value>) -> Arc<Value> {
        let secrets = self.secrets();
        if self.is_clean(&secrets, &value) {
            return value;
        }
        Arc::new(self.cleaned(&secrets, &value))
    }

    /// [`clean`](Self::clean) on a value the caller owns: handed back as it is when nothing
    /// needs cleaning (no copy).
    pub(crate) fn clean_owned(&self, value: Value) -> Value {
        let secrets = self.secrets();
        if self.is_clean(&secrets, &value) {
            return value;
        }
        self.cleaned(&secrets, &value)
    }

    /// A whole record's payloads cleaned, as they are when cleaned one by one while the
    /// execution runs: its trigger, each node's input and output, its output (errors are
    /// cleaned when they are recorded).
    pub(crate) fn clean_record(&self, record: &mut ExecutionRecord) {
        let trigger = self.clean(&record.trigger);
        record.trigger_cleaned |= !Arc::ptr_eq(&trigger, &record.trigger);
        record.trigger = trigger;
        for node in &mut record.nodes {
            node.input = self.clean(&node.input);
            if let Some(output) = &node.output {
                let cleaned = self.clean(output);
                node.output_cleaned |= !Arc::ptr_eq(&cleaned, output);
                node.output = Some(cleaned);
            }
        }
        record.output = record.output.take().map(|o| self.clean_owned(o));
    }

    /// Whether `value` may be stored as it is: no secret, no sensitive key with a value, and
    /// within the size limit (found without allocating).
    fn is_clean(&self, secrets: &Scrubber, value: &Value) -> bool {
        let mut size = 0usize;
        !needs_cleaning(secrets, value, &mut size) && size <= self.limit
    }
}

fn needs_cleaning(secrets: &Scrubber, value: &Value, size: &mut usize) -> bool {
    match value {
        Value::String(s) => {
            *size += s.len() + 2;
            secrets.finds(s)
        }
        Value::Array(items) => {
            *size += 2;
            items.iter().any(|v| needs_cleaning(secrets, v, size))
        }
        Value::Object(map) => {
            *size += 2;
            map.iter().any(|(k, v)| {
                *size += k.len() + 3;
                (is_sensitive(k) && !v.is_null()) || needs_cleaning(secrets, v, size)
            })
        }
        _ => {
            *size += 8;
            false
        }
    }
}

impl Redactor {
    fn cleaned(&self, secrets: &Scrubber, value: &Value) -> Value {
        let mut size = 0usize;
        let cleaned = walk(secrets, value, &mut size);
        if size > self.limit {
            let text = cleaned.to_string();
            let mut end = text.len().min(512);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            return json!({ "$truncated": true, "bytes": text.len(), "preview": &text[..end] });
        }
        cleaned
    }
}

fn walk(secrets: &Scrubber, value: &Value, size: &mut usize) -> Value {
    match value {
        Value::String(s) => {
            *size += s.len() + 2;
            secrets.scrub(s).map_or_else(|| value.clone(), Value::String)
        }
        Value::Array(items) => {
            *size += 2;
            Value::Array(items.iter().map(|v| walk(secrets, v, size)).collect())
        }
        Value::Object(map) => {
            *size += 2;
            Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        *size += k.len() + 3;
                        let v = if is_sensitive(k) && !v.is_null() {
                            Value::String(REDACTED.to_owned())
                        } else {
                            walk(secrets, v, size)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            )
        }
        _ => {
            *size += 8;
            value.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_sensitive_keys_are_redacted() {
        let r = Redactor::fixed(vec!["sk_live_abcdef".into()], 1 << 20);
        let out = r.clean(&Arc::new(
            json!({ "note": "key is sk_live_abcdef!", "password": "hunter22", "db_password": 1, "ok": "fine" }),
        ));
        assert_eq!(
            *out,
            json!({ "note": "key is [redacted]!", "password": "[redacted]", "db_password": "[redacted]", "ok": "fine" })
        );
    }

    #[test]
    fn an_owned_value_is_handed_back_or_cleaned() {
        let r = Redactor::fixed(vec!["sk_live_abcdef".into()], 1 << 20);
        let clean = json!({ "a": [1, "two"] });
        assert_eq!(r.clean_owned(clean.clone()), clean);
        let out = r.clean_owned(json!({ "token": "Bearer sk_live_abcdef", "password": "p" }));
        let text = out.to_string();
        assert!(!text.contains("sk_live_abcdef") && !text.contains("\"p\""), "{text}");
    }

    #[test]
    fn clean_values_are_shared_not_copied() {
        let r = Redactor::fixed(vec!["sk_live_abcdef".into()], 1 << 20);
        let v = Arc::new(json!({ "a": [1, "two", { "b": null }], "password": null }));
        assert!(Arc::ptr_eq(&r.clean(&v), &v));
        assert!(
            is_sensitive("API_KEY")
                && is_sensitive("db_password")
                && !is_sensitive("passwords")
                && !is_sensitive("xpassword")
        );
    }

    #[test]
    fn every_sensitive_word_passes_the_quick_check_in_any_case() {
        for word in SENSITIVE_KEYS {
            assert!(word.len() >= SHORTEST_SENSITIVE, "{word}");
            for key in [
                word.to_owned(),
                word.to_uppercase(),
                format!("x_{word}"),
                format!("X_{}", word.to_uppercase()),
            ] {
                assert!(is_sensitive(&key), "{key}");
            }
        }
        assert!(!is_sensitive("x") && !is_sensitive("toke") && !is_sensitive("tokens"));
    }

    #[test]
    fn big_payloads_are_truncated_with_a_marker() {
        let r = Redactor::fixed(vec![], 100);
        let out = r.clean(&Arc::new(json!({ "blob": "x".repeat(1000) })));
        assert_eq!(out["$truncated"], true);
        assert!(out["bytes"].as_u64().unwrap_or(0) > 1000);
        assert!(out["preview"].as_str().unwrap_or_default().len() <= 512);
    }
}
