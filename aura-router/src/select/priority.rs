//! [`Priority`]: ordered failover by tier.

use rand::rngs::SmallRng;

use super::{Candidate, Strategy, weighted_pick};

/// Tries the lowest tier first ([`ProviderBuilder::priority`](crate::ProviderBuilder::priority)),
/// then the next: Camel's ordered failover, Envoy's priority levels. Within a tier it picks at
/// random by weight, or in registration order with [`in_order`](Self::in_order).
#[derive(Clone, Copy, Debug, Default)]
pub struct Priority {
    in_order: bool,
}

impl Priority {
    /// By tier, by weight within a tier.
    pub fn new() -> Self {
        Self::default()
    }

    /// By tier, then in registration order: a fixed failover order.
    pub fn in_order() -> Self {
        Self { in_order: true }
    }
}

impl Strategy for Priority {
    fn name(&self) -> &'static str {
        "priority"
    }

    fn score(&self, candidate: &Candidate<'_>) -> f64 {
        -f64::from(candidate.priority())
    }

    fn pick(&self, candidates: &[Candidate<'_>], _scores: &[f64], rng: &mut SmallRng) -> Option<usize> {
        let tier = candidates.iter().map(Candidate::priority).min()?;
        if self.in_order {
            return candidates.iter().position(|c| c.priority() == tier);
        }
        weighted_pick(
            candidates.len(),
            |i| {
                let c = &candidates[i];
                if c.priority() == tier {
                    f64::from(c.weight())
                } else {
                    0.0
                }
            },
            rng,
        )
        .filter(|&i| candidates[i].priority() == tier)
        .or_else(|| candidates.iter().position(|c| c.priority() == tier))
    }
}
