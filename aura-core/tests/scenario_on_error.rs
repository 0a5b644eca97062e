//! `on_error` has one shape in JSON and YAML: `stop`, `continue` or `{ route: [ids] }`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use aura_core::scenario::{OnError, Scenario};

fn yaml(on_error: &str) -> String {
    format!(
        "id: s\nname: S\nnodes:\n  - id: t\n    kind: trigger\n    next: [a]\n  - id: a\n    kind: set\n    on_error: {on_error}\n  - id: handler\n    kind: set\n"
    )
}

fn json(on_error: &str) -> String {
    format!(
        r#"{{ "id": "s", "name": "S", "nodes": [
            {{ "id": "t", "kind": "trigger", "next": ["a"] }},
            {{ "id": "a", "kind": "set", "on_error": {on_error} }},
            {{ "id": "handler", "kind": "set" }} ] }}"#
    )
}

fn on_error_of(s: &Scenario) -> &OnError {
    &s.nodes[1].on_error
}

#[test]
fn the_route_map_form_reads_in_yaml() {
    let s = Scenario::from_yaml(&yaml("{ route: [handler] }")).unwrap();
    assert_eq!(on_error_of(&s), &OnError::Route(vec!["handler".into()]));

    let block = Scenario::from_yaml(&yaml("\n      route:\n        - handler")).unwrap();
    assert_eq!(on_error_of(&block), &OnError::Route(vec!["handler".into()]));
}

#[test]
fn the_route_map_form_reads_in_json() {
    let s = Scenario::from_json(&json(r#"{ "route": ["handler"] }"#)).unwrap();
    assert_eq!(on_error_of(&s), &OnError::Route(vec!["handler".into()]));
}

#[test]
fn a_json_document_reads_through_from_yaml() {
    let s = Scenario::from_yaml(&json(r#"{ "route": ["handler"] }"#)).unwrap();
    assert_eq!(on_error_of(&s), &OnError::Route(vec!["handler".into()]));
    let s = Scenario::from_yaml(&json(r#""continue""#)).unwrap();
    assert_eq!(on_error_of(&s), &OnError::Continue);
}

#[test]
fn the_words_and_the_yaml_tag_still_read() {
    assert_eq!(
        on_error_of(&Scenario::from_yaml(&yaml("continue")).unwrap()),
        &OnError::Continue
    );
    assert_eq!(
        on_error_of(&Scenario::from_yaml(&yaml("stop")).unwrap()),
        &OnError::Stop
    );
    assert_eq!(
        on_error_of(&Scenario::from_yaml(&yaml("!route [handler]")).unwrap()),
        &OnError::Route(vec!["handler".into()])
    );
}

#[test]
fn on_error_is_written_in_the_map_form_and_reads_back_in_both_formats() {
    let s = Scenario::from_yaml(&yaml("{ route: [handler] }")).unwrap();
    let written = serde_json::to_value(&s).unwrap();
    assert_eq!(
        written["nodes"][1]["on_error"],
        serde_json::json!({ "route": ["handler"] })
    );

    let as_yaml = serde_norway::to_string(&s).unwrap();
    assert!(!as_yaml.contains("!route"), "{as_yaml}");
    let back = Scenario::from_yaml(&as_yaml).unwrap();
    assert_eq!(on_error_of(&back), &OnError::Route(vec!["handler".into()]));
    let back = Scenario::from_json(&s.to_json().unwrap()).unwrap();
    assert_eq!(on_error_of(&back), &OnError::Route(vec!["handler".into()]));
}

#[test]
fn a_wrong_on_error_names_the_field_and_the_shapes() {
    for text in [
        yaml("retry"),
        yaml("{ rout: [handler] }"),
        yaml("{ route: [handler], stop: 1 }"),
    ] {
        let err = Scenario::from_yaml(&text).unwrap_err();
        assert_eq!(err.context_value("field"), Some("/nodes/1/on_error"), "{err}");
        assert!(err.to_string().contains("route"), "{err}");
    }
    let err = Scenario::from_json(&json(r#""retry""#)).unwrap_err();
    assert_eq!(err.context_value("field"), Some("/nodes/1/on_error"), "{err}");
}

#[test]
fn the_readme_scenario_example_loads() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("```yaml\nid: lead_pipeline")
        .expect("the README's scenario example")
        + "```yaml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let s = Scenario::from_yaml(&readme[start..end]).unwrap();
    let create = s.nodes.iter().find(|n| n.id == "create_contact").unwrap();
    assert_eq!(create.on_error, OnError::Route(vec!["log_failure".into()]));
}
