//! The registry: every app the host knows, found by id, category, tag or free text, and the
//! place `"app.action"` references resolve.
//!
//! Apps are registered ready-made ([`Registry::register`]) or lazily
//! ([`Registry::register_lazy`]): a lazy app's manifest is known at once (so that it is listed
//! and found), its factory runs on first use, exactly once even when many tasks ask at the
//! same moment. Either way [`App::init`] runs once, before first use.

mod search;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use futures::future::BoxFuture;
use semver::Version;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::action::Action;
use crate::app::{App, AppConfig, AppManifest, Category};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::key::Reference;
use crate::trigger::Trigger;

type Factory = Box<dyn Fn() -> BoxFuture<'static, Result<Arc<dyn App>>> + Send + Sync>;

/// The catalogue of apps. Share it behind an `Arc`; every method takes `&self`.
///
/// ```
/// # use aura_core::{ActionDef, App, AppManifest, Context, Registry};
/// # struct Echo;
/// # #[async_trait::async_trait]
/// # impl App for Echo {
/// #     fn manifest(&self) -> AppManifest { AppManifest::new("echo", "Echo", semver::Version::new(1, 0, 0)) }
/// #     fn actions(&self) -> Vec<ActionDef> {
/// #         vec![ActionDef::new("say", |_cx: Context, text: String| async move { Ok(text) })]
/// #     }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> aura_core::Result<()> {
/// let registry = Registry::new();
/// registry.register(Echo)?;
/// let say = registry.action("echo.say").await?;
/// let out = say.call(Context::new(), serde_json::json!("hi")).await?;
/// assert_eq!(out, "hi");
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct Registry {
    apps: RwLock<BTreeMap<String, BTreeMap<Version, Arc<Entry>>>>,
}

struct Entry {
    manifest: AppManifest,
    config: AppConfig,
    source: Source,
    loaded: OnceCell<Arc<AppHandle>>,
}

enum Source {
    Ready(Arc<AppHandle>),
    Lazy(Factory),
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a ready-made app with an empty configuration. Its manifest, actions and
    /// triggers are checked and compiled now; [`App::init`] runs on first use.
    ///
    /// Fails with [`crate::ErrorKind::Conflict`] when the same id and version is registered
    /// already, and with [`crate::ErrorKind::InvalidDefinition`] for a bad manifest, action or
    /// trigger.
    pub fn register(&self, app: impl App) -> Result<()> {
        self.register_with_config(Arc::new(app), AppConfig::default())
    }

    /// Registers a shared app with the host's configuration for it.
    pub fn register_with_config(&self, app: Arc<dyn App>, config: AppConfig) -> Result<()> {
        let handle = AppHandle::build(app)?;
        let manifest = handle.manifest.clone();
        self.insert(Entry {
            manifest,
            config,
            source: Source::Ready(Arc::new(handle)),
            loaded: OnceCell::new(),
        })
    }

    /// Registers an app whose construction is deferred to its first use. `manifest` is what
    /// listing and search show until then; the app the factory builds must carry the same id
    /// and version. A factory that fails is tried again on the next use.
    pub fn register_lazy<F, Fut, A>(&self, manifest: AppManifest, config: AppConfig, factory: F) -> Result<()>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<A>> + Send + 'static,
        A: App,
    {
        manifest.validate()?;
        let factory: Factory = Box::new(move || {
            let fut = factory();
            Box::pin(async move { Ok(Arc::new(fut.await?) as Arc<dyn App>) })
        });
        self.insert(Entry {
            manifest,
            config,
            source: Source::Lazy(factory),
            loaded: OnceCell::new(),
        })
    }

    /// Registers `app`, replacing the app of the same id and version if there is one (a
    /// manifest reloaded after its file changed). The swap is atomic: a lookup sees the old
    /// app or the new one, and actions already handed out (to executions running, to plans
    /// deployed) keep the version they were compiled from.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register), except that the same id and version is no conflict;
    /// the old app stays when the new one is refused.
    pub fn replace(&self, app: Arc<dyn App>) -> Result<()> {
        let handle = AppHandle::build(app)?;
        let manifest = handle.manifest.clone();
        self.insert_or_replace(
            Entry {
                manifest,
                config: AppConfig::default(),
                source: Source::Ready(Arc::new(handle)),
                loaded: OnceCell::new(),
            },
            true,
        )
    }

    /// Removes one version of an app; `false` when it was not registered. Actions already
    /// handed out keep working.
    pub fn unregister(&self, id: &str, version: &Version) -> bool {
        let mut apps = self.apps.write().unwrap_or_else(PoisonError::into_inner);
        let Some(versions) = apps.get_mut(id) else { return false };
        let removed = versions.remove(version).is_some();
        if versions.is_empty() {
            apps.remove(id);
        }
        removed
    }

    fn insert(&self, entry: Entry) -> Result<()> {
        self.insert_or_replace(entry, false)
    }

