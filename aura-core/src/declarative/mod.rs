//! Declarative apps: an HTTP API described in a YAML or JSON [`Manifest`], loaded at run time
//! into the [`Registry`](crate::Registry) and reloaded when its file changes.
//!
//! A manifest declares the app (id, version, category), its base URL (with placeholders a
//! connection fills in), how connections authenticate, its operations (each an action: method,
//! path, parameters, body, output selector, pagination, rate limit, idempotency) and its
//! triggers (a poll with items, keys and a cursor; a webhook with a verifier and an event
//! filter). The format's JSON Schema is [`Manifest::json_schema`] (published as
//! `aura-core/manifest.schema.json`, for editors).
//!
//! Requests go through the shared [`http`](crate::http) machinery: the connection's
//! credentials, the SSRF guard, redirects, size limit, pagination and the one error mapping.

mod model;

pub use self::model::{
    AuthSpec, BodyEncoding, BodySpec, ErrorWhen, EventFilter, HttpMethod, KeyLocation, Manifest, Operation, Param,
    ParamFull, ParamLocation, ParamType, PollCursor, PollSpec, TriggerSpec, Variable, WebhookSpec,
};
