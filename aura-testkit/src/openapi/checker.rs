//! [`SpecChecker`]: which operation a request is, and whether it is a valid one.

use std::collections::HashMap;
use std::sync::Arc;

use aura_core::{Error, ErrorKind, Result};
use parking_lot::Mutex;
use serde_json::Value;

use super::RecordedRequest;
use super::body::{self, MediaType, RequestBody};
use super::params::{Location, Parameter, Scalar, Shape, main_type};
use super::route::{Template, base_path, percent_decode};
use super::schema::{self, SPEC_URI, SchemaSet};

/// A path template's variables and their values.
type PathParams = Vec<(String, String)>;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Checks recorded requests against an OpenAPI 3.0 or 3.1 document, strictly: the operation
/// (method and path template), every required parameter, each parameter's value against its
/// schema, no unknown query parameter, and the request body (presence, media type, and JSON
/// against its schema).
///
/// Building the checker converts the spec once; each operation's validators are compiled the
/// first time a request for it is checked, then kept.
///
/// ```
/// use aura_testkit::openapi::{RecordedRequest, SpecChecker};
/// use http::Method;
/// use serde_json::json;
///
/// let spec = json!({
///     "openapi": "3.0.3",
///     "paths": { "/items": { "get": {
///         "parameters": [{ "name": "limit", "in": "query", "required": true,
///                          "schema": { "type": "integer", "maximum": 100 } }],
///         "responses": { "200": { "description": "ok" } }
///     } } }
/// });
/// let checker = SpecChecker::new(&spec)?;
///
/// let matched = checker.check(&RecordedRequest::new(Method::GET, "/items?limit=10")).unwrap();
/// assert_eq!(matched.path_template, "/items");
///
/// let problems = checker.check(&RecordedRequest::new(Method::GET, "/items?limit=x&page=2")).unwrap_err();
/// assert!(problems.iter().any(|p| p.contains("`limit`")));
/// assert!(problems.iter().any(|p| p.contains("unknown query parameter `page`")));
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Debug)]
pub struct SpecChecker {
    spec: Arc<Value>,
    schemas: SchemaSet,
    base_paths: Vec<String>,
    templates: Vec<Template>,
    /// The query keys of `apiKey` security schemes (`?access_token=`): known, not parameters.
    query_keys: Vec<String>,
    compiled: Mutex<HashMap<(String, usize), Arc<Operation>>>,
}

/// The operation a request was found to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedOperation {
    /// The method, lower case as the spec writes it (`get`).
    pub method: String,
    /// The path template (`/repos/{owner}/{repo}`).
    pub path_template: String,
    /// The `operationId`, when the spec gives one.
    pub operation_id: Option<String>,
    /// The path variables' values, percent-decoded, in template order.
    pub path_params: Vec<(String, String)>,
}

/// One operation, compiled.
#[derive(Debug)]
struct Operation {
    operation_id: Option<String>,
    parameters: Vec<Parameter>,
    body: Option<RequestBody>,
}

impl SpecChecker {
    /// A checker for `spec` (an OpenAPI 3.0.x or 3.1.x document, `$ref`s local).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidDefinition`] when `spec` has no `openapi` 3.x version or no `paths`.
    pub fn new(spec: &Value) -> Result<Self> {
        let version = spec.get("openapi").and_then(Value::as_str).unwrap_or_default();
        if !version.starts_with("3.") {
            return Err(invalid(format!("not an OpenAPI 3.x document (openapi: `{version}`)")));
        }
        let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
            return Err(invalid("the spec has no `paths`".to_owned()));
        };
        let templates = paths.keys().map(|text| Template::parse(text)).collect();
        let mut base_paths: Vec<String> = spec
            .get("servers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|server| server.get("url").and_then(Value::as_str))
            .map(base_path)
            .filter(|path| !path.is_empty())
            .collect();
        // The longest base first, so `/api/v2` is stripped before `/api`.
        base_paths.sort_by_key(|path| std::cmp::Reverse(path.len()));
        let query_keys = spec
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|schemes| schemes.values())
            .filter(|scheme| scheme.get("in").and_then(Value::as_str) == Some("query"))
            .filter_map(|scheme| scheme.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let mut converted = spec.clone();
        schema::convert(&mut converted, version.starts_with("3.0"));
        let spec = Arc::new(converted);
        Ok(Self {
            schemas: SchemaSet::new(Arc::clone(&spec))?,
            spec,
            base_paths,
            templates,
            query_keys,
            compiled: Mutex::new(HashMap::new()),
        })
    }

