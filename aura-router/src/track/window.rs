//! [`LatencyWindow`]: the most recent latencies, for p50/p95/p99 and hedging delays.

use parking_lot::Mutex;

/// How many recent samples a window keeps.
pub(crate) const WINDOW_SAMPLES: usize = 256;

/// A ring of the last [`WINDOW_SAMPLES`] latencies (nanoseconds) of one provider operation's
/// successful calls.
/// Pushed on completion under a lock of its own (never one shared between operations);
/// quantiles sort a copy.
#[derive(Debug, Default)]
pub(crate) struct LatencyWindow {
    ring: Mutex<Ring>,
}

#[derive(Debug, Default)]
struct Ring {
    samples: Vec<u64>,
    next: usize,
}

impl LatencyWindow {
    pub(crate) fn push(&self, nanos: u64) {
        let mut ring = self.ring.lock();
        if ring.samples.len() < WINDOW_SAMPLES {
            ring.samples.push(nanos);
        } else {
            let at = ring.next;
            ring.samples[at] = nanos;
        }
        ring.next = (ring.next + 1) % WINDOW_SAMPLES;
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.lock().samples.len()
    }

    /// The `qs` quantiles (each in 0..=1, by nearest rank: the smallest sample with at least
    /// that share of samples at or below it), or `None` when there are no samples.
    pub(crate) fn quantiles<const N: usize>(&self, qs: [f64; N]) -> Option<[u64; N]> {
        let mut sorted = self.ring.lock().samples.clone();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_unstable();
        let n = sorted.len();
        Some(qs.map(|q| {
            let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
            sorted[rank.clamp(1, n) - 1]
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_the_last_samples() {
        let window = LatencyWindow::default();
        assert_eq!(window.quantiles([0.5]), None);
        for i in 1..=100 {
            window.push(i);
        }
        assert_eq!(window.quantiles([0.5, 0.95, 0.99]), Some([50, 95, 99]));
        for _ in 0..WINDOW_SAMPLES {
            window.push(7);
        }
        assert_eq!(window.quantiles([0.99]), Some([7]));
        assert_eq!(window.len(), WINDOW_SAMPLES);
    }
}
