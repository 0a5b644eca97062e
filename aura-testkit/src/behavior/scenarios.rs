//! The [`ScenarioStore`] behaviour suite: deployed versions kept exactly, a version never
//! changing, the latest being the highest.
//! [`scenario_store_behavior!`](crate::scenario_store_behavior) writes one `#[tokio::test]`
//! per check.

// A check fails by panicking with what went wrong, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::any::Any;
use std::sync::Arc;

use aura_core::ErrorKind;
use aura_core::store::{DeployedScenario, ScenarioStore};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// A fresh, empty scenario store under test.
pub struct ScenarioFixture {
    store: Arc<dyn ScenarioStore>,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for ScenarioFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScenarioFixture").finish_non_exhaustive()
    }
}

impl ScenarioFixture {
    /// A fixture over `store`.
    pub fn new(store: Arc<dyn ScenarioStore>) -> Self {
        Self { store, _guard: None }
    }

    /// Keeps `guard` alive as long as the fixture (a temporary directory holding the file …).
    #[must_use]
    pub fn guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }
}

/// Writes one `#[tokio::test]` per check of [`behavior::scenarios`](crate::behavior::scenarios),
/// each on the fixture the expression (a future of a
/// [`ScenarioFixture`](crate::behavior::scenarios::ScenarioFixture)) makes afresh; attributes
/// in front go on every test, as for [`store_behavior!`](crate::store_behavior).
#[macro_export]
macro_rules! scenario_store_behavior {
    (@run [$($attrs:tt)*] $fixture:expr; $check:ident $(, $rest:ident)* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attrs)*
        async fn $check() {
            let fixture: $crate::behavior::scenarios::ScenarioFixture = $fixture.await;
            $crate::behavior::scenarios::$check(&fixture).await;
        }
        $crate::scenario_store_behavior!(@run [$($attrs)*] $fixture; $($rest),*);
    };
    (@run [$($attrs:tt)*] $fixture:expr; $(,)?) => {};
    (@attrs [$($attrs:tt)*] #[$attr:meta] $($rest:tt)*) => {
        $crate::scenario_store_behavior!(@attrs [$($attrs)* #[$attr]] $($rest)*);
    };
    (@attrs [$($attrs:tt)*] @each $fixture:expr; $($check:ident),* $(,)?) => {
        $crate::scenario_store_behavior!(@run [$($attrs)*] $fixture; $($check),*);
    };
    (@attrs [$($attrs:tt)*] $fixture:expr) => {
        $crate::scenario_store_behavior!(@run [$($attrs)*] $fixture;
            a_deployed_version_reads_back_exactly,
            the_same_version_again_is_kept_once_or_refused,
            the_latest_version_is_the_highest,
        );
    };
    ($($input:tt)*) => {
        $crate::scenario_store_behavior!(@attrs [] $($input)*);
    };
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 123_456_789).expect("a valid time")
}

fn definition(id: &str, version: u32, text: &str) -> Value {
    json!({
        "id": id,
        "name": "Test",
        "version": version,
        "nodes": [
            { "id": "t", "kind": "trigger", "next": ["say"] },
            { "id": "say", "kind": "set", "input": { "text": text, "list": [1, 2.5, null, "ü"] } },
        ],
    })
}

fn deployed(id: &str, version: u32, text: &str) -> DeployedScenario {
    DeployedScenario {
        scenario_id: id.to_owned(),
        version,
        definition: definition(id, version, text),
        deployed_at: at(i64::from(version)),
    }
}

/// A version is kept exactly (definition and time) and found by id and version.
pub async fn a_deployed_version_reads_back_exactly(f: &ScenarioFixture) {
    let d = deployed("leads", 1, "hello");
    assert!(f.store.save_scenario(&d).await.unwrap(), "a new version");
    assert_eq!(f.store.scenario("leads", 1).await.unwrap(), Some(d.clone()));
    assert_eq!(f.store.scenario("leads", 2).await.unwrap(), None);
    assert_eq!(f.store.scenario("other", 1).await.unwrap(), None);
    assert_eq!(f.store.latest_scenario("leads").await.unwrap(), Some(d));
    assert_eq!(f.store.latest_scenario("other").await.unwrap(), None);
}

/// Deploying a version again: with the same definition nothing changes; with another one it is
/// refused, naming scenario and version, and the kept one stays.
pub async fn the_same_version_again_is_kept_once_or_refused(f: &ScenarioFixture) {
    let d = deployed("leads", 4, "hello");
    f.store.save_scenario(&d).await.unwrap();
    let mut again = d.clone();
    again.deployed_at = at(100);
    assert!(!f.store.save_scenario(&again).await.unwrap(), "kept already");
    let changed = deployed("leads", 4, "changed");
    let err = f.store.save_scenario(&changed).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(err.context_value("scenario"), Some("leads"), "{err}");
    assert_eq!(err.context_value("version"), Some("4"), "{err}");
    assert_eq!(
        f.store.scenario("leads", 4).await.unwrap(),
        Some(d),
        "the first one stays"
    );
}

/// The latest version is the highest, whatever the order of deploys; listings are by id.
pub async fn the_latest_version_is_the_highest(f: &ScenarioFixture) {
    for v in [2, 1, 3] {
        f.store.save_scenario(&deployed("b", v, "b")).await.unwrap();
    }
    f.store.save_scenario(&deployed("a", 7, "a")).await.unwrap();
    assert_eq!(f.store.latest_scenario("b").await.unwrap(), Some(deployed("b", 3, "b")));
    assert_eq!(f.store.scenario_versions("b").await.unwrap(), [1, 2, 3]);
    assert!(f.store.scenario_versions("none").await.unwrap().is_empty());
    let latest = f.store.latest_scenarios().await.unwrap();
    assert_eq!(latest, [deployed("a", 7, "a"), deployed("b", 3, "b")]);
}
