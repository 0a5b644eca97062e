//! The lifecycle of connections — create, test, use, refresh, change, disconnect, delete — on
//! top of a [`CredentialStore`](crate::connection::CredentialStore), through
//! [`ConnectionManager`].
//!
//! This is the layer above [`connection`](crate::connection): it uses the low layer (records,
//! credentials, stores, the OAuth2 client), the [`Registry`](crate::Registry) (to find an app's
//! manifest and test a new connection) and [`Context`](crate::Context). The module is private;
//! its types are public as `aura_core::connection::{ConnectionManager, …}` through a re-export
//! in `connection`, and nothing in `connection` uses them, so the dependency runs one way.
//!
//! | file | idea |
//! | --- | --- |
//! | `operations.rs` | [`ConnectionManager`]: what a host calls (create, load, get, update, replace, test, delete …) |
//! | `builder.rs` | [`ConnectionManagerBuilder`] |
//! | `requests.rs` | what a host asks for: [`NewConnection`], [`ConnectionUpdate`] |
//! | `events.rs` | what a host is told: [`ConnectionEvent`], [`ConnectionEventKind`], [`ConnectionUsage`], [`LoadReport`] |
//! | `authorization.rs` | connecting an account with OAuth2 (authorization code with PKCE, client credentials) |
//! | `check.rs` | checking credentials against an app's declared auth methods |
//! | `shared.rs` | the state every managed connection shares: store writes, status, events |
//! | `managed.rs` | the live connection the engine uses: authorize, renew, count calls |
//! | `refresh.rs` | refreshing its token: single flight, a shared failure, back-off |

mod authorization;
mod builder;
mod check;
mod events;
mod managed;
mod operations;
mod refresh;
mod requests;
mod shared;

pub use self::builder::ConnectionManagerBuilder;
pub use self::events::{ConnectionEvent, ConnectionEventKind, ConnectionUsage, LoadReport};
pub use self::operations::ConnectionManager;
pub use self::requests::{ConnectionUpdate, NewConnection};

/// The metadata key that records how an OAuth2 connection got its token.
const GRANT_KEY: &str = "oauth2_grant";
