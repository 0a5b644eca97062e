//! Actions: one operation of an app (`slack.send_message`), typed at the edge, JSON inside.
//!
//! A connector author writes an async function from a typed input to a typed output, the way
//! an axum handler is written, and wraps it in an [`ActionDef`]:
//!
//! ```
//! use aura_core::{ActionDef, Context, Result};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct SendMessage {
//!     /// Channel id, such as `C024BE91L`.
//!     channel: String,
//!     text: String,
//! }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Sent {
//!     ts: String,
//! }
//!
//! async fn send_message(_cx: Context, input: SendMessage) -> Result<Sent> {
//!     Ok(Sent { ts: format!("{}:{}", input.channel, input.text.len()) })
//! }
//!
//! let action = ActionDef::new("send_message", send_message)
//!     .name("Send a message")
//!     .description("Posts a message to a channel.");
//! ```
//!
//! The registry compiles each definition into an [`Action`]: the input schema is compiled once,
//! every call is validated against it before the handler runs, and a failure lists every bad
//! field by JSON pointer.

mod handler;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument as _;

use self::handler::{ErasedHandler, JsonHandler, TypedHandler, WithState};
pub use self::handler::{Handler, StateHandler};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::key::{Key, Reference};
use crate::schema::{self, Schema};

/// A definition of an action, as a connector author writes it. The registry compiles it into
/// an [`Action`].
pub struct ActionDef {
    manifest: ActionManifest,
    handler: Arc<dyn ErasedHandler>,
}

/// What an action is, as shown in a catalogue: its key, names, schemas and behaviour.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ActionManifest {
    /// The key, unique within its app (`"send_message"`); referenced as `"app.key"`.
    pub key: String,
    /// A display name.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// The JSON Schema (draft 2020-12) of its input.
    pub input_schema: Value,
    /// The JSON Schema (draft 2020-12) of its output.
    pub output_schema: Value,
    /// Whether running it twice with the same input has the effect of running it once.
    #[serde(default)]
    pub idempotent: bool,
    /// For how long a result may be reused for the same input and connection (`None`: never).
    #[serde(default, with = "crate::durations::opt_secs")]
    pub cache_ttl: Option<Duration>,
}

impl ActionDef {
    /// An action from a typed handler: an async function or closure
    /// `(Context, Input) -> Result<Output>`. The schemas are generated from the types.
    pub fn new<I, O, H>(key: impl Into<String>, handler: H) -> Self
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        O: Serialize + JsonSchema + Send + 'static,
        H: Handler<I, O>,
    {
        let key = key.into();
        Self {
            manifest: ActionManifest {
                name: key.clone(),
                key,
                description: String::new(),
                input_schema: schema::generate::<I>(),
                output_schema: schema::generate::<O>(),
                idempotent: false,
                cache_ttl: None,
            },
            handler: Arc::new(TypedHandler::new(handler)),
        }
    }

    /// An action from a typed handler that gets shared state, the axum way: an async function
    /// or closure `(S, Context, Input) -> Result<Output>`. Every call gets its own clone of
    /// `state`, so no closure has to clone it by hand; make `S` cheap to clone (an `Arc`, or a
    /// struct of `Arc`s and HTTP clients). The schemas are generated from the types.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use aura_core::{ActionDef, Context, Result};
    /// use schemars::JsonSchema;
    /// use serde::{Deserialize, Serialize};
    ///
    /// /// What every action of the app shares: the base URL, an HTTP client, …
    /// struct Core {
    ///     base_url: String,
    /// }
    ///
    /// #[derive(Deserialize, JsonSchema)]
    /// struct PostMessage {
    ///     channel: String,
    /// }
    ///
    /// #[derive(Serialize, JsonSchema)]
    /// struct Posted {
    ///     url: String,
    /// }
    ///
    /// async fn post_message(core: Arc<Core>, _cx: Context, input: PostMessage) -> Result<Posted> {
    ///     Ok(Posted { url: format!("{}/chat.postMessage?channel={}", core.base_url, input.channel) })
    /// }
    ///
    /// let core = Arc::new(Core { base_url: "https://slack.com/api".to_owned() });
    /// let action = ActionDef::with_state("post_message", core, post_message).name("Post a message");
    /// # let _ = action;
    /// ```
    pub fn with_state<S, I, O, H>(key: impl Into<String>, state: S, handler: H) -> Self
    where
        S: Clone + Send + Sync + 'static,
        I: DeserializeOwned + JsonSchema + Send + 'static,
        O: Serialize + JsonSchema + Send + 'static,
        H: StateHandler<S, I, O>,
    {
        Self::new(key, WithState { state, handler })
    }

