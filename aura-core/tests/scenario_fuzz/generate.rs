//! Generated and mutated scenario documents, and the property they must hold: loading them
//! (`Scenario::from_json` / `from_yaml`) and compiling them never panics, and every refusal is
//! a typed `InvalidDefinition` error whose problems point into the document.
//!
//! Shared by the bounded property test (`tests/scenario_fuzz/main.rs`) and its long run
//! (`benches/scenario_fuzz.rs`, `AURA_FUZZ_CASES`).

use std::sync::Arc;

use aura_core::compile::{CompileOptions, compile_with};
use aura_core::connection::Connections;
use aura_core::scenario::Scenario;
use aura_core::{ConnectionRecord, Credentials, ErrorKind, Registry};
use aura_testkit::{MockAction, MockApp, MockPolling};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

const GOOD_IDS: &[&str] = &["t", "a", "b", "c", "d", "e"];
const BAD_IDS: &[&str] = &["", "x.y", "a/b", "ünï", "t "];
const KINDS: &[&str] = &[
    "trigger",
    "trigger",
    "action",
    "set",
    "if",
    "switch",
    "filter",
    "iterate",
    "aggregate",
    "merge",
    "sub_scenario",
    "delay",
    "respond",
    "nope",
];
const EXPRESSIONS: &[&str] = &[
    "trigger.x",
    "trigger.score >= 50",
    "steps.a.output",
    "steps.b.output.id > 2",
    "steps.zz.output",
    "steps['a'].output",
    "item",
    "index > 1",
    "input.x",
    "execution.id",
    "unknown_var",
    "{{",
    "trigger.x |",
    "1 +",
    "",
    "range(10) | length",
    "loop.index",
    "trigger.items | map(attribute='x') | list",
];
const TEMPLATES: &[&str] = &[
    "{{ trigger.x }}",
    "{{ steps.a.output }}",
    "Hi {{ trigger.name }}",
    "{% for i in trigger.items %}{{ i }}{% endfor %}",
    "{{ item }}",
    "{{ index }}",
    "{{ input.x }}",
    "{{",
    "{% if %}",
    "}}{{",
    "plain",
    "{{ steps.c.output.id | lower }}",
    "{{ nobody }}",
];
const ACTIONS: &[&str] = &[
    "svc.call",
    "svc.call",
    "svc.nope",
    "nope.call",
    "svc",
    "",
    "svc.call.extra",
];
const SCENARIOS: &[&str] = &["fuzz", "known", "unknown", ""];
const ROUTES: &[&str] = &["true", "false", "big", "default", "nope"];

/// How the document is written and read.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Format {
    /// JSON text through `from_json`.
    Json,
    /// YAML text through `from_yaml`.
    Yaml,
    /// JSON text through `from_yaml`.
    JsonAsYaml,
}

/// A change to the written text, at a position given as a fraction of its length.
#[derive(Clone, Debug)]
pub(crate) enum Mutation {
    None,
    Truncate(f64),
    Delete(f64),
    Insert(f64, char),
    Duplicate(f64, f64),
}

/// One generated case.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    pub(crate) document: Value,
    pub(crate) format: Format,
    pub(crate) mutation: Mutation,
    pub(crate) late_binding: bool,
}

fn select(options: &'static [&'static str]) -> impl Strategy<Value = Value> + Clone {
    prop::sample::select(options).prop_map(Value::from)
}

fn word(options: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop::sample::select(options).prop_map(str::to_owned)
}

fn id() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![9 => select(GOOD_IDS), 1 => select(BAD_IDS)]
}

fn ids() -> impl Strategy<Value = Value> + Clone {
    prop::collection::vec(id(), 0..4).prop_map(Value::Array)
}

fn number() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        (-3i64..5).prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(0.5)),
        Just(json!(-1.5)),
        Just(json!(1e300)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        number(),
        "[a-z{}% .]{0,10}".prop_map(Value::from),
        select(TEMPLATES),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn expression() -> impl Strategy<Value = Value> + Clone {
    select(EXPRESSIONS)
}

/// A configuration that fits the kind most of the time, and any JSON otherwise.
fn config(kind: &str) -> BoxedStrategy<Option<Value>> {
    let fitting: BoxedStrategy<Option<Value>> = match kind {
        "trigger" => prop_oneof![
            Just(None),
            Just(Some(json!({}))),
            select(&["svc.rows", "svc.nope", "bad"]).prop_map(|t| Some(json!({ "trigger": t }))),
        ]
        .boxed(),
        "action" => select(ACTIONS).prop_map(|a| Some(json!({ "action": a }))).boxed(),
        "if" | "filter" => expression().prop_map(|c| Some(json!({ "condition": c }))).boxed(),
        "switch" => prop::collection::vec((select(ROUTES), expression()), 0..4)
            .prop_map(|cases| {
                let cases: Vec<Value> = cases
                    .into_iter()
                    .map(|(route, when)| json!({ "route": route, "when": when }))
                    .collect();
                Some(json!({ "cases": cases }))
            })
            .boxed(),
        "iterate" => prop_oneof![Just(None), number().prop_map(|n| Some(json!({ "concurrency": n })))].boxed(),
        "aggregate" => id().prop_map(|i| Some(json!({ "iterate": i }))).boxed(),
        "sub_scenario" => select(SCENARIOS).prop_map(|s| Some(json!({ "scenario": s }))).boxed(),
        "delay" => number().prop_map(|n| Some(json!({ "seconds": n }))).boxed(),
        "respond" => number().prop_map(|n| Some(json!({ "status": n }))).boxed(),
        _ => Just(None).boxed(),
    };
    prop_oneof![6 => fitting, 1 => json_value().prop_map(Some)].boxed()
}

fn on_error() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(json!("stop"))),
        1 => Just(Some(json!("continue"))),
        3 => ids().prop_map(|ids| Some(json!({ "route": ids }))),
        1 => json_value().prop_map(Some),
    ]
}

