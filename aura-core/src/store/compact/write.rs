//! Writing a finished record in its compact form: the bytes serde's derive would write through
//! `rmp_serde` for [`Record`](super::Record) (and reads back that way), written directly. A
//! record is written once per execution and its node part once per node: through serde's
//! generic machinery that was a fifth of the engine's time per node of a chain, and through
//! `rmp`'s primitives (a marker enum per value) still a seventh.
//!
//! MessagePack's primitives are a handful of one-byte markers, each followed by a big-endian
//! length or number ([the specification](https://github.com/msgpack/msgpack/blob/master/spec.md));
//! each is written in its shortest form, as `rmp` writes it, and the tests check them byte for
//! byte against `rmp`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rmp_serde::encode::Error;
use serde::Serialize;
use serde::ser::Error as _;
use serde_json::Value;

use super::{INPUT_SHARED, OUTPUT_CLEANED, OUTPUT_PRESENT, OUTPUT_SHARED, PINNED, TRIGGER_CLEANED, flag};
use crate::store::{ExecutionRecord, NodeResult};

type Written = Result<(), Error>;

/// A record's bytes as they are written, after what `.0` holds.
pub(super) struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    /// Writes `record` at the end of `bytes`: a [`Record`](super::Record) array.
    pub(super) fn record(record: &ExecutionRecord, bytes: &mut Vec<u8>) -> Result<(), Error> {
        // A new buffer is sized for a small record, so that writing it rarely grows it (a
        // reused one has the room of the record it held).
        if bytes.capacity() == 0 {
            bytes.reserve(128 + 96 * record.nodes.len());
        }
        let mut w = Writer(bytes);
        let r = record;
        w.array(12)?;
        // As a `Uuid` writes itself to a binary format: its 16 bytes.
        w.bin(r.id.as_bytes());
        w.str(&r.scenario_id)?;
        w.uint(u64::from(r.scenario_version));
        w.value(&r.trigger)?;
        w.uint(u64::from(
            flag(r.trigger_cleaned, TRIGGER_CLEANED) | flag(r.output.is_some(), OUTPUT_PRESENT),
        ));
        w.serde(&r.status)?;
        w.sint(nanos(&r.started_at)?);
        match &r.ended_at {
            Some(t) => w.sint(nanos(t)?),
            None => w.nil(),
        }
        let start = Start::of(&r.started_at);
        let mut seen = Seen::new(&r.trigger);
        w.array(r.nodes.len())?;
        for node in &r.nodes {
            w.node(node, start, &mut seen)?;
        }
        w.value(r.output.as_ref().unwrap_or(&Value::Null))?;
        w.serde(&r.error)?;
        match &r.rerun_of {
            Some(id) => w.bin(id.as_bytes()),
            None => w.nil(),
        }
        Ok(())
    }

    /// A [`Node`](super::Node) array, its times from the record's start.
    fn node(&mut self, n: &NodeResult, start: Start, seen: &mut Seen) -> Written {
        self.array(11)?;
        self.str(&n.node_id)?;
        match n.item {
            Some(item) => self.uint(item as u64),
            None => self.nil(),
        }
        self.serde(&n.status)?;
        let input = seen.number(Some(&n.input));
        let output = seen.number(n.output.as_ref());
        let flags = flag(n.output.is_some(), OUTPUT_PRESENT)
            | flag(n.output_cleaned, OUTPUT_CLEANED)
            | flag(n.pinned, PINNED)
            | flag(input.is_some(), INPUT_SHARED)
            | flag(output.is_some(), OUTPUT_SHARED);
        self.uint(u64::from(flags));
        self.uint(u64::from(n.attempts));
        for time in [&n.started_at, &n.ended_at] {
            match time {
                Some(t) => self.sint(start.nanos_to(t)?),
                None => self.nil(),
            }
        }
        match input {
            Some(number) => self.uint(number),
            None => self.value(&n.input)?,
        }
        match (&n.output, output) {
            (Some(_), Some(number)) => self.uint(number),
            (Some(value), None) => self.value(value)?,
            (None, _) => self.nil(),
        }
        match &n.error {
            Some(error) => self.serde(error)?,
            None => self.nil(),
        }
        match &n.route {
            Some(route) => self.str(route)?,
            None => self.nil(),
        }
        Ok(())
    }

    /// A JSON value, as serde_json's `Serialize` writes it.
    fn value(&mut self, v: &Value) -> Written {
        match v {
            Value::Null => self.nil(),
            Value::Bool(b) => self.0.push(if *b { 0xc3 } else { 0xc2 }),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    self.uint(u);
                } else if let Some(i) = n.as_i64() {
                    self.sint(i);
                } else if let Some(f) = n.as_f64() {
                    self.marked(0xcb, &f.to_be_bytes());
                } else {
                    return Err(Error::custom("a JSON number with no compact form"));
                }
            }
            Value::String(s) => self.str(s)?,
            Value::Array(items) => {
                self.array(items.len())?;
                for item in items {
                    self.value(item)?;
                }
            }
            Value::Object(map) => {
                self.len(map.len(), [0x80, 0xde, 0xdf], 16)?;
                for (key, value) in map {
                    self.str(key)?;
                    self.value(value)?;
                }
            }
        }
        Ok(())
    }

    // MessagePack's primitives, each in its shortest form.

    fn nil(&mut self) {
        self.0.push(0xc0);
    }

    fn uint(&mut self, n: u64) {
        if let Ok(n) = u8::try_from(n) {
            if n < 0x80 {
                self.0.push(n); // positive fixint
            } else {
                self.marked(0xcc, &[n]);
            }
        } else if let Ok(n) = u16::try_from(n) {
            self.marked(0xcd, &n.to_be_bytes());
        } else if let Ok(n) = u32::try_from(n) {
            self.marked(0xce, &n.to_be_bytes());
        } else {
            self.marked(0xcf, &n.to_be_bytes());
        }
    }

    /// A signed integer: one that is not negative as an unsigned one, as `rmp` writes it.
    fn sint(&mut self, n: i64) {
        if let Ok(n) = u64::try_from(n) {
            self.uint(n);
        } else if let Ok(n) = i8::try_from(n) {
            if n >= -32 {
                self.0.extend_from_slice(&n.to_be_bytes()); // negative fixint
            } else {
                self.marked(0xd0, &n.to_be_bytes());
            }
        } else if let Ok(n) = i16::try_from(n) {
            self.marked(0xd1, &n.to_be_bytes());
        } else if let Ok(n) = i32::try_from(n) {
            self.marked(0xd2, &n.to_be_bytes());
        } else {
            self.marked(0xd3, &n.to_be_bytes());
        }
    }

    fn str(&mut self, s: &str) -> Written {
        // fixstr holds up to 31 bytes; str8 has a one-byte length.
        if let Ok(n) = u8::try_from(s.len()) {
            if n < 32 {
                self.0.push(0xa0 | n);
            } else {
                self.marked(0xd9, &[n]);
            }
        } else {
            self.len(s.len(), [0xa0, 0xda, 0xdb], 0)?;
        }
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }

    /// A 16-byte binary: a `Uuid`.
    fn bin(&mut self, bytes: &[u8; 16]) {
        self.marked(0xc4, &[16]);
        self.0.extend_from_slice(bytes);
    }

    fn array(&mut self, n: usize) -> Written {
        self.len(n, [0x90, 0xdc, 0xdd], 16)
    }

    /// A length: in its fix marker (`markers[0] | n`) below `fix`, else after the 16-bit or the
    /// 32-bit marker.
    fn len(&mut self, n: usize, markers: [u8; 3], fix: u8) -> Written {
        if let Ok(small) = u8::try_from(n)
            && small < fix
        {
            self.0.push(markers[0] | small);
        } else if let Ok(n) = u16::try_from(n) {
            self.marked(markers[1], &n.to_be_bytes());
        } else if let Ok(n) = u32::try_from(n) {
            self.marked(markers[2], &n.to_be_bytes());
        } else {
            return Err(Error::custom(
                "a list, map or text of more than 4,294,967,295 entries or bytes",
            ));
        }
        Ok(())
    }

    fn marked(&mut self, marker: u8, data: &[u8]) {
        self.0.push(marker);
        self.0.extend_from_slice(data);
    }

    /// What is rare or small (a status, an error) goes through serde, as its derive says.
    fn serde<T: Serialize>(&mut self, value: &T) -> Written {
        value.serialize(&mut rmp_serde::Serializer::new(&mut self.0).with_struct_map())
    }
}

