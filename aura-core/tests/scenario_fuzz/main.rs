//! Property test: generated and mutated scenario documents (JSON and YAML text; random node
//! graphs with random, duplicate and missing edges; random kinds and configurations) never make
//! `Scenario::from_json` / `from_yaml` or the compiler panic. Bounded here; for a long run:
//! `AURA_FUZZ_CASES=200000 cargo bench --bench scenario_fuzz`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod generate;

use std::sync::OnceLock;

use proptest::prelude::*;

fn fixture() -> &'static generate::Fixture {
    static FIXTURE: OnceLock<generate::Fixture> = OnceLock::new();
    FIXTURE.get_or_init(generate::Fixture::new)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_scenario_documents_never_panic_the_loader_or_the_compiler(case in generate::case()) {
        fixture().check(&case)?;
    }
}
