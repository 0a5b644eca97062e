//! The compact form of a finished record: JSON with times as integer nanoseconds (exact until the year 2262), written and
//! read only by the stores of this crate (so its shape may change between versions; it is never
//! shown to users, who get [`ExecutionRecord`]s).
//!
//! A finished record is written once and rarely read again, so it is kept as bytes: a 4-node
//! record takes a few hundred bytes instead of the kilobytes of its tree of maps. Writing times
//! as integers instead of RFC 3339 text halves the cost of writing it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{ErrorRecord, ExecutionRecord, ExecutionStatus, NodeResult, NodeStatus};
use crate::error::{Error, Result};

#[derive(Serialize, Deserialize)]
struct Record {
    id: Uuid,
    scenario_id: String,
    scenario_version: u32,
    trigger: Arc<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    trigger_cleaned: bool,
    status: ExecutionStatus,
    #[serde(with = "nanos")]
    started_at: DateTime<Utc>,
    #[serde(default, with = "nanos::option")]
    ended_at: Option<DateTime<Utc>>,
    nodes: Vec<Node>,
    /// `Some(null)` is an output: an absent field is `None`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::record::present"
    )]
    output: Option<Value>,
    #[serde(default)]
    error: Option<ErrorRecord>,
    #[serde(default)]
    rerun_of: Option<Uuid>,
}

#[derive(Serialize, Deserialize)]
struct Node {
    node_id: Arc<str>,
    #[serde(default)]
    item: Option<usize>,
    status: NodeStatus,
    input: Arc<Value>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::record::present"
    )]
    output: Option<Arc<Value>>,
    #[serde(default)]
    error: Option<ErrorRecord>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    output_cleaned: bool,
    attempts: u32,
    #[serde(default)]
    route: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pinned: bool,
    #[serde(default, with = "nanos::option")]
    started_at: Option<DateTime<Utc>>,
    #[serde(default, with = "nanos::option")]
    ended_at: Option<DateTime<Utc>>,
}

impl From<ExecutionRecord> for Record {
    fn from(record: ExecutionRecord) -> Self {
        Self {
            id: record.id,
            scenario_id: record.scenario_id,
            scenario_version: record.scenario_version,
            trigger: record.trigger,
            trigger_cleaned: record.trigger_cleaned,
            status: record.status,
            started_at: record.started_at,
            ended_at: record.ended_at,
            nodes: record
                .nodes
                .into_iter()
                .map(|n| Node {
                    node_id: n.node_id,
                    item: n.item,
                    status: n.status,
                    input: n.input,
                    output: n.output,
                    error: n.error,
                    output_cleaned: n.output_cleaned,
                    attempts: n.attempts,
                    route: n.route,
                    pinned: n.pinned,
                    started_at: n.started_at,
                    ended_at: n.ended_at,
                })
                .collect(),
            output: record.output,
            error: record.error,
            rerun_of: record.rerun_of,
        }
    }
}

impl From<Record> for ExecutionRecord {
    fn from(r: Record) -> Self {
        Self {
            id: r.id,
            scenario_id: r.scenario_id,
            scenario_version: r.scenario_version,
            trigger: r.trigger,
            trigger_cleaned: r.trigger_cleaned,
            status: r.status,
            started_at: r.started_at,
            ended_at: r.ended_at,
            nodes: r
                .nodes
                .into_iter()
                .map(|n| NodeResult {
                    node_id: n.node_id,
                    item: n.item,
                    status: n.status,
                    input: n.input,
                    output: n.output,
                    error: n.error,
                    output_cleaned: n.output_cleaned,
                    attempts: n.attempts,
                    route: n.route,
                    pinned: n.pinned,
                    started_at: n.started_at,
                    ended_at: n.ended_at,
                })
                .collect(),
            output: r.output,
            error: r.error,
            rerun_of: r.rerun_of,
        }
    }
}

