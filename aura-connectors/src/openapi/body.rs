//! Bodies: the request body (by media type: JSON, form, multipart, else raw) and the output
//! schema (the first 2xx response's JSON content).

use aura_core::declarative::{BodyEncoding, BodySpec};
use serde_json::{Map, Value, json};

use super::refs::{RefProblem, resolve};
use super::schema::{Found, SchemaConverter};
use super::warnings::Pointer;

/// A request body, and the `Content-Type` header a raw body is sent with.
#[derive(Debug)]
pub(crate) struct RequestBody {
    /// The body.
    pub(crate) spec: BodySpec,
    /// For a raw body: its media type.
    pub(crate) content_type: Option<String>,
}

/// How a media type is sent, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Json,
    Form,
    Multipart,
    Text,
    Other,
}

fn kind(media: &str) -> Kind {
    let essence = media.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") || essence == "*/*" {
        Kind::Json
    } else if essence == "application/x-www-form-urlencoded" {
        Kind::Form
    } else if essence.starts_with("multipart/") {
        Kind::Multipart
    } else if essence.starts_with("text/") {
        Kind::Text
    } else {
        Kind::Other
    }
}

/// The operation's `requestBody` (at `at`), if it has a usable one.
pub(crate) fn request_body(
    converter: &SchemaConverter<'_>,
    body: &Value,
    at: &Pointer,
    found: &mut Found,
) -> Result<Option<RequestBody>, RefProblem> {
    let (body, at) = match resolve(converter.spec, body, at) {
        Ok(resolved) => resolved,
        Err(remote @ RefProblem::Remote { .. }) => return Err(remote),
        Err(problem) => {
            found
                .warnings
                .push(problem.at(), format!("request body: {}", problem.message()));
            return Ok(None);
        }
    };
    let Some((media, content)) = best_content(body.get("content")) else {
        found.warnings.push(&at, "request body without content: ignored");
        return Ok(None);
    };
    let content_at = at.key("content").key(media);
    let required = body.get("required").and_then(Value::as_bool) == Some(true);
    let media_kind = kind(media);
    let (encoding, schema, content_type) = match media_kind {
        Kind::Json | Kind::Form | Kind::Multipart => {
            let schema = match content.get("schema") {
                Some(schema) => Some(converter.convert(schema, &content_at.key("schema"), found)?),
                None => None,
            };
            let encoding = match media_kind {
                Kind::Form => BodyEncoding::Form,
                Kind::Multipart => BodyEncoding::Multipart,
                _ => BodyEncoding::Json,
            };
            (encoding, schema, None)
        }
        Kind::Text | Kind::Other => {
            if media_kind == Kind::Other {
                found.warnings.push(
                    &content_at,
                    format!("request body `{media}` is sent raw: a string as it is"),
                );
            }
            (
                BodyEncoding::Raw,
                Some(json!({"type": "string"})),
                Some(media.to_owned()),
            )
        }
    };
    Ok(Some(RequestBody {
        spec: BodySpec {
            encoding,
            schema,
            template: None,
            required,
        },
        content_type,
    }))
}

/// The output schema: the JSON content of the first 2xx response (`200` … `299`, then
/// `2XX`); none without one.
pub(crate) fn output_schema(
    converter: &SchemaConverter<'_>,
    responses: Option<&Value>,
    at: &Pointer,
    found: &mut Found,
) -> Result<Option<Value>, RefProblem> {
    let Some(responses) = responses.and_then(Value::as_object) else {
        return Ok(None);
    };
    let Some((status, response)) = first_success(responses) else {
        return Ok(None);
    };
    let (response, response_at) = match resolve(converter.spec, response, &at.key(status)) {
        Ok(resolved) => resolved,
        Err(remote @ RefProblem::Remote { .. }) => return Err(remote),
        Err(problem) => {
            found
                .warnings
                .push(problem.at(), format!("response: {}", problem.message()));
            return Ok(None);
        }
    };
    let Some((media, content)) = best_content(response.get("content")) else {
        return Ok(None);
    };
    if kind(media) != Kind::Json {
        return Ok(None);
    }
    match content.get("schema") {
        Some(schema) => Ok(Some(converter.convert(
            schema,
            &response_at.key("content").key(media).key("schema"),
            found,
        )?)),
        None => Ok(None),
    }
}

/// The success response that gives the output.
fn first_success(responses: &Map<String, Value>) -> Option<(&str, &Value)> {
    let exact = responses
        .iter()
        .filter_map(|(status, response)| {
            status
                .parse::<u16>()
                .ok()
                .filter(|s| (200..300).contains(s))
                .map(|s| (s, status, response))
        })
        .min_by_key(|(s, _, _)| *s)
        .map(|(_, status, response)| (status.as_str(), response));
    exact.or_else(|| {
        responses
            .iter()
            .find(|(status, _)| status.eq_ignore_ascii_case("2xx"))
            .map(|(s, r)| (s.as_str(), r))
    })
}

/// The content entry that is best to send or read: JSON, then form, multipart, text, other.
fn best_content(content: Option<&Value>) -> Option<(&str, &Value)> {
    content?
        .as_object()?
        .iter()
        .min_by_key(|(media, _)| kind(media))
        .map(|(media, value)| (media.as_str(), value))
}
