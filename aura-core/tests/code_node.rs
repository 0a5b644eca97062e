//! The `code` node from a scenario author's side: what a script sees and returns, what a deploy
//! refuses (with the node, the field and the script's line and column), and every way out of
//! the sandbox tried — each a typed error, with the engine healthy afterwards.

#![cfg(feature = "code-js")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aura_core::code::{CodeError, Limits, Sandbox, Script};
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ErrorRecord, ExecutionStatus};
use aura_core::{Error, ErrorKind, Registry};
use serde_json::{Value, json};

fn engine_with(sandbox: Sandbox) -> Engine {
    Engine::builder(Arc::new(Registry::new())).extension(sandbox).build()
}

/// Tight limits, so that the escapes end quickly.
fn tight() -> Sandbox {
    Sandbox::new(
        Limits::default()
            .time(Duration::from_millis(200))
            .memory(8 << 20)
            .output(64 << 10)
            .console(256),
    )
}

fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}_{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Runs `trigger -> code` and gives the code node's output, or its error record.
async fn run_on(engine: &Engine, code: &str, trigger: Value) -> Result<Value, ErrorRecord> {
    let s = Scenario::builder(unique("code"), "code")
        .node(NodeBuilder::trigger("t").next(["c"]))
        .node(NodeBuilder::code("c", code))
        .build();
    let plan = engine.deploy(s).await.expect("deploys");
    let r = engine.execute(&plan, trigger).await.expect("runs");
    let node = r.node("c").expect("the code node ran");
    match &node.error {
        Some(e) => Err((**e).clone()),
        None => {
            assert_eq!(r.status, ExecutionStatus::Completed, "{r:#?}");
            Ok(node.output.as_deref().cloned().unwrap_or(Value::Null))
        }
    }
}

async fn run(code: &str, trigger: Value) -> Result<Value, ErrorRecord> {
    run_on(&engine_with(tight()), code, trigger).await
}

async fn deploy_error(s: Scenario) -> Error {
    engine_with(tight()).deploy(s).await.expect_err("refused")
}

fn context<'a>(e: &'a ErrorRecord, key: &str) -> Option<&'a str> {
    e.context.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_script_transforms_the_trigger_and_earlier_steps() {
    let s = Scenario::builder("orders", "Orders")
        .node(NodeBuilder::trigger("t").next(["threshold"]))
        .node(NodeBuilder::set("threshold", json!({ "min": 100 })).next(["shape"]))
        .node(NodeBuilder::code(
            "shape",
            r#"
            const min = steps.threshold.output.min;
            return trigger.orders
                .filter(o => o.total >= min)
                .map(o => ({ id: o.id, vip: o.total > 1000, at: execution.scenario_id }));
            "#,
        ))
        .build();
    let engine = engine_with(tight());
    let plan = engine.deploy(s).await.unwrap();
    let trigger = json!({ "orders": [
        { "id": 1, "total": 50 }, { "id": 2, "total": 150 }, { "id": 3, "total": 5000 }
    ]});
    let r = engine.execute(&plan, trigger).await.unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed, "{r:#?}");
    assert_eq!(
        r.output,
        Some(json!([
            { "id": 2, "vip": false, "at": "orders" },
            { "id": 3, "vip": true, "at": "orders" }
        ]))
    );
}

