use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::*;

fn scope() -> Scope {
    let mut steps = BTreeMap::new();
    steps.insert(
        "find_contact".to_owned(),
        json!({ "id": 42, "tags": ["a", "b"], "score": 7.5 }),
    );
    Scope::new(&json!({ "body": { "email": "Ada@Example.COM", "tags": ["x", "y"], "n": 3, "created": "2026-11-22T10:30:00Z" } }))
        .with_steps(Arc::new(steps))
        .with_execution("e1", "s1")
}

fn eval(template: Value) -> Result<Value> {
    Mapping::compile(&template)
        .map_err(|v| Error::invalid_definition("x").with_violations(v))?
        .eval(&scope())
}

#[test]
fn a_single_expression_keeps_its_json_type() {
    assert_eq!(eval(json!("{{ trigger.body.tags }}")).unwrap(), json!(["x", "y"]));
    assert_eq!(eval(json!("{{ trigger.body.n }}")).unwrap(), json!(3));
    assert_eq!(
        eval(json!("{{ steps.find_contact.output.score }}")).unwrap(),
        json!(7.5)
    );
    assert_eq!(eval(json!("{{ trigger.body }}")).unwrap()["n"], 3);
    assert_eq!(eval(json!("{{ trigger.body.n > 2 }}")).unwrap(), json!(true));
    assert_eq!(eval(json!("{{ none }}")).unwrap(), json!(null));
}

#[test]
fn mixed_text_renders_a_string() {
    assert_eq!(
        eval(json!(
            "Contact {{ steps.find_contact.output.id }} has {{ trigger.body.tags | length }} tags"
        ))
        .unwrap(),
        json!("Contact 42 has 2 tags")
    );
    assert_eq!(
        eval(json!("{% if trigger.body.n > 1 %}many{% else %}one{% endif %}")).unwrap(),
        json!("many")
    );
}

#[test]
fn nested_documents_and_literals() {
    let out = eval(json!({
        "email": "{{ trigger.body.email | lower }}",
        "fixed": 5,
        "list": ["{{ index | default(0) }}", "lit"],
        "deep": { "id": "{{ steps.find_contact.output.id }}" }
    }))
    .unwrap();
    assert_eq!(
        out,
        json!({ "email": "ada@example.com", "fixed": 5, "list": [0, "lit"], "deep": { "id": 42 } })
    );
}

#[test]
fn filters_default_json_and_date() {
    assert_eq!(
        eval(json!("{{ trigger.body.missing | default('none') }}")).unwrap(),
        json!("none")
    );
    assert_eq!(
        eval(json!("{{ trigger.body.tags | json }}")).unwrap(),
        json!("[\"x\",\"y\"]")
    );
    assert_eq!(
        eval(json!("{{ trigger.body.created | date('%Y-%m-%d') }}")).unwrap(),
        json!("2026-11-22")
    );
    assert_eq!(eval(json!("{{ 0 | date('%Y') }}")).unwrap(), json!("1970"));
    assert_eq!(
        eval(json!("{{ trigger.body.email | upper }}")).unwrap(),
        json!("ADA@EXAMPLE.COM")
    );
}

#[test]
fn undefined_is_an_error_naming_field_and_expression() {
    let err = eval(json!({ "a": { "b": "{{ trigger.body.nope.deeper }}" } })).unwrap_err();
    assert_eq!(err.context_value("field"), Some("/a/b"));
    assert_eq!(err.context_value("expression"), Some("trigger.body.nope.deeper"));
    let err = eval(json!("{{ trigger.body.nope }}")).unwrap_err();
    assert_eq!(err.context_value("expression"), Some("trigger.body.nope"));
}

#[test]
fn parse_errors_are_collected_with_their_paths() {
    let problems =
        Mapping::compile(&json!({ "a": "{{ 1 + }}", "b": ["ok", "{{ (( }}"], "c": "{% if %}" })).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["/a", "/b/1", "/c"]);
}

#[test]
fn variables_are_reported_per_field() {
    let m = Mapping::compile(&json!({ "x": "{{ steps.find_contact.output.id }}", "y": "hi {{ trigger.body.email }}" }))
        .unwrap();
    let vars = m.variables();
    assert_eq!(vars.len(), 2);
    assert_eq!(vars[0].0, "/x");
    assert!(
        vars[0].1.iter().any(|v| v.starts_with("steps.find_contact")),
        "{vars:?}"
    );
    assert!(vars[1].1.iter().any(|v| v.starts_with("trigger")), "{vars:?}");
}

#[test]
fn conditions_use_truthiness() {
    let scope = scope().with_input(&json!({ "score": 80 }));
    assert!(Expr::compile("input.score >= 50").unwrap().eval_bool(&scope).unwrap());
    assert!(
        !Expr::compile("trigger.body.tags | length > 5")
            .unwrap()
            .eval_bool(&scope)
            .unwrap()
    );
    assert!(Expr::compile("'vip' in ['vip']").unwrap().eval_bool(&scope).unwrap());
}

#[test]
fn runaway_templates_run_out_of_fuel() {
    let err = eval(json!(
        "{% for i in range(100000) %}{% for j in range(100) %}x{% endfor %}{% endfor %}"
    ))
    .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
}

