//! # aura-connectors
//!
//! Connectors for real services, built on aura-core: one module per service, each behind its
//! own cargo feature so that a host links only what it uses.
//!
//! | feature | module | what |
//! | --- | --- | --- |
//! | `http` | [`http`] | any HTTP API: a request action and a polling trigger |
//! | `graphql` | [`graphql`] | GraphQL queries and mutations, typed errors, cursor pagination |
//! | `llm` | [`llm`] | OpenAI-compatible chat and Anthropic messages: one shape, streaming, tools, usage and cost; providers of the router's `chat.complete` |
//! | `openapi` | [`openapi`] | an OpenAPI 3.0 / 3.1 document imported as an app: one typed, authenticated action per operation |
//! | `postgres` | [`postgres`] | PostgreSQL: bound-parameter queries, rows from JSON, functions, transactions; new-rows and LISTEN/NOTIFY triggers |
//! | `redis` | [`redis`] | Redis: strings, counters, hashes, lists, pub/sub and streams; triggers on a channel and on a stream's consumer group |
//! | `smtp` | [`smtp`] | email over SMTP (lettre on rustls): text, HTML, attachments, STARTTLS / TLS, AUTH |
//! | `object-store` | [`object_store`] | S3, Azure Blob, GCS and a local directory: put, get, list, delete, copy, presigned URLs; new objects under a prefix |
//!
//! Every HTTP connector goes through aura-core's shared machinery ([`aura_core::http`]):
//! credentials from the connection, the SSRF guard, redirects, limits, pagination and the one
//! error mapping. Apps described as data (YAML manifests, imported OpenAPI documents) are
//! [`aura_core::declarative`] apps.

#[cfg(any(feature = "http", feature = "graphql"))]
mod generic_auth;
#[cfg(feature = "graphql")]
pub mod graphql;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "llm")]
pub mod llm;
#[cfg(feature = "object-store")]
pub mod object_store;
#[cfg(feature = "openapi")]
pub mod openapi;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "smtp")]
pub mod smtp;
