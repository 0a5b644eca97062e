use serde_json::{Value, json};

use super::*;

fn convert(spec: &Value, openapi_30: bool, schema: Value) -> (Result<Value, RefProblem>, Found) {
    let converter = SchemaConverter {
        spec,
        openapi_30,
        max_description: 20,
        max_depth: 8,
    };
    let mut found = Found::default();
    let out = converter.convert(&schema, &Pointer::root().key("s"), &mut found);
    (out, found)
}

#[test]
fn nullable_adds_null_to_the_type_and_enum_in_3_0() {
    let spec = json!({});
    let (out, _) = convert(&spec, true, json!({"type": "string", "enum": ["a"], "nullable": true}));
    assert_eq!(out.unwrap(), json!({"type": ["string", "null"], "enum": ["a", null]}));
}

#[test]
fn nullable_ref_is_wrapped_in_any_of_with_null() {
    let spec = json!({"components": {"schemas": {"Pet": {"type": "object"}}}});
    let (out, found) = convert(
        &spec,
        true,
        json!({"$ref": "#/components/schemas/Pet", "nullable": true}),
    );
    assert_eq!(
        out.unwrap(),
        json!({"anyOf": [{"$ref": "#/$defs/Pet"}, {"type": "null"}]})
    );
    assert!(found.components.contains("Pet"));
}

#[test]
fn nullable_is_left_alone_in_3_1() {
    let spec = json!({});
    let (out, _) = convert(&spec, false, json!({"type": "string", "nullable": true}));
    assert_eq!(out.unwrap(), json!({"type": "string", "nullable": true}));
}

#[test]
fn boolean_exclusive_bounds_become_numeric_in_3_0() {
    let spec = json!({});
    let (out, _) = convert(
        &spec,
        true,
        json!({"type": "integer", "minimum": 1, "exclusiveMinimum": true, "maximum": 9, "exclusiveMaximum": false}),
    );
    assert_eq!(
        out.unwrap(),
        json!({"type": "integer", "exclusiveMinimum": 1, "maximum": 9})
    );
}

#[test]
fn documentation_only_keywords_are_dropped_and_descriptions_cut() {
    let spec = json!({});
    let (out, _) = convert(
        &spec,
        true,
        json!({"type": "object", "xml": {"name": "x"}, "example": {"a": 1}, "x-internal": true,
               "discriminator": {"propertyName": "kind"}, "externalDocs": {"url": "u"},
               "description": "a very long description indeed, longer than twenty bytes"}),
    );
    let out = out.unwrap();
    assert_eq!(
        out.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["description", "type"]
    );
    assert!(out["description"].as_str().unwrap().len() <= 20);
}

#[test]
fn data_keywords_are_copied_untouched() {
    let spec = json!({});
    let data = json!({"$ref": "http://remote", "nullable": true});
    let (out, _) = convert(&spec, true, json!({"default": data, "enum": [data], "const": data}));
    assert_eq!(out.unwrap(), json!({"default": data, "enum": [data], "const": data}));
}

#[test]
fn properties_named_like_keywords_are_schemas_not_keywords() {
    let spec = json!({});
    let (out, _) = convert(
        &spec,
        true,
        json!({"properties": {"$ref": {"type": "string"}, "nullable": {"type": "boolean"}}}),
    );
    assert_eq!(
        out.unwrap(),
        json!({"properties": {"$ref": {"type": "string"}, "nullable": {"type": "boolean"}}})
    );
}

#[test]
fn a_remote_ref_anywhere_is_refused() {
    let spec = json!({});
    let (out, _) = convert(
        &spec,
        false,
        json!({"properties": {"a": {"items": {"$ref": "other.yaml#/Pet"}}}}),
    );
    let err = out.unwrap_err();
    assert_eq!(err.at().as_str(), "/s/properties/a/items/$ref");
    assert!(matches!(err, RefProblem::Remote { .. }));
}

#[test]
fn a_missing_schema_component_is_warned_and_accepts_anything() {
    let spec = json!({"components": {"schemas": {}}});
    let (out, found) = convert(&spec, false, json!({"$ref": "#/components/schemas/Nope"}));
    assert_eq!(out.unwrap(), json!(true));
    assert!(found.warnings.0[0].message.contains("points nowhere"));
    assert!(found.components.is_empty());
}

#[test]
fn other_local_refs_are_inlined_and_cycles_through_them_cut() {
    let spec = json!({"x-shared": {"a": {"type": "object", "properties": {"next": {"$ref": "#/x-shared/a"}}}}});
    let (out, found) = convert(&spec, false, json!({"$ref": "#/x-shared/a"}));
    assert_eq!(
        out.unwrap(),
        json!({"allOf": [{"type": "object", "properties": {"next": true}}]})
    );
    assert!(found.warnings.0[0].message.contains("cycle"), "{:?}", found.warnings);
}

#[test]
fn depth_beyond_the_limit_is_cut_with_a_warning() {
    let spec = json!({});
    let mut deep = json!({"type": "string"});
    for _ in 0..20 {
        deep = json!({"items": deep});
    }
    let (out, found) = convert(&spec, false, deep);
    assert!(out.is_ok());
    assert!(found.warnings.0.iter().any(|w| w.message.contains("deeper than 8")));
}

#[test]
fn non_schema_values_become_accept_anything_with_a_warning() {
    let spec = json!({});
    let (out, found) = convert(&spec, false, json!({"items": 42, "allOf": "x", "properties": [1]}));
    assert_eq!(out.unwrap(), json!({"items": true}));
    assert_eq!(found.warnings.0.len(), 3);
}

#[test]
fn data_nested_too_deeply_is_dropped_with_a_warning() {
    let spec = json!({});
    let deep = (0..40).fold(json!(1), |inner, _| json!([inner]));
    let (out, found) = convert(&spec, false, json!({"type": "array", "default": deep}));
    assert_eq!(out.unwrap(), json!({"type": "array"}));
    assert!(found.warnings.0[0].message.contains("`default` nested deeper"));
}
