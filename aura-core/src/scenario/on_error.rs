//! What happens when a node fails, and its one shape in JSON and YAML.

use serde::{Deserialize, Serialize};

/// What happens when a node fails (after its retries).
///
/// One shape in JSON and YAML: the word `stop` or `continue`, or a map with the one key `route`
/// (`on_error: { route: [handler] }`, `"on_error": {"route": ["handler"]}`). YAML's tag form
/// `!route [handler]` is read too; a scenario is always written in the map form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// The execution fails (default).
    #[default]
    Stop,
    /// The error becomes the node's output (`{"error": {...}}`) and the execution goes on.
    Continue,
    /// The execution goes on along these nodes instead, with the error as the node's output.
    Route(Vec<String>),
}

impl OnError {
    pub(super) fn is_stop(&self) -> bool {
        matches!(self, Self::Stop)
    }
}

const ON_ERROR_SHAPES: &str = "`stop`, `continue` or `{ route: [node ids] }`";

impl Serialize for OnError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Stop => s.serialize_str("stop"),
            Self::Continue => s.serialize_str("continue"),
            Self::Route(targets) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("route", targets)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for OnError {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(OnErrorVisitor)
    }
}

struct OnErrorVisitor;

impl OnErrorVisitor {
    fn word<E: serde::de::Error>(word: &str) -> std::result::Result<OnError, E> {
        match word {
            "stop" => Ok(OnError::Stop),
            "continue" => Ok(OnError::Continue),
            other => Err(E::custom(format!(
                "unknown on_error {other:?}: expected {ON_ERROR_SHAPES}"
            ))),
        }
    }
}

impl<'de> serde::de::Visitor<'de> for OnErrorVisitor {
    type Value = OnError;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(ON_ERROR_SHAPES)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<OnError, E> {
        Self::word(v)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<OnError, A::Error> {
        use serde::de::Error as _;
        let Some(key) = map.next_key::<String>()? else {
            return Err(A::Error::custom(format!(
                "an empty on_error map: expected {ON_ERROR_SHAPES}"
            )));
        };
        let value = match key.as_str() {
            "route" => OnError::Route(map.next_value()?),
            // `{ stop: null }` / `{ continue: null }`: the unit variants as a map, as serde writes
            // them in some formats.
            "stop" | "continue" => {
                map.next_value::<serde::de::IgnoredAny>()?;
                Self::word(&key)?
            }
            other => {
                return Err(A::Error::custom(format!(
                    "unknown on_error key {other:?}: expected {ON_ERROR_SHAPES}"
                )));
            }
        };
        if map.next_key::<String>()?.is_some() {
            return Err(A::Error::custom(format!(
                "on_error has one key: expected {ON_ERROR_SHAPES}"
            )));
        }
        Ok(value)
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> std::result::Result<OnError, A::Error> {
        use serde::de::VariantAccess;
        let (tag, variant) = data.variant::<String>()?;
        match tag.as_str() {
            "route" => Ok(OnError::Route(variant.newtype_variant()?)),
            word => {
                let value = Self::word(word)?;
                variant.unit_variant()?;
                Ok(value)
            }
        }
    }
}
