//! [`RouterNode`]: a scenario step that makes a routed call, `router:<capability>.<operation>`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aura_core::node::{Node, NodeInfo, NodeOutput, PrepareContext};
use aura_core::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::request::{Request, split_route};
use crate::router::RouterHandle;

/// A scenario node of kind `"router"`: calls `capability.operation` through the host's
/// [`Router`](crate::Router) with the node's input, and outputs the answer.
///
/// Its config names the route, as `{"route": "chat.complete"}` or
/// `{"capability": "chat", "operation": "complete"}`, and optionally the request's
/// constraints: `prefer`, `allow`, `deny` (provider ids), `tags` (required tag values),
/// `max_price`, `max_attempts`, `deadline_ms`, and `parallel` (run on that many providers at
/// once, first answer wins).
///
/// **The host attaches the router**: the node finds it in its context as a
/// [`RouterHandle`], put there with `Context::builder().extension(RouterHandle(router))` (or
/// however the engine lets a host add extensions to the contexts it builds). Without one the
/// node fails with an `InvalidDefinition` error that says so. The context's cancellation and
/// idempotency key flow to the providers.
///
/// ```
/// use std::sync::Arc;
/// use aura_core::Context;
/// use aura_core::node::Node;
/// use aura_router::{Operation, Provider, Router, RouterHandle};
/// use serde_json::{Value, json};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> aura_core::Result<()> {
/// let router = Router::builder()
///     .provider(
///         Provider::builder("echo")
///             .operation(Operation::new("text", "upper", |_cx, input: Value| async move {
///                 Ok(json!(input["text"].as_str().unwrap_or_default().to_uppercase()))
///             }))
///             .build()?,
///     )
///     .build()?;
///
/// let node: Box<dyn Node> = serde_json::from_value(json!({
///     "kind": "router",
///     "config": { "route": "text.upper" }
/// })).unwrap();
/// let cx = Context::builder().extension(RouterHandle(Arc::new(router))).build();
/// let out = node.run(&cx, json!({ "text": "hi" })).await?;
/// assert_eq!(out.value, json!("HI"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterNode {
    /// `"capability.operation"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The capability (with `operation`, instead of `route`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// The operation (with `capability`, instead of `route`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Providers to try first, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefer: Vec<String>,
    /// The only providers allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    /// Providers never to use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// Tag values a provider must have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The most a call may be expected to cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<f64>,
    /// At most this many attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// The call's deadline, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Run on this many providers at once; the first answer wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<usize>,
}

impl RouterNode {
    /// A node for `capability.operation`.
    pub fn new(capability: impl Into<String>, operation: impl Into<String>) -> Self {
        Self {
            capability: Some(capability.into()),
            operation: Some(operation.into()),
            ..Self::default()
        }
    }

    /// The (capability, operation) the config names, or an error naming the field.
    pub fn target(&self) -> Result<(String, String)> {
        match (&self.route, &self.capability, &self.operation) {
            (Some(route), None, None) => split_route(route)
                .map(|(c, o)| (c.to_owned(), o.to_owned()))
                .map_err(|e| e.with_context("field", "/config/route")),
            (None, Some(c), Some(o)) if !c.is_empty() && !o.is_empty() => Ok((c.clone(), o.clone())),
            _ => Err(Error::invalid_definition(
                "a router node names either `route` (\"capability.operation\") or both `capability` and `operation`",
            )
            .with_context("field", "/config")),
        }
    }

    fn request(&self, cx: &Context, input: Value) -> Result<Request> {
        let (capability, operation) = self.target()?;
        let mut request = Request::new(capability, operation, input)
            .context(cx.clone())
            .prefer(self.prefer.iter().map(String::as_str))
            .deny(self.deny.iter().map(String::as_str));
        if let Some(allow) = &self.allow {
            request = request.allow(allow.iter().map(String::as_str));
        }
        for (key, value) in &self.tags {
            request = request.require_tag(key.as_str(), value.as_str());
        }
        if let Some(max) = self.max_price {
            request = request.max_price(max);
        }
        if let Some(n) = self.max_attempts {
            request = request.max_attempts(n);
        }
        if let Some(ms) = self.deadline_ms {
            request = request.deadline(Duration::from_millis(ms));
        }
        Ok(request)
    }
}

#[typetag::serde(name = "router")]
#[async_trait]
impl Node for RouterNode {
    async fn prepare(&mut self, _cx: &PrepareContext<'_>) -> Result<()> {
        self.target().map(|_| ())
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            reference: self.target().ok().map(|(c, o)| format!("router:{c}.{o}")),
            ..NodeInfo::default()
        }
    }

    async fn run(&self, cx: &Context, input: Value) -> Result<NodeOutput> {
        let RouterHandle(router) = cx.extension::<RouterHandle>().ok_or_else(|| {
            Error::invalid_definition(
                "a router node needs a router: the host attaches one to the context as an aura_router::RouterHandle",
            )
        })?;
        let request = self.request(cx, input)?;
        let route = format!("{}.{}", request.capability(), request.operation());
        let routed = match self.parallel {
            Some(n) if n > 1 => router.execute_parallel(request, n).await,
            _ => router.execute(request).await,
        };
        match routed {
            Ok(routed) => {
                tracing::debug!(route = %route, provider = %routed.provider, "router node answered");
                Ok(NodeOutput::next(routed.value))
            }
            Err(err) => {
                tracing::debug!(route = %route, decision = %err.decision(), "router node failed");
                let error = err.into_error();
                Err(if error.context_value("route").is_some() {
                    error
                } else {
                    error.with_context("route", route)
                })
            }
        }
    }
}
