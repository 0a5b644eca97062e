//! What the templates are filled with: the connector's names, base URL, authentication, its one
//! action and its trigger's path — the default skeleton's, or taken from an imported manifest.

use aura_core::declarative::{AuthSpec, HttpMethod, KeyLocation, Manifest, Operation, Param, ParamLocation};
use serde::Serialize;
use serde_json::{Value, json};

/// Everything a template may name.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Model {
    /// The module and app id (`acme_tasks`).
    pub(crate) name: String,
    /// The type name (`AcmeTasks`).
    #[serde(rename = "Name")]
    pub(crate) type_name: String,
    /// The display name (`Acme Tasks`).
    pub(crate) title: String,
    /// The crate name's suffix (`acme-tasks`).
    pub(crate) crate_name: String,
    /// What the app does (escaped for a Rust string literal).
    pub(crate) description: String,
    /// The default base URL.
    pub(crate) base_url: String,
    /// How a connection authenticates.
    pub(crate) auth: Auth,
    /// The one action.
    pub(crate) action: ActionModel,
    /// The polling trigger.
    pub(crate) trigger: TriggerModel,
}

/// How a connection authenticates, as Rust expressions and a test matcher.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Auth {
    /// An `AuthMethod` expression.
    pub(crate) method_expr: String,
    /// A `Credentials` expression over `self.api_key`.
    pub(crate) credentials_expr: String,
    /// Whether the expressions name `ApiKeyPlacement`.
    pub(crate) placement: bool,
    /// A wiremock matcher that the credentials are on the request (none for no auth).
    pub(crate) matcher: Option<String>,
    /// The wiremock matcher functions the matcher uses.
    pub(crate) matcher_fns: Vec<&'static str>,
    /// A phrase for the docs.
    pub(crate) doc: String,
}

/// The action.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ActionModel {
    /// Its key (`get_item`).
    pub(crate) key: String,
    /// Its input type's name (`GetItem`).
    pub(crate) type_name: String,
    /// The input type and `Record`, in rustfmt's order, for a `use` list.
    pub(crate) imports: String,
    /// Its display name (escaped).
    pub(crate) display: String,
    /// What it does (escaped, one line).
    pub(crate) description: String,
    /// `GET`, `POST` …
    pub(crate) method: String,
    /// Whether calling it twice is harmless.
    pub(crate) idempotent: bool,
    /// The path template (`/items/{id}`).
    pub(crate) path: String,
    /// Every input field.
    pub(crate) params: Vec<ParamModel>,
    /// The path parameters.
    pub(crate) path_params: Vec<ParamModel>,
    /// The query parameters.
    pub(crate) query_params: Vec<ParamModel>,
    /// Whether the answer is a list of records.
    pub(crate) output_list: bool,
    /// The output type (`Record` or `Vec<Record>`).
    pub(crate) output: String,
    /// A valid input, as JSON text.
    pub(crate) sample_input: String,
    /// The path that input leads to.
    pub(crate) sample_path: String,
    /// The path and query that input leads to.
    pub(crate) sample_path_and_query: String,
    /// An answer the mock server gives, as JSON text.
    pub(crate) sample_answer: String,
    /// Where `"name": "First"` is in the output (`""` or `[0]`).
    pub(crate) sample_pointer: String,
}

/// One input field.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ParamModel {
    /// Its name on the wire.
    pub(crate) wire: String,
    /// Its Rust field name.
    pub(crate) field: String,
    /// Whether the field needs a `#[serde(rename)]`.
    pub(crate) rename: bool,
    /// Its Rust type.
    pub(crate) rust_type: String,
    /// Whether it must be given.
    pub(crate) required: bool,
    /// Its doc line.
    pub(crate) doc: String,
    #[serde(skip)]
    sample: Value,
}

/// The trigger.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct TriggerModel {
    /// The list path it polls.
    pub(crate) path: String,
}

/// Checks a connector name: a lowercase letter, then lowercase letters, digits and `_`.
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || name.ends_with('_') || name.contains("__") {
        return Err(format!(
            "`{name}` is not a connector name: use a lowercase letter, then lowercase letters, digits \
             and single `_` (`acme`, `acme_tasks`, `crm2`)"
        ));
    }
    if is_reserved(name) {
        return Err(format!(
            "`{name}` is a Rust keyword or a standard crate name; pick another (`{name}_app`)"
        ));
    }
    Ok(())
}

