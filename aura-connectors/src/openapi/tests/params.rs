use aura_core::declarative::{Param, ParamFull, ParamLocation};
use serde_json::json;

use super::*;

fn full(imported: &Import, key: &str, input: &str) -> ParamFull {
    match imported.manifest.operations[key].params.get(input) {
        Some(Param::Full(full)) => full.clone(),
        other => panic!(
            "{key}.{input}: {other:?} in {:#?}",
            imported.manifest.operations[key].params
        ),
    }
}

#[test]
fn path_item_and_operation_parameters_merge_and_the_operation_wins() {
    let imported = run(&spec30(
        json!({"/repos/{owner}/issues": {
            "parameters": [
                {"name": "owner", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "state", "in": "query", "description": "from the path item", "schema": {"type": "string"}}],
            "get": {"operationId": "list", "parameters": [
                {"name": "state", "in": "query", "required": true, "description": "Which issues",
                 "schema": {"type": "string", "enum": ["open", "closed"]}},
                {"$ref": "#/components/parameters/per_page"}]}}}),
        json!({"components": {"parameters": {"per_page": {"name": "per_page", "in": "query",
            "schema": {"type": "integer", "default": 30}}}}}),
    ));
    let owner = full(&imported, "list", "owner");
    assert_eq!(
        (owner.location, owner.required, owner.name.clone()),
        (Some(ParamLocation::Path), true, None)
    );
    let state = full(&imported, "list", "state");
    assert_eq!(state.location, Some(ParamLocation::Query));
    assert!(state.required);
    assert_eq!(state.description, "Which issues");
    assert_eq!(
        state.schema,
        Some(json!({"type": "string", "enum": ["open", "closed"]}))
    );
    assert_eq!(
        full(&imported, "list", "per_page").schema,
        Some(json!({"type": "integer", "default": 30}))
    );
    let mut required = imported.manifest.operations["list"].required.clone();
    required.sort();
    assert_eq!(required, ["owner", "state"]);
}

#[test]
fn clashing_input_names_are_renamed_keeping_the_wire_name() {
    let imported = run(&spec30(
        json!({"/things/{id}": {"post": {"operationId": "op",
            "parameters": [
                {"name": "id", "in": "header", "schema": {"type": "string"}},
                {"name": "id", "in": "query", "schema": {"type": "string"}},
                {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "body", "in": "query", "schema": {"type": "string"}},
                {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}}],
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}}}),
        json!({}),
    ));
    assert_eq!(full(&imported, "op", "id").location, Some(ParamLocation::Path));
    let query = full(&imported, "op", "query_id");
    assert_eq!(
        (query.location, query.name.as_deref()),
        (Some(ParamLocation::Query), Some("id"))
    );
    let header = full(&imported, "op", "header_id");
    assert_eq!(
        (header.location, header.name.as_deref()),
        (Some(ParamLocation::Header), Some("id"))
    );
    assert_eq!(full(&imported, "op", "query_body").name.as_deref(), Some("body"));
    assert_eq!(
        full(&imported, "op", "x_request_id").name.as_deref(),
        Some("X-Request-Id")
    );
    assert_eq!(imported.manifest.operations["op"].path, "/things/{id}");
}

#[test]
fn path_placeholders_follow_renamed_path_parameters_and_missing_ones_are_added() {
    let imported = run(&spec30(
        json!({"/pets/{pet-id}/toys/{toy}": {"get": {"operationId": "op",
            "parameters": [{"name": "pet-id", "in": "path", "required": true, "schema": {"type": "integer"}}]}}}),
        json!({}),
    ));
    let op = &imported.manifest.operations["op"];
    assert_eq!(op.path, "/pets/{pet_id}/toys/{toy}");
    assert_eq!(full(&imported, "op", "pet_id").name.as_deref(), Some("pet-id"));
    let toy = full(&imported, "op", "toy");
    assert_eq!((toy.location, toy.required), (Some(ParamLocation::Path), true));
    assert!(
        imported
            .warnings
            .iter()
            .any(|w| w.message.contains("`{toy}` has no parameter"))
    );
}

#[test]
fn cookie_parameters_are_skipped_with_a_warning() {
    let imported = run(&spec30(
        json!({"/x": {"get": {"parameters": [{"name": "session", "in": "cookie", "schema": {"type": "string"}}]}}}),
        json!({}),
    ));
    assert!(imported.manifest.operations["get_x"].params.is_empty());
    assert_warned(
        &imported,
        "/paths/~1x/get/parameters/0",
        "cookie parameter `session` skipped",
    );
}

#[test]
fn parameters_with_content_take_its_schema_and_broken_ones_are_skipped() {
    let imported = run(&spec30(
        json!({"/x": {"get": {"parameters": [
            {"name": "filter", "in": "query", "content": {"application/json": {"schema": {"type": "object"}}}},
            {"name": "nameless"},
            {"$ref": "#/components/parameters/missing"},
            "not a parameter"]}}}),
        json!({}),
    ));
    assert_eq!(
        full(&imported, "get_x", "filter").schema,
        Some(json!({"type": "object"}))
    );
    assert_eq!(imported.manifest.operations["get_x"].params.len(), 1);
    assert_warned(&imported, "/paths/~1x/get/parameters/1", "needs a string `name`");
    assert_warned(&imported, "/paths/~1x/get/parameters/2/$ref", "points nowhere");
}