    /// An action over plain JSON with schemas given as JSON, for actions whose shape is only
    /// known at run time (generated from an OpenAPI document, say) and for mocks.
    pub fn from_json<H, Fut>(key: impl Into<String>, input_schema: Value, output_schema: Value, handler: H) -> Self
    where
        H: Fn(Context, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value>> + Send + 'static,
    {
        let key = key.into();
        Self {
            manifest: ActionManifest {
                name: key.clone(),
                key,
                description: String::new(),
                input_schema,
                output_schema,
                idempotent: false,
                cache_ttl: None,
            },
            handler: Arc::new(JsonHandler(handler)),
        }
    }

    /// Declares the output's schema from `T` instead of from the handler's output type: for a
    /// handler that builds its output as JSON itself. A handler returning a [`Value`] hands it
    /// over as it is, where a typed output is serialized (every string in it copied), so an
    /// action that passes on a large JSON answer returns it as a `Value` shaped as `T`.
    ///
    /// ```
    /// use aura_core::{ActionDef, Context, Result};
    /// use schemars::JsonSchema;
    /// use serde::{Deserialize, Serialize};
    /// use serde_json::{Value, json};
    ///
    /// #[derive(Deserialize, JsonSchema)]
    /// struct Fetch {
    ///     id: String,
    /// }
    ///
    /// /// What `fetch` returns (built as JSON by the handler).
    /// #[derive(Serialize, JsonSchema)]
    /// struct Fetched {
    ///     status: u16,
    ///     body: Value,
    /// }
    ///
    /// async fn fetch(_cx: Context, input: Fetch) -> Result<Value> {
    ///     let body = json!({ "id": input.id }); // the service's answer, parsed once
    ///     Ok(json!({ "status": 200, "body": body }))
    /// }
    ///
    /// let action = ActionDef::new("fetch", fetch).output_schema_of::<Fetched>();
    /// assert_eq!(action.manifest().output_schema["properties"]["status"]["type"], "integer");
    /// ```
    #[must_use]
    pub fn output_schema_of<T: JsonSchema>(mut self) -> Self {
        self.manifest.output_schema = schema::generate::<T>();
        self
    }

    /// Sets the display name (default: the key).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.manifest.name = name.into();
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.manifest.description = description.into();
        self
    }

    /// Declares that running the action twice with the same input is harmless (reads, upserts,
    /// writes deduplicated by an idempotency key). Retries and failover rely on it.
    #[must_use]
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.manifest.idempotent = idempotent;
        self
    }

    /// Declares that a result may be reused for `ttl` for the same input and connection.
    #[must_use]
    pub fn cacheable(mut self, ttl: Duration) -> Self {
        self.manifest.cache_ttl = Some(ttl);
        self
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> &ActionManifest {
        &self.manifest
    }

    /// Compiles the definition for the app `app_id`: checks the key and compiles the input
    /// schema. Errors name the app and the action.
    pub fn compile(self, app_id: &str) -> Result<Action> {
        let ActionDef { manifest, handler } = self;
        let where_ = |e: Error| {
            e.with_context("app", app_id.to_owned())
                .with_context("action", manifest.key.clone())
        };
        let reference = Reference::new(
            Key::named("app id", app_id).map_err(where_)?,
            Key::named("action key", manifest.key.clone()).map_err(where_)?,
        );
        let input =
            Schema::compile(manifest.input_schema.clone()).map_err(|e| where_(e.with_context("schema", "input")))?;
        // The output schema is compiled too, so that a broken one is found at registration.
        let output =
            Schema::compile(manifest.output_schema.clone()).map_err(|e| where_(e.with_context("schema", "output")))?;
        Ok(Action {
            inner: Arc::new(ActionInner {
                reference,
                manifest,
                input,
                output,
                handler,
            }),
        })
    }
}

