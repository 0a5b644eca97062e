//! What goes into stored records: secrets redacted, big payloads truncated.

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

fn is_sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SENSITIVE_KEYS.iter().any(|s| k == *s || k.ends_with(&format!("_{s}")))
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

    /// The value as it may be stored.
    pub(crate) fn clean(&self, value: &Value) -> Value {
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
                            let v = if is_sensitive(k) && !v.is_null() { Value::String(REDACTED.to_owned()) } else { self.walk(v, size) };
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
        let out = r.clean(&json!({ "note": "key is sk_live_abcdef!", "password": "hunter22", "db_password": 1, "ok": "fine" }));
        assert_eq!(out, json!({ "note": "key is [redacted]!", "password": "[redacted]", "db_password": "[redacted]", "ok": "fine" }));
    }

    #[test]
    fn big_payloads_are_truncated_with_a_marker() {
        let r = Redactor::new(vec![], 100);
        let out = r.clean(&json!({ "blob": "x".repeat(1000) }));
        assert_eq!(out["$truncated"], true);
        assert!(out["bytes"].as_u64().unwrap_or(0) > 1000);
        assert!(out["preview"].as_str().unwrap_or_default().len() <= 512);
    }
}
