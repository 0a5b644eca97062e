//! JSON Schemas: generated from Rust types with schemars (draft 2020-12) and compiled once into
//! validators with jsonschema.
//!
//! Validators are built without remote reference resolution (the `jsonschema` crate is used with
//! its default features off), so a user-supplied schema can never make Aura fetch a URL.

use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde_json::Value;

use crate::error::{Error, Result, Violation};

/// A JSON Schema together with its compiled validator. Cheap to clone.
///
/// ```
/// use aura_core::Schema;
/// use serde_json::json;
///
/// #[derive(schemars::JsonSchema, serde::Deserialize)]
/// struct Contact { email: String, age: u8 }
///
/// let schema = Schema::for_type::<Contact>().unwrap();
/// let violations = schema.check(&json!({ "age": -1 })).unwrap_err();
/// let paths: Vec<_> = violations.iter().map(|v| v.path.as_str()).collect();
/// assert!(paths.contains(&"/email"));
/// assert!(paths.contains(&"/age"));
/// ```
#[derive(Clone)]
pub struct Schema {
    inner: Arc<Inner>,
}

struct Inner {
    json: Value,
    validator: jsonschema::Validator,
}

impl Schema {
    /// Compiles a schema given as JSON. Fails with [`crate::ErrorKind::InvalidDefinition`] when
    /// the schema itself is not valid.
    pub fn compile(json: Value) -> Result<Self> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&json)
            .map_err(|e| {
                Error::invalid_definition(format!("invalid JSON Schema: {}", e.masked()))
                    .with_context("schema_path", e.schema_path().as_str().to_owned())
            })?;
        Ok(Self {
            inner: Arc::new(Inner { json, validator }),
        })
    }

    /// Generates (draft 2020-12) and compiles the schema of `T`.
    pub fn for_type<T: JsonSchema>() -> Result<Self> {
        Self::compile(generate::<T>())
    }

    /// The schema that accepts every JSON value (`true`).
    #[allow(clippy::expect_used)] // `true` is a valid schema in every draft: infallible.
    pub fn any() -> Self {
        Self::compile(Value::Bool(true)).expect("`true` is a valid JSON Schema")
    }

    /// The schema as JSON, as it appears in manifests.
    pub fn as_json(&self) -> &Value {
        &self.inner.json
    }

    /// Whether `instance` is valid. Faster than [`Schema::check`] when the reasons do not matter.
    pub fn is_valid(&self, instance: &Value) -> bool {
        self.inner.validator.is_valid(instance)
    }

    /// Checks `instance`, returning *every* violation, each with the JSON pointer of the bad field.
    /// Messages never repeat the offending value.
    pub fn check(&self, instance: &Value) -> std::result::Result<(), Vec<Violation>> {
        if self.inner.validator.is_valid(instance) {
            return Ok(());
        }
        let violations: Vec<Violation> = self
            .inner
            .validator
            .iter_errors(instance)
            .map(|e| {
                let mut path = e.instance_path().as_str().to_owned();
                // A missing property is reported on its parent; point at the property itself.
                if let jsonschema::error::ValidationErrorKind::Required { property } = e.kind()
                    && let Some(name) = property.as_str()
                {
                    path.push('/');
                    path.push_str(&name.replace('~', "~0").replace('/', "~1"));
                }
                Violation::new(path, e.masked().to_string())
            })
            .collect();
        Err(violations)
    }

    /// [`Schema::check`] as an [`Error`] of kind [`crate::ErrorKind::InvalidInput`].
    pub fn validate(&self, instance: &Value, what: &str) -> Result<()> {
        self.check(instance).map_err(|violations| {
            let n = violations.len();
            let noun = if n == 1 { "field" } else { "fields" };
            Error::invalid_input(format!("{what}: {n} {noun} failed validation"), violations)
        })
    }
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Schema").field(&self.inner.json).finish()
    }
}

/// Generates the JSON Schema (draft 2020-12) of `T` with schemars.
pub fn generate<T: JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(JsonSchema, serde::Deserialize)]
    #[allow(dead_code)]
    struct Contact {
        /// The contact's email.
        #[schemars(email)]
        email: String,
        #[schemars(range(min = 0, max = 150))]
        age: i32,
        address: Address,
    }

    #[derive(JsonSchema, serde::Deserialize)]
    #[allow(dead_code)]
    struct Address {
        city: String,
    }

    #[test]
    fn generated_schemas_are_draft_2020_12() {
        let schema = generate::<Contact>();
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["email"]["format"], "email");
        assert_eq!(schema["properties"]["email"]["description"], "The contact's email.");
        let required: Vec<_> = schema["required"].as_array().unwrap().iter().collect();
        assert_eq!(required.len(), 3);
    }

    #[test]
    fn check_names_every_bad_field_by_path() {
        let schema = Schema::for_type::<Contact>().unwrap();
        let bad = json!({ "email": "not-an-email", "age": 200, "address": { "city": 5 } });
        let mut paths: Vec<String> = schema.check(&bad).unwrap_err().into_iter().map(|v| v.path).collect();
        paths.sort();
        assert_eq!(paths, ["/address/city", "/age", "/email"]);
    }

    #[test]
    fn missing_fields_point_at_the_field() {
        let schema = Schema::for_type::<Contact>().unwrap();
        let violations = schema.check(&json!({ "address": {} })).unwrap_err();
        let mut paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
        paths.sort();
        assert_eq!(paths, ["/address/city", "/age", "/email"]);
    }

    #[test]
    fn messages_do_not_repeat_values() {
        let schema = Schema::for_type::<Contact>().unwrap();
        let bad = json!({ "email": "sk_live_CANARY", "age": 1, "address": { "city": "x" } });
        for v in schema.check(&bad).unwrap_err() {
            assert!(!v.message.contains("CANARY"), "{v}");
        }
    }

    #[test]
    fn invalid_schemas_are_definition_errors() {
        let err = Schema::compile(json!({ "type": 12 })).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidDefinition);
    }

    /// A local HTTP server that serves a valid schema to anyone who asks and counts the requests
    /// it received before a sentinel connection (so that the count needs no timing: TCP
    /// connections are accepted in the order they were made).
    fn schema_server() -> (String, impl FnOnce() -> usize) {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut requests = 0;
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut head = Vec::new();
                let mut byte = [0_u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                if head.starts_with(b"SENTINEL") {
                    return requests;
                }
                requests += 1;
                let body = r#"{"type":"string"}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/schema+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            requests
        });
        let stop = move || {
            let mut sentinel = std::net::TcpStream::connect(addr).unwrap();
            sentinel.write_all(b"SENTINEL\r\n\r\n").unwrap();
            server.join().unwrap()
        };
        (format!("http://{addr}/schema.json"), stop)
    }

    #[test]
    fn remote_refs_are_never_fetched() {
        let (url, requests) = schema_server();
        let result = Schema::compile(json!({ "$ref": url }));
        let requests = requests();
        assert_eq!(
            requests, 0,
            "compiling a schema with a remote $ref sent {requests} request(s) to {url}"
        );
        assert!(result.is_err(), "a remote $ref must not resolve");
    }

    #[test]
    fn any_accepts_everything() {
        assert!(Schema::any().is_valid(&json!({ "a": [1, 2] })));
    }
}
