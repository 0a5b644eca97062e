//! Parameters (path, query, header): presence, and each value against its schema after the
//! coercion OpenAPI's serialization implies (`?per_page=5` is the integer 5).

use jsonschema::Validator;
use serde_json::Value;

use super::RecordedRequest;
use super::schema::errors;

/// Where a parameter goes (`in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

impl Location {
    pub(super) fn parse(text: &str) -> Option<Self> {
        match text {
            "path" => Some(Self::Path),
            "query" => Some(Self::Query),
            "header" => Some(Self::Header),
            "cookie" => Some(Self::Cookie),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Header => "header",
            Self::Cookie => "cookie",
        }
    }
}

/// The JSON type a text value is turned into before validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scalar {
    Integer,
    Number,
    Boolean,
    Text,
}

impl Scalar {
    /// The coercion for a (converted, `$ref`-resolved) schema: its `type`, or the first
    /// non-null one of a type list.
    pub(super) fn of(schema: &Value) -> Self {
        match main_type(schema) {
            Some("integer") => Self::Integer,
            Some("number") => Self::Number,
            Some("boolean") => Self::Boolean,
            _ => Self::Text,
        }
    }

    /// `text` as this type when it parses as one; as a string otherwise (the validator then
    /// says what is wrong with it).
    fn coerce(self, text: &str) -> Value {
        let parsed = match self {
            Self::Integer => text.parse::<i64>().ok().map(Value::from),
            Self::Number => text.parse::<f64>().ok().map(Value::from),
            Self::Boolean => match text {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Self::Text => None,
        };
        parsed.unwrap_or_else(|| Value::String(text.to_owned()))
    }
}

/// A schema's `type`, or the first one but `"null"` of a type list.
pub(super) fn main_type(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(kind) => Some(kind),
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).find(|kind| *kind != "null"),
        _ => None,
    }
}

/// How the value is shaped, from the schema and the style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// One value.
    Scalar(Scalar),
    /// An array of items: `a,b` (`explode: false`) or repeated keys (`explode: true`); both
    /// are accepted.
    Array(Scalar),
    /// An object in `deepObject` style (`filter[name]=x`), or a JSON `content` parameter:
    /// presence only.
    Opaque,
}

/// One parameter of an operation, compiled.
pub(super) struct Parameter {
    pub(super) name: String,
    pub(super) location: Location,
    pub(super) required: bool,
    pub(super) shape: Shape,
    pub(super) validator: Option<Validator>,
}

impl std::fmt::Debug for Parameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parameter")
            .field("name", &self.name)
            .field("location", &self.location)
            .field("required", &self.required)
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl Parameter {
    fn what(&self) -> String {
        format!("{} parameter `{}`", self.location.as_str(), self.name)
    }

    /// Whether the query key `key` belongs to this parameter (`filter[status]` does to a
    /// `deepObject` `filter`).
    pub(super) fn owns_query_key(&self, key: &str) -> bool {
        self.location == Location::Query
            && (key == self.name
                || (self.shape == Shape::Opaque
                    && key
                        .strip_prefix(self.name.as_str())
                        .is_some_and(|rest| rest.starts_with('['))))
    }

    /// The problems of this parameter in `request` (`path_values` are the template's).
    pub(super) fn check(
        &self,
        request: &RecordedRequest,
        path_values: &[(String, String)],
        problems: &mut Vec<String>,
    ) {
        let values: Vec<String> = match self.location {
            Location::Path => path_values
                .iter()
                .filter(|(name, _)| *name == self.name)
                .map(|(_, value)| value.clone())
                .collect(),
            Location::Query => request
                .query
                .iter()
                .filter(|(key, _)| self.owns_query_key(key))
                .map(|(_, value)| value.clone())
                .collect(),
            Location::Header => request
                .headers
                .get_all(self.name.as_str())
                .iter()
                .filter_map(|value| value.to_str().ok())
                .map(str::to_owned)
                .collect(),
            // Cookies are not looked at.
            Location::Cookie => return,
        };
        if values.is_empty() {
            if self.required {
                problems.push(format!("missing required {}", self.what()));
            }
            return;
        }
        let instance = match self.shape {
            Shape::Opaque => return,
            Shape::Scalar(scalar) => {
                if values.len() > 1 {
                    problems.push(format!("{} is given {} times", self.what(), values.len()));
                    return;
                }
                scalar.coerce(&values[0])
            }
            Shape::Array(scalar) => Value::Array(
                values
                    .iter()
                    .flat_map(|value| value.split(','))
                    .map(|item| scalar.coerce(item))
                    .collect(),
            ),
        };
        if let Some(validator) = &self.validator {
            problems.extend(errors(validator, &instance, &self.what()));
        }
    }
}
