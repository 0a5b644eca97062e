//! [`Context`]: what an action, trigger or node gets to work with.

mod cancel;

use std::any::{Any, TypeId};
use std::fmt::{self, Write as _};
use std::sync::{Arc, OnceLock};

use futures::future::{BoxFuture, Either};
use tokio_util::sync::CancellationToken;

use self::cancel::UnlessCancelled;
pub(crate) use self::cancel::UntilCancelled;
use crate::connection::Connection;
use crate::error::{Error, Result};
// Defined in a low module of its own so that the connection layer (the OAuth2 client) shares
// it without depending on `context`.
pub use crate::http_client::shared_http_client;

/// Everything a step of work needs besides its input: the connection, a shared HTTP client, a
/// cancellation token, the attempt number, an idempotency key and a tracing span, plus the ids
/// that say where it runs. Cheap to clone.
///
/// The engine builds one per node attempt; tests and direct calls build their own:
///
/// ```
/// use aura_core::Context;
///
/// let cx = Context::builder().attempt(2).idempotency_key("exec-1/node-a").build();
/// assert_eq!(cx.attempt(), 2);
/// assert_eq!(cx.idempotency_key(), Some("exec-1/node-a"));
/// assert!(cx.connection().is_none());
/// ```
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Option<Arc<dyn Connection>>,
    attempt: u32,
    idempotency_key: Key,
    span: tracing::Span,
    node_id: Option<Arc<str>>,
    /// The part every node of a pass has in common.
    run: Held<RunParts>,
}

/// What every node of one pass has in common: held inline by a context built by hand, shared
/// by the engine's node contexts (one reference to count per node, not one per field).
pub(crate) struct RunParts {
    /// The client given, or the shared one, looked up on first use (most nodes send nothing).
    http: OnceLock<reqwest::Client>,
    /// No client was given: requests go through the current runtime's shared client.
    default_http: bool,
    cancel: Held<CancellationToken>,
    scenario_id: Option<Arc<str>>,
    execution_id: Option<Arc<str>>,
    /// `None`: none attached (most contexts built by hand: no allocation for an empty set).
    extensions: Option<Arc<http::Extensions>>,
    /// What the engine hands every node of a pass, looked up before `extensions`.
    pass: Option<Arc<dyn PassValues>>,
}

impl RunParts {
    /// The parts of an engine pass: the execution's token, ids and extensions, and the pass's
    /// values.
    pub(crate) fn for_pass(
        http: Option<reqwest::Client>,
        cancel: Arc<CancellationToken>,
        scenario_id: Arc<str>,
        execution_id: Arc<str>,
        extensions: Arc<http::Extensions>,
        pass: Arc<dyn PassValues>,
    ) -> Arc<Self> {
        Arc::new(Self {
            default_http: http.is_none(),
            http: http.map(OnceLock::from).unwrap_or_default(),
            cancel: Held::Shared(cancel),
            scenario_id: Some(scenario_id),
            execution_id: Some(execution_id),
            extensions: Some(extensions),
            pass: Some(pass),
        })
    }
}

/// Values the engine hands every node of one pass over the graph (the expression scope, the
/// sub-scenario runner …), found by [`Context::extension`] by type before the extension set:
/// a pass then costs one allocation, not a copy of the engine's set with a box per value.
pub(crate) trait PassValues: Send + Sync {
    /// The value of type `id`, if the pass has one.
    fn get(&self, id: TypeId) -> Option<&(dyn Any + Send + Sync)>;
}

/// A part of a context it owns (built by hand), or shares: the cancellation token with every
/// node of the execution (a token's clone takes a lock; an `Arc`'s does not), the
/// [`RunParts`] with every node of a pass.
enum Held<T> {
    Own(T),
    Shared(Arc<T>),
}

impl<T> std::ops::Deref for Held<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Self::Own(part) => part,
            Self::Shared(part) => part,
        }
    }
}

impl Default for Context {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl Context {
    /// A context with no connection, the shared HTTP client and attempt 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts building a context.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// The connection this step runs with, if any.
    pub fn connection(&self) -> Option<&Arc<dyn Connection>> {
        self.inner.connection.as_ref()
    }

    /// The connection, or an [`crate::ErrorKind::Unauthorized`] error when the step has none.
    pub fn require_connection(&self) -> Result<&Arc<dyn Connection>> {
        self.connection().ok_or_else(|| {
            let mut err = Error::unauthorized("this step needs a connection and was given none");
            if let Some(node) = &self.inner.node_id {
                err = err.with_context("node", node.to_string());
            }
            err
        })
    }

    /// The shared HTTP client (rustls, pooled), or the one the builder was given.
    pub fn http(&self) -> &reqwest::Client {
        self.inner.run.http.get_or_init(shared_http_client)
    }

