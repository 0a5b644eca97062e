#![doc = include_str!("docs.md")]

mod query;

use async_trait::async_trait;
use aura_core::app::Category;
use aura_core::http::HttpPolicy;
use aura_core::{ActionDef, App, AppManifest};

pub use self::query::{GraphqlError, Pages, QueryInput, QueryOutput, errors_of, kind_of};

/// The `graphql` app, sending through the host's [`HttpPolicy`] (the default refuses private
/// and loopback addresses).
#[derive(Clone, Debug, Default)]
pub struct GraphqlApp {
    policy: HttpPolicy,
}

impl GraphqlApp {
    /// The app with the default policy.
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
impl App for GraphqlApp {
    fn manifest(&self) -> AppManifest {
        crate::generic_auth::generic_auth(
            AppManifest::new("graphql", "GraphQL", semver::Version::new(1, 0, 0))
                .category(Category::Workflow)
                .description("Queries and mutations against any GraphQL API")
                .tags(["graphql", "api"]),
        )
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::with_state("query", self.policy.clone(), query::query)
                .name("Run a GraphQL query")
                .description("Sends a query or mutation; errors are typed, partial data kept"),
        ]
    }
}

#[cfg(test)]
mod tests;
