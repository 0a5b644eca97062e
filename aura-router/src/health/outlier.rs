//! [`Health`]: the passive outlier detector and half-open state machine of one provider
//! operation.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::{HealthPolicy, HealthStatus};
use crate::clock::to_nanos;

const CLOSED: u8 = 0;
const EJECTED: u8 = 1;
const PROBING: u8 = 2;

/// The health of one (provider, operation). Selection reads two atomics; completions take a
/// lock of this operation's own.
#[derive(Debug, Default)]
pub(crate) struct Health {
    state: AtomicU8,
    until: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    consecutive: u32,
    /// The last calls, newest in bit 0; a set bit is a failure.
    recent: u64,
    count: u32,
    ejections: u32,
    recovered_at: u64,
}

/// How a finished call counts for health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success,
    Failure,
    /// Says nothing about the provider (the caller's bad input, a cancellation, a 429).
    Neutral,
}

/// A change of state a completion caused, for logs, metrics and decision records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Ejected until `until`; `from_healthy`: it was healthy before (not a failed probe).
    Ejected {
        until: u64,
        ejections: u32,
        from_healthy: bool,
    },
    /// Healthy again.
    Recovered,
}

impl Health {
    pub(crate) fn status(&self, now: u64) -> HealthStatus {
        match self.state.load(Ordering::Acquire) {
            CLOSED => HealthStatus::Healthy,
            PROBING => HealthStatus::Probing,
            _ => {
                let until = self.until.load(Ordering::Acquire);
                if now >= until {
                    HealthStatus::HalfOpen
                } else {
                    HealthStatus::Ejected {
                        until: Duration::from_nanos(until),
                    }
                }
            }
        }
    }

    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.inner.lock().consecutive
    }

    pub(crate) fn ejections(&self) -> u32 {
        self.inner.lock().ejections
    }

    /// Claims the single half-open probe; false if it is not half-open or another call has it.
    pub(crate) fn try_claim_probe(&self, now: u64) -> bool {
        self.state.load(Ordering::Acquire) == EJECTED
            && now >= self.until.load(Ordering::Acquire)
            && self
                .state
                .compare_exchange(EJECTED, PROBING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Gives a claimed probe back unused (the call was cancelled): half-open again.
    pub(crate) fn release_probe(&self) {
        let _ = self
            .state
            .compare_exchange(PROBING, EJECTED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Records a finished call. `probe`: it was the half-open probe; `panic`: it was sent to an
    /// ejected operation under the panic rule.
    pub(crate) fn record(
        &self,
        verdict: Verdict,
        probe: bool,
        panic: bool,
        now: u64,
        policy: &HealthPolicy,
    ) -> Option<Transition> {
        let mut inner = self.inner.lock();
        if probe {
            return match verdict {
                Verdict::Success => Some(self.close(&mut inner, now)),
                Verdict::Failure => Some(self.eject(&mut inner, now, policy)),
                Verdict::Neutral => {
                    self.release_probe();
                    None
                }
            };
        }
        match self.state.load(Ordering::Acquire) {
            CLOSED => match verdict {
                Verdict::Neutral => None,
                Verdict::Success => {
                    inner.consecutive = 0;
                    push(&mut inner, false);
                    None
                }
                Verdict::Failure => {
                    inner.consecutive += 1;
                    push(&mut inner, true);
                    should_eject(&inner, policy).then(|| self.eject(&mut inner, now, policy))
                }
            },
            EJECTED if panic && verdict == Verdict::Success => Some(self.close(&mut inner, now)),
            // A call that started before the ejection, or a panic call that failed: the
            // ejection already says what it would.
            _ => None,
        }
    }

    /// Ejects it now (an active health check failed); `None` if it was not healthy.
    pub(crate) fn force_eject(&self, now: u64, policy: &HealthPolicy) -> Option<Transition> {
        let mut inner = self.inner.lock();
        (self.state.load(Ordering::Acquire) == CLOSED).then(|| self.eject(&mut inner, now, policy))
    }

    /// Brings it back now (an active health check passed); `None` if it was healthy.
    pub(crate) fn force_recover(&self, now: u64) -> Option<Transition> {
        let mut inner = self.inner.lock();
        (self.state.load(Ordering::Acquire) != CLOSED).then(|| self.close(&mut inner, now))
    }

    fn close(&self, inner: &mut Inner, now: u64) -> Transition {
        inner.consecutive = 0;
        inner.recent = 0;
        inner.count = 0;
        inner.recovered_at = now;
        self.state.store(CLOSED, Ordering::Release);
        Transition::Recovered
    }

    fn eject(&self, inner: &mut Inner, now: u64, policy: &HealthPolicy) -> Transition {
        let base = to_nanos(policy.base_ejection).max(1);
        let from_healthy = self.state.load(Ordering::Acquire) == CLOSED;
        // Every `base` spent healthy since the last recovery forgives one earlier ejection.
        let forgiven = if from_healthy {
            u32::try_from(now.saturating_sub(inner.recovered_at) / base).unwrap_or(u32::MAX)
        } else {
            0
        };
        inner.ejections = inner.ejections.saturating_sub(forgiven).saturating_add(1);
        let length = base
            .saturating_mul(u64::from(inner.ejections))
            .min(to_nanos(policy.max_ejection).max(base));
        let until = now.saturating_add(length);
        inner.consecutive = 0;
        inner.recent = 0;
        inner.count = 0;
        self.until.store(until, Ordering::Release);
        self.state.store(EJECTED, Ordering::Release);
        Transition::Ejected {
            until,
            ejections: inner.ejections,
            from_healthy,
        }
    }
}

fn push(inner: &mut Inner, failed: bool) {
    inner.recent = (inner.recent << 1) | u64::from(failed);
    inner.count = (inner.count + 1).min(64);
}

fn should_eject(inner: &Inner, policy: &HealthPolicy) -> bool {
    if policy.consecutive_failures > 0 && inner.consecutive >= policy.consecutive_failures {
        return true;
    }
    let Some(rate) = policy.failure_rate else {
        return false;
    };
    let window = rate.window.clamp(1, 64);
    let calls = inner.count.min(window);
    if calls < rate.min_calls.max(1) {
        return false;
    }
    let mask = if window == 64 { u64::MAX } else { (1u64 << window) - 1 };
    let failures = (inner.recent & mask).count_ones();
    f64::from(failures) / f64::from(calls) >= rate.threshold
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::FailureRate;

    const S: u64 = 1_000_000_000;

    fn policy() -> HealthPolicy {
        HealthPolicy::default()
            .consecutive_failures(3)
            .failure_rate(None)
            .ejection(Duration::from_secs(10), Duration::from_secs(25))
    }

    #[test]
    fn consecutive_failures_eject_then_half_open_admits_one_probe() {
        let h = Health::default();
        let p = policy();
        assert_eq!(h.record(Verdict::Failure, false, false, 0, &p), None);
        assert_eq!(h.record(Verdict::Failure, false, false, 0, &p), None);
        assert_eq!(
            h.record(Verdict::Failure, false, false, S, &p),
            Some(Transition::Ejected {
                until: 11 * S,
                ejections: 1,
                from_healthy: true,
            })
        );
        assert_eq!(
            h.status(5 * S),
            HealthStatus::Ejected {
                until: Duration::from_secs(11)
            }
        );
        assert!(!h.try_claim_probe(5 * S));
        assert_eq!(h.status(11 * S), HealthStatus::HalfOpen);
        assert!(h.try_claim_probe(11 * S));
        assert!(!h.try_claim_probe(11 * S), "only one probe");
        assert_eq!(h.status(11 * S), HealthStatus::Probing);
        // The probe fails: ejected for twice as long.
        assert_eq!(
            h.record(Verdict::Failure, true, false, 12 * S, &p),
            Some(Transition::Ejected {
                until: 32 * S,
                ejections: 2,
                from_healthy: false,
            })
        );
        // Third time: capped at 25 s.
        assert!(h.try_claim_probe(32 * S));
        assert_eq!(
            h.record(Verdict::Failure, true, false, 32 * S, &p),
            Some(Transition::Ejected {
                until: 57 * S,
                ejections: 3,
                from_healthy: false,
            })
        );
        assert!(h.try_claim_probe(57 * S));
        assert_eq!(
            h.record(Verdict::Success, true, false, 58 * S, &p),
            Some(Transition::Recovered)
        );
        assert_eq!(h.status(58 * S), HealthStatus::Healthy);
    }

    #[test]
    fn a_cancelled_probe_leaves_it_half_open() {
        let h = Health::default();
        let p = policy();
        for _ in 0..3 {
            h.record(Verdict::Failure, false, false, 0, &p);
        }
        assert!(h.try_claim_probe(10 * S));
        assert_eq!(h.record(Verdict::Neutral, true, false, 10 * S, &p), None);
        assert_eq!(h.status(10 * S), HealthStatus::HalfOpen);
    }

    #[test]
    fn the_failure_rate_ejects() {
        let h = Health::default();
        let p = HealthPolicy::default()
            .consecutive_failures(0)
            .failure_rate(Some(FailureRate {
                threshold: 0.5,
                window: 10,
                min_calls: 10,
            }));
        let mut ejected = None;
        for i in 0..10 {
            let verdict = if i % 2 == 1 { Verdict::Failure } else { Verdict::Success };
            ejected = h.record(verdict, false, false, 0, &p);
        }
        assert!(matches!(ejected, Some(Transition::Ejected { .. })));
    }

    #[test]
    fn healthy_time_forgives_earlier_ejections() {
        let h = Health::default();
        let p = policy();
        for _ in 0..3 {
            h.record(Verdict::Failure, false, false, 0, &p);
        }
        assert!(h.try_claim_probe(10 * S));
        h.record(Verdict::Success, true, false, 10 * S, &p);
        // Healthy for 20 s (two base periods): back to a first ejection.
        for _ in 0..3 {
            h.record(Verdict::Failure, false, false, 30 * S, &p);
        }
        assert_eq!(h.ejections(), 1);
    }
}