    /// Cancelled when the execution is cancelled or times out.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.inner.run.cancel
    }

    /// Whether the work has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.run.cancel.is_cancelled()
    }

    /// Which attempt this is, starting at 1.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// A key that stays the same across retries of the same step, for APIs that deduplicate
    /// writes (`Idempotency-Key` headers and the like).
    pub fn idempotency_key(&self) -> Option<&str> {
        let i = &*self.inner;
        match &i.idempotency_key {
            Key::None => None,
            Key::Given(key) => Some(key),
            Key::Derived { item, key } => Some(key.get_or_init(|| {
                derive_key(
                    i.run.execution_id.as_deref().unwrap_or_default(),
                    i.node_id.as_deref().unwrap_or_default(),
                    *item,
                )
            })),
        }
    }

    /// The tracing span of this step.
    pub fn span(&self) -> &tracing::Span {
        &self.inner.span
    }

    /// The scenario being run, if any.
    pub fn scenario_id(&self) -> Option<&str> {
        self.inner.run.scenario_id.as_deref()
    }

    /// The execution being run, if any.
    pub fn execution_id(&self) -> Option<&str> {
        self.inner.run.execution_id.as_deref()
    }

    /// The node being run, if any.
    pub fn node_id(&self) -> Option<&str> {
        self.inner.node_id.as_deref()
    }

    /// A value the engine (or a host) attached to this context by type: the engine gives
    /// built-in nodes what they need this way (the expression scope, the sub-scenario runner …).
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        let run = &*self.inner.run;
        if let Some(value) = run.pass.as_ref().and_then(|p| p.get(TypeId::of::<T>())) {
            return (value as &dyn Any).downcast_ref::<T>();
        }
        run.extensions.as_ref()?.get::<T>()
    }

    /// A builder with everything this context has, to change a part (the attempt, say).
    pub fn to_builder(&self) -> ContextBuilder {
        let (i, run) = (&*self.inner, &*self.inner.run);
        ContextBuilder {
            connection: i.connection.clone(),
            http: (!run.default_http).then(|| self.http().clone()),
            cancel: Some((*run.cancel).clone()),
            attempt: i.attempt,
            idempotency_key: i.idempotency_key.clone(),
            span: Some(i.span.clone()),
            scenario_id: run.scenario_id.clone(),
            execution_id: run.execution_id.clone(),
            node_id: i.node_id.clone(),
            extensions: run.extensions.clone(),
            pass: run.pass.clone(),
        }
    }

    /// Sends a request with the connection's credentials and maps a failure status to an
    /// [`Error`] (the mapping of [`Error::from_http`]).
    ///
    /// On HTTP 401 the connection is asked to [`renew`](Connection::renew) once and, when it
    /// did, the request is sent again (requests with a streaming body cannot be sent twice and
    /// return the 401). Cancellation stops the request at once.
    ///
    /// A service may echo the credentials it rejected (raw, base64 as in `Basic …`,
    /// percent-encoded, JSON-escaped): every error this returns is scrubbed of the connection's
    /// secrets in all those forms, the whole error body before it is cut to an excerpt, and the
    /// error's whole cause chain.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let request = request.build()?;
        self.unless_cancelled("the request was cancelled", async {
            let resp = self.execute(&self.client(), request).await?;
            let status = resp.status();
            if status.is_success() || status.is_informational() || status.is_redirection() {
                return Ok(resp);
            }
            // Boxed: reading a failure's body is rare, and would otherwise widen every send.
            Err(Box::pin(self.failure_of(resp)).await)
        })
        .await
    }

    /// Runs `work` unless the context is cancelled first, and stops it at once when the
    /// context is cancelled meanwhile (`what` is the error's message). One wait on the token
    /// for the whole of `work`: the steps inside need none of their own.
    pub(crate) fn unless_cancelled<F, T>(&self, what: &'static str, work: F) -> UnlessCancelled<'_, F>
    where
        F: Future<Output = Result<T>>,
    {
        UnlessCancelled::new(work, &self.inner.run.cancel, what)
    }

    /// Sends `request` through `client` with the connection's credentials (renewed and sent
    /// once more after a 401, as [`Context::send`] does) and returns the answer whatever its
    /// status: the HTTP machinery ([`crate::http`]) reads and classifies it itself. Errors are
    /// scrubbed of the connection's secrets.
    ///
    /// Without a connection this is the client's own future. With one, the exchange is boxed:
    /// it holds a copy of the request for the second try, and every caller's future would
    /// otherwise carry that state whether a connection is used or not (and be copied whole
    /// each time it moves). A plain function rather than an `async fn`, which would keep the
    /// request in its future beside the client's future that took it.
    pub(crate) fn execute<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: reqwest::Request,
    ) -> Either<
        impl Future<Output = Result<reqwest::Response>> + Send + 'static,
        BoxFuture<'a, Result<reqwest::Response>>,
    > {
        let Some(conn) = self.connection() else {
            return Either::Left(Self::send_as_is(client, request));
        };
        Either::Right(Box::pin(async move {
            Self::execute_with(conn, client, request).await.map_err(|mut err| {
                err.scrub_secrets(&conn.credentials().scrubber());
                err
            })
        }))
    }

    /// [`execute`](Self::execute) with a connection: authorised, and renewed and sent once
    /// more after a 401 when the request can be sent twice.
    async fn execute_with(
        conn: &Arc<dyn Connection>,
        client: &reqwest::Client,
        mut request: reqwest::Request,
    ) -> Result<reqwest::Response> {
        let retry = request.try_clone();
        let version = conn.authorize(&mut request).await?;
        let resp = Self::send_as_is(client, request).await?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED
            && let Some(mut retry) = retry
            && conn.renew(version).await?
        {
            conn.authorize(&mut retry).await?;
            return Self::send_as_is(client, retry).await;
        }
        Ok(resp)
    }

    /// Sends `request` through `client` as it is, adding no credentials (a redirect to
    /// another origin must not carry them; an authorised request has its own). Not stopped by
    /// cancellation itself: callers run the whole
    /// exchange inside [`unless_cancelled`](Self::unless_cancelled). A plain function around
    /// the client's own (boxed) future, so that a caller's future does not hold the request
    /// twice.
    pub(crate) fn send_as_is(
        client: &reqwest::Client,
        request: reqwest::Request,
    ) -> impl Future<Output = Result<reqwest::Response>> + Send + 'static {
        let pending = client.execute(request);
        async move { Ok(pending.await?) }
    }

    /// The client to send with: the one given, or the shared client of the runtime sending now
    /// (this context may have been built in another one, or outside any).
    fn client(&self) -> reqwest::Client {
        if self.inner.run.default_http {
            shared_http_client()
        } else {
            self.http().clone()
        }
    }

    /// The error a failure answer stands for, its body read for the excerpt.
    async fn failure_of(&self, resp: reqwest::Response) -> Error {
        let status = resp.status();
        let headers = resp.headers().clone();
        // The body only feeds an excerpt; a body that cannot be read leaves it empty.
        let body = resp.bytes().await.unwrap_or_default();
        self.failure(status, &headers, &body)
    }

    /// The error a failure answer stands for ([`Error::from_http`]: the one status mapping),
    /// its body scrubbed of the connection's secrets before the error keeps an excerpt of it
    /// (so that a secret cut by the excerpt cannot leave its prefix behind).
    ///
    /// For a connector that reads failure answers itself (through
    /// [`HttpPolicy::send_unchecked`](crate::http::HttpPolicy::send_unchecked)) to refine the
    /// kind by the vendor's error body ([`Error::with_kind`]).
    pub fn failure(&self, status: reqwest::StatusCode, headers: &http::HeaderMap, body: &[u8]) -> Error {
        let Some(conn) = self.connection() else {
            return Error::from_http(status, headers, body);
        };
        let scrubber = conn.credentials().scrubber();
        let text = String::from_utf8_lossy(body);
        match scrubber.scrub(&text) {
            Some(clean) => Error::from_http(status, headers, clean.as_bytes()),
            None => Error::from_http(status, headers, body),
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &*self.inner;
        f.debug_struct("Context")
            .field("connection", &i.connection.as_ref().map(|c| c.id().to_string()))
            .field("attempt", &i.attempt)
            .field("idempotency_key", &self.idempotency_key())
            .field("scenario_id", &i.run.scenario_id)
            .field("execution_id", &i.run.execution_id)
            .field("node_id", &i.node_id)
            .field("cancelled", &i.run.cancel.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// What the engine gives a node's context, built in one step (not through the builder's
/// chain of moves: this runs for every node).
pub(crate) struct NodeContext {
    pub(crate) connection: Option<Arc<dyn Connection>>,
    pub(crate) span: tracing::Span,
    pub(crate) node_id: Arc<str>,
    /// The element's index inside an iterate body (part of the idempotency key).
    pub(crate) item: Option<usize>,
    /// What every node of the pass has in common ([`RunParts::for_pass`]).
    pub(crate) run: Arc<RunParts>,
}

impl From<NodeContext> for Context {
    fn from(n: NodeContext) -> Self {
        Self {
            inner: Arc::new(n.into()),
        }
    }
}

impl From<NodeContext> for Inner {
    fn from(n: NodeContext) -> Self {
        Self {
            connection: n.connection,
            attempt: 1,
            idempotency_key: Key::Derived {
                item: n.item,
                key: OnceLock::new(),
            },
            span: n.span,
            node_id: Some(n.node_id),
            run: Held::Shared(n.run),
        }
    }
}

impl Context {
    /// Ends the node's span now, rather than when the context is dropped or renewed: for a
    /// context kept for the next node. (A clone still held keeps it, as it would anyway.)
    pub(crate) fn end_span(&mut self) {
        if !self.inner.span.is_none()
            && let Some(inner) = Arc::get_mut(&mut self.inner)
        {
            inner.span = tracing::Span::none();
        }
    }

    /// Makes this context the one `n` describes, in place, when no clone of it is left (the
    /// node that had it is done with it): the next node's context without an allocation.
    /// `Err(n)` when a clone is still held somewhere.
    pub(crate) fn renew(&mut self, n: NodeContext) -> std::result::Result<(), NodeContext> {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => {
                *inner = n.into();
                Ok(())
            }
            None => Err(n),
        }
    }
}

/// The idempotency key: none, given, or derived from the execution and node ids (and the item
/// inside an iterate body) when first read.
#[derive(Clone, Default)]
enum Key {
    #[default]
    None,
    Given(Arc<str>),
    Derived {
        item: Option<usize>,
        key: OnceLock<Arc<str>>,
    },
}

/// `execution/node`, or `execution/node/item` for an element of an iterate body.
fn derive_key(execution: &str, node: &str, item: Option<usize>) -> Arc<str> {
    let mut key = String::with_capacity(execution.len() + node.len() + 8);
    key.push_str(execution);
    key.push('/');
    key.push_str(node);
    if let Some(i) = item {
        // Writing to a String cannot fail.
        let _ = write!(key, "/{i}");
    }
    key.into()
}

/// Builds a [`Context`].
#[derive(Default)]
pub struct ContextBuilder {
    connection: Option<Arc<dyn Connection>>,
    http: Option<reqwest::Client>,
    cancel: Option<CancellationToken>,
    attempt: u32,
    idempotency_key: Key,
    span: Option<tracing::Span>,
    scenario_id: Option<Arc<str>>,
    execution_id: Option<Arc<str>>,
    node_id: Option<Arc<str>>,
    extensions: Option<Arc<http::Extensions>>,
    pass: Option<Arc<dyn PassValues>>,
}

impl ContextBuilder {
    /// The connection to authenticate with.
    #[must_use]
    pub fn connection(mut self, connection: Arc<dyn Connection>) -> Self {
        self.connection = Some(connection);
        self
    }

    /// The HTTP client (default: [`shared_http_client`]).
    #[must_use]
    pub fn http(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The cancellation token (default: a fresh one).
    #[must_use]
    pub fn cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The attempt number, from 1 (default 1).
    #[must_use]
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// The idempotency key.
    #[must_use]
    pub fn idempotency_key(mut self, key: impl Into<Arc<str>>) -> Self {
        self.idempotency_key = Key::Given(key.into());
        self
    }

    /// The tracing span (default: none).
    #[must_use]
    pub fn span(mut self, span: tracing::Span) -> Self {
        self.span = Some(span);
        self
    }

    /// The scenario being run.
    #[must_use]
    pub fn scenario_id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.scenario_id = Some(id.into());
        self
    }

    /// The execution being run.
    #[must_use]
    pub fn execution_id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.execution_id = Some(id.into());
        self
    }

    /// The node being run.
    #[must_use]
    pub fn node_id(mut self, id: impl Into<Arc<str>>) -> Self {
        self.node_id = Some(id.into());
        self
    }

    /// Attaches a value, found again with [`Context::extension`]. One value per type.
    #[must_use]
    pub fn extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        Arc::make_mut(self.extensions.get_or_insert_default()).insert(value);
        self
    }

    /// Uses a prepared set of extensions, shared without copying (the engine builds one per
    /// execution pass and hands it to every node). Replaces the ones added so far.
    #[must_use]
    pub fn extensions(mut self, extensions: Arc<http::Extensions>) -> Self {
        self.extensions = Some(extensions);
        self
    }

    /// Builds the context.
    pub fn build(self) -> Context {
        Context {
            inner: Arc::new(Inner {
                connection: self.connection,
                attempt: self.attempt.max(1),
                idempotency_key: self.idempotency_key,
                span: self.span.unwrap_or_else(tracing::Span::none),
                node_id: self.node_id,
                run: Held::Own(RunParts {
                    default_http: self.http.is_none(),
                    http: self.http.map(OnceLock::from).unwrap_or_default(),
                    cancel: Held::Own(self.cancel.unwrap_or_default()),
                    scenario_id: self.scenario_id,
                    execution_id: self.execution_id,
                    extensions: self.extensions,
                    pass: self.pass,
                }),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
