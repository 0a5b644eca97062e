//! `$ref`s: only local ones (`#/…`) are followed; remote ones (`http://…`, `other.yaml#/…`)
//! are refused and never fetched. Schema refs (`#/components/schemas/X`) stay refs, rewritten
//! to `#/$defs/X`; refs to parameters, request bodies and responses are inlined, following
//! chains with cycle detection.

use serde_json::Value;

use super::warnings::Pointer;

/// The longest chain of refs followed before giving up (a chain, not a schema's depth).
const MAX_HOPS: usize = 32;

/// The prefix of schema components.
const SCHEMAS: &str = "#/components/schemas/";

/// What a `$ref` points at.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefKind {
    /// A schema component: its name (unescaped) and the `#/$defs/…` ref that replaces it
    /// (deeper pointers into the component are kept: `#/$defs/X/properties/a`).
    Schema { name: String, rewritten: String },
    /// Another place in this document (a JSON pointer, escaped).
    Local(String),
    /// Another document: refused.
    Remote,
}

/// Classifies a `$ref` value.
pub(crate) fn classify(reference: &str) -> RefKind {
    let Some(fragment) = reference.strip_prefix('#') else {
        return RefKind::Remote;
    };
    if let Some(rest) = reference.strip_prefix(SCHEMAS) {
        let (token, deeper) = rest.split_once('/').map_or((rest, ""), |(t, d)| (t, d));
        if !token.is_empty() {
            let name = token.replace("~1", "/").replace("~0", "~");
            let rewritten = if deeper.is_empty() {
                format!("#/$defs/{token}")
            } else {
                format!("#/$defs/{token}/{deeper}")
            };
            return RefKind::Schema { name, rewritten };
        }
    }
    RefKind::Local(fragment.to_owned())
}

/// Why a ref could not be followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RefProblem {
    /// It points to another document (the warning says which ref, at which place).
    Remote { at: Pointer, reference: String },
    /// It points nowhere, or into a cycle, or the chain is too long.
    Broken { at: Pointer, message: String },
}

impl RefProblem {
    /// Where the bad ref is.
    pub(crate) fn at(&self) -> &Pointer {
        match self {
            Self::Remote { at, .. } | Self::Broken { at, .. } => at,
        }
    }

    /// What is wrong with it.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::Remote { reference, .. } => {
                format!("remote $ref `{reference}` refused (only refs inside the document are followed)")
            }
            Self::Broken { message, .. } => message.clone(),
        }
    }
}

/// Follows `value`'s `$ref` chain (if it has one) to the object it names: a parameter, a
/// request body, a response. Returns the object and where it is.
pub(crate) fn resolve<'a>(spec: &'a Value, value: &'a Value, at: &Pointer) -> Result<(&'a Value, Pointer), RefProblem> {
    let mut current = value;
    let mut place = at.clone();
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..MAX_HOPS {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            return Ok((current, place));
        };
        let pointer = match classify(reference) {
            RefKind::Remote => {
                return Err(RefProblem::Remote {
                    at: place.key("$ref"),
                    reference: reference.to_owned(),
                });
            }
            RefKind::Schema { .. } => reference.trim_start_matches('#').to_owned(),
            RefKind::Local(pointer) => pointer,
        };
        if seen.contains(&pointer) {
            return Err(RefProblem::Broken {
                at: place.key("$ref"),
                message: format!("$ref `{reference}` is part of a cycle: skipped"),
            });
        }
        let Some(target) = spec.pointer(&pointer) else {
            return Err(RefProblem::Broken {
                at: place.key("$ref"),
                message: format!("$ref `{reference}` points nowhere: skipped"),
            });
        };
        seen.push(pointer.clone());
        place = Pointer::parse(&pointer);
        current = target;
    }
    Err(RefProblem::Broken {
        at: place,
        message: format!("a chain of more than {MAX_HOPS} $refs: skipped"),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn schema_refs_are_rewritten_to_defs() {
        assert_eq!(
            classify("#/components/schemas/Pet"),
            RefKind::Schema {
                name: "Pet".into(),
                rewritten: "#/$defs/Pet".into()
            }
        );
        assert_eq!(
            classify("#/components/schemas/a~1b/properties/id"),
            RefKind::Schema {
                name: "a/b".into(),
                rewritten: "#/$defs/a~1b/properties/id".into()
            }
        );
        assert_eq!(
            classify("#/components/parameters/id"),
            RefKind::Local("/components/parameters/id".into())
        );
        assert_eq!(classify("other.yaml#/components/schemas/Pet"), RefKind::Remote);
        assert_eq!(classify("https://example.com/pet.json"), RefKind::Remote);
    }

    #[test]
    fn ref_chains_are_followed_and_cycles_refused() {
        let spec = json!({"components": {"parameters": {
            "a": {"$ref": "#/components/parameters/b"},
            "b": {"name": "id", "in": "query"},
            "x": {"$ref": "#/components/parameters/y"},
            "y": {"$ref": "#/components/parameters/x"},
        }}});
        let start = json!({"$ref": "#/components/parameters/a"});
        let (found, at) = resolve(&spec, &start, &Pointer::root()).unwrap();
        assert_eq!(found["name"], "id");
        assert_eq!(at.as_str(), "/components/parameters/b");

        let cyclic = json!({"$ref": "#/components/parameters/x"});
        let err = resolve(&spec, &cyclic, &Pointer::root()).unwrap_err();
        assert!(err.message().contains("cycle"), "{err:?}");

        let missing = json!({"$ref": "#/components/parameters/nope"});
        assert!(
            resolve(&spec, &missing, &Pointer::root())
                .unwrap_err()
                .message()
                .contains("nowhere")
        );

        let remote = json!({"$ref": "http://example.com/p.json"});
        assert!(matches!(
            resolve(&spec, &remote, &Pointer::root()),
            Err(RefProblem::Remote { .. })
        ));
    }
}
