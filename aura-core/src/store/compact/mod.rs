//! The compact form of a finished record: MessagePack arrays (fields by position) with times as
//! integer nanoseconds (exact until the year 2262; a node's from the record's start), written
//! and read only by the in-memory store (so its shape may change between versions; it is never
//! shown to users, who get [`ExecutionRecord`]s).
//!
//! A finished record is written once and rarely read again, so it is kept as bytes: a 4-node
//! record takes a few hundred bytes instead of the kilobytes of its tree of maps. Writing times
//! as integers instead of RFC 3339 text halves the cost of writing it; MessagePack instead of
//! JSON (strings copied, not escaped; numbers binary) takes about a sixth off what is left. Structs
//! with fields left out when empty (an [`ErrorRecord`]) are written as maps, by name. A payload
//! the record shares with one written before it (the trigger as the trigger node's input, a
//! node's output as the next one's input, a node that passes its input on) is written once and
//! named by its number after that ([`Payloads`]): a webhook flow's record writes half its
//! payloads, and reads them back shared.
//!
//! The types below say the form, and serde reads it back (`rmp_serde`); [`write`] writes it by
//! hand, with MessagePack's primitives, because it is written on every execution's path.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{ErrorRecord, ExecutionRecord, ExecutionStatus, NodeResult, NodeStatus};
use crate::error::{Error, Result};

mod write;

/// A record as an array: fields by position, not by name (a record is written once per
/// execution, and every name would be escaped and stored again each time).
#[derive(Deserialize)]
struct Record(
    Uuid,
    String,
    u32,
    Arc<Value>,
    /// [`TRIGGER_CLEANED`], [`OUTPUT_PRESENT`].
    u8,
    ExecutionStatus,
    #[serde(deserialize_with = "nanos::deserialize")] DateTime<Utc>,
    #[serde(deserialize_with = "nanos::option::deserialize")] Option<DateTime<Utc>>,
    Vec<Node>,
    /// The output, when [`OUTPUT_PRESENT`] (then `null` is an output).
    Value,
    Option<ErrorRecord>,
    Option<Uuid>,
);

/// One node's result as an array.
#[derive(Deserialize)]
struct Node(
    Arc<str>,
    Option<usize>,
    NodeStatus,
    /// [`OUTPUT_PRESENT`], [`OUTPUT_CLEANED`], [`PINNED`], [`INPUT_SHARED`], [`OUTPUT_SHARED`].
    u8,
    u32,
    /// Start and end, in nanoseconds from the record's start.
    Option<i64>,
    Option<i64>,
    Arc<Value>,
    /// The output, when [`OUTPUT_PRESENT`].
    Option<Arc<Value>>,
    Option<Box<ErrorRecord>>,
    Option<String>,
);

/// Flags of a record or node: the output is there (and may be `null`).
const OUTPUT_PRESENT: u8 = 1;
/// Flag of a record: its trigger data is a redacted or truncated copy.
const TRIGGER_CLEANED: u8 = 2;
/// Flag of a node: its output is a redacted or truncated copy.
const OUTPUT_CLEANED: u8 = 2;
/// Flag of a node: its output was pinned.
const PINNED: u8 = 4;
/// Flag of a node: its input is a payload written before it (the same value, shared: the
/// trigger, or the output a node passed on), and its field holds that payload's number.
const INPUT_SHARED: u8 = 8;
/// Flag of a node: its output is a payload written before it (a node that passes its input
/// on), as [`INPUT_SHARED`] says.
const OUTPUT_SHARED: u8 = 16;

/// The payloads of a record in the order they are written, each numbered by its place: the
/// trigger is 0, node `k`'s input `1 + 2k` and its output `2 + 2k` (a place even when it has
/// none). A shared payload is written once and named by its number after that.
struct Payloads(Vec<Arc<Value>>);

impl Payloads {
    /// `value` as read: the payload it names when `shared`, else itself; it takes the next
    /// number.
    fn take(&mut self, value: Arc<Value>, shared: bool) -> Result<Arc<Value>> {
        let value = if shared {
            value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| self.0.get(n))
                .cloned()
                .ok_or_else(|| Error::internal("a kept execution record names a payload it does not hold"))?
        } else {
            value
        };
        self.0.push(value.clone());
        Ok(value)
    }
}

fn flag(on: bool, bit: u8) -> u8 {
    if on { bit } else { 0 }
}

/// A node's time back from its offset from the record's start.
fn at(start: DateTime<Utc>, offset: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    offset
        .map(|n| {
            start
                .checked_add_signed(chrono::TimeDelta::nanoseconds(n))
                .ok_or_else(|| Error::internal("a kept execution record holds a node time out of range"))
        })
        .transpose()
}

