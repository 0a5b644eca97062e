#![doc = include_str!("docs.md")]

mod actions;
mod request;
mod triggers;

use async_trait::async_trait;
use aura_core::app::Category;
use aura_core::http::HttpPolicy;
use aura_core::trigger::TriggerDef;
use aura_core::{ActionDef, App, AppManifest};

pub use self::actions::RequestOutput;
pub use self::request::{MultipartField, RequestBody, RequestInput};
pub use self::triggers::PollParams;

/// The `http` app. Build it with the [`HttpPolicy`] the host wants (the default refuses
/// private and loopback addresses) and register it.
///
/// ```
/// use aura_connectors::http::HttpApp;
/// use aura_core::http::HttpPolicy;
/// use aura_core::net::SsrfGuard;
///
/// let registry = aura_core::Registry::new();
/// let policy = HttpPolicy::builder().guard(SsrfGuard::new().allow_host("intranet.local")).build();
/// registry.register(HttpApp::new().policy(policy))?;
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct HttpApp {
    policy: HttpPolicy,
}

impl HttpApp {
    /// The app with the default [`HttpPolicy`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends through `policy`.
    #[must_use]
    pub fn policy(mut self, policy: HttpPolicy) -> Self {
        self.policy = policy;
        self
    }
}

#[async_trait]
impl App for HttpApp {
    fn manifest(&self) -> AppManifest {
        crate::generic_auth::generic_auth(
            AppManifest::new("http", "HTTP", semver::Version::new(1, 0, 0))
                .category(Category::Workflow)
                .description("Any HTTP API: requests with a connection's credentials, and polling for new items")
                .tags(["http", "rest", "api", "webhook"]),
        )
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::with_state("request", self.policy.clone(), actions::request)
                .output_schema_of::<RequestOutput>()
                .name("Make an HTTP request")
                .description("Sends a request and returns its status, headers and body"),
        ]
    }

    fn triggers(&self) -> Vec<TriggerDef> {
        vec![
            TriggerDef::polling(
                "poll",
                triggers::HttpPoll {
                    policy: self.policy.clone(),
                },
            )
            .name("Poll a URL for new items")
            .params_schema(aura_core::schema::generate::<PollParams>()),
        ]
    }
}

#[cfg(test)]
mod tests;
