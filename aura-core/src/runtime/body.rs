//! A webhook request as trigger data: the body read by its content type, or the whole request.

use serde_json::{Map, Value};

use crate::trigger::{WebhookData, WebhookRequest};

/// Headers never passed to a scenario: credentials and signatures.
const HIDDEN: [&str; 9] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-hub-signature",
    "x-hub-signature-256",
    "stripe-signature",
    "x-slack-signature",
    "webhook-signature",
    "x-api-key",
];

/// Why a body could not be read: a short reason for the caller (never the body).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Unreadable {
    /// `400`: the body does not parse as its content type says.
    Malformed(String),
    /// `415`: a content type the runtime does not read.
    Unsupported,
}

/// The trigger data of `request`, as `shape` asks; `token_header` (a header-token verifier's
/// header) is hidden like the others.
pub(super) fn data(
    request: &WebhookRequest,
    shape: WebhookData,
    token_header: Option<&str>,
) -> Result<Value, Unreadable> {
    let body = body(request)?;
    Ok(match shape {
        WebhookData::Body => body,
        WebhookData::Request => {
            let headers: Map<String, Value> = request
                .headers
                .iter()
                .filter(|(name, _)| {
                    let name = name.as_str();
                    !HIDDEN.contains(&name) && token_header.is_none_or(|t| !t.eq_ignore_ascii_case(name))
                })
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), Value::String(value.to_str().ok()?.to_owned())))
                })
                .collect();
            serde_json::json!({
                "method": request.method.as_str(),
                "path": request.path,
                "query": query(request),
                "headers": headers,
                "body": body,
            })
        }
    })
}

/// The query string as an object (a repeated name gives an array).
fn query(request: &WebhookRequest) -> Value {
    form(request.query.as_deref().unwrap_or_default().as_bytes())
}

fn form(bytes: &[u8]) -> Value {
    let mut fields = Map::new();
    for (name, value) in form_urlencoded::parse(bytes) {
        let value = Value::String(value.into_owned());
        match fields.get_mut(name.as_ref()) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                fields.insert(name.into_owned(), value);
            }
        }
    }
    Value::Object(fields)
}

/// The body by its content type: JSON as it is, a form as an object, text as a string; an
/// empty body gives the query's fields (a GET webhook's data).
fn body(request: &WebhookRequest) -> Result<Value, Unreadable> {
    if request.body.is_empty() {
        return Ok(query(request));
    }
    let content_type = request
        .header_str("content-type")
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = content_type == "application/json" || content_type.ends_with("+json");
    if json || content_type.is_empty() {
        return serde_json::from_slice(&request.body).map_err(|e| {
            Unreadable::Malformed(format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        });
    }
    if content_type == "application/x-www-form-urlencoded" {
        return Ok(form(&request.body));
    }
    if content_type.starts_with("text/") {
        return std::str::from_utf8(&request.body)
            .map(|text| Value::String(text.to_owned()))
            .map_err(|_| Unreadable::Malformed("the text body is not UTF-8".to_owned()));
    }
    Err(Unreadable::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn post(content_type: &str, body: &'static str) -> WebhookRequest {
        WebhookRequest::post("/x", body)
            .header("content-type", content_type)
            .header("authorization", "Bearer CANARY")
            .header("x-token", "CANARY")
            .header("x-trace", "t1")
            .query("a=1&a=2&b=x%20y")
            .build()
            .unwrap()
    }

    #[test]
    fn bodies_by_content_type() {
        let d = |ct, b| data(&post(ct, b), WebhookData::Body, None);
        assert_eq!(
            d("application/json; charset=utf-8", r#"{"v":1}"#),
            Ok(json!({ "v": 1 }))
        );
        assert_eq!(d("application/vnd.api+json", "[1]"), Ok(json!([1])));
        assert_eq!(
            d("application/x-www-form-urlencoded", "n=1&m=a+b"),
            Ok(json!({ "n": "1", "m": "a b" }))
        );
        assert_eq!(d("text/plain", "hi"), Ok(json!("hi")));
        assert_eq!(d("application/octet-stream", "\u{1}"), Err(Unreadable::Unsupported));
        let Err(Unreadable::Malformed(why)) = d("application/json", r#"{"v": SECRET"#) else {
            panic!("malformed JSON is refused");
        };
        assert_eq!(why, "the body is not valid JSON (line 1, column 7)");
        // An empty body: the query.
        assert_eq!(d("", ""), Ok(json!({ "a": ["1", "2"], "b": "x y" })));
    }

    #[test]
    fn the_whole_request_without_credentials() {
        let v = data(&post("application/json", "{}"), WebhookData::Request, Some("X-Token")).unwrap();
        assert_eq!(v["method"], "POST");
        assert_eq!(v["query"]["b"], "x y");
        assert_eq!(v["headers"]["x-trace"], "t1");
        assert!(!v.to_string().contains("CANARY"), "{v}");
    }
}
