//! What goes into stored records: secrets redacted, big payloads truncated.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::connection::REDACTED;

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

/// `password`, `db_password`, `API_KEY` …: a sensitive word, alone or after an underscore,
/// in any case. Allocates nothing: this runs on every key of every stored payload.
fn is_sensitive(key: &str) -> bool {
    let k = key.as_bytes();
    SENSITIVE_KEYS.iter().any(|s| {
        let s = s.as_bytes();
        k.len() >= s.len()
            && k[k.len() - s.len()..].eq_ignore_ascii_case(s)
            && (k.len() == s.len() || k[k.len() - s.len() - 1] == b'_')
    })
}

/// Redacts secrets and truncates big payloads before they are stored.
#[derive(Clone, Debug, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
    limit: usize,
}

impl Redactor {
    /// `secrets`: the values of the credentials the execution can use; `limit`: the largest
    /// payload stored whole, in bytes (approximate).
    pub(crate) fn new(mut secrets: Vec<String>, limit: usize) -> Self {
        // Very short "secrets" would redact ordinary words.
        secrets.retain(|s| s.len() >= 6);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self { secrets, limit }
    }

    /// The value as it may be stored: shared as it is when nothing needs redacting or cutting
    /// (the common case, found without allocating), a cleaned copy otherwise.
    pub(crate) fn clean(&self, value: &Arc<Value>) -> Arc<Value> {
        let mut size = 0usize;
        if !self.needs_cleaning(value, &mut size) && size <= self.limit {
            return value.clone();
        }
        Arc::new(self.cleaned(value))
    }

    fn needs_cleaning(&self, value: &Value, size: &mut usize) -> bool {
        match value {
            Value::String(s) => {
                *size += s.len() + 2;
                self.secrets.iter().any(|secret| s.contains(secret.as_str()))
            }
            Value::Array(items) => {
                *size += 2;
                items.iter().any(|v| self.needs_cleaning(v, size))
            }
            Value::Object(map) => {
                *size += 2;
                map.iter().any(|(k, v)| {
                    *size += k.len() + 3;
                    (is_sensitive(k) && !v.is_null()) || self.needs_cleaning(v, size)
                })
            }
            _ => {
                *size += 8;
                false
            }
        }
    }

    fn cleaned(&self, value: &Value) -> Value {
        let mut size = 0usize;
        let cleaned = self.walk(value, &mut size);
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

    fn walk(&self, value: &Value, size: &mut usize) -> Value {
        match value {
            Value::String(s) => {
                *size += s.len() + 2;
                match self.secrets.iter().find(|secret| s.contains(secret.as_str())) {
                    Some(_) => {
                        let mut out = s.clone();
                        for secret in &self.secrets {
                            out = out.replace(secret.as_str(), REDACTED);
                        }
                        Value::String(out)
                    }
                    None => value.clone(),
                }
            }
            Value::Array(items) => {
                *size += 2;
                Value::Array(items.iter().map(|v| self.walk(v, size)).collect())
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
                                self.walk(v, size)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_sensitive_keys_are_redacted() {
        let r = Redactor::new(vec!["sk_live_abcdef".into()], 1 << 20);
        let out = r.clean(&Arc::new(
            json!({ "note": "key is sk_live_abcdef!", "password": "hunter22", "db_password": 1, "ok": "fine" }),
        ));
        assert_eq!(
            *out,
            json!({ "note": "key is [redacted]!", "password": "[redacted]", "db_password": "[redacted]", "ok": "fine" })
        );
    }

    #[test]
    fn clean_values_are_shared_not_copied() {
        let r = Redactor::new(vec!["sk_live_abcdef".into()], 1 << 20);
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
    fn big_payloads_are_truncated_with_a_marker() {
        let r = Redactor::new(vec![], 100);
        let out = r.clean(&Arc::new(json!({ "blob": "x".repeat(1000) })));
        assert_eq!(out["$truncated"], true);
        assert!(out["bytes"].as_u64().unwrap_or(0) > 1000);
        assert!(out["preview"].as_str().unwrap_or_default().len() <= 512);
    }
}
