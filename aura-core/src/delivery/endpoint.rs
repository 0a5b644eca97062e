//! [`Endpoint`]: where deliveries go, which events, in which shape; and its compiled form.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;

use super::signing::WebhookSigner;
use crate::error::{Error, Result};
use crate::expr::{Expr, Mapping, Scope};
use crate::net::SsrfGuard;

/// How long one attempt may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// A receiver of webhooks: a URL, the event types it subscribed to, an optional filter and
/// transform, and its Standard Webhooks secret. `Debug` never shows the secret.
///
/// Event types are matched exactly (`execution.failed`), by prefix (`execution.*`) or all
/// (`*`). The filter is an expression ([`crate::expr`]) that must hold for an event to be
/// sent; the transform is a mapping that builds the body sent. Both see the event as
/// `trigger`: `{ "type": …, "timestamp": …, "data": <payload> }`, which is also the body
/// sent when there is no transform.
///
/// ```
/// use std::time::Duration;
/// use aura_core::delivery::{Batching, Endpoint};
/// use serde_json::json;
///
/// let endpoint = Endpoint::new("crm", "https://crm.example.com/hooks", "whsec_c2VjcmV0")
///     .event_type("execution.*")
///     .filter("trigger.data.scenario_id == 'billing'")
///     .transform(json!({ "text": "{{ trigger.type }}: {{ trigger.data.error }}" }))
///     .timeout(Duration::from_secs(10))
///     .batch(Batching::new(50, Duration::from_secs(2)));
/// assert_eq!(endpoint.id(), "crm");
/// assert!(!format!("{endpoint:?}").contains("c2VjcmV0"));
/// ```
#[derive(Clone)]
pub struct Endpoint {
    id: String,
    url: String,
    event_types: Vec<String>,
    filter: Option<String>,
    transform: Option<Value>,
    secret: SecretString,
    enabled: bool,
    timeout: Duration,
    batch: Option<Batching>,
}

/// How an endpoint's messages are grouped into one request: at most `max_size` messages,
/// sent at the latest `max_delay` after the first of them was queued. A batch's body is a
/// JSON array of the messages' bodies, and its `webhook-id` is its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    /// The most messages in one request (at least 1).
    pub max_size: usize,
    /// The longest a message waits for others.
    pub max_delay: Duration,
}

impl Batching {
    /// Batches of at most `max_size` messages, each waiting at most `max_delay`.
    pub fn new(max_size: usize, max_delay: Duration) -> Self {
        Self {
            max_size: max_size.max(1),
            max_delay,
        }
    }
}

