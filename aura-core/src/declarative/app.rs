//! [`DeclarativeApp`]: a [`Manifest`] as an [`App`].

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::auth::AuthPlan;
use super::base::BaseUrl;
use super::model::{AuthSpec, ErrorWhen, Manifest, TriggerSpec};
use super::operation::{self, escape};
use super::{poll, webhook};
use crate::action::ActionDef;
use crate::app::{App, AppManifest, AuthMethod, Category, OAuth2Grant};
use crate::connection::ApiKeyPlacement;
use crate::error::{Error, ErrorKind, Result, Violation};
use crate::http::HttpPolicy;
use crate::key::Key;
use crate::trigger::TriggerDef;

/// An app declared by a [`Manifest`]: one action per operation, one trigger per trigger
/// entry, every request sent through an [`HttpPolicy`].
///
/// ```
/// use aura_core::declarative::DeclarativeApp;
/// use aura_core::Registry;
///
/// let app = DeclarativeApp::from_yaml(r#"
/// id: todo
/// name: Todo
/// version: 1.0.0
/// base_url: https://todo.example.com/api
/// auth: [{ type: bearer }]
/// operations:
///   get_task: { method: GET, path: "/tasks/{id}" }
///   create_task:
///     method: POST
///     path: /tasks
///     params: { title: string, done: boolean }
///     required: [title]
/// "#)?;
/// let registry = Registry::new();
/// registry.register(app)?;
/// assert!(registry.manifest("todo")?.description.is_empty());
/// # Ok::<(), aura_core::Error>(())
/// ```
pub struct DeclarativeApp {
    manifest: Arc<Manifest>,
    app_manifest: AppManifest,
    policy: HttpPolicy,
    base: Arc<BaseUrl>,
    auth: AuthPlan,
    origin: Option<String>,
}

