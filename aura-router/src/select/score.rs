//! [`Scored`]: one explicit scoring function with tunable coefficients.

use serde::{Deserialize, Serialize};

use super::{Candidate, Strategy};

/// The coefficients of [`Scored`]'s function:
///
/// ```text
/// score = weight    × weight_share                  (0..1: its weight / the eligible total)
///       − latency   × latency_seconds               (peak-EWMA, this provider and operation)
///       − in_flight × calls_in_flight               (this provider and operation)
///       − cost      × expected_cost                 (this request, in the cost models' currency)
///       − health    × (1 − health)                  (health: 1 healthy, 0.5 half-open, 0 ejected)
///       + budget    × budget_remaining              (0..1 of its own budget; 1 without one)
/// ```
///
/// A coefficient of 0 ignores its term. With `latency = 10, cost = 0` the faster provider wins;
/// with `latency = 0, cost = 1000` the cheaper one does.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreWeights {
    /// Per unit of weight share (default 1).
    pub weight: f64,
    /// Per second of latency (default 1).
    pub latency: f64,
    /// Per call in flight (default 0.1).
    pub in_flight: f64,
    /// Per unit of expected cost (default 1).
    pub cost: f64,
    /// Per unit of missing health (default 1).
    pub health: f64,
    /// Per unit of remaining budget share (default 0.1).
    pub budget: f64,
}

impl Default for ScoreWeights {
    fn default() -> Self {
        Self {
            weight: 1.0,
            latency: 1.0,
            in_flight: 0.1,
            cost: 1.0,
            health: 1.0,
            budget: 0.1,
        }
    }
}

impl ScoreWeights {
    /// Every coefficient 0: set the ones that matter.
    pub fn zero() -> Self {
        Self {
            weight: 0.0,
            latency: 0.0,
            in_flight: 0.0,
            cost: 0.0,
            health: 0.0,
            budget: 0.0,
        }
    }

    /// The score of `c` (see the type's docs).
    pub fn score(&self, c: &Candidate<'_>) -> f64 {
        let mut score = 0.0;
        if self.weight != 0.0 {
            score += self.weight * c.weight_share();
        }
        if self.latency != 0.0 {
            score -= self.latency * c.latency().as_secs_f64();
        }
        if self.in_flight != 0.0 {
            score -= self.in_flight * c.in_flight() as f64;
        }
        if self.cost != 0.0 {
            score -= self.cost * c.expected_cost();
        }
        if self.health != 0.0 {
            score -= self.health * (1.0 - c.health().score());
        }
        if self.budget != 0.0 {
            score += self.budget * c.budget_remaining().unwrap_or(1.0);
        }
        score
    }
}

/// Picks the highest [`ScoreWeights`] score (the first registered on ties).
#[derive(Clone, Copy, Debug, Default)]
pub struct Scored(pub ScoreWeights);

impl Scored {
    /// A score-based strategy with these coefficients.
    pub fn new(weights: ScoreWeights) -> Self {
        Self(weights)
    }
}

impl Strategy for Scored {
    fn name(&self) -> &'static str {
        "scored"
    }

    fn score(&self, candidate: &Candidate<'_>) -> f64 {
        self.0.score(candidate)
    }
}