#[tokio::test]
async fn inside_an_iterate_body_a_script_sees_item_and_index_and_its_input() {
    let s = Scenario::builder("each", "Each")
        .node(NodeBuilder::trigger("t").next(["each"]))
        .node(
            NodeBuilder::iterate("each", 2)
                .input(json!("{{ trigger.items }}"))
                .next(["double"]),
        )
        .node(
            NodeBuilder::code("double", "return { value: item.n * 2, index, label: input.label }")
                .input(json!({ "label": "{{ item.name }}" }))
                .next(["all"]),
        )
        .node(NodeBuilder::aggregate("all", "each"))
        .build();
    let engine = engine_with(tight());
    let plan = engine.deploy(s).await.unwrap();
    let r = engine
        .execute(
            &plan,
            json!({ "items": [{ "n": 1, "name": "a" }, { "n": 5, "name": "b" }] }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, ExecutionStatus::Completed, "{r:#?}");
    assert_eq!(
        r.output,
        Some(json!([
            { "value": 2, "index": 0, "label": "a" },
            { "value": 10, "index": 1, "label": "b" }
        ]))
    );
}

#[tokio::test]
async fn every_json_value_comes_back_and_undefined_is_null() {
    assert_eq!(run("return 42", json!({})).await.unwrap(), json!(42));
    assert_eq!(run("return 'text'", json!({})).await.unwrap(), json!("text"));
    assert_eq!(
        run("return [1, {a: null}]", json!({})).await.unwrap(),
        json!([1, { "a": null }])
    );
    assert_eq!(run("const x = 1;", json!({})).await.unwrap(), Value::Null);
    assert_eq!(
        run("return trigger.a.b", json!({ "a": { "b": [true] } }))
            .await
            .unwrap(),
        json!([true])
    );
    // A promise a script settles itself is awaited.
    assert_eq!(
        run("return Promise.resolve(3).then(x => x + 1)", json!({}))
            .await
            .unwrap(),
        json!(4)
    );
    // Dates become ISO strings, as JSON.stringify gives them.
    assert_eq!(
        run("return new Date(0)", json!({})).await.unwrap(),
        json!("1970-01-01T00:00:00.000Z")
    );
}

#[tokio::test]
async fn a_syntax_error_is_a_compile_error_with_the_node_field_line_and_column() {
    let s = Scenario::builder("bad", "Bad")
        .node(NodeBuilder::trigger("t").next(["c"]))
        .node(NodeBuilder::code("c", "const a = 1;\nreturn a +;\n"))
        .build();
    let err = deploy_error(s).await;
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    let v = &err.violations()[0];
    assert_eq!(v.path, "/nodes/c/config/code", "{err:#?}");
    assert!(v.message.contains("SyntaxError"), "{}", v.message);
    assert!(v.message.contains("line 2"), "{}", v.message);
    // An error at the end of the input is at the end of the script, not past it.
    match Script::compile("return a +") {
        Err(CodeError::Syntax { line, column, .. }) => assert_eq!((line, column), (1, 11)),
        other => panic!("{other:?}"),
    }

    // The same error, typed, from the API a host can call before saving a scenario.
    match Script::compile("return (1;") {
        Err(CodeError::Syntax { line: 1, column, .. }) => assert!(column > 1),
        other => panic!("{other:?}"),
    }
    // Modules are not scripts: `import` does not compile.
    assert!(matches!(
        Script::compile("import fs from 'fs'; return 1"),
        Err(CodeError::Syntax { .. })
    ));
}

#[tokio::test]
async fn naming_a_node_that_does_not_run_before_is_a_compile_error() {
    let s = Scenario::builder("refs", "Refs")
        .node(NodeBuilder::trigger("t").next(["c"]))
        .node(NodeBuilder::code("c", "return steps.later.output + steps['nope'].output").next(["later"]))
        .node(NodeBuilder::set("later", json!({})))
        .build();
    let err = deploy_error(s).await;
    let messages: Vec<_> = err
        .violations()
        .iter()
        .map(|v| (v.path.as_str(), v.message.as_str()))
        .collect();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages.iter().all(|(p, _)| *p == "/nodes/c/config/code"),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|(_, m)| m.contains("steps.later") && m.contains("does not run before"))
    );
    assert!(
        messages
            .iter()
            .any(|(_, m)| m.contains("steps.nope") && m.contains("not a node"))
    );
}

#[tokio::test]
async fn reading_steps_as_a_whole_or_closing_the_wrapper_is_refused() {
    for (code, says) in [
        ("const id = 'a';\nreturn steps[id]", "steps.<id>"),
        ("return Object.keys(steps)", "steps.<id>"),
        ("return 1;\n}); (function () {", "closes a bracket"),
    ] {
        let s = Scenario::builder(unique("whole"), "whole")
            .node(NodeBuilder::trigger("t").next(["c"]))
            .node(NodeBuilder::code("c", code))
            .build();
        let err = deploy_error(s).await;
        let v = &err.violations()[0];
        assert_eq!(v.path, "/nodes/c/config/code");
        assert!(v.message.contains(says), "{code}: {}", v.message);
    }
}

