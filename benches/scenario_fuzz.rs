//! Not a timing benchmark: the scenario property test of `aura-core/tests/scenario_fuzz`, run
//! long. `AURA_FUZZ_CASES` sets the number of cases (default 20,000):
//!
//! ```text
//! AURA_FUZZ_CASES=500000 cargo bench --bench scenario_fuzz
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test run: failures end it loudly.

#[path = "../aura-core/tests/scenario_fuzz/generate.rs"]
mod generate;

use proptest::test_runner::{Config, TestRunner};

fn main() {
    let cases = std::env::var("AURA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let fixture = generate::Fixture::new();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let started = std::time::Instant::now();
    match runner.run(&generate::case(), |case| fixture.check(&case)) {
        Ok(()) => eprintln!(
            "scenario_fuzz: {cases} generated scenario documents, no panic ({:.1?})",
            started.elapsed()
        ),
        Err(e) => {
            eprintln!("scenario_fuzz: {e}");
            std::process::exit(1);
        }
    }
}
