//! [`Latency`]: how long a scripted provider's calls take.

use std::time::Duration;

use rand::RngExt as _;
use rand::rngs::SmallRng;

/// A latency distribution, sampled with the provider's seeded generator.
#[derive(Clone, Debug, PartialEq)]
pub enum Latency {
    /// No time at all.
    Zero,
    /// Always this long.
    Fixed(Duration),
    /// Uniform between two bounds.
    Uniform(Duration, Duration),
    /// Normal with a mean and a standard deviation, never below zero.
    Normal {
        /// The mean.
        mean: Duration,
        /// The standard deviation.
        std_dev: Duration,
    },
    /// Usually `fast`, a `slow_share` of the time `slow`: a long tail, for hedging.
    Bimodal {
        /// The usual latency.
        fast: Duration,
        /// The tail latency.
        slow: Duration,
        /// How often the tail happens, 0..=1.
        slow_share: f64,
    },
    /// These latencies in turn, over and over.
    Cycle(Vec<Duration>),
}

impl Latency {
    /// Always `ms` milliseconds.
    pub fn ms(ms: u64) -> Self {
        Self::Fixed(Duration::from_millis(ms))
    }

    /// One sample; `n` is the call number (from 1), for [`Latency::Cycle`].
    pub(crate) fn sample(&self, n: u64, rng: &mut SmallRng) -> Duration {
        match self {
            Self::Zero => Duration::ZERO,
            Self::Fixed(d) => *d,
            Self::Uniform(a, b) => {
                let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
                lo + (hi - lo).mul_f64(rng.random::<f64>())
            }
            Self::Normal { mean, std_dev } => {
                // Box–Muller.
                let u1 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                let u2 = rng.random::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                Duration::from_secs_f64((mean.as_secs_f64() + z * std_dev.as_secs_f64()).max(0.0))
            }
            Self::Bimodal { fast, slow, slow_share } => {
                if rng.random::<f64>() < *slow_share {
                    *slow
                } else {
                    *fast
                }
            }
            Self::Cycle(list) if list.is_empty() => Duration::ZERO,
            Self::Cycle(list) => list[((n.max(1) - 1) % list.len() as u64) as usize],
        }
    }
}