#[tokio::test]
async fn a_thrown_error_carries_its_message_stack_and_console_into_the_record() {
    let code = "console.log('looking at', trigger.id);\nfunction check(x) {\n  throw new TypeError('no email for ' + x);\n}\ncheck(trigger.id);";
    let e = run(code, json!({ "id": 7 })).await.unwrap_err();
    assert_eq!(e.kind, "invalid_input");
    assert!(e.message.contains("TypeError: no email for 7"), "{e:#?}");
    let stack = context(&e, "stack").expect("a stack");
    // The script's own line numbers: the throw is on line 3, the call on line 5.
    assert!(stack.contains("script:3"), "{stack}");
    assert!(stack.contains("script:5"), "{stack}");
    assert_eq!(context(&e, "console"), Some("looking at 7"));
    assert_eq!(context(&e, "node"), Some("c"));

    // Anything can be thrown.
    let e = run("throw { code: 42 }", json!({})).await.unwrap_err();
    assert!(e.message.contains(r#"{"code":42}"#), "{e:#?}");
}

/// Runs an escape attempt, checks its error, then checks that the same engine and sandbox
/// still run scripts, and that the attempt left nothing behind.
async fn refused(engine: &Engine, code: &str) -> ErrorRecord {
    let e = run_on(engine, code, json!({})).await.unwrap_err();
    assert_eq!(
        run_on(
            engine,
            "return typeof globalThis.leaked + ':' + ({}).polluted",
            json!({})
        )
        .await
        .unwrap(),
        json!("undefined:undefined"),
        "after {code}"
    );
    e
}

#[tokio::test]
async fn runaway_scripts_end_in_typed_errors_and_the_engine_stays_healthy() {
    let engine = engine_with(tight());

    let e = refused(&engine, "while (true) {}").await;
    assert_eq!(
        (e.kind.as_str(), context(&e, "limit")),
        ("timeout", Some("time")),
        "{e:#?}"
    );
    // Catching the interruption does not help: it cannot be caught.
    let e = refused(&engine, "for (;;) { try { while (true) {} } catch (e) {} }").await;
    assert_eq!(context(&e, "limit"), Some("time"), "{e:#?}");
    // A regular expression that backtracks forever is interrupted too.
    let e = refused(&engine, "return /^(a+)+$/.test('a'.repeat(40) + 'b')").await;
    assert_eq!(context(&e, "limit"), Some("time"), "{e:#?}");
    // Jobs queued forever are interrupted.
    let e = refused(&engine, "const f = () => { Promise.resolve().then(f) }; f(); return 1").await;
    assert_eq!(context(&e, "limit"), Some("time"), "{e:#?}");

    let e = refused(
        &engine,
        "const a = []; while (true) a.push('x'.repeat(1 << 16) + a.length);",
    )
    .await;
    assert_eq!(
        (e.kind.as_str(), context(&e, "limit")),
        ("invalid_input", Some("memory")),
        "{e:#?}"
    );
    let e = refused(&engine, "return new Array(1e9).fill(0)").await;
    assert_eq!(context(&e, "limit"), Some("memory"), "{e:#?}");
    let e = refused(&engine, "return 'x'.repeat(1 << 28)").await;
    assert_eq!(context(&e, "limit"), Some("memory"), "{e:#?}");

    let e = refused(&engine, "function f(n) { return f(n + 1) + 1; } return f(0)").await;
    assert_eq!(context(&e, "limit"), Some("stack"), "{e:#?}");

    let e = refused(&engine, "return 'y'.repeat(100000)").await;
    assert_eq!(context(&e, "limit"), Some("output"), "{e:#?}");
}

#[tokio::test]
async fn escapes_are_refused_and_nothing_leaks_between_runs() {
    let engine = engine_with(tight());

    // Prototype pollution of the shared built-ins, and new globals: TypeErrors (strict mode
    // on frozen objects).
    for code in [
        "Object.prototype.polluted = 1; return 1",
        "Array.prototype.map = () => 'hijacked'; return 1",
        "Object.defineProperty(Object.prototype, 'polluted', { value: 1 }); return 1",
        "JSON.parse = () => 1; return 1",
        "globalThis.leaked = 1; return 1",
        "leaked = 1; return 1",
        "Object.setPrototypeOf(Object.prototype, { polluted: 1 }); return 1",
        "Math.random = () => 4; return 1",
        "console.log = null; return 1",
    ] {
        let e = refused(&engine, code).await;
        assert!(
            e.message.contains("TypeError") || e.message.contains("ReferenceError"),
            "{code}: {e:#?}"
        );
    }
    // Shadowing inherited properties on the script's own objects still works.
    assert_eq!(
        run_on(
            &engine,
            "const e = new Error('m'); e.name = 'Custom'; const o = {}; o.toString = () => 'mine'; return [e.name, String(o), Object.prototype.toString.call([])]",
            json!({})
        )
        .await
        .unwrap(),
        json!(["Custom", "mine", "[object Array]"])
    );

    // No dynamic code, however it is reached.
    for code in [
        "return eval('1 + 1')",
        "return (0, eval)('1 + 1')",
        "return Function('return 1')()",
        "return (() => {}).constructor('return globalThis')()",
        "return Object.getPrototypeOf(async function () {}).constructor('return 1')",
        "return Object.getPrototypeOf(function* () {}).constructor('yield 1')",
    ] {
        let e = refused(&engine, code).await;
        assert!(e.message.contains("is not allowed in a code node"), "{code}: {e:#?}");
    }
    // `instanceof Function` still answers.
    assert_eq!(
        run_on(
            &engine,
            "return [(() => 1) instanceof Function, typeof Function]",
            json!({})
        )
        .await
        .unwrap(),
        json!([true, "function"])
    );

    // No host: no require, process, timers, modules.
    for code in [
        "return require('fs')",
        "return process.env",
        "return setTimeout(() => 1, 0)",
        "return std.loadFile('/etc/passwd')",
        "return os.exec(['ls'])",
    ] {
        let e = refused(&engine, code).await;
        assert!(e.message.contains("ReferenceError"), "{code}: {e:#?}");
    }
    let e = refused(&engine, "return import('fs')").await;
    assert_eq!(e.kind, "invalid_input", "{e:#?}");

    // A function's own state does not survive either: each run gets fresh arguments.
    let counter = "trigger.seen = (trigger.seen || 0) + 1; return trigger.seen";
    assert_eq!(run_on(&engine, counter, json!({})).await.unwrap(), json!(1));
    assert_eq!(run_on(&engine, counter, json!({})).await.unwrap(), json!(1));
}

#[tokio::test]
async fn results_without_a_json_form_are_typed_errors() {
    let e = run("return 10n", json!({})).await.unwrap_err();
    assert!(e.message.contains("not JSON"), "{e:#?}");
    let e = run("const a = {}; a.self = a; return a", json!({})).await.unwrap_err();
    assert!(e.message.contains("not JSON"), "{e:#?}");
    let e = run("return new Promise(() => {})", json!({})).await.unwrap_err();
    assert!(e.message.contains("never settles"), "{e:#?}");
    let e = run("return Promise.reject(new RangeError('late'))", json!({}))
        .await
        .unwrap_err();
    assert!(e.message.contains("RangeError: late"), "{e:#?}");
}

#[tokio::test]
async fn console_output_is_bounded() {
    // 256 bytes of console in `tight()`: the first lines are kept, the rest counted.
    let e = run(
        "for (let i = 0; i < 1000; i++) console.log('line', i); throw new Error('x')",
        json!({}),
    )
    .await
    .unwrap_err();
    let console = context(&e, "console").unwrap();
    assert!(console.starts_with("line 0\nline 1\n"), "{console}");
    let (kept, note) = console.rsplit_once('\n').unwrap();
    assert!(kept.lines().map(str::len).sum::<usize>() <= 256, "{kept}");
    let kept = kept.lines().count();
    assert_eq!(note, format!("({} more lines dropped)", 1000 - kept));
}

#[test]
fn runs_on_many_threads_share_one_pool() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let sandbox = Sandbox::new(Limits::default().idle(2));
    let engine = engine_with(sandbox.clone());
    runtime.block_on(async {
        let s = Scenario::builder("many", "Many")
            .node(NodeBuilder::trigger("t").next(["c"]))
            .node(NodeBuilder::code(
                "c",
                "function f(n) { return n < 2 ? n : f(n - 1) + f(n - 2) } return f(trigger.n)",
            ))
            .build();
        let plan = engine.deploy(s).await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..64u32 {
            let (engine, plan) = (engine.clone(), plan.clone());
            tasks.push(tokio::spawn(async move {
                let r = engine.execute(&plan, json!({ "n": n % 20 })).await.unwrap();
                (n, r)
            }));
        }
        let fib = |n: u32| {
            let (mut a, mut b) = (0u64, 1u64);
            for _ in 0..n {
                (a, b) = (b, a + b);
            }
            a
        };
        for t in tasks {
            let (n, r) = t.await.unwrap();
            assert_eq!(r.status, ExecutionStatus::Completed, "{r:#?}");
            assert_eq!(r.output, Some(json!(fib(n % 20))));
        }
    });
    let stats = sandbox.stats();
    assert!(stats.idle <= 2, "{stats:?}");
    assert!(stats.idle >= 1 && stats.memory > 0, "{stats:?}");
}

#[test]
fn a_code_node_reads_and_writes_as_yaml_and_json() {
    let yaml = r#"
id: y
name: Y
nodes:
  - { id: t, kind: trigger, next: [c] }
  - id: c
    kind: code
    config:
      code: |
        return trigger.a + 1;
"#;
    let s = Scenario::from_yaml(yaml).unwrap();
    let json = s.to_json().unwrap();
    assert!(json.contains(r#""kind": "code""#), "{json}");
    assert!(json.contains("return trigger.a + 1;"), "{json}");
    let again = Scenario::from_json(&json).unwrap();
    assert_eq!(again.to_json().unwrap(), json);
    // A misspelt field is refused, not ignored.
    let err = Scenario::from_yaml(&yaml.replace("code: |", "cdoe: |")).unwrap_err();
    assert!(err.to_string().contains("cdoe"), "{err}");
}

#[tokio::test]
async fn an_input_nested_past_the_limit_is_refused_not_a_stack_overflow() {
    let mut deep = json!(1);
    for _ in 0..300 {
        deep = json!([deep]);
    }
    let e = run("return trigger.length", deep).await.unwrap_err();
    assert!(e.message.contains("nests deeper than 256 levels"), "{e:#?}");
}
