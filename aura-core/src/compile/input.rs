//! A node's input mapping against the node's input schema.

use serde_json::Value;

use super::problems::Problems;

/// Mapped fields the schema lacks, required fields left unmapped.
pub(super) fn check_fields(
    problems: &mut Problems,
    node: &str,
    template: &serde_json::Map<String, Value>,
    schema: &Value,
) {
    let fields: Vec<&str> = template.keys().map(String::as_str).collect();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let open = matches!(
            schema.get("additionalProperties"),
            Some(Value::Bool(true)) | Some(Value::Object(_))
        );
        if !open {
            for f in &fields {
                if !props.contains_key(*f) {
                    let known: Vec<&str> = props.keys().map(String::as_str).collect();
                    problems.add(
                        node,
                        &format!("/input/{f}"),
                        format!("the input has no field {f:?} (it has: {})", known.join(", ")),
                    );
                }
            }
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for r in required.iter().filter_map(Value::as_str) {
            if !fields.contains(&r) {
                problems.add(
                    node,
                    &format!("/input/{r}"),
                    format!("required field {r:?} is not mapped"),
                );
            }
        }
    }
}
