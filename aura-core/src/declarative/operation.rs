//! An [`Operation`] compiled into what its action runs: the input schema, and the request
//! built from an input (apart from sending, so tests can look at it).

use std::sync::Arc;

use http::Method;
use serde_json::{Map, Value, json};

use super::auth::AuthPlan;
use super::base::BaseUrl;
use super::model::{BodyEncoding, BodySpec, Operation, Param, ParamLocation};
use super::schemas::with_defs;
use crate::action::ActionDef;
use crate::clock::SystemClock;
use crate::context::Context;
use crate::error::{Error, ErrorKind, Result, Violation};
use crate::expr::{Mapping, Scope};
use crate::http::{Body, HttpPolicy, HttpRequest, Paginate, Part, expand_path, scalar_text, take};
use crate::rate_limit::RateLimiter;

/// An operation ready to run.
pub(crate) struct CompiledOperation {
    key: String,
    method: Method,
    path: String,
    params: Vec<ParamPlan>,
    body: BodyPlan,
    output: Option<String>,
    paginate: Option<Paginate>,
    headers: Vec<(String, String)>,
    idempotency_header: Option<String>,
    limiter: Option<RateLimiter>,
    base: Arc<BaseUrl>,
}

/// Where one input field goes.
struct ParamPlan {
    input: String,
    wire: String,
    location: Target,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Path,
    Query,
    Header,
    Body,
    /// Only read by the body template.
    Template,
}

enum BodyPlan {
    /// No body (or only `body` parameters, sent as a JSON object).
    Params,
    /// The input's `body` field, encoded.
    Whole(BodyEncoding),
    /// A template over the input.
    Template(Box<Mapping>, BodyEncoding),
}

