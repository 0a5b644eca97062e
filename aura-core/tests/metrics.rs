//! The engine's metrics, as a host's recorder gets them: executions counted by scenario and
//! status, their durations and their nodes' durations recorded.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aura_core::Registry;
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use serde_json::json;

/// What was recorded, by metric name and sorted labels: a counter's total, a histogram's
/// number of values.
#[derive(Default)]
struct Recorded(Mutex<BTreeMap<String, u64>>);

/// One metric of a [`Counting`] recorder.
struct Handle {
    name: String,
    recorded: Arc<Recorded>,
}

impl Handle {
    fn add(&self, n: u64) {
        *self.recorded.0.lock().unwrap().entry(self.name.clone()).or_default() += n;
    }
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.add(value);
    }

    fn absolute(&self, value: u64) {
        self.recorded.0.lock().unwrap().insert(self.name.clone(), value);
    }
}

impl HistogramFn for Handle {
    fn record(&self, _value: f64) {
        self.add(1);
    }
}

#[derive(Default)]
struct Counting(Arc<Recorded>);

impl Counting {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        let mut labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        labels.sort();
        Arc::new(Handle {
            name: format!("{}{{{}}}", key.name(), labels.join(",")),
            recorded: self.0.clone(),
        })
    }

    fn get(&self, name: &str) -> u64 {
        self.0.0.lock().unwrap().get(name).copied().unwrap_or_default()
    }
}

impl Recorder for Counting {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

/// An app whose one action always fails.
struct Broken;

#[aura_core::async_trait]
impl aura_core::App for Broken {
    fn manifest(&self) -> aura_core::AppManifest {
        aura_core::AppManifest::new("broken", "Broken", aura_core::semver::Version::new(1, 0, 0))
    }

    fn actions(&self) -> Vec<aura_core::ActionDef> {
        vec![aura_core::ActionDef::from_json(
            "call",
            json!(true),
            json!(true),
            |_cx, _v| async move { Err(aura_core::Error::invalid_input("always", Vec::new())) },
        )]
    }
}

#[test]
fn executions_are_counted_by_scenario_and_status_and_timed() {
    let recorder = Counting::default();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let registry = Registry::new();
            registry.register(Broken).unwrap();
            let engine = Engine::builder(Arc::new(registry)).build();
            let ok = engine
                .deploy(
                    Scenario::builder("ok", "Ok")
                        .node(NodeBuilder::trigger("t").next(["s"]))
                        .node(NodeBuilder::set("s", json!({ "x": 1 })))
                        .build(),
                )
                .await
                .unwrap();
            let failing = engine
                .deploy(
                    Scenario::builder("failing", "Failing")
                        .node(NodeBuilder::trigger("t").next(["s"]))
                        .node(NodeBuilder::action("s", "broken.call"))
                        .build(),
                )
                .await
                .unwrap();
            for _ in 0..2 {
                engine.execute(&ok, json!({})).await.unwrap();
            }
            let mut handle = engine.start(&ok, json!({})).await.unwrap();
            handle.response().await;
            drop(handle);
            let failed = engine.execute(&failing, json!({})).await.unwrap();
            assert_eq!(failed.status, aura_core::store::ExecutionStatus::Failed, "{failed:#?}");
        });
    });
    assert_eq!(recorder.get("aura_executions_total{scenario=ok,status=completed}"), 3);
    assert_eq!(recorder.get("aura_executions_total{scenario=ok,status=failed}"), 0);
    assert_eq!(recorder.get("aura_executions_total{scenario=failing,status=failed}"), 1);
    assert_eq!(recorder.get("aura_execution_duration_seconds{scenario=ok}"), 3);
    assert_eq!(recorder.get("aura_execution_duration_seconds{scenario=failing}"), 1);
    assert_eq!(recorder.get("aura_node_duration_seconds{node=s,scenario=ok}"), 3);
    assert_eq!(recorder.get("aura_node_failures_total{node=s,scenario=failing}"), 1);
}
