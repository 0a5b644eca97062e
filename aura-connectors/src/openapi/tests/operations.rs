use aura_core::declarative::{BodyEncoding, HttpMethod};
use serde_json::json;

use super::*;

#[test]
fn each_path_and_method_is_one_operation_keyed_by_its_operation_id() {
    let imported = run(&spec30(
        json!({"/repos/{owner}/{repo}": {
            "get": {"operationId": "repos/get", "summary": "Get a repository"},
            "delete": {"description": "Deletes it"},
            "x-extension": {"ignored": true}}}),
        json!({}),
    ));
    assert_eq!(imported.operations, 2);
    let get = &imported.manifest.operations["repos_get"];
    assert_eq!(get.method, HttpMethod::GET);
    assert_eq!(get.path, "/repos/{owner}/{repo}");
    assert_eq!(get.name.as_deref(), Some("Get a repository"));
    assert_eq!(get.description, "Get a repository");
    assert_eq!(get.idempotent, None);
    let delete = &imported.manifest.operations["delete_repos_owner_repo"];
    assert_eq!(delete.method, HttpMethod::DELETE);
    assert_eq!(delete.description, "Deletes it");
}

#[test]
fn duplicate_operation_ids_get_a_suffix_and_a_warning() {
    let imported = run(&spec30(
        json!({"/a": {"get": {"operationId": "listThings"}},
               "/b": {"get": {"operationId": "listThings"}},
               "/c": {"get": {"operationId": "list_things"}}}),
        json!({}),
    ));
    let keys: Vec<&String> = imported.manifest.operations.keys().collect();
    assert_eq!(keys, ["list_things", "list_things_2", "list_things_3"]);
    assert_eq!(imported.manifest.operations["list_things"].path, "/a");
    assert_warned(&imported, "/paths/~1b/get", "imported as `list_things_2`");
    assert_warned(&imported, "/paths/~1c/get", "imported as `list_things_3`");
}

#[test]
fn tags_and_operation_filters_pick_operations() {
    let spec = spec30(
        json!({"/pets": {"get": {"operationId": "listPets", "tags": ["pets"]},
                         "post": {"operationId": "createPet", "tags": ["pets", "admin"]}},
               "/users": {"get": {"operationId": "listUsers", "tags": ["users"]}}}),
        json!({}),
    );
    let keys = |options: ImportOptions| -> Vec<String> {
        import(&spec, &options)
            .unwrap()
            .manifest
            .operations
            .into_keys()
            .collect()
    };
    assert_eq!(keys(ImportOptions::new()).len(), 3);
    assert_eq!(keys(ImportOptions::new().tag("admin")), ["create_pet"]);
    assert_eq!(keys(ImportOptions::new().operation("listUsers")), ["list_users"]);
    assert_eq!(keys(ImportOptions::new().operation("list_pets")), ["list_pets"]);
    assert_eq!(
        keys(ImportOptions::new().tag("users").operation("createPet")),
        ["create_pet", "list_users"]
    );
}

#[test]
fn json_bodies_map_to_json_with_their_schema_and_required_flag() {
    let imported = run(&spec30(
        json!({"/pets": {"post": {"requestBody": {"required": true, "content": {
            "application/xml": {"schema": {"type": "string"}},
            "application/vnd.pet+json": {"schema": {"type": "object", "required": ["name"]}}}}}}}),
        json!({}),
    ));
    let body = imported.manifest.operations["post_pets"].body.clone().unwrap();
    assert_eq!(body.encoding, BodyEncoding::Json);
    assert!(body.required);
    assert_eq!(body.schema, Some(json!({"type": "object", "required": ["name"]})));
}

#[test]
fn form_multipart_and_raw_bodies_map_to_their_encodings() {
    let body = |media: &str| {
        let imported = run(&spec30(
            json!({"/x": {"put": {"requestBody": {"content": {media: {"schema": {"type": "object"}}}}}}}),
            json!({}),
        ));
        let op = imported.manifest.operations["put_x"].clone();
        (op.body.unwrap(), op.headers, imported.warnings)
    };
    assert_eq!(body("application/x-www-form-urlencoded").0.encoding, BodyEncoding::Form);
    assert_eq!(body("multipart/form-data").0.encoding, BodyEncoding::Multipart);

    let (text, headers, warnings) = body("text/plain");
    assert_eq!(text.encoding, BodyEncoding::Raw);
    assert_eq!(headers["Content-Type"], "text/plain");
    assert!(warnings.is_empty());

    let (octets, headers, warnings) = body("application/octet-stream");
    assert_eq!(octets.encoding, BodyEncoding::Raw);
    assert_eq!(octets.schema, Some(json!({"type": "string"})));
    assert_eq!(headers["Content-Type"], "application/octet-stream");
    assert!(warnings[0].message.contains("sent raw"), "{warnings:?}");
}

#[test]
fn the_output_schema_comes_from_the_first_2xx_json_response() {
    let responses = |responses: Value| {
        let spec = spec30(json!({"/x": {"get": {"responses": responses}}}), json!({}));
        run(&spec).manifest.operations["get_x"].output_schema.clone()
    };
    let content = |kind: &str| json!({"description": "", "content": {"application/json": {"schema": {"type": kind}}}});
    assert_eq!(
        responses(json!({"404": content("null"), "201": content("object"), "200": content("array")})),
        Some(json!({"type": "array"}))
    );
    assert_eq!(
        responses(json!({"2XX": content("integer"), "default": content("string")})),
        Some(json!({"type": "integer"}))
    );
    assert_eq!(responses(json!({"default": content("string")})), None);
    assert_eq!(responses(json!({"204": {"description": "no content"}})), None);
    assert_eq!(
        responses(json!({"200": {"description": "", "content": {"text/html": {"schema": {"type": "string"}}}}})),
        None
    );
}

#[test]
fn trace_and_malformed_operations_are_skipped_with_warnings() {
    let imported = run(&spec30(
        json!({"/x": {"trace": {}, "get": "nonsense", "post": {}}}),
        json!({}),
    ));
    assert_eq!((imported.operations, imported.skipped), (1, 2));
    assert_warned(&imported, "/paths/~1x/trace", "TRACE");
    assert_warned(&imported, "/paths/~1x/get", "must be an object");
}

#[test]
fn huge_operation_ids_and_parameter_names_give_short_keys_and_input_names() {
    let huge = "getThing".repeat(1_000_000);
    let imported = run(&spec30(
        json!({"/x": {"get": {"operationId": huge, "parameters": [{"name": huge, "in": "query"}]}}}),
        json!({}),
    ));
    let (key, op) = imported.manifest.operations.iter().next().unwrap();
    assert!(key.len() <= 64 && key.starts_with("get_thingget_thing"), "{key}");
    let input = op.params.keys().next().unwrap();
    assert!(input.len() <= 64, "{input}");
}
