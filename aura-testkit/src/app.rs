//! [`MockApp`]: an app made of mocks.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use aura_core::app::{AppConfig, AuthMethod, Category, RateLimit};
use aura_core::semver::Version;
use aura_core::trigger::TriggerDef;
use aura_core::{ActionDef, App, AppManifest, Context, Result};

use crate::failure::Failure;
use crate::mock_action::MockAction;
use crate::mock_polling::MockPolling;

/// An app built from [`MockAction`]s and [`MockPolling`] triggers, that counts its lifecycle
/// calls and can be told to fail connection tests. Clones share their state: register one,
/// keep another to look at.
#[derive(Clone)]
pub struct MockApp {
    manifest: AppManifest,
    actions: Vec<MockAction>,
    triggers: Vec<MockPolling>,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    inits: AtomicU32,
    cleanups: AtomicU32,
    connection_tests: AtomicU32,
    config: Mutex<Option<AppConfig>>,
    connection_failure: Mutex<Option<Failure>>,
}

impl MockApp {
    /// A mock app `id`, version 1.0.0, category workflow, tagged `mock`.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        let manifest = AppManifest::new(id.clone(), format!("Mock {id}"), Version::new(1, 0, 0))
            .description(format!("A mock of {id} for tests"))
            .tags(["mock"]);
        Self {
            manifest,
            actions: Vec::new(),
            triggers: Vec::new(),
            state: Arc::default(),
        }
    }

    /// Sets the version.
    #[must_use]
    pub fn version(mut self, version: Version) -> Self {
        self.manifest.version = version;
        self
    }

    /// Sets the category.
    #[must_use]
    pub fn category(mut self, category: Category) -> Self {
        self.manifest.category = category;
        self
    }

    /// Sets the tags.
    #[must_use]
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.manifest.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.manifest.description = description.into();
        self
    }

    /// Adds an auth method.
    #[must_use]
    pub fn auth(mut self, method: AuthMethod) -> Self {
        self.manifest.auth.push(method);
        self
    }

    /// Sets the documented rate limit.
    #[must_use]
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.manifest.rate_limit = Some(limit);
        self
    }

    /// Adds an action.
    #[must_use]
    pub fn action(mut self, action: MockAction) -> Self {
        self.actions.push(action);
        self
    }

    /// Adds a polling trigger.
    #[must_use]
    pub fn polling(mut self, trigger: MockPolling) -> Self {
        self.triggers.push(trigger);
        self
    }

    /// Makes every connection test fail (or pass again with `None`).
    pub fn fail_connection_tests(&self, failure: Option<Failure>) {
        *self
            .state
            .connection_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = failure;
    }

    /// How many times `init` ran.
    pub fn inits(&self) -> u32 {
        self.state.inits.load(Ordering::SeqCst)
    }

    /// How many times `cleanup` ran.
    pub fn cleanups(&self) -> u32 {
        self.state.cleanups.load(Ordering::SeqCst)
    }

    /// How many connection tests ran.
    pub fn connection_tests(&self) -> u32 {
        self.state.connection_tests.load(Ordering::SeqCst)
    }

    /// The configuration `init` received last.
    pub fn config(&self) -> Option<AppConfig> {
        self.state.config.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl App for MockApp {
    fn manifest(&self) -> AppManifest {
        self.manifest.clone()
    }

    fn actions(&self) -> Vec<ActionDef> {
        self.actions.iter().map(MockAction::to_def).collect()
    }

    fn triggers(&self) -> Vec<TriggerDef> {
        self.triggers.iter().map(MockPolling::to_def).collect()
    }

    async fn init(&self, config: &AppConfig) -> Result<()> {
        self.state.inits.fetch_add(1, Ordering::SeqCst);
        *self.state.config.lock().unwrap_or_else(PoisonError::into_inner) = Some(config.clone());
        Ok(())
    }

    async fn test_connection(&self, cx: &Context) -> Result<()> {
        cx.require_connection()?;
        self.state.connection_tests.fetch_add(1, Ordering::SeqCst);
        let failure = self
            .state
            .connection_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        failure.map_or(Ok(()), |f| Err(f.to_error()))
    }

    async fn cleanup(&self) -> Result<()> {
        self.state.cleanups.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl std::fmt::Debug for MockApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockApp")
            .field("id", &self.manifest.id)
            .field("actions", &self.actions)
            .field("triggers", &self.triggers)
            .finish_non_exhaustive()
    }
}
