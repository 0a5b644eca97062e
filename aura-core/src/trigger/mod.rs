//! Triggers: how an app starts a scenario.
//!
//! Four kinds, each with an output schema that describes the items it produces:
//!
//! | kind | contract | produced by |
//! | --- | --- | --- |
//! | polling | [`PollingTrigger::poll`]`(cx, cursor)` → items with dedupe keys + next cursor | a poll loop |
//! | webhook | [`WebhookTrigger`]: verify, parse a request into items, optional subscribe/unsubscribe | an HTTP receiver |
//! | schedule | a [`Schedule`] (cron or interval) → one [`ScheduleTick`] per firing | a scheduler |
//! | manual | the caller's data, checked against the declared schema | a direct call |
//!
//! Every item carries a dedupe key, so that a runtime can drop repeats (a webhook delivered
//! twice, a record seen by two polls).
//!
//! The trigger runtime drives them: a [`TriggerRuntime`](crate::runtime::TriggerRuntime) serves a deployed scenario's webhook
//! (through its framework-agnostic handler, or an `axum::Router` with the `webhook-axum`
//! feature), runs its poll loop or its schedule, and offers the manual entry point; a
//! scenario's trigger node says which ([`setup`]). Incoming webhooks are checked by a
//! [`WebhookVerifier`] (GitHub, Stripe, Slack, Standard Webhooks, HMAC, basic, header token)
//! and an [`IpAllowlist`].

mod polling;
mod schedule;
pub mod setup;
pub mod verify;
mod webhook;

use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use self::polling::ErasedPolling;
pub use self::polling::{Poll, PollingTrigger};
pub use self::schedule::{Schedule, ScheduleTick};
pub use self::setup::{
    Missed, PollPlan, PollSetup, RespondSetup, SchedulePlan, ScheduleSetup, StartFrom, TriggerSetup, VerifySetup,
    WebhookData, WebhookPlan, WebhookSetup,
};
pub use self::verify::{HmacScheme, IpAllowlist, SignatureEncoding, Verified, WebhookVerifier};
use self::webhook::ErasedWebhook;
pub use self::webhook::{WebhookReply, WebhookRequest, WebhookRequestBuilder, WebhookTrigger};
use crate::context::Context;
use crate::error::{Error, Result, Violation};
use crate::key::{Key, Reference};
use crate::schema::{self, Schema};

/// One thing a trigger produced: the data that starts an execution, and the key that
/// identifies it for deduplication (a record id, an event id, a delivery id …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerItem<T = Value> {
    /// Identifies the item: two items with the same key are the same event.
    pub dedupe_key: String,
    /// The data.
    pub data: T,
}

impl<T> TriggerItem<T> {
    /// An item with its dedupe key.
    pub fn new(dedupe_key: impl Into<String>, data: T) -> Self {
        Self {
            dedupe_key: dedupe_key.into(),
            data,
        }
    }
}

impl<T: Serialize> TriggerItem<T> {
    pub(crate) fn into_json(self) -> Result<TriggerItem> {
        let data = serde_json::to_value(self.data)
            .map_err(|e| Error::internal("a trigger item could not be serialized").with_source(e))?;
        Ok(TriggerItem {
            dedupe_key: self.dedupe_key,
            data,
        })
    }
}

/// The kind of a trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// Asks the service for new items on an interval.
    Polling,
    /// The service calls us.
    Webhook,
    /// Fires on a clock.
    Schedule,
    /// Fired by a direct call.
    Manual,
}

/// What a trigger is, as shown in a catalogue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggerManifest {
    /// The key, unique within its app.
    pub key: String,
    /// A display name.
    pub name: String,
    /// What starts it.
    #[serde(default)]
    pub description: String,
    /// Its kind.
    pub kind: TriggerKind,
    /// The JSON Schema (draft 2020-12) of the data of each item it produces.
    pub output_schema: Value,
    /// For schedule triggers, the schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// For polling triggers that take parameters (a generic HTTP poll's URL), their JSON
    /// Schema: a scenario gives them as the trigger node's `poll.params`, checked when the
    /// scenario compiles, and the trigger reads them as [`TriggerParams`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params_schema: Option<Value>,
}

/// A polling trigger's parameters, from the trigger node's `poll.params`: the trigger reads
/// them with [`TriggerParams::required`] or [`TriggerParams::read`] (they are
/// `cx.extension::<TriggerParams>()`).
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerParams(pub Arc<Value>);

impl TriggerParams {
    /// The params in `cx` read as `T`, `None` when the trigger node gave none. `trigger` names
    /// the trigger in the error.
    ///
    /// # Errors
    ///
    /// [`InvalidDefinition`](crate::ErrorKind::InvalidDefinition) at `/params` when they do not
    /// fit `T` (a scenario's params are checked against the trigger's params schema when it
    /// compiles; this is the trigger's own reading).
    pub fn read<T: serde::de::DeserializeOwned>(cx: &Context, trigger: &str) -> Result<Option<T>> {
        let Some(params) = cx.extension::<Self>() else {
            return Ok(None);
        };
        T::deserialize(&*params.0).map(Some).map_err(|e| {
            Error::invalid_definition(format!("the params of {trigger} do not fit"))
                .with_violations(vec![Violation::new("/params", e.to_string())])
        })
    }