/// Times as integer nanoseconds since the Unix epoch.
///
/// `chrono::serde::ts_nanoseconds` does the same, but builds its out-of-range error (a
/// formatted message) before it knows whether it needs one: a third of the cost of writing a
/// record went there.
mod nanos {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    fn to_nanos<E: serde::ser::Error>(t: &DateTime<Utc>) -> Result<i64, E> {
        t.timestamp_nanos_opt()
            .ok_or_else(|| E::custom("a time outside the years 1677 to 2262 has no nanosecond timestamp"))
    }

    pub(super) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(to_nanos(t)?)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        Ok(DateTime::from_timestamp_nanos(i64::deserialize(d)?))
    }

    pub(super) mod option {
        use super::*;

        #[allow(clippy::ref_option)] // The signature serde's `with` asks for.
        pub(in super::super) fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_some(&to_nanos::<S::Error>(t)?),
                None => s.serialize_none(),
            }
        }

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Ok(Option::<i64>::deserialize(d)?.map(DateTime::from_timestamp_nanos))
        }
    }
}

/// A finished record as bytes. Its parts are moved, not copied; on failure the record comes
/// back whole with the error, so that nothing is lost.
pub(crate) fn encode(record: ExecutionRecord) -> std::result::Result<Box<[u8]>, Box<(Error, ExecutionRecord)>> {
    let id = record.id;
    let compact = Record::from(record);
    match serde_json::to_vec(&compact) {
        Ok(bytes) => Ok(bytes.into_boxed_slice()),
        Err(e) => Err(Box::new((
            Error::internal("the execution record could not be written in its compact form")
                .with_context("execution", id.to_string())
                .with_source(e),
            compact.into(),
        ))),
    }
}

/// The record back from [`encode`]'s bytes.
pub(crate) fn decode(bytes: &[u8]) -> Result<ExecutionRecord> {
    let r: Record = serde_json::from_slice(bytes)
        .map_err(|e| Error::internal("a kept execution record could not be read back").with_source(e))?;
    Ok(r.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_its_compact_form_with_null_outputs_and_times() {
        let now = Utc::now();
        let record = ExecutionRecord {
            id: Uuid::now_v7(),
            scenario_id: "s".into(),
            scenario_version: 3,
            trigger: Arc::new(serde_json::json!({ "a": [1, 2] })),
            trigger_cleaned: true,
            status: ExecutionStatus::Completed,
            started_at: now,
            ended_at: Some(now),
            nodes: vec![NodeResult {
                node_id: "n".into(),
                item: Some(2),
                status: NodeStatus::Completed,
                input: Arc::new(Value::Null),
                output: Some(Arc::new(Value::Null)),
                error: None,
                output_cleaned: false,
                attempts: 2,
                route: Some("true".into()),
                pinned: true,
                started_at: Some(now),
                ended_at: None,
            }],
            output: Some(Value::Null),
            error: None,
            rerun_of: Some(Uuid::now_v7()),
        };
        let back = decode(&encode(record.clone()).map_err(|failed| failed.0).unwrap()).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn a_time_without_a_nanosecond_timestamp_fails_to_encode_and_gives_the_record_back() {
        let far = DateTime::<Utc>::from_timestamp(20_000_000_000, 0).unwrap(); // the year 2603
        let record = ExecutionRecord {
            id: Uuid::now_v7(),
            scenario_id: "s".into(),
            scenario_version: 1,
            trigger: Arc::new(Value::Null),
            trigger_cleaned: false,
            status: ExecutionStatus::Completed,
            started_at: Utc::now(),
            ended_at: Some(far),
            nodes: Vec::new(),
            output: None,
            error: None,
            rerun_of: None,
        };
        let failed = encode(record.clone()).unwrap_err();
        let source = std::error::Error::source(&failed.0).map(ToString::to_string).unwrap_or_default();
        assert!(source.contains("1677 to 2262"), "{source}");
        assert_eq!(failed.1, record);
    }
}
