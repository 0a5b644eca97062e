//! Checking credentials against what an app declares it accepts.

use crate::app::{AppManifest, AuthMethod};
use crate::connection::Credentials;
use crate::error::{Error, Result, Violation};

/// Checks credentials against the app's declared auth methods; violations name the field
/// (`/credentials/fields/account_id`).
pub(super) fn check_credentials(manifest: &AppManifest, credentials: &Credentials) -> Result<()> {
    let invalid = |violations: Vec<Violation>| {
        Error::invalid_input("the credentials do not match what the app accepts", violations)
            .with_context("app", manifest.id.clone())
    };
    let Some(method) = manifest
        .auth
        .iter()
        .find(|m| m.kind() == credentials.kind())
        .or_else(|| {
            (manifest.auth.is_empty() && matches!(credentials, Credentials::None)).then_some(&AuthMethod::None)
        })
    else {
        let accepted: Vec<_> = manifest.auth.iter().map(AuthMethod::kind).collect();
        let accepted = if accepted.is_empty() {
            "none".to_owned()
        } else {
            accepted.join(", ")
        };
        return Err(invalid(vec![Violation::new(
            "/credentials/type",
            format!("is {}, but the app accepts: {accepted}", credentials.kind()),
        )]));
    };
    let mut violations = Vec::new();
    let empty = |violations: &mut Vec<Violation>, path: &str, value: &secrecy::SecretString| {
        use secrecy::ExposeSecret;
        if value.expose_secret().trim().is_empty() {
            violations.push(Violation::new(path, "must not be empty"));
        }
    };
    match (method, credentials) {
        (AuthMethod::ApiKey { placement }, Credentials::ApiKey { key, placement: given }) => {
            empty(&mut violations, "/credentials/key", key);
            if placement != given {
                violations.push(Violation::new(
                    "/credentials/placement",
                    format!("must be {placement:?}, as the app declares"),
                ));
            }
        }
        (AuthMethod::Bearer, Credentials::Bearer { token }) => empty(&mut violations, "/credentials/token", token),
        (AuthMethod::Basic, Credentials::Basic { username, password }) => {
            empty(&mut violations, "/credentials/password", password);
            if username.trim().is_empty() {
                violations.push(Violation::new("/credentials/username", "must not be empty"));
            }
        }
        (AuthMethod::OAuth2 { .. }, Credentials::OAuth2(token)) => {
            empty(&mut violations, "/credentials/access_token", &token.access_token)
        }
        (AuthMethod::Headers { names }, Credentials::Headers { headers }) => {
            for name in names {
                match headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
                    Some((k, v)) => empty(&mut violations, &format!("/credentials/headers/{k}"), v),
                    None => violations.push(Violation::new(format!("/credentials/headers/{name}"), "is required")),
                }
            }
        }
        (AuthMethod::Custom { fields }, Credentials::Custom { fields: given }) => {
            for field in fields.iter().filter(|f| f.required) {
                match given.get(&field.name) {
                    Some(v) => empty(&mut violations, &format!("/credentials/fields/{}", field.name), v),
                    None => violations.push(Violation::new(
                        format!("/credentials/fields/{}", field.name),
                        "is required",
                    )),
                }
            }
            for name in given.keys().filter(|k| !fields.iter().any(|f| &f.name == *k)) {
                violations.push(Violation::new(
                    format!("/credentials/fields/{name}"),
                    "is not a field of this app's auth method",
                ));
            }
        }
        _ => {}
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(invalid(violations))
    }
}
