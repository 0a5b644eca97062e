use aura_core::ErrorKind;
use serde_json::json;

use super::*;
use crate::openapi::import_str;

#[test]
fn a_version_other_than_3_0_or_3_1_is_an_invalid_definition_naming_openapi() {
    for version in [json!("2.0"), json!("3.2.0"), json!(3.0), json!(null)] {
        let spec = json!({"openapi": version, "paths": {}});
        let err = import(&spec, &ImportOptions::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
        assert_eq!(err.context_value("path"), Some("/openapi"), "{version}");
    }
    let swagger = json!({"swagger": "2.0", "paths": {}});
    assert_eq!(
        import(&swagger, &ImportOptions::new())
            .unwrap_err()
            .context_value("path"),
        Some("/openapi")
    );
}

#[test]
fn missing_paths_is_an_invalid_definition_naming_paths_but_empty_paths_import() {
    let err = import(&json!({"openapi": "3.1.0", "info": {}}), &ImportOptions::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("path"), Some("/paths"));

    let imported = run(&spec30(json!({}), json!({})));
    assert_eq!((imported.operations, imported.skipped), (0, 0));
}

#[test]
fn a_document_that_is_not_an_object_is_an_invalid_definition() {
    assert_eq!(
        import(&json!([1]), &ImportOptions::new()).unwrap_err().kind(),
        ErrorKind::InvalidDefinition
    );
}

#[test]
fn info_gives_id_name_version_and_description() {
    let spec = json!({"openapi": "3.1.0", "paths": {},
        "info": {"title": "GitHub v3 REST API", "version": "2022-11-28", "description": "All of GitHub."},
        "externalDocs": {"url": "https://docs.github.com"}});
    let m = run(&spec).manifest;
    assert_eq!(m.id, "github_v3_rest_api");
    assert_eq!(m.name, "GitHub v3 REST API");
    assert_eq!(m.version, "2022.11.28");
    assert_eq!(m.description, "All of GitHub.");
    assert_eq!(m.docs_url.as_deref(), Some("https://docs.github.com"));
}

#[test]
fn the_app_id_option_wins_and_must_be_a_valid_key() {
    let spec = spec30(json!({}), json!({}));
    assert_eq!(
        import(&spec, &ImportOptions::new().app_id("pets")).unwrap().manifest.id,
        "pets"
    );
    let err = import(&spec, &ImportOptions::new().app_id("Not A Key")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
}

#[test]
fn server_placeholders_become_variables() {
    let spec = spec30(
        json!({}),
        json!({"servers": [
            {"url": "https://api.example.com/"},
            {"url": "https://{shop}.example.com/{version}/", "variables": {
                "shop": {"default": "demo", "description": "Your shop"},
                "version": {"default": "v2", "enum": ["v1", "v2"]}}}]}),
    );
    let first = run(&spec).manifest;
    assert_eq!(first.base_url, "https://api.example.com");
    assert!(first.variables.is_empty());

    let second = import(&spec, &ImportOptions::new().server(1)).unwrap().manifest;
    assert_eq!(second.base_url, "https://{shop}.example.com/{version}");
    assert_eq!(second.variables["shop"].default.as_deref(), Some("demo"));
    assert_eq!(second.variables["shop"].description, "Your shop");
    assert_eq!(second.variables["version"].allowed, ["v1", "v2"]);

    let err = import(&spec, &ImportOptions::new().server(5)).unwrap_err();
    assert_eq!(err.context_value("path"), Some("/servers/5"));
}

#[test]
fn relative_server_urls_are_kept_with_a_warning_and_no_servers_give_slash() {
    let relative = run(&spec30(json!({}), json!({"servers": [{"url": "/api/v3"}]})));
    assert_eq!(relative.manifest.base_url, "/api/v3");
    assert_warned(&relative, "/servers/0/url", "relative server URL");

    let mut none = spec30(json!({}), json!({}));
    none.as_object_mut().unwrap().remove("servers");
    let none = run(&none);
    assert_eq!(none.manifest.base_url, "/");
    assert_warned(&none, "/servers", "no servers");
}

#[test]
fn yaml_and_json_text_both_import() {
    let yaml = "openapi: 3.0.0\ninfo: {title: Y, version: '1'}\npaths:\n  /pets:\n    get:\n      operationId: listPets\n      responses:\n        200:\n          description: ok\n          content:\n            application/json:\n              schema: {type: array}\n";
    let imported = import_str(yaml, &ImportOptions::new()).unwrap();
    assert_eq!(
        imported.manifest.operations["list_pets"].output_schema,
        Some(json!({"type": "array"}))
    );
    let json = serde_json::to_string(&spec30(json!({"/a": {"get": {}}}), json!({}))).unwrap();
    assert_eq!(import_str(&json, &ImportOptions::new()).unwrap().operations, 1);
}

#[test]
fn a_ten_megabyte_description_is_cut_to_the_cap() {
    let huge = "x".repeat(10 * 1024 * 1024);
    let spec = json!({"openapi": "3.1.0", "info": {"title": "T", "version": "1", "description": huge},
        "paths": {"/a": {"get": {"description": huge, "responses": {"200": {"description": "ok",
            "content": {"application/json": {"schema": {"type": "string", "description": huge}}}}}}}}});
    let start = std::time::Instant::now();
    let m = run(&spec).manifest;
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert!(m.description.len() <= 1_000);
    let op = &m.operations["get_a"];
    assert!(op.description.len() <= 1_000);
    assert!(
        op.output_schema.as_ref().unwrap()["description"]
            .as_str()
            .unwrap()
            .len()
            <= 1_000
    );
}

#[test]
fn webhooks_of_3_1_are_warned_not_imported() {
    let spec = json!({"openapi": "3.1.0", "info": {"title": "T", "version": "1"}, "paths": {},
        "webhooks": {"newPet": {"post": {}}}});
    assert_warned(&run(&spec), "/webhooks", "not imported");
}