impl Endpoint {
    /// An endpoint `id` at `url` signing with `secret` (`whsec_<base64>`), subscribed to no
    /// event type yet, enabled, with a [`DEFAULT_TIMEOUT`] per attempt.
    pub fn new(id: impl Into<String>, url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            url: url.into(),
            event_types: Vec::new(),
            filter: None,
            transform: None,
            secret: SecretString::from(secret.into()),
            enabled: true,
            timeout: DEFAULT_TIMEOUT,
            batch: None,
        }
    }

    /// Subscribes to one more event type: exact, `prefix.*`, or `*`.
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_types.push(event_type.into());
        self
    }

    /// Subscribes to these event types too.
    #[must_use]
    pub fn event_types<S: Into<String>>(mut self, event_types: impl IntoIterator<Item = S>) -> Self {
        self.event_types.extend(event_types.into_iter().map(Into::into));
        self
    }

    /// Sends only the events for which this expression holds.
    #[must_use]
    pub fn filter(mut self, expression: impl Into<String>) -> Self {
        self.filter = Some(expression.into());
        self
    }

    /// Builds the body sent with this mapping instead of sending the event as it is.
    #[must_use]
    pub fn transform(mut self, mapping: Value) -> Self {
        self.transform = Some(mapping);
        self
    }

    /// Sets how long one attempt may take.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Groups messages into batches.
    #[must_use]
    pub fn batch(mut self, batching: Batching) -> Self {
        self.batch = Some(batching);
        self
    }

    /// Adds the endpoint disabled (or enabled): a disabled endpoint gets nothing.
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The event types it subscribed to.
    pub fn subscribed(&self) -> &[String] {
        &self.event_types
    }

    /// Whether it is added enabled.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// How long one attempt may take.
    pub fn attempt_timeout(&self) -> Duration {
        self.timeout
    }

    /// Its batching, if any.
    pub fn batching(&self) -> Option<Batching> {
        self.batch
    }

    /// Checks and compiles the endpoint: URL (against `guard`, without resolving), secret,
    /// filter and transform. Errors are [`InvalidDefinition`](crate::ErrorKind::InvalidDefinition)
    /// (or the guard's [`Forbidden`](crate::ErrorKind::Forbidden)) naming the endpoint and the
    /// field, never the secret.
    pub(crate) fn compile(&self, guard: &SsrfGuard) -> Result<Route> {
        let at = |e: Error, field: &str| {
            e.with_context("endpoint", self.id.clone())
                .with_context("field", field.to_owned())
        };
        if self.id.is_empty() {
            return Err(at(Error::invalid_definition("an endpoint needs an id"), "/id"));
        }
        guard.check_target(&self.url).map_err(|e| at(e, "/url"))?;
        let signer = WebhookSigner::new(&self.secret).map_err(|e| at(e, "/secret"))?;
        let types = self
            .event_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                TypePattern::parse(t).ok_or_else(|| {
                    at(
                        Error::invalid_definition("an event type is empty"),
                        &format!("/event_types/{i}"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let filter = self
            .filter
            .as_deref()
            .map(|source| Expr::compile(source).map_err(|e| at(e, "/filter")))
            .transpose()?;
        let transform = match &self.transform {
            None => None,
            Some(template) => Some(Mapping::compile(template).map_err(|problems| {
                let field = problems
                    .first()
                    .map_or_else(|| "/transform".to_owned(), |p| format!("/transform{}", p.path));
                at(
                    Error::invalid_definition("the transform has expressions that do not parse"),
                    &field,
                )
                .with_violations(problems)
                .with_path_prefix("/transform")
            })?),
        };
        Ok(Route {
            url: self.url.clone(),
            types,
            filter,
            transform,
            signer,
            timeout: self.timeout,
            batch: self.batch,
        })
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("filter", &self.filter)
            .field("transform", &self.transform)
            .field("secret", &"[redacted]")
            .field("enabled", &self.enabled)
            .field("timeout", &self.timeout)
            .field("batch", &self.batch)
            .finish()
    }
}

/// An event type an endpoint subscribed to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TypePattern {
    All,
    Prefix(String),
    Exact(String),
}

impl TypePattern {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        Some(match text {
            "" => return None,
            "*" => Self::All,
            _ => match text.strip_suffix('*') {
                Some(prefix) => Self::Prefix(prefix.to_owned()),
                None => Self::Exact(text.to_owned()),
            },
        })
    }

    fn matches(&self, event_type: &str) -> bool {
        match self {
            Self::All => true,
            Self::Prefix(prefix) => event_type.starts_with(prefix.as_str()),
            Self::Exact(exact) => exact == event_type,
        }
    }
}

/// An endpoint compiled: what the dispatcher uses for every message.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) url: String,
    types: Vec<TypePattern>,
    filter: Option<Expr>,
    transform: Option<Mapping>,
    pub(crate) signer: WebhookSigner,
    pub(crate) timeout: Duration,
    pub(crate) batch: Option<Batching>,
}

impl Route {
    /// Whether the endpoint subscribed to `event_type`.
    pub(crate) fn subscribes(&self, event_type: &str) -> bool {
        self.types.iter().any(|t| t.matches(event_type))
    }

    /// The body for `event` (the envelope), or `None` when the filter drops it.
    pub(crate) fn shape(&self, event: &Value) -> Result<Option<Value>> {
        let scope = Scope::new(event);
        if let Some(filter) = &self.filter
            && !filter
                .eval_bool(&scope)
                .map_err(|e| e.with_context("field", "/filter"))?
        {
            return Ok(None);
        }
        match &self.transform {
            None => Ok(Some(event.clone())),
            Some(mapping) => mapping.eval(&scope).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_match_exactly_by_prefix_or_all() {
        let p = |t: &str| TypePattern::parse(t).unwrap_or(TypePattern::All);
        assert!(p("execution.*").matches("execution.failed"));
        assert!(!p("execution.*").matches("connection.error"));
        assert!(p("*").matches("anything"));
        assert!(p("execution.failed").matches("execution.failed"));
        assert!(!p("execution.failed").matches("execution.finished"));
        assert_eq!(TypePattern::parse(" "), None);
    }
}