/// A time as integer nanoseconds since the Unix epoch.
///
/// `chrono`'s `timestamp_nanos_opt`, and no formatted error before one is needed.
fn nanos(t: &DateTime<Utc>) -> Result<i64, Error> {
    t.timestamp_nanos_opt()
        .ok_or_else(|| Error::custom("a time outside the years 1677 to 2262 has no nanosecond timestamp"))
}

/// The record's start, split as timestamps are: a node's time is written as nanoseconds from
/// it (a few digits instead of the nineteen of a timestamp), each a subtraction of integers.
#[derive(Clone, Copy)]
struct Start {
    secs: i64,
    nanos: i64,
}

impl Start {
    fn of(t: &DateTime<Utc>) -> Self {
        Self {
            secs: t.timestamp(),
            nanos: i64::from(t.timestamp_subsec_nanos()),
        }
    }

    fn nanos_to(self, t: &DateTime<Utc>) -> Result<i64, Error> {
        (t.timestamp() - self.secs)
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(i64::from(t.timestamp_subsec_nanos()) - self.nanos))
            .ok_or_else(|| {
                Error::custom("a node time more than 292 years from its execution's start has no nanosecond offset")
            })
    }
}

/// How many payloads written last a later one is looked up among, besides the trigger: those
/// a node passes on (its input as its output, a predecessor's output as its input) are near.
const RECENT: usize = 4;

