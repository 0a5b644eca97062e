//! [`Request`]: what a routed call asks for: a capability, an operation, an input and the
//! constraints on who may serve it.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aura_core::{Context, Error, Result};
use serde_json::Value;

use crate::select::Strategy;

/// One routed call: `capability.operation(input)`, with hard constraints (preferred, allowed
/// and denied providers, required tags, a maximum price) and per-call settings.
///
/// ```
/// use std::time::Duration;
/// use aura_router::Request;
/// use serde_json::json;
///
/// let request = Request::new("chat", "complete", json!({ "prompt": "Hello" }))
///     .prefer(["anthropic", "openai"])
///     .deny(["legacy"])
///     .require_tag("region", "eu")
///     .max_price(0.01)
///     .expected_units(800.0)
///     .idempotency_key("order-42/summary")
///     .deadline(Duration::from_secs(20));
/// assert_eq!(request.capability(), "chat");
///
/// let parsed = Request::parse("chat.complete", json!({}))?;
/// assert_eq!(parsed.operation(), "complete");
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct Request {
    pub(crate) capability: Cow<'static, str>,
    pub(crate) operation: Cow<'static, str>,
    pub(crate) input: Value,
    pub(crate) context: Option<Context>,
    pub(crate) preferred: Vec<Arc<str>>,
    pub(crate) allowed: Option<Vec<Arc<str>>>,
    pub(crate) denied: Vec<Arc<str>>,
    pub(crate) tags: Vec<(Arc<str>, Arc<str>)>,
    pub(crate) max_price: Option<f64>,
    pub(crate) expected_units: Option<f64>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) strategy: Option<Arc<dyn Strategy>>,
    pub(crate) hedge: Option<bool>,
}

impl Request {
    /// A request for `capability.operation` with `input`.
    pub fn new(
        capability: impl Into<Cow<'static, str>>,
        operation: impl Into<Cow<'static, str>>,
        input: Value,
    ) -> Self {
        Self {
            capability: capability.into(),
            operation: operation.into(),
            input,
            context: None,
            preferred: Vec::new(),
            allowed: None,
            denied: Vec::new(),
            tags: Vec::new(),
            max_price: None,
            expected_units: None,
            idempotency_key: None,
            max_attempts: None,
            deadline: None,
            strategy: None,
            hedge: None,
        }
    }

    /// A request for a route written `"capability.operation"` (split at the last dot).
    pub fn parse(route: &str, input: Value) -> Result<Self> {
        let (capability, operation) = split_route(route)?;
        Ok(Self::new(capability.to_owned(), operation.to_owned(), input))
    }

    /// The context to call providers with: its cancellation stops the call, its idempotency
    /// key counts as the request's, and its extensions and span reach the providers. Default:
    /// a fresh context.
    pub fn context(mut self, cx: Context) -> Self {
        self.context = Some(cx);
        self
    }

    /// Tries these providers first, in this order (when eligible), then the others by the
    /// strategy.
    pub fn prefer<I, S>(mut self, providers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        self.preferred = providers.into_iter().map(Into::into).collect();
        self
    }

    /// Only these providers may serve it.
    pub fn allow<I, S>(mut self, providers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        self.allowed = Some(providers.into_iter().map(Into::into).collect());
        self
    }

    /// These providers may not serve it.
    pub fn deny<I, S>(mut self, providers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        self.denied = providers.into_iter().map(Into::into).collect();
        self
    }

    /// Only providers with this tag value may serve it (every required tag must match).
    pub fn require_tag(mut self, key: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// Only providers whose expected cost for this call is at most `price`.
    pub fn max_price(mut self, price: f64) -> Self {
        self.max_price = Some(price);
        self
    }

    /// How many units (tokens …) the call is expected to use, for expected costs. Without it,
    /// the router uses each provider's running average.
    pub fn expected_units(mut self, units: f64) -> Self {
        self.expected_units = Some(units);
        self
    }

    /// An idempotency key: providers get it in their context, and it makes retrying or
    /// parallelising a non-idempotent operation safe when the operation
    /// [honours it](crate::Operation::honours_idempotency_key).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// At most this many attempts (never more than the router's policy allows).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// The longest the call may take, all attempts included.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// A strategy for this call instead of the router's.
    pub fn strategy(mut self, strategy: impl Strategy + 'static) -> Self {
        self.strategy = Some(Arc::new(strategy));
        self
    }

    /// Turns hedging on or off for this call, whatever the router's setting.
    pub fn hedge(mut self, hedge: bool) -> Self {
        self.hedge = Some(hedge);
        self
    }

    /// The capability.
    pub fn capability(&self) -> &str {
        &self.capability
    }

    /// The operation.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The input.
    pub fn input(&self) -> &Value {
        &self.input
    }

    /// The idempotency key: the request's own, else its context's.
    pub fn effective_idempotency_key(&self) -> Option<&str> {
        self.idempotency_key
            .as_deref()
            .or_else(|| self.context.as_ref().and_then(Context::idempotency_key))
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("capability", &self.capability)
            .field("operation", &self.operation)
            .field("preferred", &self.preferred)
            .field("allowed", &self.allowed)
            .field("denied", &self.denied)
            .field("tags", &self.tags)
            .field("max_price", &self.max_price)
            .field("expected_units", &self.expected_units)
            .field("idempotency_key", &self.idempotency_key)
            .field("max_attempts", &self.max_attempts)
            .field("deadline", &self.deadline)
            .field("strategy", &self.strategy)
            .field("hedge", &self.hedge)
            .finish_non_exhaustive()
    }
}

/// Splits `"capability.operation"` at the last dot.
pub(crate) fn split_route(route: &str) -> Result<(&str, &str)> {
    match route.rsplit_once('.') {
        Some((capability, operation)) if !capability.is_empty() && !operation.is_empty() => Ok((capability, operation)),
        _ => Err(Error::invalid_definition(format!(
            "a route is written \"capability.operation\", not {route:?}"
        ))),
    }
}
