//! The checker's rules, each on a small hand-written spec (no npm, no server).

use http::Method;
use serde_json::{Value, json};

use super::{RecordedRequest, SpecChecker};

/// An OpenAPI 3.0 fragment with a base path, `$ref`ed parameters and schemas, a nullable field
/// and a literal path next to a variable one.
fn spec() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": { "title": "test", "version": "1" },
        "servers": [{ "url": "https://api.example.test/v1" }],
        "paths": {
            "/repos/{owner}/{repo}/issues": {
                "parameters": [
                    { "$ref": "#/components/parameters/owner" },
                    { "name": "repo", "in": "path", "required": true, "schema": { "type": "string" } }
                ],
                "get": {
                    "operationId": "issues/list",
                    "parameters": [
                        { "name": "state", "in": "query",
                          "schema": { "type": "string", "enum": ["open", "closed"] } },
                        { "$ref": "#/components/parameters/per_page" },
                        { "name": "labels", "in": "query", "explode": false,
                          "schema": { "type": "array", "items": { "type": "integer" } } },
                        { "name": "X-Trace", "in": "header", "required": true,
                          "schema": { "type": "string" } }
                    ],
                    "responses": { "200": { "description": "ok" } }
                },
                "post": {
                    "operationId": "issues/create",
                    "requestBody": { "$ref": "#/components/requestBodies/issue" },
                    "responses": { "201": { "description": "created" } }
                }
            },
            "/users/{id}": {
                "get": {
                    "operationId": "users/get",
                    "parameters": [{ "name": "id", "in": "path", "required": true,
                                     "schema": { "type": "integer", "minimum": 1 } }],
                    "responses": { "200": { "description": "ok" } }
                }
            },
            "/users/me": {
                "get": { "operationId": "users/me", "responses": { "200": { "description": "ok" } } }
            }
        },
        "components": {
            "parameters": {
                "owner": { "name": "owner", "in": "path", "required": true, "schema": { "type": "string" } },
                "per_page": { "name": "per_page", "in": "query", "required": true,
                              "schema": { "type": "integer", "maximum": 100, "exclusiveMinimum": true, "minimum": 0 } }
            },
            "requestBodies": {
                "issue": { "required": true, "content": {
                    "application/json": { "schema": { "$ref": "#/components/schemas/issue" } } } }
            },
            "schemas": {
                "issue": {
                    "type": "object",
                    "required": ["title"],
                    "additionalProperties": false,
                    "properties": {
                        "title": { "type": "string", "minLength": 1 },
                        "milestone": { "type": "integer", "nullable": true },
                        "labels": { "type": "array", "items": { "$ref": "#/components/schemas/label" } }
                    }
                },
                "label": { "type": "string", "maxLength": 5 }
            }
        }
    })
}

fn checker() -> SpecChecker {
    SpecChecker::new(&spec()).unwrap()
}

fn list(query: &str) -> RecordedRequest {
    RecordedRequest::new(Method::GET, &format!("/v1/repos/octo%20cat/hello/issues?{query}"))
        .with_header("x-trace", "t-1")
}

fn problems(checker: &SpecChecker, request: &RecordedRequest) -> String {
    checker.check(request).unwrap_err().join("\n")
}

#[test]
fn a_valid_request_is_matched_to_its_operation_with_decoded_path_params() {
    let matched = checker().check(&list("state=open&per_page=5&labels=1,2")).unwrap();
    assert_eq!(matched.method, "get");
    assert_eq!(matched.path_template, "/repos/{owner}/{repo}/issues");
    assert_eq!(matched.operation_id.as_deref(), Some("issues/list"));
    assert_eq!(
        matched.path_params,
        [
            ("owner".to_owned(), "octo cat".to_owned()),
            ("repo".to_owned(), "hello".to_owned())
        ]
    );
}

#[test]
fn a_missing_required_query_parameter_is_named() {
    let problems = problems(&checker(), &list("state=open"));
    assert!(
        problems.contains("missing required query parameter `per_page`"),
        "{problems}"
    );
}

#[test]
fn a_missing_required_header_is_named() {
    let request = RecordedRequest::new(Method::GET, "/v1/repos/a/b/issues?per_page=5");
    let problems = problems(&checker(), &request);
    assert!(
        problems.contains("missing required header parameter `X-Trace`"),
        "{problems}"
    );
}

#[test]
fn a_query_value_that_is_not_an_integer_is_refused() {
    let problems = problems(&checker(), &list("per_page=five"));
    assert!(problems.contains("query parameter `per_page`"), "{problems}");
    assert!(problems.contains("integer"), "{problems}");
}

#[test]
fn query_integers_are_checked_against_their_bounds_including_converted_exclusive_minimum() {
    let checker = checker();
    assert!(problems(&checker, &list("per_page=101")).contains("`per_page`"));
    assert!(problems(&checker, &list("per_page=0")).contains("`per_page`"));
    assert!(checker.check(&list("per_page=1")).is_ok());
}

