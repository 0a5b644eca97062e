//! Declarative apps: an HTTP API described in a YAML or JSON [`Manifest`], loaded at run time
//! into the [`Registry`](crate::Registry) and reloaded when its file changes.
//!
//! A manifest declares the app (id, version, category), its base URL (with placeholders a
//! connection fills in), how connections authenticate, its operations (each an action: method,
//! path, parameters, body, output selector, pagination, rate limit, idempotency) and its
//! triggers (a poll with items, keys and a cursor; a webhook with a verifier and an event
//! filter). The format's JSON Schema is [`Manifest::json_schema`], published as
//! `aura-core/manifest.schema.json` for editors (`# yaml-language-server: $schema=…`).
//!
//! ```yaml
//! id: todo
//! name: Todo
//! version: 1.0.0
//! category: productivity
//! base_url: https://{region}.todo.example.com/api
//! variables: { region: { default: eu, enum: [eu, us] } }
//! auth: [{ type: api_key, in: header, name: X-Api-Key }]
//! operations:
//!   list_tasks:
//!     method: GET
//!     path: /tasks
//!     params: { status: string }
//!     paginate: { type: cursor, from: /next, param: cursor, items: /data }
//!   get_task: { method: GET, path: "/tasks/{id}" }
//!   create_task:
//!     method: POST
//!     path: /tasks
//!     params: { title: string, due: string }
//!     required: [title]
//!     idempotency_header: Idempotency-Key
//! triggers:
//!   new_task:
//!     poll: { path: /tasks, items: /data, key: /id, cursor: { param: since, item: /created_at } }
//! ```
//!
//! - **Loading**: [`DeclarativeApp::from_yaml`] / [`from_json`](DeclarativeApp::from_json),
//!   or [`Registry::load_manifest`](crate::Registry::load_manifest) and
//!   [`Registry::load_manifests`](crate::Registry::load_manifests) for files. A bad manifest is
//!   refused with every problem at once, each with its JSON path and line.
//! - **Hot reload**: a [`ManifestWatcher`] watches a directory; a changed file replaces its
//!   app atomically (executions already running finish on the actions they started with;
//!   scenarios deployed afterwards use the new ones), a bad file is refused with its problems
//!   and the old version stays.
//! - **Requests** go through the shared [`http`](crate::http) machinery: the connection's
//!   credentials, the SSRF guard, redirects, size limit, pagination and the one error mapping.

mod app;
mod auth;
mod base;
mod load;
mod locate;
mod model;
mod operation;
mod poll;
mod schemas;
mod watch;
mod webhook;

pub use self::app::DeclarativeApp;
pub use self::load::Format;
pub use self::model::{
    AuthSpec, BodyEncoding, BodySpec, ErrorWhen, EventFilter, HttpMethod, KeyLocation, Manifest, Operation, Param,
    ParamFull, ParamLocation, ParamType, PollCursor, PollSpec, TriggerSpec, Variable, WebhookSpec,
};
pub use self::watch::{ManifestWatcher, ReloadReport};

#[cfg(test)]
mod tests;