impl std::fmt::Debug for DeclarativeApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeclarativeApp")
            .field("id", &self.manifest.id)
            .field("version", &self.manifest.version)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl DeclarativeApp {
    /// The app a manifest declares, sending with the default [`HttpPolicy`] (which refuses
    /// private and loopback addresses: set another with [`policy`](Self::policy)).
    ///
    /// # Errors
    ///
    /// [`InvalidDefinition`](ErrorKind::InvalidDefinition) with a violation per problem,
    /// each at its JSON path (`/operations/get_task/path` …).
    pub fn new(manifest: Manifest) -> Result<Self> {
        let mut problems = Vec::new();
        if let Err(e) = Key::named("app id", manifest.id.clone()) {
            problems.push(Violation::new("/id", e.message().to_owned()));
        }
        let version = semver::Version::parse(&manifest.version);
        if version.is_err() {
            problems.push(Violation::new("/version", "is a semantic version (`1.2.0`)"));
        }
        let base = match BaseUrl::new(&manifest.base_url, &manifest.variables) {
            Ok(b) => Some(Arc::new(b)),
            Err(v) => {
                problems.extend(v);
                None
            }
        };
        let keys = manifest.operations.keys().map(|k| ("operations", k));
        for (section, key) in keys.chain(manifest.triggers.keys().map(|k| ("triggers", k))) {
            if let Err(e) = Key::named("key", key.clone()) {
                problems.push(Violation::new(
                    format!("/{section}/{}", escape(key)),
                    e.message().to_owned(),
                ));
            }
        }
        for key in manifest.operations.keys() {
            if manifest.triggers.contains_key(key) {
                problems.push(Violation::new(
                    format!("/triggers/{}", escape(key)),
                    "has the key of an operation",
                ));
            }
        }
        if let Some(when) = &manifest.error_when {
            if crate::http::check_pointer(&when.pointer).is_err() {
                problems.push(Violation::new("/error_when/pointer", "is a JSON pointer"));
            }
            if when
                .message
                .as_deref()
                .is_some_and(|m| crate::http::check_pointer(m).is_err())
            {
                problems.push(Violation::new("/error_when/message", "is a JSON pointer"));
            }
        }
        let mut app_manifest = None;
        if let Ok(version) = version {
            match app_manifest_of(&manifest, version) {
                Ok(m) => app_manifest = Some(m),
                Err(v) => problems.extend(v),
            }
        }
        let auth = AuthPlan::new(&manifest.auth);
        if let Some(base) = &base
            && let Err(v) = definitions(&manifest, base, &HttpPolicy::default(), &auth)
        {
            problems.extend(v);
        }
        match (problems.is_empty(), base, app_manifest) {
            (true, Some(base), Some(app_manifest)) => Ok(Self {
                auth,
                manifest: Arc::new(manifest),
                app_manifest,
                policy: HttpPolicy::default(),
                base,
                origin: None,
            }),
            _ => Err(invalid(problems)),
        }
    }

    /// The app of a YAML manifest; errors name the line of each problem too.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and for YAML that does not parse.
    pub fn from_yaml(text: &str) -> Result<Self> {
        super::load::parse(text, super::load::Format::Yaml, None)
    }

    /// The app of a JSON manifest; errors name the line of each problem too.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and for JSON that does not parse.
    pub fn from_json(text: &str) -> Result<Self> {
        super::load::parse(text, super::load::Format::Json, None)
    }

    /// Sends through `policy` (an SSRF guard that allows a private API, a timeout …). A
    /// manifest's [`error_when`](Manifest::error_when) is added to it.
    #[must_use]
    pub fn policy(mut self, policy: HttpPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sends to another base URL than the manifest's (a sandbox, a regional endpoint, a
    /// local mock); it may use the manifest's variables.
    ///
    /// # Errors
    ///
    /// [`InvalidDefinition`](ErrorKind::InvalidDefinition) when it is not an absolute http(s)
    /// URL or names an undeclared variable. A manifest whose base URL is a path (an
    /// imported spec with relative servers) needs this before it can send anything.
    pub fn base_url(mut self, url: &str) -> Result<Self> {
        let base = BaseUrl::new(url, &self.manifest.variables).map_err(invalid)?;
        if base.is_relative() {
            return Err(invalid(vec![Violation::new("/base_url", "is an absolute http(s) URL")]));
        }
        self.base = Arc::new(base);
        Ok(self)
    }

    /// Notes where the manifest came from (a file), for errors and `Debug`.
    #[must_use]
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The policy requests go through, with the manifest's error check.
    fn effective_policy(&self) -> HttpPolicy {
        match &self.manifest.error_when {
            Some(when) => self.policy.with_check(Arc::new(ErrorCheck(when.clone()))),
            None => self.policy.clone(),
        }
    }

    /// Every action and trigger, compiled.
    fn definitions(&self) -> std::result::Result<(Vec<ActionDef>, Vec<TriggerDef>), Vec<Violation>> {
        definitions(&self.manifest, &self.base, &self.effective_policy(), &self.auth)
    }
}

/// Every action and trigger of `manifest`, compiled; the problems of all of them at once.
fn definitions(
    manifest: &Manifest,
    base: &Arc<BaseUrl>,
    policy: &HttpPolicy,
    auth: &AuthPlan,
) -> std::result::Result<(Vec<ActionDef>, Vec<TriggerDef>), Vec<Violation>> {
    let defs: Map<String, Value> = manifest.schemas.clone().into_iter().collect();
    let headers: Vec<(String, String)> = manifest.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut problems = Vec::new();
    let mut actions = Vec::new();
    for (key, op) in &manifest.operations {
        match operation::compile(key, op, base.clone(), &headers, &defs) {
            Ok((compiled, input, output)) => {
                actions.push(Arc::new(compiled).into_action(policy.clone(), auth.clone(), input, output, op));
            }
            Err(v) => problems.extend(v),
        }
    }
    let mut triggers = Vec::new();
    for (key, spec) in &manifest.triggers {
        let at = format!("/triggers/{}", escape(key));
        let made = match spec {
            TriggerSpec::Poll(p) => poll::compile(key, p, base.clone(), &headers, &defs, policy.clone(), auth.clone()),
            TriggerSpec::Webhook(w) => webhook::compile(key, w),
        };
        match made {
            Ok(def) => triggers.push(def),
            Err(v) => problems.extend(
                v.into_iter()
                    .map(|v| Violation::new(format!("{at}{}", v.path), v.message)),
            ),
        }
    }
    if problems.is_empty() {
        Ok((actions, triggers))
    } else {
        Err(problems)
    }
}

/// The one error of a manifest with problems.
pub(crate) fn invalid(problems: Vec<Violation>) -> Error {
    Error::invalid_definition(format!("the app manifest has {} problem(s)", problems.len())).with_violations(problems)
}

fn app_manifest_of(m: &Manifest, version: semver::Version) -> std::result::Result<AppManifest, Vec<Violation>> {
    let mut out = AppManifest::new(m.id.clone(), m.name.clone(), version)
        .description(m.description.clone())
        .tags(m.tags.iter().cloned());
    let mut problems = Vec::new();
    if let Some(c) = &m.category {
        match Category::from_str(c) {
            Ok(c) => out = out.category(c),
            Err(e) => problems.push(Violation::new("/category", e.message().to_owned())),
        }
    }
    if let Some(d) = &m.docs_url {
        out = out.docs_url(d.clone());
    }
    if let Some(limit) = m.rate_limit {
        if limit.requests == 0 || limit.per.is_zero() {
            problems.push(Violation::new(
                "/rate_limit",
                "allows at least one request over a non-zero time",
            ));
        }
        out = out.rate_limit(limit);
    }
    for (i, a) in m.auth.iter().enumerate() {
        let method = match a {
            AuthSpec::None => AuthMethod::None,
            AuthSpec::ApiKey { location, name } => {
                if name.is_empty() {
                    problems.push(Violation::new(format!("/auth/{i}/name"), "is not empty"));
                }
                AuthMethod::ApiKey {
                    placement: match location {
                        super::model::KeyLocation::Header => ApiKeyPlacement::header(name),
                        super::model::KeyLocation::Query => ApiKeyPlacement::query(name),
                    },
                }
            }
            AuthSpec::Bearer => AuthMethod::Bearer,
            AuthSpec::Basic => AuthMethod::Basic,
            AuthSpec::OAuth2 {
                authorization_url,
                token_url,
                scopes,
            } => {
                let mut grants = vec![OAuth2Grant::RefreshToken];
                grants.insert(
                    0,
                    if authorization_url.is_some() {
                        OAuth2Grant::AuthorizationCode
                    } else {
                        OAuth2Grant::ClientCredentials
                    },
                );
                AuthMethod::OAuth2 {
                    authorization_url: authorization_url.clone(),
                    token_url: token_url.clone(),
                    scopes: scopes.clone(),
                    grants,
                }
            }
        };
        out = out.auth(method);
    }
    if let Err(e) = out.validate() {
        problems.push(Violation::new("", e.message().to_owned()));
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

/// [`ErrorWhen`] as a response check.
struct ErrorCheck(ErrorWhen);

impl crate::error::ResponseCheck for ErrorCheck {
    fn check(&self, status: http::StatusCode, _: &http::HeaderMap, body: &[u8]) -> Option<Error> {
        let value: Value = serde_json::from_slice(body).ok()?;
        if value.pointer(&self.0.pointer) != Some(&self.0.equals) {
            return None;
        }
        let code = self
            .0
            .message
            .as_deref()
            .and_then(|p| value.pointer(p))
            .and_then(Value::as_str)
            .unwrap_or("the service answered an error");
        Some(
            Error::new(
                ErrorKind::Upstream,
                "the service answered an error with a success status",
            )
            .with_status(status.as_u16())
            .with_context("code", code.chars().take(200).collect::<String>()),
        )
    }
}

#[async_trait]
impl App for DeclarativeApp {
    fn manifest(&self) -> AppManifest {
        self.app_manifest.clone()
    }

    fn actions(&self) -> Vec<ActionDef> {
        // Checked in `new`: this cannot fail for an app that exists.
        self.definitions().map(|(a, _)| a).unwrap_or_default()
    }

    fn triggers(&self) -> Vec<TriggerDef> {
        self.definitions().map(|(_, t)| t).unwrap_or_default()
    }
}