fn input() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        2 => Just(None),
        3 => prop::collection::btree_map(word(&["x", "y", "email"]), select(TEMPLATES), 0..3)
            .prop_map(|m| Some(Value::Object(m.into_iter().collect()))),
        1 => json_value().prop_map(Some),
    ]
}

fn retry() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        3 => Just(None),
        1 => (number(), number(), number())
            .prop_map(|(r, b, m)| Some(json!({ "retries": r, "base_delay_ms": b, "max_delay_ms": m }))),
        1 => json_value().prop_map(Some),
    ]
}

fn node() -> impl Strategy<Value = Value> {
    prop::sample::select(KINDS).prop_flat_map(|kind| {
        (
            id(),
            config(kind),
            ids(),
            prop::collection::btree_map(word(ROUTES), ids(), 0..3),
            on_error(),
            input(),
            retry(),
            prop_oneof![3 => Just(None), 1 => number().prop_map(Some)],
            prop_oneof![3 => Just(None), 1 => select(&["main", "other"]).prop_map(Some)],
        )
            .prop_map(
                move |(id, config, next, routes, on_error, input, retry, timeout, connection)| {
                    let mut node = Map::new();
                    node.insert("id".into(), id);
                    node.insert("kind".into(), kind.into());
                    let optional = [
                        ("config", config),
                        ("on_error", on_error),
                        ("input", input),
                        ("retry", retry),
                        ("timeout_secs", timeout),
                        ("connection", connection),
                    ];
                    for (key, value) in optional {
                        if let Some(value) = value {
                            node.insert(key.into(), value);
                        }
                    }
                    if next.as_array().is_some_and(|n| !n.is_empty()) {
                        node.insert("next".into(), next);
                    }
                    if !routes.is_empty() {
                        node.insert("routes".into(), Value::Object(routes.into_iter().collect()));
                    }
                    Value::Object(node)
                },
            )
    })
}

/// Gives the nodes the ids `t`, `a`, `b` … in order, makes the first one the trigger and
/// points every edge forward, so that many documents get past the graph checks.
fn shape(mut nodes: Vec<Value>) -> Vec<Value> {
    let count = nodes.len();
    for (i, node) in nodes.iter_mut().enumerate() {
        let Some(node) = node.as_object_mut() else { continue };
        node.insert("id".into(), GOOD_IDS.get(i).copied().unwrap_or("z").into());
        if i == 0 {
            node.insert("kind".into(), "trigger".into());
        }
        let forward = |v: &mut Value| {
            if let Some(list) = v.as_array_mut() {
                for (j, target) in list.iter_mut().enumerate() {
                    let to = (i + 1 + j).min(count.saturating_sub(1)).max(i + 1);
                    *target = GOOD_IDS.get(to).copied().unwrap_or("z").into();
                }
            }
        };
        if let Some(next) = node.get_mut("next") {
            forward(next);
        }
        if let Some(Value::Object(routes)) = node.get_mut("routes") {
            routes.values_mut().for_each(forward);
        }
        if let Some(route) = node.get_mut("on_error").and_then(|o| o.get_mut("route")) {
            forward(route);
        }
    }
    nodes
}

fn document() -> impl Strategy<Value = Value> {
    (
        select(SCENARIOS),
        prop_oneof![
            2 => Just(None),
            1 => (number(), select(SCENARIOS), number()).prop_map(|(retries, error_scenario, max)| Some(json!({
                "error_policy": { "retries": retries, "error_scenario": error_scenario },
                "max_concurrent": max,
            }))),
            1 => json_value().prop_map(Some),
        ],
        prop::collection::vec(node(), 0..8),
        any::<bool>(),
    )
        .prop_map(|(id, settings, nodes, shaped)| {
            let nodes = if shaped { shape(nodes) } else { nodes };
            let mut doc = json!({ "id": id, "name": "Fuzz", "nodes": nodes });
            if let (Some(settings), Some(doc)) = (settings, doc.as_object_mut()) {
                doc.insert("settings".into(), settings);
            }
            doc
        })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0f64..1.0;
    prop_oneof![
        4 => Just(Mutation::None),
        1 => at.clone().prop_map(Mutation::Truncate),
        1 => at.clone().prop_map(Mutation::Delete),
        1 => (at.clone(), prop::sample::select(&['{', '}', '[', ']', ':', ',', '"', '\'', '!', '&', '*', '-', '\n', ' ', '#', '\\'][..]))
            .prop_map(|(at, c)| Mutation::Insert(at, c)),
        1 => (at.clone(), at).prop_map(|(a, b)| Mutation::Duplicate(a, b)),
    ]
}

