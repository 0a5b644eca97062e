//! Finding secrets where they must not be: the forms a secret takes on its way out, the secrets
//! a fixture holds, and a capture of everything traced.

use std::io;
use std::sync::Arc;

use aura_core::app::{AppManifest, AuthMethod};
use aura_core::connection::Credentials;
use aura_core::secrecy::{ExposeSecret, SecretString};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use parking_lot::Mutex;
use tracing_subscriber::fmt::MakeWriter;

/// The forms `secret` takes when it leaks: itself, base64 (standard and URL-safe, padded or
/// not), percent-encoded (as a query or form value would carry it) and JSON-escaped. Shorter
/// than 4 characters, a secret cannot be told from ordinary text and yields no form.
pub fn forms(secret: &str) -> Vec<String> {
    if secret.chars().count() < 4 {
        return Vec::new();
    }
    let mut out = vec![secret.to_owned()];
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push(engine.encode(secret));
    }
    out.push(form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    out.push(
        secret
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect(),
    );
    if let Ok(json) = serde_json::to_string(secret) {
        // The string's own quotes off, the escaped ones kept.
        let inner = json
            .strip_prefix('"')
            .and_then(|j| j.strip_suffix('"'))
            .unwrap_or(&json);
        out.push(inner.to_owned());
    }
    out.sort();
    out.dedup();
    out
}

/// Every secret value of `credentials`: for custom credentials the fields that `manifest`'s
/// custom auth methods mark secret (and any field they do not declare); for the other kinds
/// the key, token or password.
pub(crate) fn secrets_of(manifest: &AppManifest, credentials: &Credentials) -> Vec<String> {
    let expose = |s: &SecretString| s.expose_secret().to_owned();
    match credentials {
        Credentials::ApiKey { key, .. } => vec![expose(key)],
        Credentials::Bearer { token } => vec![expose(token)],
        Credentials::Basic { password, .. } => vec![expose(password)],
        Credentials::OAuth2(token) => std::iter::once(&token.access_token)
            .chain(token.refresh_token.as_ref())
            .map(expose)
            .collect(),
        Credentials::Headers { headers } => headers.values().map(expose).collect(),
        Credentials::Custom { fields } => {
            let public = |name: &str| {
                manifest.auth.iter().any(|method| match method {
                    AuthMethod::Custom { fields } => fields.iter().any(|f| f.name == name && !f.secret),
                    _ => false,
                })
            };
            fields
                .iter()
                .filter(|(name, _)| !public(name))
                .map(|(_, value)| expose(value))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Everything traced on this thread while it lives, at every level, as text.
///
/// Start it before the work and read it after; it captures the tasks of a current-thread
/// runtime (which the suite's tests use).
pub struct Capture {
    buffer: Buffer,
    _guard: tracing::subscriber::DefaultGuard,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("bytes", &self.buffer.0.lock().len())
            .finish()
    }
}

impl Capture {
    /// Starts capturing on this thread.
    pub fn start() -> Self {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        Self { buffer, _guard: guard }
    }

    /// What was traced so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.0.lock()).into_owned()
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_cover_the_encodings_a_secret_leaks_in() {
        let all = forms("p@ss w/rd\"");
        for expected in [
            "p@ss w/rd\"",
            "cEBzcyB3L3JkIg==",
            "p%40ss+w%2Frd%22",
            "p%40ss%20w%2Frd%22",
            "p@ss w/rd\\\"",
        ] {
            assert!(all.iter().any(|f| f == expected), "{expected} missing from {all:?}");
        }
        assert!(forms("abc").is_empty());
    }

    #[test]
    fn the_capture_sees_every_level() {
        let capture = Capture::start();
        tracing::trace!(secret = "needle", "deep");
        assert!(capture.text().contains("needle"));
    }
}