#[test]
fn plain_paths_are_recognised() {
    assert_eq!(
        plain_path("steps.a.output.list[2].name"),
        Some(vec![
            Segment::Key("steps".into()),
            Segment::Key("a".into()),
            Segment::Key("output".into()),
            Segment::Key("list".into()),
            Segment::Index(2),
            Segment::Key("name".into()),
        ])
    );
    for not_plain in ["a | lower", "a + 1", "a['k']", "a.0", "a[x]", "1a", "a..b", "a[]"] {
        assert_eq!(plain_path(not_plain), None, "{not_plain}");
    }
}

#[test]
fn the_fast_path_agrees_with_minijinja() {
    let scope = scope();
    for source in [
        "trigger.body",
        "trigger.body.tags",
        "trigger.body.tags[1]",
        "steps.find_contact.output",
        "steps.find_contact.output.tags[0]",
        "steps.find_contact.output.score",
    ] {
        let expr = Expr::compile(source).unwrap();
        assert!(expr.path.is_some(), "{source} should take the fast path");
        let fast = expr.eval(&scope).unwrap();
        let slow = value::to_json(&expr.compiled.eval(scope.to_value()).unwrap()).unwrap();
        assert_eq!(fast, slow, "{source}");
    }
    // What the path cannot answer goes to minijinja, with its error.
    for missing in ["trigger.body.nope", "steps.nobody.output", "trigger.body.tags[9]"] {
        assert!(Expr::compile(missing).unwrap().eval(&scope).is_err(), "{missing}");
    }
}

#[test]
fn global_functions_are_not_variables() {
    let vars = Expr::compile("range(3) | length > 1 and trigger.x")
        .unwrap()
        .variables();
    assert_eq!(vars.into_iter().collect::<Vec<_>>(), vec!["trigger.x".to_owned()]);
}

/// Conditions tested on the JSON (a plain path, or a path against a literal) give exactly what
/// minijinja gives, for every kind of value, and fail where minijinja fails.
#[test]
fn conditions_tested_on_json_agree_with_minijinja() {
    let values = [
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(1),
        json!(-3),
        json!(10),
        json!(11),
        json!(10.0),
        json!(10.5),
        json!(0.0),
        json!(-0.0),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(""),
        json!("paid"),
        json!("Paid"),
        json!("10"),
        json!("é"),
        json!([]),
        json!([1]),
        json!({}),
        json!({ "a": 1 }),
    ];
    let conditions = [
        "trigger.v",
        "trigger.v > 10",
        "trigger.v >= 10",
        "trigger.v < 10",
        "trigger.v <= 10",
        "trigger.v == 10",
        "trigger.v != 10",
        "trigger.v == 10.0",
        "trigger.v > 10.25",
        "trigger.v > -3",
        "trigger.v == -9223372036854775808",
        "trigger.v == 'paid'",
        "trigger.v != 'paid'",
        "trigger.v < 'q'",
        "trigger.v >= \"Paid\"",
        "trigger.v == '10'",
        "trigger.v == 'a==b'",
        "trigger.missing > 1",
        "trigger.missing",
        "input.v",
        "input.v > 10",
        "input.v == 'paid'",
        "steps.score.output.v > 10",
        "steps.score.output.v",
        "steps.nope.output.v > 10",
    ];
    let mut fast = 0;
    for v in &values {
        let data = json!({ "v": v });
        let steps: Arc<dyn StepOutputs> = Arc::new(BTreeMap::from([("score".to_owned(), data.clone())]));
        let scope = Scope::new(&data).with_steps(steps);
        for source in conditions {
            let expr = Expr::compile(source).unwrap();
            let slow = expr
                .compiled
                .eval(scope.clone().with_input(&data).to_value())
                .map(|out| out.is_true());
            let got = expr.eval_bool_on(&scope, &data);
            match (&slow, &got) {
                (Ok(want), Ok(got)) => assert_eq!(got, want, "{source} with v = {v}"),
                (Err(_), Err(_)) => {}
                _ => panic!("{source} with v = {v}: minijinja gives {slow:?}, the fast path {got:?}"),
            }
            if let Some(condition) = &expr.condition
                && let Some(path_value) = with_path(&scope, Some(&data), &condition.path, |x| Some(x.clone()))
                && condition.holds(&path_value).is_some()
            {
                fast += 1;
            }
            // Without the input, a condition on it is minijinja's (which fails: no `input`).
            if source.starts_with("input.") {
                assert!(expr.eval_bool(&scope).is_err(), "{source}");
            }
        }
    }
    assert!(fast > 200, "the fast path decided only {fast} cases");
}

#[test]
fn conditions_beyond_one_path_and_a_literal_are_minijinjas() {
    for source in [
        "trigger.a > trigger.b",
        "trigger.a > 1 and trigger.b < 2",
        "not trigger.a",
        "trigger.a | length > 1",
        "trigger.a > 010",
        "trigger.a == 'it\\'s'",
        "trigger.a > 1.",
        "trigger.a == true",
        "'x' == trigger.a",
        "execution.id == 'x'",
        "index > 1",
    ] {
        let expr = Expr::compile(source).unwrap();
        assert!(expr.condition.is_none(), "{source}");
    }
    assert!(
        Expr::compile("steps.a.output.b[0].c >= -2.5")
            .unwrap()
            .condition
            .is_some()
    );
}