/// The cases.
pub(crate) fn case() -> impl Strategy<Value = Case> {
    (
        document(),
        prop_oneof![Just(Format::Json), Just(Format::Yaml), Just(Format::JsonAsYaml)],
        mutation(),
        any::<bool>(),
    )
        .prop_map(|(document, format, mutation, late_binding)| Case {
            document,
            format,
            mutation,
            late_binding,
        })
}

impl Case {
    /// The text handed to the loader.
    pub(crate) fn text(&self) -> String {
        let written = match self.format {
            Format::Json | Format::JsonAsYaml => serde_json::to_string_pretty(&self.document).unwrap_or_default(),
            Format::Yaml => serde_norway::to_string(&self.document).unwrap_or_default(),
        };
        let mut chars: Vec<char> = written.chars().collect();
        let pos = |f: f64, len: usize| ((f * len as f64) as usize).min(len);
        match &self.mutation {
            Mutation::None => {}
            Mutation::Truncate(at) => chars.truncate(pos(*at, chars.len())),
            Mutation::Delete(at) => {
                let i = pos(*at, chars.len());
                if i < chars.len() {
                    chars.remove(i);
                }
            }
            Mutation::Insert(at, c) => {
                let i = pos(*at, chars.len());
                chars.insert(i, *c);
            }
            Mutation::Duplicate(a, b) => {
                let (i, j) = (pos(*a, chars.len()), pos(*b, chars.len()));
                let (from, to) = (i.min(j), i.max(j));
                let copy: Vec<char> = chars[from..to].to_vec();
                chars.splice(to..to, copy);
            }
        }
        chars.into_iter().collect()
    }

    fn load(&self, text: &str) -> aura_core::Result<Scenario> {
        match self.format {
            Format::Json => Scenario::from_json(text),
            Format::Yaml | Format::JsonAsYaml => Scenario::from_yaml(text),
        }
    }
}

/// What the cases compile against: an app `svc` (bearer auth, an action `call` with a required
/// input field, a polling trigger `rows`), a connection `main`, a deployed scenario `known`.
pub(crate) struct Fixture {
    runtime: tokio::runtime::Runtime,
    registry: Registry,
    connections: Connections,
}

impl Fixture {
    /// The fixture.
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        registry
            .register(
                MockApp::new("svc")
                    .auth(aura_core::app::AuthMethod::Bearer)
                    .action(MockAction::new("call").input_schema(json!({
                        "type": "object",
                        "properties": { "x": { "type": "string" }, "y": {} },
                        "required": ["x"],
                    })))
                    .polling(MockPolling::new("rows")),
            )
            .unwrap_or_else(|e| panic!("the fixture app registers: {e}"));
        let connections = Connections::new();
        connections
            .insert_record(ConnectionRecord::new("svc", "main", Credentials::bearer("fuzz-token")).with_id("main"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a runtime: {e}"));
        Self {
            runtime,
            registry,
            connections,
        }
    }

    fn compile(&self, scenario: Scenario, late_binding: bool) -> aura_core::Result<Arc<aura_core::compile::Plan>> {
        let options = CompileOptions::new()
            .known_scenarios(["known"])
            .late_binding(late_binding);
        self.runtime
            .block_on(compile_with(scenario, &self.registry, &self.connections, &options))
            .map(Arc::new)
    }

    /// The property: no panic; refusals are typed and point into the document; what loads
    /// round-trips through JSON and compiles the same way after it.
    pub(crate) fn check(&self, case: &Case) -> Result<(), TestCaseError> {
        let text = case.text();
        let scenario = match case.load(&text) {
            Ok(s) => s,
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::InvalidDefinition, "{}", e);
                return Ok(());
            }
        };
        let written = scenario
            .to_json()
            .map_err(|e| TestCaseError::fail(format!("a loaded scenario writes: {e}")))?;
        let again = Scenario::from_json(&written)
            .map_err(|e| TestCaseError::fail(format!("a written scenario loads again: {e}\n{written}")))?;
        let first = self.compile(scenario, case.late_binding);
        let second = self.compile(again, case.late_binding);
        match (&first, &second) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a.describe(), b.describe()),
            (Err(a), Err(b)) => {
                prop_assert_eq!(a.kind(), ErrorKind::InvalidDefinition, "{}", a);
                prop_assert!(!a.violations().is_empty(), "{}", a);
                for v in a.violations() {
                    prop_assert!(
                        v.path.starts_with("/nodes") || v.path.starts_with("/settings"),
                        "a problem outside the document: {}",
                        v
                    );
                }
                prop_assert_eq!(a.violations(), b.violations());
            }
            _ => prop_assert!(
                false,
                "compiles differently after a JSON round trip: {first:?} / {second:?}"
            ),
        }
        Ok(())
    }
}
