//! The import: a whole document made a [`Manifest`], operation by operation.

use std::collections::{BTreeMap, BTreeSet};

use aura_core::declarative::{HttpMethod, Manifest, Operation};
use aura_core::{Error, Key, Result};
use serde_json::Value;

use super::auth::{Requirements, auth};
use super::body::{output_schema, request_body};
use super::components::Components;
use super::names::{
    app_id_from_title, key_from_method_path, key_from_operation_id, semver_from, truncate, with_suffix,
};
use super::options::ImportOptions;
use super::params::collect;
use super::refs::{RefProblem, resolve};
use super::schema::{Found, SchemaConverter};
use super::servers::base_url;
use super::warnings::{ImportWarning, Pointer, Warnings};

/// The methods of a path item, in the order they are imported.
const METHODS: [(&str, Option<HttpMethod>); 8] = [
    ("get", Some(HttpMethod::GET)),
    ("put", Some(HttpMethod::PUT)),
    ("post", Some(HttpMethod::POST)),
    ("delete", Some(HttpMethod::DELETE)),
    ("options", Some(HttpMethod::OPTIONS)),
    ("head", Some(HttpMethod::HEAD)),
    ("patch", Some(HttpMethod::PATCH)),
    ("trace", None),
];

/// The result of an import: the manifest, and what could not be mapped exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    /// The app manifest.
    pub manifest: Manifest,
    /// What was skipped or approximated, in the order found (paths by name, then methods).
    pub warnings: Vec<ImportWarning>,
    /// How many operations were imported.
    pub operations: usize,
    /// How many operations the filters wanted but could not be imported (each has a warning).
    pub skipped: usize,
}

/// Imports an OpenAPI 3.0 or 3.1 document.
///
/// # Errors
///
/// [`InvalidDefinition`](aura_core::ErrorKind::InvalidDefinition), with the context `path`
/// naming the place (`/openapi`, `/paths`), when the document is not an OpenAPI 3.0 or 3.1
/// document with `paths`, when [`ImportOptions::app_id`] is not a valid key, or when
/// [`ImportOptions::server`] names no server. Anything else is a [warning](Import::warnings).
pub fn import(spec: &Value, options: &ImportOptions) -> Result<Import> {
    let openapi_30 = check_version(spec)?;
    let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
        return Err(Error::invalid_definition("the spec has no `paths` object").with_context("path", "/paths"));
    };
    let info = spec.get("info");
    let text = |key: &str| info.and_then(|i| i.get(key)).and_then(Value::as_str);
    let title = text("title").unwrap_or("OpenAPI app");
    let id = match &options.app_id {
        Some(id) => Key::new(id.as_str())?.into_string(),
        None => app_id_from_title(title),
    };
    let mut warnings = Warnings::default();
    let base = base_url(spec, options.server, options.max_description_bytes, &mut warnings)?;
    let converter = SchemaConverter {
        spec,
        openapi_30,
        max_description: options.max_description_bytes,
        max_depth: options.max_schema_depth,
    };
    let mut requirements = Requirements::default();
    requirements.add(spec.get("security"));
    let mut state = State {
        converter,
        options,
        components: Components::new(converter),
        used: BTreeSet::new(),
        operations: BTreeMap::new(),
        requirements,
        warnings,
        skipped: 0,
    };
    let paths_at = Pointer::root().key("paths");
    for (path, item) in paths {
        if !path.starts_with("x-") {
            state.path_item(path, item, &paths_at.key(path));
        }
    }
    if spec
        .get("webhooks")
        .is_some_and(|w| w.as_object().is_some_and(|w| !w.is_empty()))
    {
        state
            .warnings
            .push(&Pointer::root().key("webhooks"), "webhooks are not imported");
    }
    let State {
        components,
        used,
        operations,
        requirements,
        mut warnings,
        skipped,
        ..
    } = state;
    let auth = auth(spec, requirements, &mut warnings);
    let schemas = components.finish(&used, &mut warnings);
    let count = operations.len();
    let manifest = Manifest {
        id,
        name: truncate(title, options.max_description_bytes),
        version: semver_from(text("version").unwrap_or_default()),
        description: truncate(text("description").unwrap_or_default(), options.max_description_bytes),
        category: None,
        tags: Vec::new(),
        docs_url: spec
            .get("externalDocs")
            .and_then(|d| d.get("url"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        base_url: base.url,
        variables: base.variables,
        auth,
        headers: BTreeMap::new(),
        rate_limit: None,
        error_when: None,
        operations,
        triggers: BTreeMap::new(),
        schemas,
    };
    Ok(Import {
        manifest,
        warnings: warnings.0,
        operations: count,
        skipped,
    })
}

/// Imports an OpenAPI 3.0 or 3.1 document given as JSON or YAML text.
///
/// # Errors
///
/// As [`import`], and `InvalidDefinition` when the text is neither JSON nor YAML.
pub fn import_str(text: &str, options: &ImportOptions) -> Result<Import> {
    import(&super::document::parse(text)?, options)
}

/// Whether the document is OpenAPI 3.0 (`true`) or 3.1 (`false`).
fn check_version(spec: &Value) -> Result<bool> {
    if !spec.is_object() {
        return Err(Error::invalid_definition("an OpenAPI document must be an object").with_context("path", ""));
    }
    match spec.get("openapi").and_then(Value::as_str) {
        Some(v) if v == "3.0" || v.starts_with("3.0.") => Ok(true),
        Some(v) if v == "3.1" || v.starts_with("3.1.") => Ok(false),
        Some(v) => Err(Error::invalid_definition(format!(
            "OpenAPI version `{}` is not supported (3.0.x or 3.1.x)",
            truncate(v, 40)
        ))
        .with_context("path", "/openapi")),
        None => Err(
            Error::invalid_definition("not an OpenAPI 3 document: no `openapi` version string")
                .with_context("path", "/openapi"),
        ),
    }
}

/// What the import has gathered so far.
struct State<'a> {
    converter: SchemaConverter<'a>,
    options: &'a ImportOptions,
    components: Components<'a>,
    used: BTreeSet<String>,
    operations: BTreeMap<String, Operation>,
    requirements: Requirements,
    warnings: Warnings,
    skipped: usize,
}