impl TryFrom<Record> for ExecutionRecord {
    type Error = Error;

    fn try_from(r: Record) -> Result<Self> {
        let Record(
            id,
            scenario_id,
            scenario_version,
            trigger,
            flags,
            status,
            started_at,
            ended_at,
            nodes,
            output,
            error,
            rerun_of,
        ) = r;
        let mut payloads = Payloads(Vec::with_capacity(1 + 2 * nodes.len()));
        payloads.0.push(trigger.clone());
        let nodes = nodes
            .into_iter()
            .map(
                |Node(node_id, item, status, flags, attempts, started, ended, input, output, error, route)| {
                    let input = payloads.take(input, flags & INPUT_SHARED != 0)?;
                    // `null` is an output when the flag says there is one.
                    let output = output.unwrap_or_else(|| Arc::new(Value::Null));
                    let output = payloads.take(output, flags & OUTPUT_SHARED != 0)?;
                    Ok(NodeResult {
                        node_id,
                        item,
                        status,
                        input,
                        output: (flags & OUTPUT_PRESENT != 0).then_some(output),
                        error,
                        output_cleaned: flags & OUTPUT_CLEANED != 0,
                        attempts,
                        route,
                        pinned: flags & PINNED != 0,
                        started_at: at(started_at, started)?,
                        ended_at: at(started_at, ended)?,
                    })
                },
            )
            .collect::<Result<_>>()?;
        Ok(Self {
            id,
            scenario_id,
            scenario_version,
            trigger,
            trigger_cleaned: flags & TRIGGER_CLEANED != 0,
            status,
            started_at,
            ended_at,
            nodes,
            output: (flags & OUTPUT_PRESENT != 0).then_some(output),
            error,
            rerun_of,
        })
    }
}

/// Times read back from integer nanoseconds since the Unix epoch (as [`write`] writes them).
mod nanos {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        Ok(DateTime::from_timestamp_nanos(i64::deserialize(d)?))
    }

    pub(super) mod option {
        use super::*;

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Ok(Option::<i64>::deserialize(d)?.map(DateTime::from_timestamp_nanos))
        }
    }
}

/// A finished record as bytes, written from the record in place into `bytes` (emptied first;
/// a buffer reused from an earlier record keeps its room when the record fits in it).
pub(crate) fn encode_into(record: &ExecutionRecord, bytes: &mut Vec<u8>) -> Result<()> {
    bytes.clear();
    write::Writer::record(record, bytes).map_err(|e| {
        Error::internal("the execution record could not be written in its compact form")
            .with_context("execution", record.id.to_string())
            .with_source(e)
    })?;
    // Room well beyond the record (a new buffer's first guess, or a reused one from a larger
    // record) is given back, all but a little for the next record written into it.
    let len = bytes.len();
    if bytes.capacity() > len + len / 4 + 64 {
        bytes.shrink_to(len + len / 8 + 32);
    }
    Ok(())
}

