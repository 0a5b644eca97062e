//! Authentication: `components.securitySchemes`, as far as the document's and the imported
//! operations' `security` requirements name them, made [`AuthSpec`]s.

use aura_core::declarative::{AuthSpec, KeyLocation};
use serde_json::Value;

use super::refs::resolve;
use super::warnings::{Pointer, Warnings};

/// The security schemes named so far, in order, each with the scopes asked for.
#[derive(Debug, Default)]
pub(crate) struct Requirements(Vec<(String, Vec<String>)>);

impl Requirements {
    /// Adds the schemes of a `security` list (the document's or an operation's).
    pub(crate) fn add(&mut self, security: Option<&Value>) {
        let Some(list) = security.and_then(Value::as_array) else {
            return;
        };
        for (name, scopes) in list.iter().filter_map(Value::as_object).flatten() {
            let scopes = scopes.as_array().into_iter().flatten().filter_map(Value::as_str);
            let index = match self.0.iter().position(|(n, _)| n == name) {
                Some(index) => index,
                None => {
                    self.0.push((name.clone(), Vec::new()));
                    self.0.len() - 1
                }
            };
            if let Some((_, known)) = self.0.get_mut(index) {
                for scope in scopes {
                    if !known.iter().any(|k| k == scope) {
                        known.push(scope.to_owned());
                    }
                }
            }
        }
    }
}

/// The manifest's auth methods. Without any requirement, every defined scheme is offered.
pub(crate) fn auth(spec: &Value, requirements: Requirements, warnings: &mut Warnings) -> Vec<AuthSpec> {
    let schemes_at = Pointer::root().key("components").key("securitySchemes");
    let schemes = spec
        .get("components")
        .and_then(|c| c.get("securitySchemes"))
        .and_then(Value::as_object);
    let wanted: Vec<(String, Vec<String>)> = if requirements.0.is_empty() {
        schemes
            .into_iter()
            .flatten()
            .map(|(name, _)| (name.clone(), Vec::new()))
            .collect()
    } else {
        requirements.0
    };
    let mut out: Vec<AuthSpec> = Vec::new();
    for (name, scopes) in wanted {
        let at = schemes_at.key(&name);
        let Some(scheme) = schemes.and_then(|s| s.get(&name)) else {
            warnings.push(
                &Pointer::root().key("security"),
                format!("security scheme `{name}` is not defined: ignored"),
            );
            continue;
        };
        let (scheme, at) = match resolve(spec, scheme, &at) {
            Ok(resolved) => resolved,
            Err(problem) => {
                warnings.push(problem.at(), format!("security scheme `{name}`: {}", problem.message()));
                continue;
            }
        };
        for spec in one(&name, scheme, &scopes, &at, warnings) {
            if !out.contains(&spec) {
                out.push(spec);
            }
        }
    }
    out
}

/// One scheme's methods (OAuth 2.0 may give two: authorization code and client credentials).
fn one(name: &str, scheme: &Value, scopes: &[String], at: &Pointer, warnings: &mut Warnings) -> Vec<AuthSpec> {
    let text = |key: &str| scheme.get(key).and_then(Value::as_str);
    match text("type").unwrap_or_default() {
        "apiKey" => {
            let Some(key_name) = text("name") else {
                warnings.push(at, format!("API key scheme `{name}` has no `name`: ignored"));
                return Vec::new();
            };
            let location = match text("in") {
                Some("header") => KeyLocation::Header,
                Some("query") => KeyLocation::Query,
                other => {
                    let place = other.unwrap_or("nowhere");
                    warnings.push(
                        at,
                        format!("API key scheme `{name}` in `{place}` is not supported: ignored"),
                    );
                    return Vec::new();
                }
            };
            vec![AuthSpec::ApiKey {
                location,
                name: key_name.to_owned(),
            }]
        }
        "http" => match text("scheme").map(str::to_ascii_lowercase).as_deref() {
            Some("basic") => vec![AuthSpec::Basic],
            Some("bearer") => vec![AuthSpec::Bearer],
            other => {
                let kind = other.unwrap_or("none");
                warnings.push(
                    at,
                    format!("HTTP auth scheme `{kind}` of `{name}` is not supported: ignored"),
                );
                Vec::new()
            }
        },
        "oauth2" => oauth2(name, scheme, scopes, at, warnings),
        "openIdConnect" => {
            warnings.push(at, format!("OpenID Connect scheme `{name}` is not supported: ignored"));
            Vec::new()
        }
        other => {
            warnings.push(
                at,
                format!("security scheme `{name}` of type `{other}` is not supported: ignored"),
            );
            Vec::new()
        }
    }
}

/// OAuth 2.0: the authorization-code and client-credentials flows.
fn oauth2(name: &str, scheme: &Value, scopes: &[String], at: &Pointer, warnings: &mut Warnings) -> Vec<AuthSpec> {
    let flows = scheme.get("flows");
    let flow = |key: &str| flows.and_then(|f| f.get(key));
    let url = |flow: &Value, key: &str| flow.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut out = Vec::new();
    if let Some(code) = flow("authorizationCode") {
        match (url(code, "authorizationUrl"), url(code, "tokenUrl")) {
            (Some(authorization_url), Some(token_url)) => out.push(AuthSpec::OAuth2 {
                authorization_url: Some(authorization_url),
                token_url,
                scopes: scopes.to_vec(),
            }),
            _ => warnings.push(
                &at.key("flows").key("authorizationCode"),
                "flow without its URLs: ignored",
            ),
        }
    }
    if let Some(client) = flow("clientCredentials") {
        match url(client, "tokenUrl") {
            Some(token_url) => out.push(AuthSpec::OAuth2 {
                authorization_url: None,
                token_url,
                scopes: scopes.to_vec(),
            }),
            None => warnings.push(
                &at.key("flows").key("clientCredentials"),
                "flow without `tokenUrl`: ignored",
            ),
        }
    }
    if out.is_empty() {
        warnings.push(
            at,
            format!(
                "OAuth 2.0 scheme `{name}` has neither an authorization-code nor a client-credentials flow: ignored"
            ),
        );
    }
    out
}
