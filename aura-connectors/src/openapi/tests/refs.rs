use serde_json::json;

use super::*;

fn components(schemas: Value) -> Value {
    json!({"components": {"schemas": schemas}})
}

#[test]
fn schema_refs_become_defs_and_only_reachable_components_are_kept() {
    let imported = run(&spec30(
        json!({"/pets": {"get": {"operationId": "list", "responses": {"200": {"description": "",
            "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}}}}}}}}),
        components(json!({
            "Pet": {"type": "object", "properties": {"owner": {"$ref": "#/components/schemas/Owner"}}},
            "Owner": {"type": "object", "properties": {"name": {"type": "string", "nullable": true}}},
            "Unused": {"type": "string"}})),
    ));
    let m = &imported.manifest;
    assert_eq!(
        m.operations["list"].output_schema,
        Some(json!({"type": "array", "items": {"$ref": "#/$defs/Pet"}}))
    );
    assert_eq!(m.schemas.keys().collect::<Vec<_>>(), ["Owner", "Pet"]);
    assert_eq!(
        m.schemas["Pet"]["properties"]["owner"],
        json!({"$ref": "#/$defs/Owner"})
    );
    assert_eq!(
        m.schemas["Owner"]["properties"]["name"]["type"],
        json!(["string", "null"])
    );
}

#[test]
fn cyclic_schema_refs_stay_refs() {
    let imported = run(&spec30(
        json!({"/nodes": {"post": {"operationId": "create", "requestBody": {"content": {"application/json":
            {"schema": {"$ref": "#/components/schemas/Node"}}}}}}}),
        components(json!({
            "Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                                                      "other": {"$ref": "#/components/schemas/Other"}}},
            "Other": {"allOf": [{"$ref": "#/components/schemas/Node"}]}})),
    ));
    let m = &imported.manifest;
    assert_eq!(
        m.operations["create"].body.as_ref().unwrap().schema,
        Some(json!({"$ref": "#/$defs/Node"}))
    );
    assert_eq!(
        m.schemas["Node"]["properties"]["children"]["items"],
        json!({"$ref": "#/$defs/Node"})
    );
    assert_eq!(m.schemas["Other"], json!({"allOf": [{"$ref": "#/$defs/Node"}]}));
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
}

#[test]
fn a_remote_ref_skips_the_operation_with_a_warning_naming_the_path() {
    let imported = run(&spec30(
        json!({"/a": {"get": {"operationId": "direct", "responses": {"200": {"description": "",
                    "content": {"application/json": {"schema": {"$ref": "https://example.com/pet.json"}}}}}}},
               "/b": {"get": {"operationId": "through_component", "parameters": [{"name": "q", "in": "query",
                    "schema": {"$ref": "#/components/schemas/Remote"}}]}},
               "/c": {"get": {"operationId": "param_ref", "parameters": [{"$ref": "other.yaml#/parameters/q"}]}},
               "/d": {"get": {"operationId": "fine"}}}),
        components(json!({"Remote": {"properties": {"x": {"$ref": "other.yaml#/Pet"}}}})),
    ));
    assert_eq!(imported.manifest.operations.keys().collect::<Vec<_>>(), ["fine"]);
    assert_eq!((imported.operations, imported.skipped), (1, 3));
    assert_warned(
        &imported,
        "/paths/~1a/get/responses/200/content/application~1json/schema/$ref",
        "remote $ref",
    );
    assert_warned(&imported, "/components/schemas/Remote/properties/x/$ref", "remote $ref");
    assert_warned(&imported, "/paths/~1c/get/parameters/0/$ref", "remote $ref");
    assert!(imported.manifest.schemas.is_empty());
}

#[test]
fn cyclic_refs_between_parameters_bodies_and_responses_are_warned_and_skipped() {
    let imported = run(&spec30(
        json!({"/x": {"post": {"operationId": "op",
            "parameters": [{"$ref": "#/components/parameters/a"}],
            "requestBody": {"$ref": "#/components/requestBodies/loop"},
            "responses": {"200": {"$ref": "#/components/responses/self"}}}}}),
        json!({"components": {
            "parameters": {"a": {"$ref": "#/components/parameters/b"}, "b": {"$ref": "#/components/parameters/a"}},
            "requestBodies": {"loop": {"$ref": "#/components/requestBodies/loop"}},
            "responses": {"self": {"$ref": "#/components/responses/self"}}}}),
    ));
    let op = &imported.manifest.operations["op"];
    assert!(op.params.is_empty() && op.body.is_none() && op.output_schema.is_none());
    assert_eq!(
        imported.warnings.iter().filter(|w| w.message.contains("cycle")).count(),
        3,
        "{:#?}",
        imported.warnings
    );
}

#[test]
fn request_body_and_response_refs_are_inlined() {
    let imported = run(&spec30(
        json!({"/x": {"post": {"operationId": "op",
            "requestBody": {"$ref": "#/components/requestBodies/Pet"},
            "responses": {"201": {"$ref": "#/components/responses/Created"}}}}}),
        json!({"components": {
            "requestBodies": {"Pet": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}}},
            "responses": {"Created": {"description": "", "content": {"application/json": {"schema": {"type": "integer"}}}}}}}),
    ));
    let op = &imported.manifest.operations["op"];
    assert!(op.body.as_ref().unwrap().required);
    assert_eq!(op.output_schema, Some(json!({"type": "integer"})));
}
