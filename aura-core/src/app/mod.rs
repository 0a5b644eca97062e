//! Apps: the services Aura talks to.
//!
//! An [`App`] is a manifest ([`AppManifest`]: id, name, version, category, auth methods …),
//! its actions and triggers, and a lifecycle: [`init`](App::init) once before first use,
//! [`test_connection`](App::test_connection) when a connection is created or checked,
//! [`cleanup`](App::cleanup) at shutdown.

mod manifest;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use self::manifest::{AppManifest, AuthMethod, Category, CredentialField, OAuth2Grant, RateLimit};
use crate::action::ActionDef;
use crate::context::Context;
use crate::error::{Error, Result, Violation};
use crate::trigger::TriggerDef;

/// An integration: a service with actions and triggers.
///
/// ```
/// use aura_core::{ActionDef, App, AppManifest, Context, Result};
/// use aura_core::app::Category;
///
/// struct Echo;
///
/// #[async_trait::async_trait]
/// impl App for Echo {
///     fn manifest(&self) -> AppManifest {
///         AppManifest::new("echo", "Echo", semver::Version::new(1, 0, 0)).category(Category::Workflow)
///     }
///
///     fn actions(&self) -> Vec<ActionDef> {
///         vec![ActionDef::new("say", |_cx: Context, text: String| async move { Ok(text) })]
///     }
/// }
/// ```
#[async_trait]
pub trait App: Send + Sync + 'static {
    /// What the app is.
    fn manifest(&self) -> AppManifest;

    /// Its actions. Called once, at registration.
    fn actions(&self) -> Vec<ActionDef>;

    /// Its triggers. Called once, at registration. Default: none.
    fn triggers(&self) -> Vec<TriggerDef> {
        Vec::new()
    }

    /// Prepares the app before its first use, with the host's configuration for it (a base URL,
    /// an API version …). Called once by the registry. Default: nothing to do.
    async fn init(&self, config: &AppConfig) -> Result<()> {
        let _ = config;
        Ok(())
    }

    /// Checks that the connection in `cx` works, with a cheap authenticated call (`auth.test`,
    /// `GET /me` …). Default: no check is available and the connection is accepted.
    async fn test_connection(&self, cx: &Context) -> Result<()> {
        let _ = cx;
        Ok(())
    }

    /// Releases what [`init`](App::init) acquired. Called once at shutdown.
    async fn cleanup(&self) -> Result<()> {
        Ok(())
    }
}

/// The host's configuration for one app, as JSON; read it with [`AppConfig::parse`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppConfig(Value);

impl AppConfig {
    /// A configuration.
    pub fn new(value: Value) -> Self {
        Self(value)
    }

    /// The raw JSON.
    pub fn as_json(&self) -> &Value {
        &self.0
    }

    /// The configuration as the app's own type; a failure names the bad field.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        serde_path_to_error::deserialize(&self.0).map_err(|e| {
            Error::invalid_input(
                "the app configuration is invalid",
                vec![Violation::new(
                    crate::error::json_pointer(e.path()),
                    "has the wrong shape or value",
                )],
            )
        })
    }
}