    fn insert_or_replace(&self, entry: Entry, replace: bool) -> Result<()> {
        let mut apps = self.apps.write().unwrap_or_else(PoisonError::into_inner);
        let versions = apps.entry(entry.manifest.id.clone()).or_default();
        if !replace && versions.contains_key(&entry.manifest.version) {
            return Err(Error::conflict("an app with this id and version is registered already")
                .with_context("app", entry.manifest.id.clone())
                .with_context("version", entry.manifest.version.to_string()));
        }
        versions.insert(entry.manifest.version.clone(), Arc::new(entry));
        Ok(())
    }

    fn entry(&self, id: &str, version: Option<&Version>) -> Result<Arc<Entry>> {
        let apps = self.apps.read().unwrap_or_else(PoisonError::into_inner);
        let versions = apps
            .get(id)
            .ok_or_else(|| Error::not_found("no app with this id is registered").with_context("app", id.to_owned()))?;
        let entry = match version {
            Some(v) => versions.get(v),
            None => versions.values().next_back(),
        };
        entry.cloned().ok_or_else(|| {
            Error::not_found("this version of the app is not registered")
                .with_context("app", id.to_owned())
                .with_context("version", version.map(ToString::to_string).unwrap_or_default())
        })
    }

    /// The newest version of an app, loaded (factory run, initialised) if it was not yet.
    pub async fn app(&self, id: &str) -> Result<Arc<AppHandle>> {
        self.load(self.entry(id, None)?).await
    }

    /// One version of an app, loaded if it was not yet.
    pub async fn app_version(&self, id: &str, version: &Version) -> Result<Arc<AppHandle>> {
        self.load(self.entry(id, Some(version))?).await
    }

    async fn load(&self, entry: Arc<Entry>) -> Result<Arc<AppHandle>> {
        let handle = entry
            .loaded
            .get_or_try_init(|| async {
                let handle = match &entry.source {
                    Source::Ready(handle) => handle.clone(),
                    Source::Lazy(factory) => {
                        let handle = AppHandle::build(factory().await?)?;
                        if handle.manifest.id != entry.manifest.id || handle.manifest.version != entry.manifest.version
                        {
                            return Err(Error::invalid_definition(format!(
                                "the lazy factory built {} {} instead of the registered version",
                                handle.manifest.id, handle.manifest.version
                            )));
                        }
                        Arc::new(handle)
                    }
                };
                handle.app.init(&entry.config).await?;
                Ok(handle)
            })
            .await
            .map_err(|e: Error| locate_app(e, &entry.manifest))?;
        Ok(handle.clone())
    }

    /// The manifest of the newest version of an app (never runs a factory).
    pub fn manifest(&self, id: &str) -> Result<AppManifest> {
        Ok(self.entry(id, None)?.manifest.clone())
    }

    /// Every registered manifest, every version, by id then version.
    pub fn manifests(&self) -> Vec<AppManifest> {
        self.entries().into_iter().map(|e| e.manifest.clone()).collect()
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        let apps = self.apps.read().unwrap_or_else(PoisonError::into_inner);
        apps.values().flat_map(|v| v.values().cloned()).collect()
    }

    fn newest(&self) -> Vec<Arc<Entry>> {
        let apps = self.apps.read().unwrap_or_else(PoisonError::into_inner);
        apps.values().filter_map(|v| v.values().next_back().cloned()).collect()
    }

    /// The newest version of every app in a category, by id.
    pub fn list_by_category(&self, category: &Category) -> Vec<AppManifest> {
        self.newest()
            .into_iter()
            .filter(|e| &e.manifest.category == category)
            .map(|e| e.manifest.clone())
            .collect()
    }