fn is_reserved(name: &str) -> bool {
    const RESERVED: &[&str] = &[
        "abstract",
        "alloc",
        "as",
        "async",
        "await",
        "become",
        "box",
        "core",
        "const",
        "continue",
        "crate",
        "do",
        "dyn",
        "else",
        "enum",
        "extern",
        "false",
        "final",
        "fn",
        "for",
        "gen",
        "if",
        "impl",
        "in",
        "let",
        "loop",
        "macro",
        "match",
        "mod",
        "move",
        "mut",
        "override",
        "priv",
        "proc_macro",
        "pub",
        "ref",
        "return",
        "self",
        "static",
        "std",
        "struct",
        "super",
        "test",
        "trait",
        "true",
        "try",
        "type",
        "typeof",
        "union",
        "unsafe",
        "unsized",
        "use",
        "virtual",
        "where",
        "while",
        "yield",
    ];
    RESERVED.contains(&name)
}

/// `acme_tasks` → `AcmeTasks`.
pub(crate) fn camel(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map_or_else(String::new, |c| c.to_ascii_uppercase().to_string() + chars.as_str())
        })
        .collect()
}

/// `acme_tasks` → `Acme Tasks`.
fn title(name: &str) -> String {
    name.split('_').map(camel).collect::<Vec<_>>().join(" ")
}

/// A Rust identifier for a wire name: `petId` → `pet_id`, `page[size]` → `page_size`,
/// `type` → `type_`.
fn field_name(wire: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in wire.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = true;
        } else if !out.ends_with('_') {
            out.push('_');
            prev_lower = false;
        }
    }
    let mut out = out.trim_matches('_').to_owned();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "p_");
    }
    if is_reserved(&out) {
        out.push('_');
    }
    out
}

/// Text made safe inside a Rust string literal and on one line.
fn literal(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    line.replace('\\', "\\\\").replace('"', "\\\"")
}

impl Model {
    /// The default skeleton: `GET /items/{id}` as `get_item`, new items from `GET /items`, an
    /// API key in `X-Api-Key`.
    pub(crate) fn skeleton(name: &str) -> Result<Self, String> {
        let operation: Operation = serde_json::from_value(json!({
            "method": "GET",
            "path": "/items/{id}",
            "name": "Get an item",
            "description": "Gets one item by its id.",
            "params": { "id": "string" },
            "required": ["id"],
        }))
        .map_err(|e| format!("the skeleton's operation does not parse: {e}"))?;
        let auth = AuthSpec::ApiKey {
            location: KeyLocation::Header,
            name: "X-Api-Key".to_owned(),
        };
        let (action, _) = ActionModel::from_operation("get_item", &operation, name);
        Ok(Self::new(
            name,
            &format!("{}'s HTTP API", title(name)),
            &format!("https://api.{}.example/v1", name.replace('_', "-")),
            &auth,
            action,
            "/items",
        ))
    }

    /// From an imported manifest: its base URL, its first authentication, `action` (an
    /// operation key of the manifest) and the first list operation as the trigger's path.
    /// Returns notes on what was left out.
    pub(crate) fn from_manifest(name: &str, manifest: &Manifest, action: &str) -> Result<(Self, Vec<String>), String> {
        let operation = manifest
            .operations
            .get(action)
            .ok_or_else(|| format!("the imported manifest has no operation `{action}`"))?;
        let (action_model, mut notes) = ActionModel::from_operation(action, operation, name);
        let list = manifest.operations.iter().find(|(_, op)| {
            op.method == HttpMethod::GET && !op.path.contains('{') && op.output_schema.as_ref().is_some_and(is_array)
        });
        let list = list.or_else(|| {
            manifest
                .operations
                .iter()
                .find(|(_, op)| op.method == HttpMethod::GET && !op.path.contains('{'))
        });
        let trigger_path = match list {
            Some((_, op)) => op.path.clone(),
            None => {
                notes.push("no GET operation without path parameters: the trigger polls `/items`".to_owned());
                "/items".to_owned()
            }
        };
        let auth = manifest.auth.first().cloned().unwrap_or(AuthSpec::None);
        if manifest.auth.len() > 1 {
            notes.push(format!(
                "{} ways to authenticate: the first is used",
                manifest.auth.len()
            ));
        }
        let mut base_url = manifest.base_url.clone();
        for (var, spec) in &manifest.variables {
            if let Some(default) = &spec.default {
                base_url = base_url.replace(&format!("{{{var}}}"), default);
            }
        }
        let description = if manifest.description.is_empty() {
            format!("{}'s HTTP API", manifest.name)
        } else {
            manifest.description.clone()
        };
        let model = Self::new(
            name,
            &description,
            base_url.trim_end_matches('/'),
            &auth,
            action_model,
            &trigger_path,
        );
        Ok((model, notes))
    }

