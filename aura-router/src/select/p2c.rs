//! [`PowerOfTwo`]: power of two choices over peak-EWMA load (tower::balance::p2c, Finagle).

use rand::RngExt as _;
use rand::rngs::SmallRng;

use super::{Candidate, Strategy};

/// Draws two distinct candidates uniformly and takes the one with the lower peak-EWMA load
/// (latency × (in-flight + 1)). Nearly as good as comparing all of them, at the cost of two.
#[derive(Clone, Copy, Debug, Default)]
pub struct PowerOfTwo;

impl Strategy for PowerOfTwo {
    fn name(&self) -> &'static str {
        "power_of_two"
    }

    fn score(&self, candidate: &Candidate<'_>) -> f64 {
        -candidate.load()
    }

    fn pick(&self, candidates: &[Candidate<'_>], _scores: &[f64], rng: &mut SmallRng) -> Option<usize> {
        let n = candidates.len();
        match n {
            0 => None,
            1 => Some(0),
            _ => {
                let a = rng.random_range(0..n);
                let mut b = rng.random_range(0..n - 1);
                if b >= a {
                    b += 1;
                }
                // Only these two are loaded: with a thousand candidates, two reads, not a thousand.
                Some(if candidates[a].load() <= candidates[b].load() {
                    a
                } else {
                    b
                })
            }
        }
    }
}
