//! LLM apps as providers of one router capability, `chat.complete`: the router's weighted
//! choice, failover, health, budgets and decision records apply to chat calls.

use std::sync::Arc;

use aura_core::connection::Connection;
use aura_core::{Action, Context};
use aura_router::{CostModel, Operation, Provider, ProviderBuilder};

/// The capability every chat provider serves.
pub const CAPABILITY: &str = "chat";
/// Its operation.
pub const OPERATION: &str = "complete";

/// A provider of `chat.complete` named `id`, calling `action` (an app's `chat` action, from
/// the registry) with `connection`'s credentials, costed by the answers' `cost_usd`. Add
/// weight, priority, budget or limits to the builder, then `build()`.
///
/// ```no_run
/// # async fn f(registry: aura_core::Registry, openai_key: std::sync::Arc<dyn aura_core::connection::Connection>) -> aura_core::Result<()> {
/// use aura_connectors::llm::chat_provider;
///
/// let action = registry.action("openai.chat").await?;
/// let provider = chat_provider("openai", action, openai_key).weight(5).build()?;
/// let router = aura_router::Router::builder().provider(provider).build()?;
/// # Ok(()) }
/// ```
pub fn chat_provider(id: impl Into<Arc<str>>, action: Action, connection: Arc<dyn Connection>) -> ProviderBuilder {
    let operation = Operation::new(CAPABILITY, OPERATION, move |cx: Context, input| {
        let action = action.clone();
        let cx = cx.to_builder().connection(connection.clone()).build();
        async move { action.call(cx, input).await }
    })
    // A chat call changes nothing at the vendor but its bill: another try (here or at another
    // provider) after a 5xx or a timeout is safe, as the vendors' own SDKs retry by default.
    .idempotent(true);
    Provider::builder(id)
        .operation(operation)
        .cost(CostModel::per_call(0.0).per_unit("/cost_usd", 1.0))
        .tag("kind", "llm")
}
