//! # aura-connectors
//!
//! Connectors for real services, built on aura-core: one module per service, each behind its
//! own cargo feature so that a host links only what it uses.
//!
//! **Status: no connector yet.** This crate is a placeholder so that the workspace has its
//! final shape. Connectors arrive with their own issues; each will speak the vendor's
//! documented API (paths, auth, pagination, errors, rate limits) through aura-core's shared
//! HTTP client and error mapping ([`aura_core::error::error_for_response`]), and each will be
//! tested against a real local server or emulator (PostgreSQL, Redis, moto for S3, azurite,
//! maildev, Prism serving the vendor's OpenAPI document).
//!
//! The module list will read like this:
//!
//! ```text
//! #[cfg(feature = "slack")]
//! pub mod slack;
//! #[cfg(feature = "postgres")]
//! pub mod postgres;
//! ```
//!
//! Beside the connectors:
//!
//! - [`openapi`] (feature `openapi`): the OpenAPI 3.0 / 3.1 importer, which turns a vendor's
//!   OpenAPI document into a declarative app manifest.

#[cfg(feature = "openapi")]
pub mod openapi;
