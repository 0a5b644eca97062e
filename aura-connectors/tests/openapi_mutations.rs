//! The importer never panics: a petstore-like 3.0 spec (`tests/data/petstore-3.0.json`),
//! mutated at random places (values deleted, replaced by other types, by refs to missing,
//! cyclic or remote targets, by huge strings, by other parts of the spec; keys renamed), either
//! imports or is refused with a typed error.
#![cfg(feature = "openapi")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use aura_connectors::openapi::{ImportOptions, import};
use aura_core::ErrorKind;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

const PETSTORE: &str = include_str!("data/petstore-3.0.json");

fn petstore() -> Value {
    serde_json::from_str(PETSTORE).unwrap()
}

/// Every place in `value`, as JSON pointers (the root excluded).
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let here = format!("{at}/{}", escape(key));
                out.push(here.clone());
                pointers(child, here, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let here = format!("{at}/{i}");
                out.push(here.clone());
                pointers(child, here, out);
            }
        }
        _ => {}
    }
}

/// A change at one place.
#[derive(Clone, Debug)]
enum Mutation {
    Delete,
    Replace(Value),
    /// `{"$ref": <pointer of the place itself>}`: a ref to itself.
    SelfRef,
    /// The value of another place (wrong nesting, shared subtrees).
    CopyFrom(Index),
    /// The key renamed.
    Rename(String),
}

fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        (1usize..2_000_000).prop_map(|n| Value::String("é".repeat(n / 2))),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"$ref": "#/components/schemas/Missing"})),
        Just(json!({"$ref": "#/components/schemas/Pet"})),
        Just(json!({"$ref": "#/components/parameters/limit"})),
        Just(json!({"$ref": "#/components/responses/PetOk"})),
        Just(json!({"$ref": "#"})),
        Just(json!({"$ref": "#/paths"})),
        Just(json!({"$ref": "https://example.com/remote.json#/Pet"})),
        Just(json!({"$ref": "other.yaml#/components/schemas/Pet"})),
        Just(json!({"$ref": 5})),
        Just(json!({"type": "string", "nullable": true, "exclusiveMinimum": true})),
        Just(json!({"name": "x", "in": "path"})),
        Just(json!({"type": "oauth2", "flows": {"clientCredentials": {}}})),
        (1usize..300).prop_map(|depth| (0..depth).fold(json!({"type": "string"}), |inner, _| json!({"items": inner}))),
        (1usize..100).prop_map(|depth| (0..depth).fold(json!(1), |inner, _| json!([inner]))),
    ]
}

fn mutation() -> impl Strategy<Value = (Index, Mutation)> {
    let kind = prop_oneof![
        2 => Just(Mutation::Delete),
        5 => replacement().prop_map(Mutation::Replace),
        1 => Just(Mutation::SelfRef),
        1 => any::<Index>().prop_map(Mutation::CopyFrom),
        1 => "[a-z$/~{}-]{0,8}".prop_map(Mutation::Rename),
    ];
    (any::<Index>(), kind)
}

/// Applies `mutation` at one place of `spec` (picked by `index`).
fn apply(spec: &mut Value, index: &Index, mutation: &Mutation) {
    let mut all = Vec::new();
    pointers(spec, String::new(), &mut all);
    if all.is_empty() {
        return;
    }
    let at = all[index.index(all.len())].clone();
    let (parent_at, last) = at.rsplit_once('/').unwrap();
    let key = last.replace("~1", "/").replace("~0", "~");
    let replacement = match mutation {
        Mutation::Delete | Mutation::Rename(_) => None,
        Mutation::Replace(value) => Some(value.clone()),
        Mutation::SelfRef => Some(json!({"$ref": format!("#{at}")})),
        Mutation::CopyFrom(from) => spec.pointer(&all[from.index(all.len())]).cloned(),
    };
    let Some(parent) = spec.pointer_mut(parent_at) else {
        return;
    };
    match (parent, replacement) {
        (Value::Object(map), Some(value)) => {
            map.insert(key, value);
        }
        (Value::Object(map), None) => {
            if let Some(old) = map.remove(&key)
                && let Mutation::Rename(new) = mutation
            {
                map.insert(new.clone(), old);
            }
        }
        (Value::Array(items), value) => {
            if let Ok(i) = key.parse::<usize>()
                && i < items.len()
            {
                match value {
                    Some(value) => items[i] = value,
                    None => {
                        items.remove(i);
                    }
                }
            }
        }
        _ => {}
    }
}

#[test]
fn the_unmutated_petstore_imports_cleanly() {
    let imported = import(&petstore(), &ImportOptions::new()).unwrap();
    assert_eq!((imported.operations, imported.skipped), (11, 0));
    let m = &imported.manifest;
    assert_eq!(m.base_url, "https://{region}.petstore.example/api/v3");
    assert!(m.schemas.contains_key("Category") && !m.schemas.contains_key("Dog"));
    assert_eq!(m.operations["get_pet_by_id"].path, "/pet/{petId}");
    assert!(imported.warnings.iter().any(|w| w.message.contains("cookie")));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn import_never_panics_on_a_mutated_spec(mutations in prop::collection::vec(mutation(), 1..8)) {
        let mut spec = petstore();
        for (index, mutation) in &mutations {
            apply(&mut spec, index, mutation);
        }
        match import(&spec, &ImportOptions::new()) {
            Ok(imported) => {
                prop_assert_eq!(imported.operations, imported.manifest.operations.len());
                prop_assert!(aura_core::Key::new(imported.manifest.id.as_str()).is_ok());
                prop_assert!(semver::Version::parse(&imported.manifest.version).is_ok());
                for key in imported.manifest.operations.keys() {
                    prop_assert!(aura_core::Key::new(key.as_str()).is_ok(), "bad key {}", key);
                }
                // The manifest is data: it serializes and reads back as the same manifest.
                let text = serde_json::to_string(&imported.manifest).unwrap();
                let back: aura_core::declarative::Manifest = serde_json::from_str(&text).unwrap();
                prop_assert_eq!(back, imported.manifest);
            }
            Err(err) => prop_assert_eq!(err.kind(), ErrorKind::InvalidDefinition),
        }
    }
}