impl fmt::Debug for ActionDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionDef")
            .field("key", &self.manifest.key)
            .finish_non_exhaustive()
    }
}

/// A compiled action, ready to call with JSON. Cheap to clone.
#[derive(Clone)]
pub struct Action {
    inner: Arc<ActionInner>,
}

struct ActionInner {
    reference: Reference,
    manifest: ActionManifest,
    input: Schema,
    output: Schema,
    handler: Arc<dyn ErasedHandler>,
}

impl Action {
    /// `"app.key"`, the way scenarios refer to it.
    pub fn reference(&self) -> &str {
        self.inner.reference.as_str()
    }

    /// `"app.key"` as a typed [`Reference`].
    pub fn typed_reference(&self) -> &Reference {
        &self.inner.reference
    }

    /// The app it belongs to.
    pub fn app_id(&self) -> &str {
        self.inner.reference.app().as_str()
    }

    /// Its key within the app.
    pub fn key(&self) -> &str {
        &self.inner.manifest.key
    }

    /// Its manifest.
    pub fn manifest(&self) -> &ActionManifest {
        &self.inner.manifest
    }

    /// The compiled input schema.
    pub fn input_schema(&self) -> &Schema {
        &self.inner.input
    }

    /// The compiled output schema.
    pub fn output_schema(&self) -> &Schema {
        &self.inner.output
    }

    /// Whether it is safe to run twice.
    pub fn is_idempotent(&self) -> bool {
        self.inner.manifest.idempotent
    }

    /// For how long results may be cached, if at all.
    pub fn cache_ttl(&self) -> Option<Duration> {
        self.inner.manifest.cache_ttl
    }

    /// Checks `input` against the input schema, listing every bad field.
    pub fn validate_input(&self, input: &Value) -> Result<()> {
        self.inner.input.validate(input, "input").map_err(|e| self.locate(e))
    }

    /// Validates `input`, runs the handler (inside the context's span, stopping at once when
    /// the context is cancelled) and returns its output as JSON. Errors name the action.
    pub async fn call(&self, cx: Context, input: Value) -> Result<Value> {
        self.validate_input(&input)?;
        let run = self.inner.handler.call(cx.clone(), input);
        self.finish(&cx, run).await
    }

    /// [`Action::call`] on an input shared with the caller (the engine keeps it for the
    /// record): a typed handler reads its input from it without copying it.
    pub async fn call_shared(&self, cx: Context, input: Arc<Value>) -> Result<Value> {
        self.call_shared_ref(&cx, input).await
    }

    /// [`call_shared`](Self::call_shared) with the caller's context: the handler's copy is
    /// the only one made.
    pub(crate) async fn call_shared_ref(&self, cx: &Context, input: Arc<Value>) -> Result<Value> {
        self.validate_input(&input)?;
        let run = self.inner.handler.call_shared(cx.clone(), input);
        self.finish(cx, run).await
    }

    /// Runs a handler's future inside the context's span, stopping at once when the context
    /// is cancelled; counts the call on the connection and names the action in errors.
    async fn finish(&self, cx: &Context, run: futures::future::BoxFuture<'static, Result<Value>>) -> Result<Value> {
        let span = cx.span().clone();
        let result = cx
            .unless_cancelled("the action was cancelled", run.instrument(span))
            .await;
        if let Some(conn) = cx.connection() {
            conn.record_call(result.as_ref().map(|_| ()));
        }
        result.map_err(|e| self.locate(e))
    }

    fn locate(&self, err: Error) -> Error {
        if err.context_value("action").is_some() {
            return err;
        }
        err.with_context("action", self.inner.reference.to_string())
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Action")
            .field("reference", &self.inner.reference)
            .field("idempotent", &self.inner.manifest.idempotent)
            .field("cache_ttl", &self.inner.manifest.cache_ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