#[test]
fn an_enum_query_value_outside_the_enum_is_refused() {
    let problems = problems(&checker(), &list("per_page=5&state=bogus"));
    assert!(problems.contains("query parameter `state`"), "{problems}");
}

#[test]
fn array_query_parameters_accept_comma_separated_and_repeated_values_and_check_items() {
    let checker = checker();
    assert!(checker.check(&list("per_page=5&labels=1,2")).is_ok());
    assert!(checker.check(&list("per_page=5&labels=1&labels=2")).is_ok());
    let problems = problems(&checker, &list("per_page=5&labels=1,x"));
    assert!(problems.contains("query parameter `labels` at /1"), "{problems}");
}

#[test]
fn an_unknown_query_parameter_is_refused() {
    let problems = problems(&checker(), &list("per_page=5&sort=asc"));
    assert!(problems.contains("unknown query parameter `sort`"), "{problems}");
}

#[test]
fn a_body_failing_its_schema_is_refused_with_the_json_path() {
    let request = RecordedRequest::new(Method::POST, "/v1/repos/a/b/issues")
        .with_json(&json!({ "title": "ok", "labels": ["bug", "much-too-long"] }));
    let problems = problems(&checker(), &request);
    assert!(problems.contains("request body at /labels/1"), "{problems}");
}

#[test]
fn a_body_missing_a_required_property_or_with_an_extra_one_is_refused() {
    let request = RecordedRequest::new(Method::POST, "/v1/repos/a/b/issues").with_json(&json!({ "body": "x" }));
    let problems = problems(&checker(), &request);
    assert!(problems.contains("\"title\" is a required property"), "{problems}");
    assert!(problems.contains("body"), "{problems}");
}

#[test]
fn a_nullable_property_of_an_openapi_30_schema_accepts_null() {
    let request = RecordedRequest::new(Method::POST, "/v1/repos/a/b/issues")
        .with_json(&json!({ "title": "ok", "milestone": null }));
    checker().check(&request).unwrap();
}

#[test]
fn a_required_body_that_is_missing_is_refused() {
    let problems = problems(&checker(), &RecordedRequest::new(Method::POST, "/v1/repos/a/b/issues"));
    assert!(problems.contains("missing required request body"), "{problems}");
}

#[test]
fn a_body_of_an_undeclared_content_type_is_refused() {
    let request = RecordedRequest::new(Method::POST, "/v1/repos/a/b/issues")
        .with_header("content-type", "text/plain")
        .with_body("title=x");
    let problems = problems(&checker(), &request);
    assert!(problems.contains("Content-Type `text/plain`"), "{problems}");
}

#[test]
fn a_body_sent_to_an_operation_without_one_is_refused() {
    let request = list("per_page=5").with_json(&json!({}));
    let problems = problems(&checker(), &request);
    assert!(problems.contains("takes no request body"), "{problems}");
}

#[test]
fn a_literal_segment_wins_over_a_variable_one() {
    let checker = checker();
    let me = checker
        .check(&RecordedRequest::new(Method::GET, "/v1/users/me"))
        .unwrap();
    assert_eq!(me.operation_id.as_deref(), Some("users/me"));
    let by_id = checker
        .check(&RecordedRequest::new(Method::GET, "/v1/users/7"))
        .unwrap();
    assert_eq!(by_id.operation_id.as_deref(), Some("users/get"));
    let problems = problems(&checker, &RecordedRequest::new(Method::GET, "/v1/users/0"));
    assert!(problems.contains("path parameter `id`"), "{problems}");
}

#[test]
fn a_path_without_a_template_or_a_method_without_an_operation_is_refused() {
    let checker = checker();
    let problems_unknown = problems(&checker, &RecordedRequest::new(Method::GET, "/v1/nothing/here"));
    assert!(problems_unknown.contains("no path template"), "{problems_unknown}");
    let problems_method = problems(&checker, &RecordedRequest::new(Method::DELETE, "/v1/users/me"));
    assert!(problems_method.contains("no DELETE operation"), "{problems_method}");
}

#[test]
fn a_document_that_is_not_openapi_3_is_refused() {
    let error = SpecChecker::new(&json!({ "swagger": "2.0", "paths": {} })).unwrap_err();
    assert!(error.to_string().contains("OpenAPI 3"), "{error}");
}

#[test]
fn an_openapi_31_schema_is_used_as_it_is() {
    let spec = json!({
        "openapi": "3.1.0",
        "paths": { "/things": { "post": {
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "type": "object", "properties": { "n": { "type": ["integer", "null"], "exclusiveMinimum": 0 } }
            } } } },
            "responses": { "200": { "description": "ok" } }
        } } }
    });
    let checker = SpecChecker::new(&spec).unwrap();
    let post = |body: Value| RecordedRequest::new(Method::POST, "/things").with_json(&body);
    assert!(checker.check(&post(json!({ "n": null }))).is_ok());
    assert!(checker.check(&post(json!({ "n": 1 }))).is_ok());
    let problems = problems(&checker, &post(json!({ "n": 0 })));
    assert!(problems.contains("request body at /n"), "{problems}");
}
