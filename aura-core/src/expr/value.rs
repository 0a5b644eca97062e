//! Conversions between JSON and minijinja values, and Aura's extra filters.

use chrono::{DateTime, NaiveDate, Utc};
use minijinja::value::{Value as Jinja, ValueKind};
use minijinja::{Error as JinjaError, ErrorKind as JinjaErrorKind};
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};

/// JSON to minijinja, once per value.
pub(super) fn from_json(v: &Value) -> Jinja {
    match v {
        Value::Null => Jinja::from(()),
        Value::Bool(b) => Jinja::from(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Jinja::from(i)
            } else if let Some(u) = n.as_u64() {
                Jinja::from(u)
            } else {
                Jinja::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Jinja::from(s.as_str()),
        Value::Array(items) => items.iter().map(from_json).collect(),
        Value::Object(map) => Jinja::from(
            map.iter()
                .map(|(k, v)| (k.clone(), from_json(v)))
                .collect::<std::collections::BTreeMap<String, Jinja>>(),
        ),
    }
}

/// minijinja to JSON. Undefined is an error: it means a mapping read something that is not
/// there.
pub(super) fn to_json(v: &Jinja) -> Result<Value> {
    Ok(match v.kind() {
        ValueKind::Undefined => return Err(Error::invalid_input("the expression's value is undefined", vec![])),
        ValueKind::None => Value::Null,
        ValueKind::Bool => Value::Bool(v.is_true()),
        ValueKind::Number => {
            if let Some(i) = v.as_i64() {
                Value::from(i)
            } else if let Ok(u) = u64::try_from(v.clone()) {
                Value::from(u)
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
        }
        ValueKind::String => Value::String(v.as_str().unwrap_or_default().to_owned()),
        ValueKind::Bytes => Value::Array(
            v.as_bytes()
                .unwrap_or_default()
                .iter()
                .map(|b| Value::from(*b))
                .collect(),
        ),
        ValueKind::Seq | ValueKind::Iterable => {
            let iter = v
                .try_iter()
                .map_err(|e| Error::invalid_input(format!("cannot read a list: {e}"), vec![]))?;
            Value::Array(iter.map(|item| to_json(&item)).collect::<Result<_>>()?)
        }
        ValueKind::Map => {
            let mut map = Map::new();
            let keys = v
                .try_iter()
                .map_err(|e| Error::invalid_input(format!("cannot read a map: {e}"), vec![]))?;
            for key in keys {
                let item = v
                    .get_item(&key)
                    .map_err(|e| Error::invalid_input(format!("cannot read a map: {e}"), vec![]))?;
                let key = key.as_str().map_or_else(|| key.to_string(), str::to_owned);
                map.insert(key, to_json(&item)?);
            }
            Value::Object(map)
        }
        // Callables, plain objects and future kinds have no JSON form.
        _ => Value::String(v.to_string()),
    })
}

fn filter_error(message: String) -> JinjaError {
    JinjaError::new(JinjaErrorKind::InvalidOperation, message)
}

/// `{{ value | json }}`: the value as compact JSON text.
pub(super) fn json_filter(value: Jinja) -> std::result::Result<String, JinjaError> {
    let json = to_json(&value).map_err(|e| filter_error(e.message().to_owned()))?;
    serde_json::to_string(&json).map_err(|e| filter_error(e.to_string()))
}

/// `{{ value | date("%d %b %Y") }}`: formats an RFC 3339 date-time, a `YYYY-MM-DD` date or a
/// Unix timestamp in seconds (UTC). The default format is RFC 3339.
pub(super) fn date_filter(value: Jinja, format: Option<String>) -> std::result::Result<String, JinjaError> {
    let at: DateTime<Utc> = if let Some(s) = value.as_str() {
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            dt.with_timezone(&Utc)
        } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            d.and_hms_opt(0, 0, 0)
                .map(|n| n.and_utc())
                .ok_or_else(|| filter_error("invalid date".into()))?
        } else {
            return Err(filter_error(format!(
                "date: {s:?} is not an RFC 3339 date-time or a YYYY-MM-DD date"
            )));
        }
    } else if let Some(secs) = value.as_i64() {
        DateTime::from_timestamp(secs, 0).ok_or_else(|| filter_error("date: timestamp out of range".into()))?
    } else {
        return Err(filter_error("date: expects a date string or a Unix timestamp".into()));
    };
    Ok(match format {
        Some(fmt) => {
            use std::fmt::Write as _;
            let mut out = String::new();
            write!(out, "{}", at.format(&fmt)).map_err(|_| filter_error(format!("date: bad format {fmt:?}")))?;
            out
        }
        None => at.to_rfc3339(),
    })
}
