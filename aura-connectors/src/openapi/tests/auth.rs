use aura_core::declarative::{AuthSpec, KeyLocation};
use serde_json::json;

use super::*;

fn with_schemes(schemes: Value, security: Value) -> Import {
    run(&spec30(
        json!({"/x": {"get": {"security": [{"op_key": []}]}}}),
        json!({"components": {"securitySchemes": schemes}, "security": security}),
    ))
}

#[test]
fn security_schemes_map_to_auth_methods_in_requirement_order() {
    let imported = with_schemes(
        json!({
            "op_key": {"type": "apiKey", "in": "query", "name": "api_key"},
            "header_key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "basic": {"type": "http", "scheme": "basic"},
            "bearer": {"type": "http", "scheme": "Bearer", "bearerFormat": "JWT"},
            "oauth": {"type": "oauth2", "flows": {
                "authorizationCode": {"authorizationUrl": "https://a.example/auth", "tokenUrl": "https://a.example/token",
                                      "scopes": {"read": "", "write": ""}},
                "clientCredentials": {"tokenUrl": "https://a.example/token", "scopes": {}}}}}),
        json!([{"header_key": []}, {"basic": [], "bearer": []}, {"oauth": ["read"]}]),
    );
    assert_eq!(
        imported.manifest.auth,
        [
            AuthSpec::ApiKey {
                location: KeyLocation::Header,
                name: "X-API-Key".into()
            },
            AuthSpec::Basic,
            AuthSpec::Bearer,
            AuthSpec::OAuth2 {
                authorization_url: Some("https://a.example/auth".into()),
                token_url: "https://a.example/token".into(),
                scopes: vec!["read".into()],
            },
            AuthSpec::OAuth2 {
                authorization_url: None,
                token_url: "https://a.example/token".into(),
                scopes: vec!["read".into()]
            },
            AuthSpec::ApiKey {
                location: KeyLocation::Query,
                name: "api_key".into()
            },
        ]
    );
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
}

#[test]
fn without_requirements_every_defined_scheme_is_offered() {
    let imported = run(&spec30(
        json!({}),
        json!({"components": {"securitySchemes": {"b": {"type": "http", "scheme": "bearer"}}}}),
    ));
    assert_eq!(imported.manifest.auth, [AuthSpec::Bearer]);
}

#[test]
fn unsupported_schemes_are_warnings_never_errors() {
    let imported = with_schemes(
        json!({
            "op_key": {"type": "apiKey", "in": "cookie", "name": "sid"},
            "oidc": {"type": "openIdConnect", "openIdConnectUrl": "https://a.example/.well-known"},
            "digest": {"type": "http", "scheme": "digest"},
            "mtls": {"type": "mutualTLS"},
            "weird": {"type": 42},
            "implicit": {"type": "oauth2", "flows": {"implicit": {"authorizationUrl": "u", "scopes": {}}}}}),
        json!([{"oidc": []}, {"digest": []}, {"mtls": []}, {"weird": []}, {"implicit": []}, {"undefined": []}]),
    );
    assert!(imported.manifest.auth.is_empty());
    let at = "/components/securitySchemes";
    assert_warned(&imported, &format!("{at}/op_key"), "in `cookie` is not supported");
    assert_warned(&imported, &format!("{at}/oidc"), "OpenID Connect");
    assert_warned(&imported, &format!("{at}/digest"), "`digest`");
    assert_warned(&imported, &format!("{at}/mtls"), "type `mutualTLS` is not supported");
    assert_warned(&imported, &format!("{at}/weird"), "is not supported");
    assert_warned(&imported, &format!("{at}/implicit"), "neither an authorization-code");
    assert_warned(&imported, "/security", "`undefined` is not defined");
}