/// The payloads written so far that a later one may be the same `Arc` of, numbered as
/// [`Payloads`](super::Payloads) reads them: the trigger, and the last few written whole.
struct Seen {
    trigger: *const Value,
    recent: [(*const Value, u64); RECENT],
    /// Where the next payload written whole goes in `recent`.
    at: usize,
    /// The number of the next payload.
    next: u64,
}

impl Seen {
    fn new(trigger: &Arc<Value>) -> Self {
        Self {
            trigger: Arc::as_ptr(trigger),
            recent: [(std::ptr::null(), 0); RECENT],
            at: 0,
            next: 1,
        }
    }

    /// The number of the payload written before that `value` is (the same `Arc`), if any;
    /// `value` takes the next number either way (`None`, no value, too).
    fn number(&mut self, value: Option<&Arc<Value>>) -> Option<u64> {
        let this = self.next;
        self.next += 1;
        let ptr = Arc::as_ptr(value?);
        if ptr == self.trigger {
            return Some(0);
        }
        if let Some(&(_, number)) = self.recent.iter().find(|(seen, _)| *seen == ptr) {
            return Some(number);
        }
        self.recent[self.at] = (ptr, this);
        self.at = (self.at + 1) % RECENT;
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Serialize;

    use super::Writer;

    /// What `rmp_serde` (through `rmp`) writes for `value`: the reference.
    fn reference<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
        let mut bytes = Vec::new();
        value
            .serialize(&mut rmp_serde::Serializer::new(&mut bytes).with_struct_map())
            .unwrap();
        bytes
    }

    fn written(write: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
        let mut bytes = Vec::new();
        write(&mut Writer(&mut bytes));
        bytes
    }

    /// Every integer form's edges, both sides of each.
    #[test]
    fn integers_are_written_in_rmps_shortest_forms() {
        let edges: [i128; 13] = [
            0,
            0x7f,
            0xff,
            0xffff,
            0xffff_ffff,
            -1,
            -32,
            -33,
            -128,
            -129,
            -32_768,
            -32_769,
            -2_147_483_648,
        ];
        for edge in edges {
            for n in [edge - 1, edge, edge + 1] {
                if let Ok(n) = u64::try_from(n) {
                    assert_eq!(written(|w| w.uint(n)), reference(&n), "{n} unsigned");
                }
                if let Ok(n) = i64::try_from(n) {
                    assert_eq!(written(|w| w.sint(n)), reference(&n), "{n} signed");
                }
            }
        }
        for n in [u64::MAX, u64::MAX - 1] {
            assert_eq!(written(|w| w.uint(n)), reference(&n));
        }
        for n in [i64::MIN, i64::MIN + 1, i64::MAX] {
            assert_eq!(written(|w| w.sint(n)), reference(&n));
        }
    }

    /// Every length form's edges, for texts, lists and maps.
    #[test]
    fn lengths_are_written_in_rmps_shortest_forms() {
        for n in [0, 1, 15, 16, 31, 32, 255, 256, 65_535, 65_536] {
            let text = "x".repeat(n);
            assert_eq!(written(|w| w.str(&text).unwrap()), reference(&text), "text of {n}");
            let list = serde_json::Value::Array(vec![serde_json::Value::Null; n]);
            assert_eq!(written(|w| w.value(&list).unwrap()), reference(&list), "list of {n}");
            let map: serde_json::Map<String, serde_json::Value> =
                (0..n).map(|i| (i.to_string(), serde_json::Value::Null)).collect();
            let map = serde_json::Value::Object(map);
            assert_eq!(written(|w| w.value(&map).unwrap()), reference(&map), "map of {n}");
        }
        let id = uuid::Uuid::now_v7();
        assert_eq!(written(|w| w.bin(id.as_bytes())), reference(&id));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any JSON value is written as serde_json's `Serialize` writes it through `rmp_serde`.
        #[test]
        fn any_json_is_written_as_rmp_serde_writes_it(value in super::super::tests::json()) {
            prop_assert_eq!(written(|w| w.value(&value).unwrap()), reference(&value));
        }
    }
}