    /// How many operations the spec declares.
    pub fn operation_count(&self) -> usize {
        self.spec
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|paths| paths.values())
            .filter_map(Value::as_object)
            .map(|item| item.keys().filter(|key| METHODS.contains(&key.as_str())).count())
            .sum()
    }

    /// The operation `request` is, when it is a valid request for it; every problem found
    /// otherwise (each naming the parameter, or the JSON path in the body).
    pub fn check(&self, request: &RecordedRequest) -> std::result::Result<MatchedOperation, Vec<String>> {
        let method = request.method.as_str().to_ascii_lowercase();
        let (index, path_params) = self.find(&method, &request.path)?;
        let template = &self.templates[index].text;
        let operation = self
            .operation(&method, index)
            .map_err(|e| vec![format!("{} {template}: {e}", method.to_uppercase())])?;

        let mut problems = Vec::new();
        for parameter in &operation.parameters {
            parameter.check(request, &path_params, &mut problems);
        }
        for (key, _) in &request.query {
            let known = self.query_keys.contains(key) || operation.parameters.iter().any(|p| p.owns_query_key(key));
            if !known {
                problems.push(format!("unknown query parameter `{key}`"));
            }
        }
        body::check(operation.body.as_ref(), request, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(MatchedOperation {
            method,
            path_template: template.clone(),
            operation_id: operation.operation_id.clone(),
            path_params,
        })
    }

    /// The template (index) for `path` that has `method`, the most specific one when several
    /// match.
    fn find(&self, method: &str, path: &str) -> std::result::Result<(usize, PathParams), Vec<String>> {
        let relative = self
            .base_paths
            .iter()
            .find_map(|base| {
                path.strip_prefix(base.as_str())
                    .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .unwrap_or(path);
        let mut best: Option<(usize, PathParams)> = None;
        let mut path_found = false;
        for (index, template) in self.templates.iter().enumerate() {
            let Some(variables) = template.matches(relative) else {
                continue;
            };
            path_found = true;
            if self.path_item(index).and_then(|item| item.get(method)).is_none() {
                continue;
            }
            let better = best
                .as_ref()
                .is_none_or(|(current, _)| template.specificity() > self.templates[*current].specificity());
            if better {
                best = Some((index, variables));
            }
        }
        best.ok_or_else(|| {
            let decoded = percent_decode(path);
            if path_found {
                vec![format!(
                    "no {} operation for `{decoded}` in the spec",
                    method.to_uppercase()
                )]
            } else {
                vec![format!("no path template of the spec matches `{decoded}`")]
            }
        })
    }

    fn path_item(&self, index: usize) -> Option<&Value> {
        self.spec.get("paths")?.get(&self.templates[index].text)
    }

    /// The compiled operation, compiled now when it is the first request for it.
    fn operation(&self, method: &str, index: usize) -> Result<Arc<Operation>> {
        let key = (method.to_owned(), index);
        if let Some(operation) = self.compiled.lock().get(&key) {
            return Ok(Arc::clone(operation));
        }
        let operation = Arc::new(self.compile(method, index)?);
        self.compiled.lock().insert(key, Arc::clone(&operation));
        Ok(operation)
    }

    fn compile(&self, method: &str, index: usize) -> Result<Operation> {
        let item = self
            .path_item(index)
            .ok_or_else(|| invalid("no path item".to_owned()))?;
        let operation = item.get(method).ok_or_else(|| invalid("no operation".to_owned()))?;
        // The path item's parameters, then the operation's, which replace same name and place.
        let mut declared: Vec<&Value> = Vec::new();
        for list in [item.get("parameters"), operation.get("parameters")]
            .into_iter()
            .flatten()
        {
            for parameter in list.as_array().into_iter().flatten() {
                let parameter = self.resolve(parameter);
                let key = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
                declared.retain(|earlier| key(earlier) != key(parameter));
                declared.push(parameter);
            }
        }
        let mut parameters = Vec::new();
        for parameter in declared {
            if let Some(parameter) = self.compile_parameter(parameter)? {
                parameters.push(parameter);
            }
        }
        let body = match operation.get("requestBody") {
            Some(body) => Some(self.compile_body(self.resolve(body))?),
            None => None,
        };
        Ok(Operation {
            operation_id: operation.get("operationId").and_then(Value::as_str).map(str::to_owned),
            parameters,
            body,
        })
    }

    fn compile_parameter(&self, parameter: &Value) -> Result<Option<Parameter>> {
        let name = parameter.get("name").and_then(Value::as_str).unwrap_or_default();
        let Some(location) = parameter.get("in").and_then(Value::as_str).and_then(Location::parse) else {
            return Err(invalid(format!("parameter `{name}` has no valid `in`")));
        };
        // OpenAPI: header parameters named Accept, Content-Type or Authorization are ignored.
        if location == Location::Header
            && ["accept", "content-type", "authorization"].contains(&name.to_ascii_lowercase().as_str())
        {
            return Ok(None);
        }
        let required =
            location == Location::Path || parameter.get("required").and_then(Value::as_bool).unwrap_or(false);
        let (shape, validator) = match parameter.get("schema") {
            Some(schema) => {
                let resolved = self.resolve(schema);
                let style = parameter.get("style").and_then(Value::as_str).unwrap_or("form");
                let shape = match main_type(resolved) {
                    _ if style == "deepObject" => Shape::Opaque,
                    Some("object") => Shape::Opaque,
                    Some("array") => {
                        let items = resolved.get("items").map_or(&Value::Null, |items| self.resolve(items));
                        Shape::Array(Scalar::of(items))
                    }
                    _ => Shape::Scalar(Scalar::of(resolved)),
                };
                let validator = match shape {
                    Shape::Opaque => None,
                    _ => Some(self.schemas.validator(schema)?),
                };
                (shape, validator)
            }
            // A `content` parameter (a JSON value in the query): presence only.
            None => (Shape::Opaque, None),
        };
        Ok(Some(Parameter {
            name: name.to_owned(),
            location,
            required,
            shape,
            validator,
        }))
    }

    fn compile_body(&self, body: &Value) -> Result<RequestBody> {
        let mut media_types = Vec::new();
        for (range, media) in body.get("content").and_then(Value::as_object).into_iter().flatten() {
            let json = body::is_json(&range.to_ascii_lowercase()) || range.contains("*");
            let validator = match media.get("schema") {
                Some(schema) if json => Some(self.schemas.validator(schema)?),
                _ => None,
            };
            media_types.push(MediaType {
                range: range.clone(),
                validator,
            });
        }
        Ok(RequestBody {
            required: body.get("required").and_then(Value::as_bool).unwrap_or(false),
            media_types,
        })
    }

    /// `value` itself, or what its `$ref` (a local one, made absolute by the conversion)
    /// points to, followed up to a few times.
    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        for _ in 0..8 {
            let Some(target) = value
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|reference| reference.strip_prefix(SPEC_URI))
                .and_then(|fragment| fragment.strip_prefix('#'))
                .and_then(|pointer| self.spec.pointer(&percent_decode(pointer)))
            else {
                return value;
            };
            value = target;
        }
        value
    }
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidDefinition, message)
}
