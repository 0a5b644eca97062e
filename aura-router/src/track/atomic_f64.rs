//! [`AtomicF64`]: a float that many threads can read and add to without a lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// An `f64` stored as its bits in an [`AtomicU64`].
#[derive(Debug, Default)]
pub(crate) struct AtomicF64(AtomicU64);

impl AtomicF64 {
    pub(crate) fn new(value: f64) -> Self {
        Self(AtomicU64::new(value.to_bits()))
    }

    pub(crate) fn load(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    pub(crate) fn store(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }

    /// Adds `delta` (a compare-and-swap loop).
    pub(crate) fn add(&self, delta: f64) {
        self.update(|x| x + delta);
    }

    /// Replaces the value with `f(value)` (a compare-and-swap loop).
    pub(crate) fn update(&self, f: impl Fn(f64) -> f64) {
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            let next = f(f64::from_bits(current)).to_bits();
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }
}
