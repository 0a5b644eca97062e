//! The HTTP machinery every HTTP-speaking app shares: the generic `http` and `graphql` apps,
//! apps declared in a manifest or imported from OpenAPI, and vendor connectors.
//!
//! | piece | here |
//! | --- | --- |
//! | a request as data, built apart from sending (unit-testable without a server) | [`HttpRequest`], [`Body`], [`Part`], [`expand_path`] |
//! | sending: credentials, timeout, redirects, size limit, SSRF guard, the one error mapping | [`HttpPolicy`], [`HttpResponse`] |
//! | pagination: page number, offset/limit, cursor, `Link` header, next URL | [`Paginate`], [`Pagination`] |
//! | output selection by JSON pointer | [`select`] |
//! | new items of a polled answer: keys and cursor | [`poll_items`] |
//!
//! Errors follow [`Error::from_http`](crate::Error::from_http) (429 and 503 with
//! `Retry-After`, 5xx retryable, 4xx not), and a [`ResponseCheck`](crate::error::ResponseCheck)
//! set on the policy classifies answers that say "error" with a success status.

mod items;
mod paginate;
mod request;
mod select;
mod send;

pub use self::items::poll_items;
pub use self::paginate::{Pages, Paginate, Pagination, next_link};
pub use self::request::{Body, HttpRequest, Part, expand_path, scalar_text};
pub use self::select::{check_pointer, select, take};
pub use self::send::{
    DEFAULT_MAX_REDIRECTS, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, HttpPolicy, HttpPolicyBuilder, HttpResponse,
};