    /// The newest version of every app with a tag (case-insensitive), by id.
    pub fn list_by_tag(&self, tag: &str) -> Vec<AppManifest> {
        self.newest()
            .into_iter()
            .filter(|e| e.manifest.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)))
            .map(|e| e.manifest.clone())
            .collect()
    }

    /// Free-text search over id, name, description and tags of the newest versions. Every word
    /// of the query must match (case-insensitive, by prefix of a word); results come best first
    /// (name and id matches before tags, tags before description).
    pub fn search(&self, query: &str) -> Vec<AppManifest> {
        search::rank(self.newest().iter().map(|e| &e.manifest), query)
    }

    /// Resolves an `"app.action"` reference to the action of the newest version of the app.
    pub async fn action(&self, reference: &str) -> Result<Action> {
        let reference = Reference::parse(reference)?;
        let handle = self.app(reference.app().as_str()).await?;
        handle.action(reference.key().as_str()).cloned()
    }

    /// Resolves an `"app.trigger"` reference.
    pub async fn trigger(&self, reference: &str) -> Result<Trigger> {
        let reference = Reference::parse(reference)?;
        let handle = self.app(reference.app().as_str()).await?;
        handle.trigger(reference.key().as_str()).cloned()
    }

    /// Tests a connection with its app's [`App::test_connection`]; `cx` carries the connection.
    pub async fn test_connection(&self, cx: &Context) -> Result<()> {
        let conn = cx.require_connection()?;
        let handle = self.app(conn.app_id()).await?;
        handle
            .app
            .test_connection(cx)
            .await
            .map_err(|e| e.with_context("connection", conn.id().to_string()))
    }

    /// The whole catalogue as JSON for a host's UI: every app (newest version) with its
    /// manifest, actions and triggers, schemas included. Loads lazy apps.
    pub async fn catalogue(&self) -> Result<Value> {
        let mut apps = Vec::new();
        for entry in self.newest() {
            apps.push(self.load(entry).await?.catalogue_entry());
        }
        Ok(json!({ "apps": apps }))
    }

    /// Runs [`App::cleanup`] on every loaded app; reports the first failure after trying all.
    pub async fn cleanup(&self) -> Result<()> {
        let mut first_error = None;
        for entry in self.entries() {
            if let Some(handle) = entry.loaded.get()
                && let Err(e) = handle.app.cleanup().await
            {
                tracing::warn!(app = %entry.manifest.id, error = %e, "app cleanup failed");
                first_error.get_or_insert(locate_app(e, &entry.manifest));
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self
            .manifests()
            .iter()
            .map(|m| format!("{}@{}", m.id, m.version))
            .collect();
        f.debug_struct("Registry").field("apps", &ids).finish()
    }
}

fn locate_app(err: Error, manifest: &AppManifest) -> Error {
    if err.context_value("app").is_some() {
        return err;
    }
    err.with_context("app", manifest.id.clone())
        .with_context("version", manifest.version.to_string())
}

/// A loaded app: its manifest and compiled actions and triggers.
pub struct AppHandle {
    app: Arc<dyn App>,
    manifest: AppManifest,
    actions: BTreeMap<String, Action>,
    triggers: BTreeMap<String, Trigger>,
}

impl AppHandle {
    fn build(app: Arc<dyn App>) -> Result<Self> {
        let manifest = app.manifest();
        manifest.validate()?;
        let mut actions = BTreeMap::new();
        for def in app.actions() {
            let action = def.compile(&manifest.id)?;
            if actions.insert(action.key().to_owned(), action.clone()).is_some() {
                return Err(Error::invalid_definition("two actions share a key")
                    .with_context("app", manifest.id.clone())
                    .with_context("action", action.key().to_owned()));
            }
        }
        let mut triggers = BTreeMap::new();
        for def in app.triggers() {
            let trigger = def.compile(&manifest.id)?;
            if triggers
                .insert(trigger.manifest().key.clone(), trigger.clone())
                .is_some()
            {
                return Err(Error::invalid_definition("two triggers share a key")
                    .with_context("app", manifest.id.clone())
                    .with_context("trigger", trigger.manifest().key.clone()));
            }
        }
        Ok(Self {
            app,
            manifest,
            actions,
            triggers,
        })
    }

    /// The app itself.
    pub fn app(&self) -> &Arc<dyn App> {
        &self.app
    }

    /// Its manifest.
    pub fn manifest(&self) -> &AppManifest {
        &self.manifest
    }

    /// One action by key.
    pub fn action(&self, key: &str) -> Result<&Action> {
        self.actions.get(key).ok_or_else(|| {
            Error::not_found("the app has no action with this key")
                .with_context("app", self.manifest.id.clone())
                .with_context("action", key.to_owned())
        })
    }

    /// Every action, by key.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.actions.values()
    }

    /// One trigger by key.
    pub fn trigger(&self, key: &str) -> Result<&Trigger> {
        self.triggers.get(key).ok_or_else(|| {
            Error::not_found("the app has no trigger with this key")
                .with_context("app", self.manifest.id.clone())
                .with_context("trigger", key.to_owned())
        })
    }

    /// Every trigger, by key.
    pub fn triggers(&self) -> impl Iterator<Item = &Trigger> {
        self.triggers.values()
    }

    /// The app's catalogue entry: the manifest with `actions` and `triggers` (schemas included).
    pub fn catalogue_entry(&self) -> Value {
        let mut entry = serde_json::to_value(&self.manifest).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut entry {
            map.insert(
                "actions".into(),
                json!(self.actions.values().map(Action::manifest).collect::<Vec<_>>()),
            );
            map.insert(
                "triggers".into(),
                json!(self.triggers.values().map(Trigger::manifest).collect::<Vec<_>>()),
            );
        }
        entry
    }
}

impl fmt::Debug for AppHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppHandle")
            .field("id", &self.manifest.id)
            .field("version", &self.manifest.version.to_string())
            .field("actions", &self.actions.keys().collect::<Vec<_>>())
            .field("triggers", &self.triggers.keys().collect::<Vec<_>>())
            .finish()
    }
}