    /// The params in `cx` read as `T`, which the trigger needs.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), and [`InvalidDefinition`](crate::ErrorKind::InvalidDefinition)
    /// when the trigger node gave none.
    pub fn required<T: serde::de::DeserializeOwned>(cx: &Context, trigger: &str) -> Result<T> {
        Self::read(cx, trigger)?.ok_or_else(|| {
            Error::invalid_definition(format!("{trigger} needs its params (the trigger node's `poll.params`)"))
        })
    }
}

enum Source {
    Polling(Arc<dyn ErasedPolling>),
    Webhook(Arc<dyn ErasedWebhook>),
    Schedule(Schedule),
    Manual,
}

/// A definition of a trigger, as a connector author writes it. The registry compiles it into a
/// [`Trigger`].
pub struct TriggerDef {
    manifest: TriggerManifest,
    source: Source,
}

impl TriggerDef {
    /// A polling trigger.
    pub fn polling<P: PollingTrigger>(key: impl Into<String>, trigger: P) -> Self {
        Self::with(
            key,
            TriggerKind::Polling,
            schema::generate::<P::Item>(),
            Source::Polling(Arc::new(trigger)),
        )
    }

    /// A webhook trigger.
    pub fn webhook<W: WebhookTrigger>(key: impl Into<String>, trigger: W) -> Self {
        Self::with(
            key,
            TriggerKind::Webhook,
            schema::generate::<W::Item>(),
            Source::Webhook(Arc::new(trigger)),
        )
    }

    /// A schedule trigger; each firing produces a [`ScheduleTick`].
    pub fn schedule(key: impl Into<String>, schedule: Schedule) -> Self {
        let mut def = Self::with(
            key,
            TriggerKind::Schedule,
            schema::generate::<ScheduleTick>(),
            Source::Manual,
        );
        def.manifest.schedule = Some(schedule.clone());
        def.source = Source::Schedule(schedule);
        def
    }

    /// A manual trigger whose data has the shape of `T`.
    pub fn manual<T: JsonSchema>(key: impl Into<String>) -> Self {
        Self::with(key, TriggerKind::Manual, schema::generate::<T>(), Source::Manual)
    }

    /// A manual trigger whose data fits a schema given as JSON.
    pub fn manual_json(key: impl Into<String>, schema: Value) -> Self {
        Self::with(key, TriggerKind::Manual, schema, Source::Manual)
    }

    fn with(key: impl Into<String>, kind: TriggerKind, output_schema: Value, source: Source) -> Self {
        let key = key.into();
        Self {
            manifest: TriggerManifest {
                name: key.clone(),
                key,
                description: String::new(),
                kind,
                output_schema,
                schedule: None,
                params_schema: None,
            },
            source,
        }
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

    /// Replaces the output schema (for triggers whose items are plain JSON).
    #[must_use]
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.manifest.output_schema = schema;
        self
    }

    /// Declares the parameters a scenario gives this trigger (see [`TriggerParams`]).
    #[must_use]
    pub fn params_schema(mut self, schema: Value) -> Self {
        self.manifest.params_schema = Some(schema);
        self
    }

    /// The manifest as it stands.
    pub fn manifest(&self) -> &TriggerManifest {
        &self.manifest
    }

    /// Compiles the definition for the app `app_id`.
    pub fn compile(self, app_id: &str) -> Result<Trigger> {
        let TriggerDef { manifest, source } = self;
        let where_ = |e: Error| {
            e.with_context("app", app_id.to_owned())
                .with_context("trigger", manifest.key.clone())
        };
        let reference = Reference::new(
            Key::named("app id", app_id).map_err(where_)?,
            Key::named("trigger key", manifest.key.clone()).map_err(where_)?,
        );
        let output = Schema::compile(manifest.output_schema.clone()).map_err(where_)?;
        let params = manifest
            .params_schema
            .clone()
            .map(Schema::compile)
            .transpose()
            .map_err(|e| where_(e.with_context("schema", "params")))?;
        Ok(Trigger {
            inner: Arc::new(TriggerInner {
                reference,
                manifest,
                output,
                params,
                source,
            }),
        })
    }
}

impl fmt::Debug for TriggerDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TriggerDef")
            .field("key", &self.manifest.key)
            .field("kind", &self.manifest.kind)
            .finish_non_exhaustive()
    }
}

/// A compiled trigger. Every item it returns has been checked against its output schema.
#[derive(Clone)]
pub struct Trigger {
    inner: Arc<TriggerInner>,
}

struct TriggerInner {
    reference: Reference,
    manifest: TriggerManifest,
    output: Schema,
    params: Option<Schema>,
    source: Source,
}

impl Trigger {
    /// The schema of the parameters it takes, if it takes any.
    pub fn params_schema(&self) -> Option<&Schema> {
        self.inner.params.as_ref()
    }

    /// `"app.key"`.
    pub fn reference(&self) -> &str {
        self.inner.reference.as_str()
    }

