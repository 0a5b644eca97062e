//! Selection: which eligible provider goes next.
//!
//! Hard constraints filter first (capability and operation, allowed / denied providers, tags,
//! maximum price, budgets, health, cool-downs, in-flight and rate limits: see
//! [`Exclusion`](crate::Exclusion)); a [`Strategy`] then scores every remaining
//! [`Candidate`] and picks one. On failover the strategy picks again among the candidates not
//! yet tried, so the order of attempts always follows the strategy.
//!
//! | strategy | picks |
//! | --- | --- |
//! | [`WeightedRandom`] (default) | at random, in proportion to weight |
//! | [`Scored`] | the best of one explicit score over weight, latency, in-flight, cost, health and budget ([`ScoreWeights`]) |
//! | [`LowestLatency`] | the lowest peak-EWMA latency (optionally at random within a margin of it) |
//! | [`LowestCost`] | the lowest expected cost for this request |
//! | [`Priority`] | the lowest tier first; by weight (or in order) within a tier |
//! | [`PowerOfTwo`] | the lower peak-EWMA load of two drawn at random |
//! | your own | implement [`Strategy`] |
//!
//! Randomness comes from a per-call [`SmallRng`] seeded from the router's seed
//! ([`RouterBuilder::seed`](crate::RouterBuilder::seed)), so that a test with a fixed seed
//! makes the same picks every run.

mod candidate;
mod cost;
mod latency;
mod p2c;
mod priority;
mod score;
mod weighted;

use std::fmt;

use rand::rngs::SmallRng;

pub(crate) use self::candidate::CallView;
pub use self::candidate::Candidate;
pub use self::cost::LowestCost;
pub use self::latency::LowestLatency;
pub use self::p2c::PowerOfTwo;
pub use self::priority::Priority;
pub use self::score::{ScoreWeights, Scored};
pub use self::weighted::WeightedRandom;
pub(crate) use self::weighted::weighted_pick;

/// How the next provider is chosen among the eligible candidates.
///
/// `score` is recorded in the decision record for every candidate; `pick` chooses, by default
/// the highest score (the first on ties). A strategy that ranks by the provider's `tier` tag:
///
/// ```
/// use aura_router::select::{Candidate, Strategy};
///
/// #[derive(Debug)]
/// struct Cheapest;
///
/// impl Strategy for Cheapest {
///     fn name(&self) -> &'static str {
///         "cheapest_tag"
///     }
///     fn score(&self, candidate: &Candidate<'_>) -> f64 {
///         match candidate.tag("tier") {
///             Some("free") => 2.0,
///             Some("cheap") => 1.0,
///             _ => 0.0,
///         }
///     }
/// }
/// ```
pub trait Strategy: Send + Sync + fmt::Debug {
    /// A short name, for decision records.
    fn name(&self) -> &'static str;

    /// How good `candidate` is for this call: higher is better.
    fn score(&self, candidate: &Candidate<'_>) -> f64;

    /// Scores every candidate, in order, into `scores` (which starts empty). The router calls
    /// this once per call; the default calls [`score`](Self::score) for each candidate, in a
    /// loop compiled for each strategy rather than a dynamic call per candidate.
    fn score_all(&self, candidates: &[Candidate<'_>], scores: &mut Vec<f64>) {
        scores.extend(candidates.iter().map(|c| self.score(c)));
    }

    /// Which of `candidates` to try next (`scores[i]` is the score of `candidates[i]`); `None`
    /// to try none of them. Default: the highest score, the first on ties.
    fn pick(&self, candidates: &[Candidate<'_>], scores: &[f64], rng: &mut SmallRng) -> Option<usize> {
        let _ = (candidates, rng);
        best(scores)
    }
}

/// The index of the highest score, the first on ties; NaN never wins.
pub fn best(scores: &[f64]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, &s) in scores.iter().enumerate() {
        if s.is_nan() {
            continue;
        }
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((i, s));
        }
    }
    best.map(|(i, _)| i).or(if scores.is_empty() { None } else { Some(0) })
}