impl<'a> State<'a> {
    /// Every operation of one path item.
    fn path_item(&mut self, path: &str, item: &'a Value, at: &Pointer) {
        let (item, item_at) = match resolve(self.converter.spec, item, at) {
            Ok(resolved) => resolved,
            Err(problem) => {
                self.warnings
                    .push(problem.at(), format!("path item skipped: {}", problem.message()));
                self.skipped += 1;
                return;
            }
        };
        if !item.is_object() {
            self.warnings.push(at, "a path item must be an object: skipped");
            return;
        }
        if item.get("servers").is_some() {
            self.warnings.push(
                &item_at.key("servers"),
                "path-level servers are ignored (the app has one base URL)",
            );
        }
        for (name, method) in METHODS {
            let Some(operation) = item.get(name) else { continue };
            let op_at = at.key(name);
            let Some(method) = method else {
                self.warnings
                    .push(&op_at, "TRACE operations are not supported: skipped");
                self.skipped += 1;
                continue;
            };
            self.operation(path, item, &item_at, method, operation, &op_at);
        }
    }

    /// One operation: built, checked for remote refs, filed under a unique key.
    fn operation(&mut self, path: &str, item: &Value, item_at: &Pointer, method: HttpMethod, op: &Value, at: &Pointer) {
        if !op.is_object() {
            self.warnings.push(at, "an operation must be an object: skipped");
            self.skipped += 1;
            return;
        }
        let operation_id = op.get("operationId").and_then(Value::as_str);
        let method_name = format!("{method:?}").to_ascii_lowercase();
        let key = operation_id
            .and_then(key_from_operation_id)
            .unwrap_or_else(|| key_from_method_path(&method_name, path));
        let tags: Vec<&str> = op
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !self.options.wants(operation_id, &key, &tags) {
            return;
        }
        let mut found = Found::default();
        let built = build(&self.converter, path, item, item_at, method, op, at, &mut found).and_then(|operation| {
            self.components
                .closure(&found.components)
                .map(|reached| (operation, reached))
        });
        let (operation, reached) = match built {
            Ok(done) => done,
            Err(problem) => {
                self.warnings.push(
                    problem.at(),
                    format!(
                        "operation {} {path} skipped: {}",
                        method_name.to_uppercase(),
                        problem.message()
                    ),
                );
                self.skipped += 1;
                return;
            }
        };
        if op.get("servers").is_some() {
            self.warnings.push(
                &at.key("servers"),
                "operation-level servers are ignored (the app has one base URL)",
            );
        }
        let key = if self.operations.contains_key(&key) {
            let unique = (2..)
                .map(|n| with_suffix(&key, n))
                .find(|k| !self.operations.contains_key(k))
                .unwrap_or_default();
            self.warnings.push(
                at,
                format!("the key `{key}` is taken (duplicate operationId?): imported as `{unique}`"),
            );
            unique
        } else {
            key
        };
        self.warnings.extend(found.warnings);
        self.used.extend(reached);
        self.requirements.add(op.get("security"));
        self.operations.insert(key, operation);
    }
}

/// The [`Operation`] of one spec operation.
#[allow(clippy::too_many_arguments)]
fn build(
    converter: &SchemaConverter<'_>,
    path: &str,
    item: &Value,
    item_at: &Pointer,
    method: HttpMethod,
    op: &Value,
    at: &Pointer,
    found: &mut Found,
) -> std::result::Result<Operation, RefProblem> {
    let text = |key: &str| {
        op.get(key)
            .and_then(Value::as_str)
            .map(|t| truncate(t, converter.max_description))
    };
    let body = match op.get("requestBody") {
        Some(body) => request_body(converter, body, &at.key("requestBody"), found)?,
        None => None,
    };
    let lists = [
        (item.get("parameters"), item_at.key("parameters")),
        (op.get("parameters"), at.key("parameters")),
    ];
    let params = collect(converter, path, &lists, body.is_some(), found)?;
    let output_schema = output_schema(converter, op.get("responses"), &at.key("responses"), found)?;
    let mut headers = BTreeMap::new();
    if let Some(content_type) = body.as_ref().and_then(|b| b.content_type.clone()) {
        headers.insert("Content-Type".to_owned(), content_type);
    }
    Ok(Operation {
        method,
        path: params.path,
        name: text("summary"),
        description: text("description").or_else(|| text("summary")).unwrap_or_default(),
        params: params.params,
        required: params.required,
        body: body.map(|b| b.spec),
        output: None,
        output_schema,
        paginate: None,
        rate_limit: None,
        idempotent: None,
        idempotency_header: None,
        headers,
    })
}
