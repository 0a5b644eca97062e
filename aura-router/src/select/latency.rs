//! [`LowestLatency`]: the fastest provider by peak-EWMA latency.

use rand::RngExt as _;
use rand::rngs::SmallRng;

use super::{Candidate, Strategy, best};

/// Picks the lowest peak-EWMA latency for this operation. With a `buffer` (LiteLLM's
/// `lowest_latency_buffer`), picks at random among those within `lowest × (1 + buffer)`, to
/// spread load over providers that are nearly as fast.
///
/// Unlike a plain mean, peak-EWMA jumps up on the first slow answer, and a hung provider is
/// penalised as soon as its calls time out; while idle the estimate decays, so a provider
/// that was slow once is tried again later.
#[derive(Clone, Copy, Debug, Default)]
pub struct LowestLatency {
    /// The margin, as a share of the lowest latency (default 0).
    pub buffer: f64,
}

impl LowestLatency {
    /// The lowest latency, no margin.
    pub fn new() -> Self {
        Self::default()
    }

    /// At random among those within `lowest × (1 + buffer)`.
    pub fn within(buffer: f64) -> Self {
        Self { buffer }
    }
}

impl Strategy for LowestLatency {
    fn name(&self) -> &'static str {
        "lowest_latency"
    }

    fn score(&self, candidate: &Candidate<'_>) -> f64 {
        -candidate.latency().as_secs_f64()
    }

    fn pick(&self, _candidates: &[Candidate<'_>], scores: &[f64], rng: &mut SmallRng) -> Option<usize> {
        let first = best(scores)?;
        if self.buffer <= 0.0 {
            return Some(first);
        }
        let limit = -scores[first] * (1.0 + self.buffer);
        let close: Vec<usize> = (0..scores.len()).filter(|&i| -scores[i] <= limit).collect();
        Some(close[rng.random_range(0..close.len())])
    }
}
