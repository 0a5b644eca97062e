//! The manifest format: what a YAML or JSON file declares. Every type here derives
//! `JsonSchema`, so that [`Manifest::json_schema`] publishes the format for editors.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::Paginate;
use crate::rate_limit::RateLimit;
use crate::trigger::setup::VerifySetup;

/// A declarative app: an HTTP API described as data, loaded at run time into the
/// [`Registry`](crate::Registry) (see the [module](super) for an example).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Aura app manifest")]
pub struct Manifest {
    /// The app's id (`acme`): lowercase letters, digits, `_` and `-`.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its version (semver, `1.2.0`). Loading a manifest again with the same id and version
    /// replaces the app.
    pub version: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// A catalogue category (`productivity`, `crm`, `development` …, or any lowercase name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Search tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The vendor's documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    /// The URL every operation's path is appended to. `{name}` placeholders are
    /// [`variables`](Self::variables): `https://{shop}.example.com/api`.
    pub base_url: String,
    /// The base URL's placeholders.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, Variable>,
    /// How a connection authenticates, in order of preference (none: no authentication).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth: Vec<AuthSpec>,
    /// Headers sent with every request (`Accept`, an API version …); not secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A rate limit for the whole app (every operation's calls count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// How the service says "error" with a success status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_when: Option<ErrorWhen>,
    /// The operations, by key (`list_tasks`): each becomes an action `id.key`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub operations: BTreeMap<String, Operation>,
    /// The triggers, by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub triggers: BTreeMap<String, TriggerSpec>,
    /// Shared JSON Schemas, by name, that parameter, body and output schemas refer to as
    /// `{"$ref": "#/$defs/Name"}` (each action's schema carries the ones it reaches).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schemas: BTreeMap<String, Value>,
}

/// A base URL placeholder. Its value comes from the connection's credentials (a custom field
/// of the same name: a shop's subdomain, a region), else from `default`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// The value when the connection gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The values allowed (any when empty).
    #[serde(default, rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    /// What it is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// An authentication method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthSpec {
    /// None.
    None,
    /// An API key in a header or a query parameter. The connection gives it as API-key
    /// credentials, or as a custom field `api_key`.
    ApiKey {
        /// `header` or `query`.
        #[serde(rename = "in")]
        location: KeyLocation,
        /// The header or parameter name.
        name: String,
    },
    /// `Authorization: Bearer …` (bearer credentials, or a custom field `token`).
    Bearer,
    /// HTTP basic authentication.
    Basic,
    /// OAuth 2.0 (the connection manager runs the flows and refreshes the tokens).
    #[serde(rename = "oauth2")]
    OAuth2 {
        /// The authorization endpoint (authorization-code grant).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        authorization_url: Option<String>,
        /// The token endpoint.
        token_url: String,
        /// Scopes to ask for.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        scopes: Vec<String>,
    },
}

/// Where an API key goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    /// A header.
    Header,
    /// A query parameter.
    Query,
}

/// "This success is an error": the body has `equals` at `pointer` (Slack's `ok: false`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorWhen {
    /// Where to look (a JSON pointer: `/ok`).
    pub pointer: String,
    /// The value that means error (`false`).
    pub equals: Value,
    /// Where the error's message is (`/error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(clippy::upper_case_acronyms)]
pub enum HttpMethod {
    /// `GET`.
    #[serde(alias = "get")]
    GET,
    /// `POST`.
    #[serde(alias = "post")]
    POST,
    /// `PUT`.
    #[serde(alias = "put")]
    PUT,
    /// `PATCH`.
    #[serde(alias = "patch")]
    PATCH,
    /// `DELETE`.
    #[serde(alias = "delete")]
    DELETE,
    /// `HEAD`.
    #[serde(alias = "head")]
    HEAD,
    /// `OPTIONS`.
    #[serde(alias = "options")]
    OPTIONS,
}

impl HttpMethod {
    /// As an [`http::Method`].
    pub fn as_method(self) -> http::Method {
        match self {
            Self::GET => http::Method::GET,
            Self::POST => http::Method::POST,
            Self::PUT => http::Method::PUT,
            Self::PATCH => http::Method::PATCH,
            Self::DELETE => http::Method::DELETE,
            Self::HEAD => http::Method::HEAD,
            Self::OPTIONS => http::Method::OPTIONS,
        }
    }

    /// Whether HTTP says sending it twice is harmless (`GET`, `HEAD`, `OPTIONS`, `PUT`,
    /// `DELETE`).
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Self::POST | Self::PATCH)
    }
}

