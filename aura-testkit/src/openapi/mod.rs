//! Checking HTTP requests against real OpenAPI documents.
//!
//! For the tests of OpenAPI-imported apps: put a [`RecordingProxy`] in front of a mock of the
//! vendor (Prism serving the vendor's spec, in CI) or the vendor itself, point the app at the
//! proxy, and check each recorded request with a [`SpecChecker`] built from the same spec. A
//! mock server that answers 2xx is not enough on its own: the checker is strict where mocks
//! are lenient (unknown query parameters, a body's media type, every schema keyword).
//!
//! | file | what |
//! | --- | --- |
//! | `recorded.rs` | [`RecordedRequest`]: one request as sent |
//! | `proxy.rs` | [`RecordingProxy`]: forwards to an upstream and records |
//! | `checker.rs` | [`SpecChecker`], [`MatchedOperation`]: finds and checks the operation |
//! | `route.rs` | path templates and server base paths |
//! | `params.rs` | parameters: presence, coercion, schema |
//! | `body.rs` | the request body: presence, media type, schema |
//! | `schema.rs` | OpenAPI schemas as JSON Schema 2020-12 (3.0 converted), `$ref`s resolved |

mod body;
mod checker;
mod params;
mod proxy;
mod recorded;
mod route;
mod schema;

pub use checker::{MatchedOperation, SpecChecker};
pub use proxy::RecordingProxy;
pub use recorded::RecordedRequest;

#[cfg(test)]
mod tests;
