//! Network machinery shared by everything that calls out: outbound webhook delivery today,
//! the HTTP connectors next.
//!
//! | part | what it does |
//! | --- | --- |
//! | [`SsrfGuard`] | refuses URLs that reach private, loopback, link-local … addresses, and pins each connection to the addresses it checked |

pub mod ssrf;

pub use self::ssrf::SsrfGuard;