/// The input schema of an operation and its plan. Errors are violations at JSON paths under
/// `/operations/<key>`.
pub(crate) fn compile(
    key: &str,
    op: &Operation,
    base: Arc<BaseUrl>,
    app_headers: &[(String, String)],
    defs: &Map<String, Value>,
) -> std::result::Result<(CompiledOperation, Value, Value), Vec<Violation>> {
    let at = |rest: &str| format!("/operations/{}{rest}", escape(key));
    let mut problems = Vec::new();
    let placeholders = placeholders(&op.path);
    let mut properties = Map::new();
    let mut required: Vec<String> = Vec::new();
    let mut params = Vec::new();
    let has_template = op.body.as_ref().is_some_and(|b| b.template.is_some());
    for (name, param) in &op.params {
        let full = match param {
            Param::Type(t) => super::model::ParamFull {
                kind: Some(*t),
                ..Default::default()
            },
            Param::Full(f) => f.clone(),
        };
        let mut wire = full.name.clone().unwrap_or_else(|| name.clone());
        let in_path = placeholders.contains(name) || placeholders.contains(&wire);
        let location = match full.location {
            Some(ParamLocation::Path) => Target::Path,
            Some(ParamLocation::Query) => Target::Query,
            Some(ParamLocation::Header) => Target::Header,
            Some(ParamLocation::Body) => Target::Body,
            None if in_path => Target::Path,
            None if op.method.is_idempotent() && !matches!(op.method, super::model::HttpMethod::PUT) => Target::Query,
            None if has_template => Target::Template,
            None => Target::Body,
        };
        // A path placeholder may name the input (`{pet_id}`) or the wire name (`{pet-id}`):
        // the value fills whichever the path has.
        if location == Target::Path && placeholders.contains(name) {
            wire = name.clone();
        }
        if location == Target::Path && !placeholders.contains(&wire) {
            problems.push(Violation::new(
                at(&format!("/params/{}", escape(name))),
                "is a path parameter but the path has no such `{placeholder}`",
            ));
        }
        if location == Target::Body && has_template {
            problems.push(Violation::new(
                at(&format!("/params/{}", escape(name))),
                "is a body parameter, but the body is a template (the template reads `input`)",
            ));
        }
        let mut schema = match (&full.schema, full.kind) {
            (Some(s), _) => s.clone(),
            (None, Some(t)) => json!({ "type": t.as_str() }),
            (None, None) => json!({}),
        };
        if !full.description.is_empty()
            && let Value::Object(m) = &mut schema
        {
            m.entry("description")
                .or_insert_with(|| Value::String(full.description.clone()));
        }
        properties.insert(name.clone(), schema);
        if full.required || location == Target::Path {
            required.push(name.clone());
        }
        params.push(ParamPlan {
            input: name.clone(),
            wire,
            location,
        });
    }
    // Placeholders without a declared parameter are required strings.
    for p in &placeholders {
        if !params.iter().any(|x| x.location == Target::Path && &x.wire == p) {
            if properties.contains_key(p) {
                problems.push(Violation::new(
                    at("/path"),
                    format!("names `{{{p}}}`, but the parameter `{p}` goes elsewhere"),
                ));
                continue;
            }
            properties.insert(p.clone(), json!({ "type": ["string", "integer"] }));
            required.push(p.clone());
            params.push(ParamPlan {
                input: p.clone(),
                wire: p.clone(),
                location: Target::Path,
            });
        }
    }
    for name in &op.required {
        if !properties.contains_key(name) {
            problems.push(Violation::new(
                at("/required"),
                format!("names `{name}`, which is not a parameter"),
            ));
        } else if !required.contains(name) {
            required.push(name.clone());
        }
    }
    let body = match &op.body {
        None => BodyPlan::Params,
        Some(spec) => match body_plan(spec, &params) {
            Ok((plan, schema)) => {
                if let Some(schema) = schema {
                    if properties.contains_key("body") {
                        problems.push(Violation::new(
                            at("/body"),
                            "has a schema, but a parameter is named `body` too",
                        ));
                    }
                    properties.insert("body".into(), schema);
                    if spec.required {
                        required.push("body".into());
                    }
                }
                plan
            }
            Err(v) => {
                problems.extend(
                    v.into_iter()
                        .map(|v| Violation::new(at(&format!("/body{}", v.path)), v.message)),
                );
                BodyPlan::Params
            }
        },
    };
    if let Some(p) = &op.paginate
        && let Err(e) = p.check()
    {
        let field = e.context_value("field").unwrap_or_default().to_owned();
        problems.push(Violation::new(
            at(format!("/paginate/{field}").trim_end_matches('/')),
            e.message().to_owned(),
        ));
    }
    if let Some(o) = &op.output
        && crate::http::check_pointer(o).is_err()
    {
        problems.push(Violation::new(
            at("/output"),
            "is a JSON pointer: empty or starting with `/`",
        ));
    }
    if let Some(limit) = &op.rate_limit
        && (limit.requests == 0 || limit.per.is_zero())
    {
        problems.push(Violation::new(
            at("/rate_limit"),
            "allows at least one request over a non-zero time",
        ));
    }
    let mut headers = app_headers.to_vec();
    headers.extend(op.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (name, _) in &headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            problems.push(Violation::new(
                at("/headers"),
                format!("`{name}` is not a valid header name"),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let input_schema = with_defs(
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        }),
        defs,
    );
    let output_schema = with_defs(op.output_schema.clone().unwrap_or_else(|| json!({})), defs);
    let output_schema = match &op.paginate {
        Some(_) => json!({ "type": "array", "items": output_schema }),
        None => output_schema,
    };
    Ok((
        CompiledOperation {
            key: key.to_owned(),
            method: op.method.as_method(),
            path: op.path.clone(),
            params,
            body,
            output: op.output.clone(),
            paginate: op.paginate.clone(),
            headers,
            idempotency_header: op.idempotency_header.clone(),
            limiter: op.rate_limit.map(RateLimiter::new),
            base,
        },
        input_schema,
        output_schema,
    ))
}

fn body_plan(spec: &BodySpec, params: &[ParamPlan]) -> std::result::Result<(BodyPlan, Option<Value>), Vec<Violation>> {
    let has_body_params = params.iter().any(|p| p.location == Target::Body);
    match (&spec.schema, &spec.template) {
        (Some(_), Some(_)) => Err(vec![Violation::new("", "has a `schema` or a `template`, not both")]),
        (Some(schema), None) => {
            if has_body_params {
                return Err(vec![Violation::new(
                    "/schema",
                    "gives the whole body, so no parameter can go `in: body`",
                )]);
            }
            Ok((BodyPlan::Whole(spec.encoding), Some(schema.clone())))
        }
        (None, Some(template)) => {
            let mapping = Mapping::compile(template).map_err(|v| {
                v.into_iter()
                    .map(|v| Violation::new(format!("/template{}", v.path), v.message))
                    .collect::<Vec<_>>()
            })?;
            let bad: Vec<_> = mapping
                .variables()
                .into_iter()
                .flat_map(|(path, vars)| vars.into_iter().map(move |v| (path.clone(), v)))
                .filter(|(_, v)| v.split(['.', '[']).next() != Some("input"))
                .map(|(path, v)| {
                    Violation::new(
                        format!("/template{path}"),
                        format!("reads `{v}`; a body template reads only `input`"),
                    )
                })
                .collect();
            if !bad.is_empty() {
                return Err(bad);
            }
            Ok((BodyPlan::Template(Box::new(mapping), spec.encoding), None))
        }
        (None, None) => Err(vec![Violation::new(
            "",
            "has a `schema` (the input's `body`) or a `template`",
        )]),
    }
}

/// The `{name}` placeholders of a path template.
pub(crate) fn placeholders(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        out.push(after[..close].to_owned());
        rest = &after[close + 1..];
    }
    out
}