    fn new(name: &str, description: &str, base_url: &str, auth: &AuthSpec, action: ActionModel, list: &str) -> Self {
        Self {
            name: name.to_owned(),
            type_name: camel(name),
            title: title(name),
            crate_name: name.replace('_', "-"),
            description: literal(description),
            base_url: literal(base_url),
            auth: Auth::from_spec(auth),
            action,
            trigger: TriggerModel { path: literal(list) },
        }
    }
}

fn is_array(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("array")
}

impl Auth {
    fn from_spec(spec: &AuthSpec) -> Self {
        let key = |location: KeyLocation, name: &str| {
            let (placement, matcher, func, place) = match location {
                KeyLocation::Header => (
                    format!("ApiKeyPlacement::header(\"{}\")", literal(name)),
                    format!("header(\"{}\", KEY)", literal(name)),
                    "header",
                    "header",
                ),
                KeyLocation::Query => (
                    format!("ApiKeyPlacement::query(\"{}\")", literal(name)),
                    format!("query_param(\"{}\", KEY)", literal(name)),
                    "query_param",
                    "query parameter",
                ),
            };
            Self {
                // Laid out as rustfmt lays out `.auth(…)` in mod.rs.
                method_expr: format!("AuthMethod::ApiKey {{\n                placement: {placement},\n            }}"),
                credentials_expr: format!("Credentials::api_key(self.api_key.clone(), {placement})"),
                placement: true,
                matcher: Some(matcher),
                matcher_fns: vec![func],
                doc: format!("an API key in the `{name}` {place}"),
            }
        };
        let bearer = |doc: &str| Self {
            method_expr: "AuthMethod::Bearer".to_owned(),
            credentials_expr: "Credentials::bearer(self.api_key.clone())".to_owned(),
            placement: false,
            matcher: Some("header(\"authorization\", format!(\"Bearer {KEY}\").as_str())".to_owned()),
            matcher_fns: vec!["header"],
            doc: doc.to_owned(),
        };
        match spec {
            AuthSpec::ApiKey { location, name } => key(*location, name),
            AuthSpec::Bearer => bearer("a bearer token (`Authorization: Bearer …`)"),
            AuthSpec::OAuth2 { .. } => bearer(
                "an OAuth 2.0 access token, sent as a bearer token (give the connection OAuth2 credentials to have \
                 them refreshed)",
            ),
            AuthSpec::Basic => Self {
                method_expr: "AuthMethod::Basic".to_owned(),
                credentials_expr: "Credentials::basic(self.api_key.clone(), \"\")".to_owned(),
                placement: false,
                matcher: Some("header_exists(\"authorization\")".to_owned()),
                matcher_fns: vec!["header_exists"],
                doc: "HTTP basic authentication, the key as the user name".to_owned(),
            },
            _ => Self {
                method_expr: "AuthMethod::None".to_owned(),
                credentials_expr: "Credentials::None".to_owned(),
                placement: false,
                matcher: None,
                matcher_fns: Vec::new(),
                doc: "none".to_owned(),
            },
        }
    }
}

