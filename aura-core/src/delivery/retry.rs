//! When a delivery is tried again: [`RetrySchedule`] and [`AutoDisable`], and which answers
//! are worth another try.

use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// The delays before each attempt of one delivery, measured from the previous attempt, with
/// jitter. The default is Svix's: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
/// (eight attempts over about 27 hours), each delay ±20%.
///
/// ```
/// use std::time::Duration;
/// use aura_core::delivery::RetrySchedule;
///
/// let schedule = RetrySchedule::new([Duration::ZERO, Duration::from_secs(1)]).jitter(0.0);
/// assert_eq!(schedule.attempts(), 2);
/// assert_eq!(schedule.delay(1), Some(Duration::from_secs(1)));
/// assert_eq!(schedule.delay(2), None);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
    jitter: f64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        const MIN: u64 = 60;
        const HOUR: u64 = 60 * MIN;
        Self::new([0, 5, 5 * MIN, 30 * MIN, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR].map(Duration::from_secs))
    }
}

impl RetrySchedule {
    /// A schedule of these delays, one per attempt (the first is usually zero), with ±20%
    /// jitter. An empty list still makes one attempt at once.
    pub fn new(delays: impl IntoIterator<Item = Duration>) -> Self {
        let mut delays: Vec<Duration> = delays.into_iter().collect();
        if delays.is_empty() {
            delays.push(Duration::ZERO);
        }
        Self { delays, jitter: 0.2 }
    }

    /// Sets the jitter: each delay is moved by up to this fraction either way (0.2 is ±20%);
    /// clamped to `0.0..=1.0`.
    #[must_use]
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// How many attempts a delivery gets in all.
    pub fn attempts(&self) -> usize {
        self.delays.len()
    }

    /// The delays as given, without jitter.
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// The delay before attempt `index` (0 is the first), jittered; `None` past the last.
    pub fn delay(&self, index: usize) -> Option<Duration> {
        let base = *self.delays.get(index)?;
        if self.jitter == 0.0 || base.is_zero() {
            return Some(base);
        }
        // A random factor in [1 - jitter, 1 + jitter]. Without randomness the delay is exact:
        // a retry a little less spread out is better than none.
        let unit = getrandom::u64().map_or(0.5, |r| (r >> 11) as f64 / (1u64 << 53) as f64);
        let factor = 1.0 + self.jitter * (2.0 * unit - 1.0);
        Some(base.mul_f64(factor))
    }
}

/// When an endpoint that keeps failing is disabled (and
/// [`DeliveryEvent::EndpointDisabled`](super::DeliveryEvent::EndpointDisabled) sent).
///
/// An endpoint is disabled once `failed_messages` deliveries in a row have failed for good
/// (schedule spent, or a permanent refusal), or once it has failed without a single success for
/// longer than `failing_for` (Svix: five days) and at least one delivery failed for good. Any
/// success starts both counts again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoDisable {
    /// Deliveries failed for good in a row that disable the endpoint; `None` never counts.
    pub failed_messages: Option<u32>,
    /// How long an endpoint may fail without a success; `None` never looks at time.
    pub failing_for: Option<Duration>,
}

impl Default for AutoDisable {
    fn default() -> Self {
        Self {
            failed_messages: Some(20),
            failing_for: Some(Duration::from_secs(5 * 24 * 3600)),
        }
    }
}

impl AutoDisable {
    /// Never disable an endpoint.
    pub fn never() -> Self {
        Self {
            failed_messages: None,
            failing_for: None,
        }
    }
}

/// What one attempt's outcome means for the delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Try again, waiting at least this long when the receiver said.
    Retry(Option<Duration>),
    /// Give up: another try cannot help.
    GiveUp,
}

/// Whether an attempt that failed with `err` is worth another: network failures, timeouts,
/// 408, 429 and 5xx are; other answers (4xx, 3xx: redirects are not followed) and refusals of
/// the SSRF guard are not. `Retry-After` is kept on 429 and 503.
pub(crate) fn verdict(err: &Error) -> Verdict {
    match err.kind() {
        ErrorKind::Forbidden if err.status().is_none() => Verdict::GiveUp,
        ErrorKind::InvalidInput | ErrorKind::InvalidDefinition | ErrorKind::Internal => Verdict::GiveUp,
        _ if err.status().is_some_and(|s| (300..400).contains(&s)) => Verdict::GiveUp,
        _ if err.is_retryable() => Verdict::Retry(err.retry_after()),
        // A transport failure without an answer (a connection reset mid-way, a body that
        // would not send) may pass next time.
        _ if err.status().is_none() && err.kind() != ErrorKind::Cancelled => Verdict::Retry(None),
        _ => Verdict::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_fraction() {
        let schedule = RetrySchedule::default();
        for _ in 0..200 {
            let d = schedule.delay(2).unwrap_or_default();
            assert!(d >= Duration::from_secs(240) && d <= Duration::from_secs(360), "{d:?}");
        }
        assert_eq!(schedule.delay(0), Some(Duration::ZERO));
        assert_eq!(schedule.attempts(), 8);
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(verdict(&Error::upstream(500, "")), Verdict::Retry(None));
        assert_eq!(verdict(&Error::upstream(408, "")), Verdict::Retry(None));
        assert_eq!(
            verdict(&Error::rate_limited("", Some(Duration::from_secs(9)))),
            Verdict::Retry(Some(Duration::from_secs(9)))
        );
        assert_eq!(verdict(&Error::upstream(400, "")), Verdict::GiveUp);
        assert_eq!(verdict(&Error::upstream(404, "")), Verdict::GiveUp);
        assert_eq!(verdict(&Error::upstream(410, "")), Verdict::GiveUp);
        assert_eq!(verdict(&Error::upstream(302, "")), Verdict::GiveUp);
        assert_eq!(verdict(&Error::forbidden("ssrf")), Verdict::GiveUp);
        assert_eq!(verdict(&Error::timeout("slow")), Verdict::Retry(None));
        assert_eq!(verdict(&Error::unavailable("reset")), Verdict::Retry(None));
    }
}
