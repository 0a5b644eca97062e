//! [`PeakEwma`]: a latency estimate that jumps up at once and decays slowly (Finagle, tower).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::atomic_f64::AtomicF64;

/// Peak-EWMA of round-trip times, in nanoseconds.
///
/// `observe(rtt, t)`: a sample above the estimate replaces it (peak); one below pulls it down
/// with weight `1 - exp(-(t - stamp) / tau)`. Reading at `now` decays the estimate toward zero
/// by `exp(-(now - stamp) / tau)`, so that an idle provider is tried again by and by.
///
/// Lock-free: the estimate and its stamp are two atomics, written together on completion and
/// read together on selection; a read between the two writes sees a slightly stale pair,
/// which does no harm to an estimate.
#[derive(Debug, Default)]
pub(crate) struct PeakEwma {
    cost: AtomicF64,
    stamp: AtomicU64,
    seen: AtomicBool,
}

impl PeakEwma {
    /// Records a round trip of `rtt_ns` that ended at `now_ns`.
    pub(crate) fn observe(&self, rtt_ns: f64, now_ns: u64, tau_ns: f64) {
        let stamp = self.stamp.load(Ordering::Relaxed);
        let seen = self.seen.load(Ordering::Relaxed);
        let elapsed = now_ns.saturating_sub(stamp) as f64;
        self.cost.update(|cost| {
            if !seen || rtt_ns > cost {
                rtt_ns
            } else {
                let w = (-elapsed / tau_ns).exp();
                cost * w + rtt_ns * (1.0 - w)
            }
        });
        self.stamp.store(now_ns.max(stamp), Ordering::Relaxed);
        self.seen.store(true, Ordering::Relaxed);
    }

    /// The estimate at `now_ns`, decayed while idle; `None` before the first sample.
    pub(crate) fn estimate(&self, now_ns: u64, tau_ns: f64) -> Option<f64> {
        if !self.seen.load(Ordering::Relaxed) {
            return None;
        }
        let elapsed = now_ns.saturating_sub(self.stamp.load(Ordering::Relaxed)) as f64;
        Some(self.cost.load() * (-elapsed / tau_ns).exp())
    }

    /// The estimate as of the last sample, undecayed.
    pub(crate) fn last(&self) -> Option<f64> {
        self.seen.load(Ordering::Relaxed).then(|| self.cost.load())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: f64 = 1e6;
    const TAU: f64 = 1e9; // 1 s

    #[test]
    fn jumps_up_at_once_and_decays_down() {
        let ewma = PeakEwma::default();
        assert_eq!(ewma.estimate(0, TAU), None);
        ewma.observe(10.0 * MS, 0, TAU);
        ewma.observe(100.0 * MS, 1, TAU);
        assert_eq!(ewma.last(), Some(100.0 * MS));
        // A fast sample 1 s later pulls it most of the way down.
        ewma.observe(10.0 * MS, 1_000_000_001, TAU);
        let last = ewma.last().unwrap_or_default();
        assert!(last > 10.0 * MS && last < 50.0 * MS, "{last}");
    }

    #[test]
    fn the_estimate_decays_while_idle() {
        // tower's test: 10 ms decays to (9, 10) ms after 100 ms with tau = 1 s.
        let ewma = PeakEwma::default();
        ewma.observe(10.0 * MS, 0, TAU);
        let later = ewma.estimate(100_000_000, TAU).unwrap_or_default();
        assert!(later > 9.0 * MS && later < 10.0 * MS, "{later}");
    }
}
