//! The shapes of the answers: JSON, no-store, redirects and the HTML error page.

use http::{HeaderValue, StatusCode, header};
use serde_json::Value;
use wiremock::ResponseTemplate;

pub(super) fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

pub(super) fn no_store(response: ResponseTemplate) -> ResponseTemplate {
    response
        .insert_header(header::CACHE_CONTROL, "no-store")
        .insert_header(header::PRAGMA, "no-cache")
}

/// A `302` to `base` with `pairs` added to its query, keeping any query it has (RFC 6749 §3.1.2).
pub(super) fn redirect(base: &str, pairs: &[(&str, &str)]) -> ResponseTemplate {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    let query = query.finish();
    let separator = match base.find('?') {
        None => "?",
        Some(_) if base.ends_with('?') || base.ends_with('&') => "",
        Some(_) => "&",
    };
    let location = format!("{base}{separator}{query}");
    if HeaderValue::from_str(&location).is_err() {
        return error_page(400, "The redirect_uri cannot be put in a Location header.");
    }
    ResponseTemplate::new(StatusCode::FOUND).insert_header(header::LOCATION, location)
}

/// The HTML page of an authorization error that must not redirect.
pub(super) fn error_page(status: u16, message: &str) -> ResponseTemplate {
    let message: String = message
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            _ => c.to_string(),
        })
        .collect();
    let page = format!(
        "<!DOCTYPE html>\n<html><head><title>Authorization error</title></head>\
         <body><h1>Authorization error</h1><p>{message}</p></body></html>\n"
    );
    ResponseTemplate::new(status).set_body_raw(page, "text/html; charset=utf-8")
}