/// A key as a JSON-pointer token.
pub(crate) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl CompiledOperation {
    /// The request `input` (already validated against the input schema) stands for.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](ErrorKind::InvalidInput) naming the field when a value cannot go
    /// where it must (an object in a header, a missing base URL variable …).
    pub(crate) fn request(&self, cx: &Context, input: &Value) -> Result<HttpRequest> {
        let empty = Map::new();
        let fields = input.as_object().unwrap_or(&empty);
        let mut path_values = Map::new();
        let mut query = Vec::new();
        let mut headers = self.headers.clone();
        let mut body_fields = Map::new();
        for p in &self.params {
            let Some(value) = fields.get(&p.input).filter(|v| !v.is_null()) else {
                continue;
            };
            match p.location {
                Target::Path => {
                    path_values.insert(p.wire.clone(), value.clone());
                }
                Target::Query => match value {
                    Value::Array(items) => {
                        for item in items {
                            query.push((p.wire.clone(), text(item, &p.input)?));
                        }
                    }
                    Value::Object(_) => query.push((p.wire.clone(), value.to_string())),
                    _ => query.push((p.wire.clone(), text(value, &p.input)?)),
                },
                Target::Header => headers.push((p.wire.clone(), text(value, &p.input)?)),
                Target::Body => {
                    body_fields.insert(p.wire.clone(), value.clone());
                }
                Target::Template => {}
            }
        }
        let path = expand_path(&self.path, &path_values)?;
        let url = format!("{}{}", self.base.resolve(cx)?, path);
        if let (Some(header), Some(key)) = (&self.idempotency_header, cx.idempotency_key()) {
            headers.push((header.clone(), key.to_owned()));
        }
        let body = match &self.body {
            BodyPlan::Params if body_fields.is_empty() => Body::Empty,
            BodyPlan::Params => Body::Json(Value::Object(body_fields)),
            BodyPlan::Whole(encoding) => match fields.get("body") {
                None | Some(Value::Null) => Body::Empty,
                Some(value) => encode(value, *encoding)?,
            },
            BodyPlan::Template(mapping, encoding) => {
                let value = mapping.eval(&Scope::new(&Value::Null).with_input(input))?;
                encode(&value, *encoding)?
            }
        };
        Ok(HttpRequest {
            method: self.method.clone(),
            url,
            query,
            headers,
            body,
        })
    }

    /// Runs the operation: the request, sent (every page, with pagination), and the output
    /// selected.
    /// The base URL's variables come from the connection as given; the request is sent with
    /// its credentials shaped by `auth`.
    pub(crate) async fn run(&self, policy: &HttpPolicy, auth: &AuthPlan, cx: &Context, input: &Value) -> Result<Value> {
        if let Some(limiter) = &self.limiter {
            limiter.acquire(&SystemClock::new()).await;
        }
        let request = self.request(cx, input)?;
        let cx = &auth.context(cx);
        if let Some(paginate) = &self.paginate {
            let pages = paginate.collect(policy, cx, &request).await?;
            return Ok(Value::Array(pages.items));
        }
        let answer = policy.send(cx, &request).await?;
        let mut body = answer.value()?;
        match &self.output {
            None => Ok(body),
            Some(pointer) => take(&mut body, pointer).ok_or_else(|| {
                Error::new(
                    ErrorKind::Upstream,
                    "the answer has nothing at the operation's output pointer",
                )
                .with_context("pointer", pointer.clone())
                .with_status(answer.status.as_u16())
            }),
        }
    }

    /// The action: validated input in, the selected output out.
    pub(crate) fn into_action(
        self: Arc<Self>,
        policy: HttpPolicy,
        auth: AuthPlan,
        input: Value,
        output: Value,
        op: &Operation,
    ) -> ActionDef {
        let idempotent = op
            .idempotent
            .unwrap_or(op.method.is_idempotent() || op.idempotency_header.is_some());
        let key = self.key.clone();
        ActionDef::from_json(key.clone(), input, output, move |cx: Context, input: Value| {
            let op = self.clone();
            let policy = policy.clone();
            let auth = auth.clone();
            async move { op.run(&policy, &auth, &cx, &input).await }
        })
        .name(op.name.clone().unwrap_or(key))
        .description(op.description.clone())
        .idempotent(idempotent)
    }
}

fn text(value: &Value, field: &str) -> Result<String> {
    scalar_text(value).ok_or_else(|| {
        Error::invalid_input(
            "a value cannot go in a URL or header",
            vec![Violation::new(
                format!("/{field}"),
                "is a string, number or boolean here",
            )],
        )
    })
}

fn encode(value: &Value, encoding: BodyEncoding) -> Result<Body> {
    let pairs = |what: &str| -> Result<Vec<(String, String)>> {
        let Value::Object(map) = value else {
            return Err(Error::invalid_input(
                format!("a {what} body is an object"),
                vec![Violation::new("/body", "is an object")],
            ));
        };
        map.iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| Ok((k.clone(), scalar_text(v).unwrap_or_else(|| v.to_string()))))
            .collect()
    };
    Ok(match encoding {
        BodyEncoding::Json => Body::Json(value.clone()),
        BodyEncoding::Form => Body::Form(pairs("form")?),
        BodyEncoding::Multipart => {
            Body::Multipart(pairs("multipart")?.into_iter().map(|(k, v)| Part::text(k, v)).collect())
        }
        BodyEncoding::Raw => Body::Raw {
            content_type: "text/plain; charset=utf-8".into(),
            bytes: match value {
                Value::String(s) => bytes::Bytes::from(s.clone()),
                other => bytes::Bytes::from(other.to_string()),
            },
        },
    })
}