    /// `"app.key"` as a typed [`Reference`].
    pub fn typed_reference(&self) -> &Reference {
        &self.inner.reference
    }

    /// Its manifest.
    pub fn manifest(&self) -> &TriggerManifest {
        &self.inner.manifest
    }

    /// Its kind.
    pub fn kind(&self) -> TriggerKind {
        self.inner.manifest.kind
    }

    /// The compiled schema of its items' data.
    pub fn output_schema(&self) -> &Schema {
        &self.inner.output
    }

    /// For a schedule trigger, its schedule.
    pub fn schedule(&self) -> Option<&Schedule> {
        match &self.inner.source {
            Source::Schedule(s) => Some(s),
            _ => None,
        }
    }

    /// Polls once from `cursor` (`None` on the first poll). Every item must carry a non-empty
    /// dedupe key and fit the output schema.
    pub async fn poll(&self, cx: &Context, cursor: Option<Value>) -> Result<Poll<Value, Value>> {
        let Source::Polling(p) = &self.inner.source else {
            return Err(self.wrong_kind("poll"));
        };
        let poll = p.poll(cx, cursor).await.map_err(|e| self.locate(e))?;
        self.check_items(&poll.items)?;
        Ok(poll)
    }

    /// Handles one incoming webhook request: answers a handshake, or verifies the request and
    /// parses it into items.
    pub async fn handle_webhook(&self, cx: &Context, request: &WebhookRequest) -> Result<WebhookOutcome> {
        let Source::Webhook(w) = &self.inner.source else {
            return Err(self.wrong_kind("handle a webhook"));
        };
        if let Some(reply) = w.handshake(request) {
            return Ok(WebhookOutcome::Handshake(reply));
        }
        w.verify(cx, request).await.map_err(|e| self.locate(e))?;
        let items = w.parse(request).map_err(|e| self.locate(e))?;
        self.check_items(&items)?;
        Ok(WebhookOutcome::Items(items))
    }

    /// Registers `target_url` with the service, for APIs that register hooks. Returns what the
    /// service answered (a hook id …) to keep for [`Trigger::unsubscribe`]; `None` when the app
    /// has nothing to register.
    pub async fn subscribe(&self, cx: &Context, target_url: &str) -> Result<Option<Value>> {
        let Source::Webhook(w) = &self.inner.source else {
            return Err(self.wrong_kind("subscribe"));
        };
        w.subscribe(cx, target_url).await.map_err(|e| self.locate(e))
    }

    /// Removes a registration made by [`Trigger::subscribe`].
    pub async fn unsubscribe(&self, cx: &Context, subscription: &Value) -> Result<()> {
        let Source::Webhook(w) = &self.inner.source else {
            return Err(self.wrong_kind("unsubscribe"));
        };
        w.unsubscribe(cx, subscription).await.map_err(|e| self.locate(e))
    }

    /// The item of one schedule firing.
    pub fn tick(&self, tick: ScheduleTick) -> Result<TriggerItem> {
        if !matches!(self.inner.source, Source::Schedule(_)) {
            return Err(self.wrong_kind("fire on a schedule"));
        }
        TriggerItem::new(tick.scheduled_at.to_rfc3339(), tick).into_json()
    }

    /// The item of a manual firing: `data` checked against the output schema, with a fresh
    /// UUID v7 as dedupe key.
    pub fn fire(&self, data: Value) -> Result<TriggerItem> {
        if !matches!(self.inner.source, Source::Manual) {
            return Err(self.wrong_kind("fire manually"));
        }
        let item = TriggerItem::new(uuid::Uuid::now_v7().to_string(), data);
        self.check_items(std::slice::from_ref(&item))?;
        Ok(item)
    }

    fn check_items(&self, items: &[TriggerItem]) -> Result<()> {
        for (i, item) in items.iter().enumerate() {
            if item.dedupe_key.is_empty() {
                return Err(self
                    .locate(Error::invalid_definition("a trigger item has an empty dedupe key"))
                    .with_context("item", i.to_string()));
            }
            self.inner
                .output
                .validate(&item.data, "trigger item")
                .map_err(|e| self.locate(e.with_path_prefix(&format!("/{i}/data"))))?;
        }
        Ok(())
    }

    fn wrong_kind(&self, what: &str) -> Error {
        let kind = serde_json::to_value(self.inner.manifest.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.locate(Error::invalid_definition(format!("a {kind} trigger cannot {what}")))
    }

    fn locate(&self, err: Error) -> Error {
        if err.context_value("trigger").is_some() {
            return err;
        }
        err.with_context("trigger", self.inner.reference.to_string())
    }
}

impl fmt::Debug for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trigger")
            .field("reference", &self.inner.reference)
            .field("kind", &self.inner.manifest.kind)
            .finish_non_exhaustive()
    }
}

/// What handling a webhook request came to.
#[derive(Debug, Clone)]
pub enum WebhookOutcome {
    /// A handshake (Slack's `url_verification`, a Meta hub challenge …): answer it, start nothing.
    Handshake(WebhookReply),
    /// Items, each to start an execution.
    Items(Vec<TriggerItem>),
}

#[cfg(test)]
mod tests;