/// The record back from [`encode_into`]'s bytes.
pub(crate) fn decode(bytes: &[u8]) -> Result<ExecutionRecord> {
    let r: Record = rmp_serde::from_slice(bytes)
        .map_err(|e| Error::internal("a kept execution record could not be read back").with_source(e))?;
    r.try_into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(record: &ExecutionRecord) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        encode_into(record, &mut bytes).map(|()| bytes)
    }

    /// A completed record of `trigger` and `nodes`, started and ended now, without output.
    fn finished(trigger: Arc<Value>, nodes: Vec<NodeResult>) -> ExecutionRecord {
        let now = Utc::now();
        ExecutionRecord {
            id: Uuid::now_v7(),
            scenario_id: "s".into(),
            scenario_version: 1,
            trigger,
            trigger_cleaned: false,
            status: ExecutionStatus::Completed,
            started_at: now,
            ended_at: Some(now),
            nodes,
            output: None,
            error: None,
            rerun_of: None,
        }
    }

    /// A completed node `id` of `input` and `output`, with no times.
    fn completed(id: &str, input: &Arc<Value>, output: Option<&Arc<Value>>) -> NodeResult {
        NodeResult {
            node_id: id.into(),
            item: None,
            status: NodeStatus::Completed,
            input: input.clone(),
            output: output.cloned(),
            error: None,
            output_cleaned: false,
            attempts: 1,
            route: None,
            pinned: false,
            started_at: None,
            ended_at: None,
        }
    }

    /// A buffer that held a record holds the next one as if it were new, keeping its room only
    /// while that is not far beyond what the record takes.
    #[test]
    fn a_reused_buffer_holds_the_next_record_exactly() {
        let record = |text: &str| finished(Arc::new(serde_json::json!({ "text": text })), Vec::new());
        let (large, small) = (record(&"x".repeat(10_000)), record("y"));
        let mut bytes = Vec::new();
        encode_into(&large, &mut bytes).unwrap();
        assert_eq!(decode(&bytes).unwrap(), large);
        encode_into(&small, &mut bytes).unwrap();
        assert_eq!(decode(&bytes).unwrap(), small);
        assert!(
            bytes.capacity() < 200,
            "{} bytes of room for {}",
            bytes.capacity(),
            bytes.len()
        );
        encode_into(&large, &mut bytes).unwrap();
        assert_eq!(decode(&bytes).unwrap(), large);
    }

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
        let back = decode(&encode(&record).unwrap()).unwrap();
        assert_eq!(back, record);

        // No output (not even `null`), nothing cleaned or pinned, no times.
        let mut bare = record;
        bare.output = None;
        bare.trigger_cleaned = false;
        bare.ended_at = None;
        bare.rerun_of = None;
        let mut node = bare.nodes[0].clone();
        node.output = None;
        node.pinned = false;
        node.item = None;
        node.route = None;
        node.started_at = None;
        node.status = NodeStatus::Skipped;
        bare.nodes.push(node);
        let back = decode(&encode(&bare).unwrap()).unwrap();
        assert_eq!(back, bare);

        // Node times before and long after the record's start.
        let mut spread = bare.clone();
        spread.nodes[0].started_at = Some(now - chrono::TimeDelta::seconds(90));
        spread.nodes[0].ended_at = Some(now + chrono::TimeDelta::days(400));
        let back = decode(&encode(&spread).unwrap()).unwrap();
        assert_eq!(back, spread);

        // One more than 292 years away has no offset: an error, not a wrong time.
        spread.nodes[0].ended_at = Some(now + chrono::TimeDelta::days(300 * 366));
        let failed = encode(&spread).unwrap_err();
        let source = std::error::Error::source(&failed)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(source.contains("292 years"), "{source}");
    }

    /// A chain's payloads as the engine shares them: the trigger as the trigger node's input
    /// and output, a node's output as the next one's input and (a pass-through) as its own
    /// output; some nodes without output; one payload shared again further back than the
    /// writer looks.
    #[test]
    fn shared_payloads_are_written_once_and_read_back_shared() {
        let trigger = Arc::new(serde_json::json!({ "value": 42, "text": "a longer text to share" }));
        let node = completed;
        let score = Arc::new(serde_json::json!({ "score": 42, "why": "a reason long enough" }));
        let other: Vec<Arc<Value>> = (0..6).map(|i| Arc::new(serde_json::json!({ "n": i }))).collect();
        let mut nodes = vec![
            node("hook", &trigger, Some(&trigger)),
            node("score", &score, Some(&score)),
            node("check", &score, Some(&score)),
            node("skipped", &score, None),
            node("after", &score, Some(&other[0])),
        ];
        for (i, o) in other.iter().enumerate().skip(1) {
            nodes.push(node(&format!("n{i}"), &other[i - 1], Some(o)));
        }
        // `score` again, written whole: it is further back than the writer looks.
        nodes.push(node("late", &score, None));
        let mut record = finished(trigger, nodes);
        record.output = Some(serde_json::json!({ "ok": true }));
        let bytes = encode(&record).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(back, record);
        assert!(Arc::ptr_eq(&back.trigger, &back.nodes[0].input), "read back shared");
        assert!(Arc::ptr_eq(
            &back.nodes[1].input,
            back.nodes[2].output.as_ref().unwrap()
        ));
        assert!(Arc::ptr_eq(
            back.nodes[5].output.as_ref().unwrap(),
            &back.nodes[6].input
        ));

        // The same record with every payload its own copy: each written whole, and longer.
        let mut copies = record.clone();
        for n in &mut copies.nodes {
            n.input = Arc::new((*n.input).clone());
            n.output = n.output.as_ref().map(|o| Arc::new((**o).clone()));
        }
        let whole = encode(&copies).unwrap();
        assert_eq!(decode(&whole).unwrap(), record);
        let text = |b: &[u8]| b.windows(22).filter(|w| w == b"a longer text to share").count();
        assert_eq!(text(&bytes), 1, "the trigger is written once");
        assert_eq!(text(&whole), 3);
        let why = |b: &[u8]| b.windows(20).filter(|w| w == b"a reason long enough").count();
        assert_eq!(why(&bytes), 2, "score written once, then once more from far back");
        assert_eq!(why(&whole), 7);
    }

    /// A record naming a payload it does not hold is an error, not a panic.
    #[test]
    fn a_record_naming_a_payload_it_does_not_hold_is_an_error() {
        let shared = Arc::new(serde_json::json!({ "x": 1 }));
        let record = finished(Arc::new(Value::Null), vec![completed("a", &shared, Some(&shared))]);
        let mut bytes = encode(&record).unwrap();
        // The output names payload 1 (the input): make it name 9.
        let at = bytes.len() - 1 /* rerun_of */ - 1 /* error */ - 1 /* output */ - 1 /* route */ - 1 /* error */ - 1;
        assert_eq!(bytes[at], 1, "{bytes:?}");
        bytes[at] = 9;
        let err = decode(&bytes).unwrap_err();
        assert!(err.to_string().contains("does not hold"), "{err}");
    }

    #[test]
    fn every_kind_of_json_and_an_error_survive_the_compact_form() {
        let payload = serde_json::json!({
            "null": null, "yes": true, "no": false,
            "small": 1, "negative": -7, "big": u64::MAX, "least": i64::MIN,
            "float": 1.5, "whole_float": 10.0, "negative_zero": -0.0, "huge": 1e300,
            "text": "é \"quoted\" \\ \u{0} 🦀", "empty_text": "",
            "list": [1, "two", [3], { "four": 4 }], "empty_list": [], "empty_map": {},
            "nested": { "a": { "b": { "c": [null, false] } } }
        });
        let now = Utc::now();
        let error = ErrorRecord {
            context: vec![("node".into(), "n".into())],
            status: Some(503),
            not_sent: true,
            ..ErrorRecord::from(&Error::unavailable("the service is down"))
        };
        let record = ExecutionRecord {
            id: Uuid::now_v7(),
            scenario_id: "s".into(),
            scenario_version: 1,
            trigger: Arc::new(payload.clone()),
            trigger_cleaned: false,
            status: ExecutionStatus::Failed,
            started_at: now,
            ended_at: Some(now),
            nodes: vec![NodeResult {
                node_id: "n".into(),
                item: None,
                status: NodeStatus::Failed,
                input: Arc::new(payload.clone()),
                output: Some(Arc::new(payload.clone())),
                error: Some(Box::new(error.clone())),
                output_cleaned: true,
                attempts: 3,
                route: None,
                pinned: false,
                started_at: Some(now),
                ended_at: Some(now),
            }],
            output: Some(payload),
            error: Some(error),
            rerun_of: None,
        };
        let back = decode(&encode(&record).unwrap()).unwrap();
        assert_eq!(back, record);
        assert!(decode(b"\xc1 not a record").is_err());
    }

    /// Any JSON value, nested a few levels, with the numbers serde_json tells apart.
    pub(super) fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, failure_persistence: None, ..Default::default() })]

        /// What is written by hand reads back through serde as it was, in every place a
        /// payload goes.
        #[test]
        fn any_json_survives_the_compact_form(trigger in json(), input in json(), output in json()) {
            let now = Utc::now();
            let record = ExecutionRecord {
                id: Uuid::now_v7(),
                scenario_id: "s".into(),
                scenario_version: 1,
                trigger: Arc::new(trigger),
                trigger_cleaned: false,
                status: ExecutionStatus::Completed,
                started_at: now,
                ended_at: Some(now),
                nodes: vec![NodeResult {
                    node_id: "n".into(),
                    item: Some(usize::MAX),
                    status: NodeStatus::Completed,
                    input: Arc::new(input),
                    output: Some(Arc::new(output.clone())),
                    error: None,
                    output_cleaned: false,
                    attempts: u32::MAX,
                    route: None,
                    pinned: false,
                    started_at: Some(now),
                    ended_at: Some(now),
                }],
                output: Some(output),
                error: None,
                rerun_of: None,
            };
            proptest::prop_assert_eq!(decode(&encode(&record).unwrap()).unwrap(), record);
        }
    }

    #[test]
    fn a_time_without_a_nanosecond_timestamp_fails_to_encode() {
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
        let failed = encode(&record).unwrap_err();
        let source = std::error::Error::source(&failed)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(source.contains("1677 to 2262"), "{source}");
        assert_eq!(failed.context_value("execution"), Some(&*record.id.to_string()));
    }
}