impl ActionModel {
    /// The action for `operation` under `key`, and notes on the parameters left out.
    fn from_operation(key: &str, operation: &Operation, app: &str) -> (Self, Vec<String>) {
        let mut notes = Vec::new();
        let key = field_name(key);
        let mut type_name = camel(&key);
        if type_name == "Record" || type_name == camel(app) || type_name == format!("{}Config", camel(app)) {
            type_name.push_str("Input");
        }
        let method = format!("{:?}", operation.method);
        let (mut path_params, mut query_params) = (Vec::new(), Vec::new());
        for (input, param) in &operation.params {
            let (location, wire, kind, mut required, doc) = match param {
                Param::Type(kind) => (
                    None,
                    input.clone(),
                    Some(kind.as_str().to_owned()),
                    false,
                    String::new(),
                ),
                Param::Full(full) => (
                    full.location,
                    full.name.clone().unwrap_or_else(|| input.clone()),
                    full.kind.map(|k| k.as_str().to_owned()).or_else(|| {
                        full.schema
                            .as_ref()
                            .and_then(|s| s.get("type"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    }),
                    full.required,
                    full.description.clone(),
                ),
            };
            let in_path = operation.path.contains(&format!("{{{input}}}"));
            let location = location.unwrap_or(if in_path {
                ParamLocation::Path
            } else if matches!(operation.method, HttpMethod::GET | HttpMethod::DELETE) {
                ParamLocation::Query
            } else {
                ParamLocation::Body
            });
            required |= in_path || operation.required.contains(input);
            let (rust_type, sample) = match kind.as_deref() {
                Some("string") | None => ("String", json!("abc")),
                Some("integer") => ("i64", json!(7)),
                Some("number") => ("f64", json!(1.5)),
                Some("boolean") => ("bool", json!(true)),
                Some(_) => ("serde_json::Value", json!("x")),
            };
            let field = field_name(if location == ParamLocation::Path { input } else { &wire });
            let doc = if doc.is_empty() {
                format!("`{wire}`.")
            } else {
                literal(&doc)
            };
            let model = ParamModel {
                rename: field != wire,
                wire: if location == ParamLocation::Path {
                    input.clone()
                } else {
                    wire.clone()
                },
                field,
                rust_type: rust_type.to_owned(),
                required,
                doc,
                sample,
            };
            match location {
                ParamLocation::Path => path_params.push(model),
                ParamLocation::Query => query_params.push(model),
                other => notes.push(format!(
                    "the {other:?} parameter `{wire}` is not generated: add it by hand"
                )),
            }
        }
        if operation.body.is_some() {
            notes.push("the operation's request body is not generated: add it by hand".to_owned());
        }
        let output_list = operation.output_schema.as_ref().is_some_and(is_array);
        let mut sample_input = serde_json::Map::new();
        let mut sample_path = operation.path.clone();
        for p in &path_params {
            sample_input.insert(p.wire.clone(), p.sample.clone());
            let text = aura_core::http::scalar_text(&p.sample).unwrap_or_default();
            sample_path = sample_path.replace(&format!("{{{}}}", p.wire), &text);
        }
        let mut query = Vec::new();
        for p in query_params.iter().filter(|p| p.required) {
            sample_input.insert(p.wire.clone(), p.sample.clone());
            query.push(format!(
                "{}={}",
                p.wire,
                aura_core::http::scalar_text(&p.sample).unwrap_or_default()
            ));
        }
        let sample_path_and_query = if query.is_empty() {
            sample_path.clone()
        } else {
            format!("{sample_path}?{}", query.join("&"))
        };
        let record = json!({ "id": 1, "name": "First" });
        let params = path_params.iter().chain(&query_params).cloned().collect();
        let model = Self {
            display: literal(operation.name.as_deref().unwrap_or(&key)),
            description: literal(if operation.description.is_empty() {
                "Calls the service."
            } else {
                &operation.description
            }),
            idempotent: operation.idempotent.unwrap_or(matches!(
                operation.method,
                HttpMethod::GET | HttpMethod::PUT | HttpMethod::DELETE
            )),
            imports: {
                let mut names = [type_name.as_str(), "Record"];
                names.sort_unstable();
                names.join(", ")
            },
            key,
            type_name,
            method,
            path: literal(&operation.path),
            params,
            path_params,
            query_params,
            output_list,
            output: if output_list {
                "Vec<Record>".to_owned()
            } else {
                "Record".to_owned()
            },
            sample_input: Value::Object(sample_input).to_string(),
            sample_path: literal(&sample_path),
            sample_path_and_query: literal(&sample_path_and_query),
            sample_answer: if output_list { json!([record]) } else { record }.to_string(),
            sample_pointer: if output_list { "[0]".to_owned() } else { String::new() },
        };
        (model, notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_letters_digits_and_single_underscores() {
        for good in ["acme", "acme_tasks", "crm2", "a1_b2"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Acme",
            "acme-tasks",
            "2crm",
            "_acme",
            "acme_",
            "acme__x",
            "acme tasks",
            "café",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keywords_and_standard_crates_are_refused_as_names() {
        for reserved in ["type", "mod", "core", "std", "test"] {
            let err = validate_name(reserved).unwrap_err();
            assert!(err.contains("keyword"), "{err}");
        }
    }

    #[test]
    fn wire_names_become_rust_fields() {
        assert_eq!(field_name("petId"), "pet_id");
        assert_eq!(field_name("page[size]"), "page_size");
        assert_eq!(field_name("type"), "type_");
        assert_eq!(field_name("2fa"), "p_2fa");
        assert_eq!(camel("acme_tasks"), "AcmeTasks");
    }
}
