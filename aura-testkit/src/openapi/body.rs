//! The request body: present when required, of a declared media type, and (for JSON) valid
//! against its schema.

use jsonschema::Validator;
use serde_json::Value;

use super::RecordedRequest;
use super::schema::errors;

/// One media type the operation accepts, with the validator of its schema when it is JSON.
pub(super) struct MediaType {
    /// As declared: `application/json`, `application/*`, `*/*`.
    pub(super) range: String,
    pub(super) validator: Option<Validator>,
}

/// An operation's `requestBody`, compiled; `None` in the operation when it declares none.
pub(super) struct RequestBody {
    pub(super) required: bool,
    pub(super) media_types: Vec<MediaType>,
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ranges: Vec<&str> = self.media_types.iter().map(|m| m.range.as_str()).collect();
        f.debug_struct("RequestBody")
            .field("required", &self.required)
            .field("media_types", &ranges)
            .finish()
    }
}

/// Whether `media_type` (`application/json`, parameters removed, lower case) is JSON.
pub(super) fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// Checks the body of `request` against `declared` (the operation's request body, if any).
pub(super) fn check(declared: Option<&RequestBody>, request: &RecordedRequest, problems: &mut Vec<String>) {
    let Some(declared) = declared else {
        if !request.body.is_empty() {
            problems.push("the operation takes no request body, but one was sent".to_owned());
        }
        return;
    };
    if request.body.is_empty() {
        if declared.required {
            problems.push("missing required request body".to_owned());
        }
        return;
    }
    let Some(content_type) = request.header("content-type") else {
        problems.push("the request body has no Content-Type".to_owned());
        return;
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some(declared_type) = declared.media_types.iter().find(|m| fits(&media_type, &m.range)) else {
        let ranges: Vec<&str> = declared.media_types.iter().map(|m| m.range.as_str()).collect();
        problems.push(format!(
            "Content-Type `{media_type}` is not one the operation declares ({})",
            ranges.join(", ")
        ));
        return;
    };
    if !is_json(&media_type) {
        return;
    }
    let body: Value = match serde_json::from_slice(&request.body) {
        Ok(body) => body,
        Err(e) => {
            problems.push(format!("request body is not JSON: {e}"));
            return;
        }
    };
    if let Some(validator) = &declared_type.validator {
        problems.extend(errors(validator, &body, "request body"));
    }
}

/// Whether `media_type` is in the declared `range` (`*/*`, `type/*` or exact).
fn fits(media_type: &str, range: &str) -> bool {
    let range = range.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    range == "*/*"
        || range == media_type
        || range
            .strip_suffix("/*")
            .is_some_and(|kind| media_type.split('/').next() == Some(kind))
}
