//! Serde forms for durations in the router's JSON (a [`Decision`](crate::Decision), a
//! [`RouterSnapshot`](crate::RouterSnapshot)): milliseconds as a float (`"latency_ms": 0.42`),
//! like the `*_ms` fields of scenarios, so that sub-millisecond latencies keep their precision.
//!
//! Shared vocabulary at the bottom of the crate: it uses no other module. Use it as
//! `#[serde(rename = "x_ms", with = "millis")]`, or `serialize_with = "millis::serialize_opt"`
//! for an `Option<Duration>` (`null` when there is none).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// A duration as milliseconds.
#[allow(clippy::cast_precision_loss)] // exact below 2^53 ns (104 days); a log field beyond
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// Milliseconds back into a duration, to the nearest nanosecond (negative or not finite: an
/// error), so that what [`ms`] wrote reads back exactly.
fn from_ms<E: serde::de::Error>(ms: f64) -> Result<Duration, E> {
    let nanos = (ms * 1e6).round();
    // Not a number, negative or past u64 nanoseconds (584 years).
    if !(0.0..1.8e19).contains(&nanos) {
        return Err(E::custom(format!("{ms} is not a duration in milliseconds")));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked just above
    Ok(Duration::from_nanos(nanos as u64))
}

/// `Duration` as float milliseconds.
pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ms(*d))
}

/// `Option<Duration>` as float milliseconds, or `null`.
pub(crate) fn serialize_opt<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&ms(*d)),
        None => s.serialize_none(),
    }
}

/// `Duration` from float milliseconds.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    from_ms(f64::deserialize(d)?)
}
