//! [`WeightedRandom`]: at random, in proportion to weight (LiteLLM's simple-shuffle, Portkey).

use rand::RngExt as _;
use rand::rngs::SmallRng;

use super::{Candidate, Strategy};

/// Picks at random with probability weight / Σ weights: weights 5, 3, 1 give 55 %, 33 % and
/// 11 % of first attempts. On failover, draws again among the candidates not yet tried. The
/// default strategy: the cheapest to run and, with equal weights, an even spread.
#[derive(Clone, Copy, Debug, Default)]
pub struct WeightedRandom;

impl Strategy for WeightedRandom {
    fn name(&self) -> &'static str {
        "weighted_random"
    }

    fn score(&self, candidate: &Candidate<'_>) -> f64 {
        f64::from(candidate.weight())
    }

    fn pick(&self, _candidates: &[Candidate<'_>], scores: &[f64], rng: &mut SmallRng) -> Option<usize> {
        weighted_index(scores, rng)
    }
}

/// Draws an index of `weights` with probability ∝ its weight (non-positive and NaN weights
/// never win); uniform when no weight is positive or one is infinite. The default strategy's
/// hot path: the sums
/// are split so that additions do not wait on each other, and the search skips whole blocks.
pub(crate) fn weighted_index(weights: &[f64], rng: &mut SmallRng) -> Option<usize> {
    const BLOCK: usize = 8;
    let total: f64 = weights.chunks(BLOCK).map(block_sum).sum();
    if total <= 0.0 || !total.is_finite() {
        return (!weights.is_empty()).then(|| rng.random_range(0..weights.len()));
    }
    let mut target = rng.random::<f64>() * total;
    let mut last = None;
    for (b, block) in weights.chunks(BLOCK).enumerate() {
        let sum = block_sum(block);
        if target >= sum {
            target -= sum;
            if sum > 0.0 {
                last = Some(b * BLOCK + block.iter().rposition(|&w| clean(w) > 0.0).unwrap_or(0));
            }
            continue;
        }
        for (i, &w) in block.iter().enumerate() {
            let w = clean(w);
            if w > 0.0 {
                if target < w {
                    return Some(b * BLOCK + i);
                }
                target -= w;
                last = Some(b * BLOCK + i);
            }
        }
    }
    // Rounding left the target past the end: the last positive weight.
    last
}

/// A weight that can win: negative and NaN weights count as 0 (`f64::max` ignores NaN). An
/// infinite weight makes the total infinite, which falls back to a uniform pick.
fn clean(w: f64) -> f64 {
    w.max(0.0)
}

/// The sum of a block of weights, in four lanes so that the additions overlap.
fn block_sum(block: &[f64]) -> f64 {
    let (mut a, mut b, mut c, mut d) = (0.0, 0.0, 0.0, 0.0);
    let mut quads = block.chunks_exact(4);
    for q in &mut quads {
        a += clean(q[0]);
        b += clean(q[1]);
        c += clean(q[2]);
        d += clean(q[3]);
    }
    let rest: f64 = quads.remainder().iter().map(|&w| clean(w)).sum();
    (a + b) + (c + d) + rest
}

/// Draws an index in `0..n` with probability ∝ `weight(i)` (non-positive and NaN weights never
/// win); uniform when no weight is positive.
pub(crate) fn weighted_pick(n: usize, weight: impl Fn(usize) -> f64, rng: &mut SmallRng) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let total: f64 = (0..n).map(|i| clean(weight(i))).sum();
    if total <= 0.0 {
        return Some(rng.random_range(0..n));
    }
    let mut target = rng.random::<f64>() * total;
    let mut last = 0;
    for i in 0..n {
        let w = clean(weight(i));
        if w <= 0.0 {
            continue;
        }
        last = i;
        if target < w {
            return Some(i);
        }
        target -= w;
    }
    Some(last)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;

    use super::*;

    #[test]
    fn weighted_index_never_picks_a_zero_weight_and_covers_the_rest() {
        let mut rng = SmallRng::seed_from_u64(9);
        let weights: Vec<f64> = (0..37).map(|i| if i % 3 == 0 { 0.0 } else { f64::from(i) }).collect();
        let mut seen = vec![0usize; weights.len()];
        for _ in 0..20_000 {
            seen[weighted_index(&weights, &mut rng).unwrap_or(usize::MAX)] += 1;
        }
        for (i, n) in seen.iter().enumerate() {
            assert_eq!(*n == 0, i % 3 == 0, "index {i}: {n}");
        }
        assert_eq!(weighted_index(&[], &mut rng), None);
        assert_eq!(weighted_index(&[0.0, f64::NAN], &mut rng).map(|i| i < 2), Some(true));
    }
}