/// An operation: one request, which becomes one action.
///
/// The action's input is an object of the operation's [`params`](Self::params) (each sent in
/// the path, the query, a header or the JSON body) and, with a [`body`](Self::body) schema, a
/// `body` field sent as the whole body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// The method.
    pub method: HttpMethod,
    /// The path after the base URL; `{name}` placeholders are path parameters
    /// (`/tasks/{id}`).
    pub path: String,
    /// A display name (default: the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it does.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The parameters, by input name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Param>,
    /// Input names that must be given (path parameters always must).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// The body, when it is more than `body` parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodySpec>,
    /// Where the output is in the answer (a JSON pointer; default the whole body). With
    /// [`paginate`](Self::paginate), the output is the list of every page's items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// The output's JSON Schema (default: anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Pagination: the action reads every page (within its limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paginate: Option<Paginate>,
    /// A rate limit for this operation (on top of the app's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Whether calling it twice is harmless (default: by method, and `true` with an
    /// idempotency-key header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    /// A header that carries the execution's idempotency key (`Idempotency-Key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_header: Option<String>,
    /// Headers for this operation (not secret).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// A parameter: a type name (`string`, `integer`, `number`, `boolean`, `array`, `object`) or
/// the long form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Param {
    /// Just a type.
    Type(ParamType),
    /// The long form.
    Full(ParamFull),
}

/// A JSON type name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// A string.
    String,
    /// An integer.
    Integer,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A list.
    Array,
    /// An object.
    Object,
}

impl ParamType {
    /// Its JSON Schema type name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
        }
    }
}

/// A parameter in full.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamFull {
    /// Where it goes (default: the path when the path names it; else the query for `GET`,
    /// `HEAD`, `DELETE` and `OPTIONS`, the JSON body for the others).
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub location: Option<ParamLocation>,
    /// Its type (or give a [`schema`](Self::schema)).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ParamType>,
    /// Its JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Its name on the wire, when it differs from the input name (`X-Request-Id`,
    /// `page[size]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether it must be given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// What it is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamLocation {
    /// A `{name}` in the path.
    Path,
    /// A query parameter (an array repeats the name).
    Query,
    /// A header.
    Header,
    /// A field of the JSON body.
    Body,
}

/// A request body beyond `body` parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BodySpec {
    /// How it is encoded (default `json`).
    #[serde(default)]
    pub encoding: BodyEncoding,
    /// The schema of the input's `body` field, sent as the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Or a template rendered from the input (`{"data": {"title": "{{ input.title }}"}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
    /// Whether the input must have a `body` (with a schema).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
}

/// A body's encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyEncoding {
    /// `application/json`.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded` (an object of scalars).
    Form,
    /// `multipart/form-data` (an object of scalars; each a text part).
    Multipart,
    /// The input's `body` string as it is (`text/plain`).
    Raw,
}

/// A trigger: a poll or a webhook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TriggerSpec {
    /// Asks the service for new items.
    Poll(PollSpec),
    /// The service calls Aura.
    Webhook(WebhookSpec),
}

/// A polling trigger: a request, where the items are, each item's key, and a cursor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PollSpec {
    /// The method (default `GET`).
    #[serde(default = "get")]
    pub method: HttpMethod,
    /// The path after the base URL.
    pub path: String,
    /// Fixed query parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// Where the items are (a JSON pointer to an array; default the whole body).
    #[serde(default)]
    pub items: String,
    /// Where an item's unique key is, inside the item (`/id`).
    pub key: String,
    /// How the next poll asks only for what is new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<PollCursor>,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An item's JSON Schema (default: anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_schema: Option<Value>,
}

fn get() -> HttpMethod {
    HttpMethod::GET
}

/// A poll's cursor: a value sent as the query parameter `param` on the next poll, taken from
/// the items (the greatest value at `item`: a creation time, an increasing id) or from the
/// body (`body`: a next-cursor field).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PollCursor {
    /// The query parameter.
    pub param: String,
    /// Where it is inside each item (the greatest wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Or where it is in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A webhook trigger: how requests are verified, which events start the scenario, and what
/// the items are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// The verifier; its secret comes from the trigger node's connection.
    #[serde(default)]
    pub verify: VerifySetup,
    /// Which events start the scenario (every one without a filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<EventFilter>,
    /// Where the items are in the body (default: the body is one item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<String>,
    /// Where an item's unique key is, for deduplication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An event filter: the event's type is read from a header or the body and must be one of
/// `any_of`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// A header holding the event type (`X-GitHub-Event`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Or where it is in the body (`/type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The types that start the scenario.
    pub any_of: Vec<String>,
}

impl Manifest {
    /// The JSON Schema of the manifest format (draft 2020-12), for editors: the file
    /// `aura-core/manifest.schema.json` is this, kept current by a test.
    pub fn json_schema() -> Value {
        crate::schema::generate::<Manifest>()
    }
}
