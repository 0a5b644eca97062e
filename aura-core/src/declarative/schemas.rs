//! Shared schemas: each action's schema carries, under `$defs`, the manifest's schemas it
//! reaches through `{"$ref": "#/$defs/Name"}` (transitively), and no others.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

const PREFIX: &str = "#/$defs/";

/// `schema` with the definitions it reaches from `defs` under `$defs`.
pub(crate) fn with_defs(mut schema: Value, defs: &Map<String, Value>) -> Value {
    if defs.is_empty() {
        return schema;
    }
    let mut reached = BTreeSet::new();
    let mut todo = Vec::new();
    refs(&schema, &mut todo);
    while let Some(name) = todo.pop() {
        if let Some(def) = defs.get(&name)
            && reached.insert(name)
        {
            refs(def, &mut todo);
        }
    }
    if reached.is_empty() {
        return schema;
    }
    let carried: Map<String, Value> = reached
        .into_iter()
        .filter_map(|n| defs.get(&n).map(|d| (n, d.clone())))
        .collect();
    match &mut schema {
        Value::Object(map) => {
            map.insert("$defs".into(), Value::Object(carried));
            schema
        }
        // `true`/`false` schemas carry nothing.
        _ => schema,
    }
}

/// The names every `$ref` inside `value` points at, appended to `out`.
pub(crate) fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(name) = v.as_str().and_then(|r| r.strip_prefix(PREFIX))
                {
                    out.push(name.replace("~1", "/").replace("~0", "~"));
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_reached_definitions_are_carried_even_through_cycles() {
        let defs = json!({
            "Node": { "type": "object", "properties": { "next": { "$ref": "#/$defs/Node" }, "tag": { "$ref": "#/$defs/Tag" } } },
            "Tag": { "type": "string" },
            "Unused": { "type": "integer" }
        });
        let out = with_defs(json!({ "$ref": "#/$defs/Node" }), defs.as_object().unwrap());
        let carried: Vec<_> = out["$defs"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(carried, ["Node", "Tag"]);
    }
}
