//! [`LowestCost`]: the cheapest provider for this request.

use rand::rngs::SmallRng;

use super::{Candidate, Strategy, best, weighted_pick};

/// Picks the lowest expected cost for this request (the per-call price plus the expected
/// units at each meter's price; see [`Request::expected_units`](crate::Request::expected_units)).
/// Ties are broken at random by weight.
#[derive(Clone, Copy, Debug, Default)]
pub struct LowestCost;

impl Strategy for LowestCost {
    fn name(&self) -> &'static str {
        "lowest_cost"
    }

    fn score(&self, candidate: &Candidate<'_>) -> f64 {
        -candidate.expected_cost()
    }

    fn pick(&self, candidates: &[Candidate<'_>], scores: &[f64], rng: &mut SmallRng) -> Option<usize> {
        let top = scores[best(scores)?];
        let tie = |i: usize| (scores[i] - top).abs() <= top.abs() * 1e-9;
        weighted_pick(
            candidates.len(),
            |i| if tie(i) { f64::from(candidates[i].weight()) } else { 0.0 },
            rng,
        )
        .filter(|&i| tie(i))
        .or_else(|| best(scores))
    }
}
