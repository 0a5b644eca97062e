//! Handlers: the function inside an action, typed for authors and erased for the registry.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::Context;
use crate::error::{Error, Result, Violation};

/// A typed action handler: implemented by every async function or closure
/// `Fn(Context, I) -> impl Future<Output = Result<O>>`.
///
/// Implement it by hand for a handler that keeps state in a struct.
pub trait Handler<I, O>: Send + Sync + 'static {
    /// Runs the action.
    fn call(&self, cx: Context, input: I) -> BoxFuture<'static, Result<O>>;

    /// Runs the action and hands its output over as JSON (what the registry calls). The
    /// default wraps [`call`](Self::call)'s future; a handler whose future type is known
    /// (every closure) does both in one boxed future.
    fn call_json(&self, cx: Context, input: I) -> BoxFuture<'static, Result<Value>>
    where
        O: Serialize + Send + 'static,
    {
        json_output(self.call(cx, input))
    }
}

impl<F, Fut, I, O> Handler<I, O> for F
where
    F: Fn(Context, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O>> + Send + 'static,
{
    fn call(&self, cx: Context, input: I) -> BoxFuture<'static, Result<O>> {
        Box::pin(self(cx, input))
    }

    fn call_json(&self, cx: Context, input: I) -> BoxFuture<'static, Result<Value>>
    where
        O: Serialize + Send + 'static,
    {
        json_output(self(cx, input))
    }
}

/// A typed action handler that takes shared state first, the way an axum handler takes
/// `State<S>`: implemented by every async function or closure
/// `Fn(S, Context, I) -> impl Future<Output = Result<O>>`. Used by
/// [`ActionDef::with_state`](super::ActionDef::with_state), which hands each call its own clone
/// of the state (so `S` should be cheap to clone: an `Arc`, or a struct of `Arc`s and clients).
pub trait StateHandler<S, I, O>: Send + Sync + 'static {
    /// Runs the action with the state.
    fn call(&self, state: S, cx: Context, input: I) -> BoxFuture<'static, Result<O>>;

    /// Runs the action with the state and hands its output over as JSON, as
    /// [`Handler::call_json`] does.
    fn call_json(&self, state: S, cx: Context, input: I) -> BoxFuture<'static, Result<Value>>
    where
        O: Serialize + Send + 'static,
    {
        json_output(self.call(state, cx, input))
    }
}

impl<F, Fut, S, I, O> StateHandler<S, I, O> for F
where
    F: Fn(S, Context, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O>> + Send + 'static,
{
    fn call(&self, state: S, cx: Context, input: I) -> BoxFuture<'static, Result<O>> {
        Box::pin(self(state, cx, input))
    }

    fn call_json(&self, state: S, cx: Context, input: I) -> BoxFuture<'static, Result<Value>>
    where
        O: Serialize + Send + 'static,
    {
        json_output(self(state, cx, input))
    }
}

/// What the registry holds: JSON in, JSON out.
pub(crate) trait ErasedHandler: Send + Sync {
    fn call(&self, cx: Context, input: Value) -> BoxFuture<'static, Result<Value>>;

    /// The same on a shared input: a typed handler reads its input type from it without a
    /// copy; a JSON handler gets its own copy (unless it is the only holder).
    fn call_shared(&self, cx: Context, input: Arc<Value>) -> BoxFuture<'static, Result<Value>> {
        self.call(cx, Arc::unwrap_or_clone(input))
    }
}

pub(crate) struct TypedHandler<H, I, O> {
    handler: H,
    _types: PhantomData<fn(I) -> O>,
}

impl<H, I, O> TypedHandler<H, I, O> {
    pub(crate) fn new(handler: H) -> Self {
        Self {
            handler,
            _types: PhantomData,
        }
    }
}

impl<H, I, O> ErasedHandler for TypedHandler<H, I, O>
where
    H: Handler<I, O>,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
{
    fn call(&self, cx: Context, input: Value) -> BoxFuture<'static, Result<Value>> {
        self.run(cx, decode(&input))
    }

    fn call_shared(&self, cx: Context, input: Arc<Value>) -> BoxFuture<'static, Result<Value>> {
        self.run(cx, decode(&input))
    }
}

/// The typed input, or the JSON pointer of where it does not fit. The path is tracked only
/// when the plain decoding failed: tracking it costs on every field.
fn decode<I: DeserializeOwned>(input: &Value) -> std::result::Result<I, String> {
    I::deserialize(input)
        .or_else(|_| serde_path_to_error::deserialize(input).map_err(|e| crate::error::json_pointer(e.path())))
}

impl<H, I, O> TypedHandler<H, I, O>
where
    H: Handler<I, O>,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
{
    fn run(&self, cx: Context, input: std::result::Result<I, String>) -> BoxFuture<'static, Result<Value>> {
        // The input already passed the schema; a serde failure here means the schema and the
        // type disagree (a custom Deserialize, say). Report the path, not the value.
        let input: I = match input {
            Ok(input) => input,
            Err(path) => {
                return Box::pin(std::future::ready(Err(Error::invalid_input(
                    "input does not fit the action's input type",
                    vec![Violation::new(path, "has the wrong shape or value")],
                ))));
            }
        };
        self.handler.call_json(cx, input)
    }
}

/// A handler's future with its output made JSON ([`into_json`]), boxed once. A combinator
/// rather than an `async` block, which would hold the handler's future twice (its capture
/// and the awaited copy), doubling every call's allocation.
fn json_output<O, F>(fut: F) -> BoxFuture<'static, Result<Value>>
where
    O: Serialize + Send + 'static,
    F: Future<Output = Result<O>> + Send + 'static,
{
    Box::pin(fut.map(|output| output.and_then(into_json)))
}

/// A handler's output as JSON: a [`Value`] is handed over as it is (serializing it would copy
/// every string in it); any other type is serialized.
fn into_json<O: Serialize + 'static>(output: O) -> Result<Value> {
    let mut slot = Some(output);
    let any: &mut dyn Any = &mut slot;
    if let Some(value) = any.downcast_mut::<Option<Value>>().and_then(Option::take) {
        return Ok(value);
    }
    serde_json::to_value(slot)
        .map_err(|e| Error::internal("the action's output could not be serialized").with_source(e))
}

/// A [`StateHandler`] with its state: a [`Handler`] that hands each call a clone of the state
/// (and its future as the state handler boxed it, not boxed again).
pub(crate) struct WithState<S, H> {
    pub(crate) state: S,
    pub(crate) handler: H,
}

impl<S, I, O, H> Handler<I, O> for WithState<S, H>
where
    S: Clone + Send + Sync + 'static,
    H: StateHandler<S, I, O>,
{
    fn call(&self, cx: Context, input: I) -> BoxFuture<'static, Result<O>> {
        self.handler.call(self.state.clone(), cx, input)
    }

    fn call_json(&self, cx: Context, input: I) -> BoxFuture<'static, Result<Value>>
    where
        O: Serialize + Send + 'static,
    {
        self.handler.call_json(self.state.clone(), cx, input)
    }
}

pub(crate) struct JsonHandler<F>(pub(crate) F);

impl<F, Fut> ErasedHandler for JsonHandler<F>
where
    F: Fn(Context, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value>> + Send + 'static,
{
    fn call(&self, cx: Context, input: Value) -> BoxFuture<'static, Result<Value>> {
        Box::pin((self.0)(cx, input))
    }
}
