//! The actions: typed inputs, each turned into one Redis command (checked before anything is
//! sent), and typed outputs.
//!
//! Values go in as JSON: a string is stored as it is, anything else (a number, a boolean,
//! `null`, an object, an array) as its compact JSON text. Values come back as strings.

use std::collections::BTreeMap;
use std::sync::Arc;

use aura_core::{Context, Error, Result, Violation};
use redis::Cmd;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::core::Core;

/// The text Redis stores for a JSON value: a string as it is, anything else as compact JSON.
///
/// ```
/// use aura_connectors::redis::stored_text;
/// use serde_json::json;
///
/// assert_eq!(stored_text(&json!("plain")), "plain");
/// assert_eq!(stored_text(&json!(42)), "42");
/// assert_eq!(stored_text(&json!({ "a": [1, true] })), r#"{"a":[1,true]}"#);
/// ```
pub fn stored_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn refuse(path: &str, why: &str) -> Error {
    Error::invalid_input("the redis command's input is invalid", vec![Violation::new(path, why)])
}

fn check_name(path: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(refuse(path, "must not be empty"));
    }
    Ok(())
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The head (`LPUSH`, `LPOP`).
    Left,
    /// The tail (`RPUSH`, `RPOP`).
    #[default]
    Right,
}

// ---------------------------------------------------------------------------------------------
// get
// ---------------------------------------------------------------------------------------------

/// `redis.get`: a key's string value.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetInput {
    /// The key.
    #[schemars(length(min = 1))]
    pub key: String,
}

/// What `redis.get` returns.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct GetOutput {
    /// The value, `null` when the key does not exist.
    pub value: Option<String>,
}

impl GetInput {
    /// `GET key`.
    pub fn command(&self) -> Result<Cmd> {
        check_name("/key", &self.key)?;
        let mut cmd = redis::cmd("GET");
        cmd.arg(&self.key);
        Ok(cmd)
    }
}

pub(crate) async fn get(core: Arc<Core>, cx: Context, input: GetInput) -> Result<GetOutput> {
    let cmd = input.command()?;
    let value = core.query(&cx, &cmd, ("key", &input.key)).await?;
    Ok(GetOutput { value })
}

// ---------------------------------------------------------------------------------------------
// set
// ---------------------------------------------------------------------------------------------

/// When `redis.set` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SetCondition {
    /// Only if the key does not exist yet (`NX`).
    Nx,
    /// Only if the key exists already (`XX`).
    Xx,
}

/// `redis.set`: writes a value, optionally with a time to live and a condition.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetInput {
    /// The key.
    #[schemars(length(min = 1))]
    pub key: String,
    /// The value: a string is stored as it is, anything else as its JSON text.
    pub value: Value,
    /// Expire after this many seconds (`EX`).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub ttl_secs: Option<u64>,
    /// Expire after this many milliseconds (`PX`); not with `ttl_secs`.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub ttl_ms: Option<u64>,
    /// Write only if the key does not exist (`nx`) or only if it does (`xx`).
    #[serde(default)]
    pub condition: Option<SetCondition>,
}

/// What `redis.set` returns.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct SetOutput {
    /// Whether the value was written (`false` when the condition did not hold).
    pub written: bool,
}

impl SetInput {
    /// `SET key value [EX s | PX ms] [NX | XX]`.
    pub fn command(&self) -> Result<Cmd> {
        check_name("/key", &self.key)?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(&self.key).arg(stored_text(&self.value));
        match (self.ttl_secs, self.ttl_ms) {
            (Some(_), Some(_)) => return Err(refuse("/ttl_ms", "give ttl_secs or ttl_ms, not both")),
            (Some(0), _) => return Err(refuse("/ttl_secs", "must be at least 1")),
            (_, Some(0)) => return Err(refuse("/ttl_ms", "must be at least 1")),
            (Some(s), None) => {
                cmd.arg("EX").arg(s);
            }
            (None, Some(ms)) => {
                cmd.arg("PX").arg(ms);
            }
            (None, None) => {}
        }
        match self.condition {
            Some(SetCondition::Nx) => {
                cmd.arg("NX");
            }
            Some(SetCondition::Xx) => {
                cmd.arg("XX");
            }
            None => {}
        }
        Ok(cmd)
    }
}

pub(crate) async fn set(core: Arc<Core>, cx: Context, input: SetInput) -> Result<SetOutput> {
    let cmd = input.command()?;
    // `OK`, or nil when NX / XX did not hold.
    let answer: Option<String> = core.query(&cx, &cmd, ("key", &input.key)).await?;
    Ok(SetOutput {
        written: answer.is_some(),
    })
}

// ---------------------------------------------------------------------------------------------
// delete
// ---------------------------------------------------------------------------------------------

/// `redis.delete`: removes keys.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteInput {
    /// The keys.
    #[schemars(length(min = 1))]
    pub keys: Vec<String>,
}

/// What `redis.delete` returns.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct DeleteOutput {
    /// How many of the keys existed (and were removed).
    pub deleted: u64,
}

impl DeleteInput {
    /// `DEL key…`.
    pub fn command(&self) -> Result<Cmd> {
        if self.keys.is_empty() {
            return Err(refuse("/keys", "must name at least one key"));
        }
        for (i, key) in self.keys.iter().enumerate() {
            check_name(&format!("/keys/{i}"), key)?;
        }
        let mut cmd = redis::cmd("DEL");
        cmd.arg(&self.keys);
        Ok(cmd)
    }
}

pub(crate) async fn delete(core: Arc<Core>, cx: Context, input: DeleteInput) -> Result<DeleteOutput> {
    let cmd = input.command()?;
    let deleted = core.query(&cx, &cmd, ("key", &input.keys.join(" "))).await?;
    Ok(DeleteOutput { deleted })
}

// ---------------------------------------------------------------------------------------------
// incr
// ---------------------------------------------------------------------------------------------

/// `redis.incr`: adds to an integer (a missing key counts as 0).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncrInput {
    /// The key.
    #[schemars(length(min = 1))]
    pub key: String,
    /// What to add (negative to subtract; default 1).
    #[serde(default = "one")]
    pub by: i64,
}

fn one() -> i64 {
    1
}

/// What `redis.incr` returns.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct IncrOutput {
    /// The value after the increment.
    pub value: i64,
}

impl IncrInput {
    /// `INCRBY key by`.
    pub fn command(&self) -> Result<Cmd> {
        check_name("/key", &self.key)?;
        let mut cmd = redis::cmd("INCRBY");
        cmd.arg(&self.key).arg(self.by);
        Ok(cmd)
    }
}

pub(crate) async fn incr(core: Arc<Core>, cx: Context, input: IncrInput) -> Result<IncrOutput> {
    let cmd = input.command()?;
    let value = core.query(&cx, &cmd, ("key", &input.key)).await?;
    Ok(IncrOutput { value })
}

// ---------------------------------------------------------------------------------------------
// hash_get / hash_set
// ---------------------------------------------------------------------------------------------

/// `redis.hash_get`: fields of a hash.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HashGetInput {
    /// The key of the hash.
    #[schemars(length(min = 1))]
    pub key: String,
    /// The fields to read (default: all of them).
    #[serde(default)]
    pub fields: Vec<String>,
}

/// What `redis.hash_get` returns.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct HashGetOutput {
    /// The fields found, by name (a missing field, or a missing key, is absent).
    pub fields: BTreeMap<String, String>,
}

impl HashGetInput {
    /// `HMGET key field…`, or `HGETALL key` when no field is named.
    pub fn command(&self) -> Result<Cmd> {
        check_name("/key", &self.key)?;
        if self.fields.is_empty() {
            let mut cmd = redis::cmd("HGETALL");
            cmd.arg(&self.key);
            return Ok(cmd);
        }
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&self.key).arg(&self.fields);
        Ok(cmd)
    }
}

pub(crate) async fn hash_get(core: Arc<Core>, cx: Context, input: HashGetInput) -> Result<HashGetOutput> {
    let cmd = input.command()?;
    let target = ("key", input.key.as_str());
    let fields = if input.fields.is_empty() {
        core.query(&cx, &cmd, target).await?
    } else {
        let values: Vec<Option<String>> = core.query(&cx, &cmd, target).await?;
        input
            .fields
            .into_iter()
            .zip(values)
            .filter_map(|(field, value)| value.map(|v| (field, v)))
            .collect()
    };
    Ok(HashGetOutput { fields })
}

/// `redis.hash_set`: sets fields of a hash.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HashSetInput {
    /// The key of the hash.
    #[schemars(length(min = 1))]
    pub key: String,
    /// The fields to set: strings stored as they are, other values as their JSON text.
    #[schemars(extend("minProperties" = 1))]
    pub fields: BTreeMap<String, Value>,
}

/// What `redis.hash_set` returns.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct HashSetOutput {
    /// How many fields were new (the others were overwritten).
    pub added: u64,
}

impl HashSetInput {
    /// `HSET key field value…`.
    pub fn command(&self) -> Result<Cmd> {
        check_name("/key", &self.key)?;
        if self.fields.is_empty() {
            return Err(refuse("/fields", "must hold at least one field"));
        }
        let mut cmd = redis::cmd("HSET");
        cmd.arg(&self.key);
        for (field, value) in &self.fields {
            cmd.arg(field).arg(stored_text(value));
        }
        Ok(cmd)
    }
}

pub(crate) async fn hash_set(core: Arc<Core>, cx: Context, input: HashSetInput) -> Result<HashSetOutput> {
    let cmd = input.command()?;
    let added = core.query(&cx, &cmd, ("key", &input.key)).await?;
    Ok(HashSetOutput { added })
}

// ---------------------------------------------------------------------------------------------
// list_push / list_pop
// ---------------------------------------------------------------------------------------------

/// `redis.list_push`: adds values at one end of a list.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPushInput {
    /// The key of the list.
    #[schemars(length(min = 1))]
    pub key: String,
    /// The values, in order: strings stored as they are, other values as their JSON text.
    #[schemars(length(min = 1))]
    pub values: Vec<Value>,
    /// Which end (default `right`, the tail: a queue read with `list_pop` from the `left`).
    #[serde(default)]
    pub side: Side,
}

/// What `redis.list_push` returns.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct ListPushOutput {
    /// The list's length after the push.
    pub length: u64,
}

impl ListPushInput {
    /// `RPUSH key value…` or `LPUSH key value…`.
    pub fn command(&self) -> Result<Cmd> {
        check_name("/key", &self.key)?;
        if self.values.is_empty() {
            return Err(refuse("/values", "must hold at least one value"));
        }
        let mut cmd = redis::cmd(match self.side {
            Side::Left => "LPUSH",
            Side::Right => "RPUSH",
        });
        cmd.arg(&self.key);
        for value in &self.values {
            cmd.arg(stored_text(value));
        }
        Ok(cmd)
    }
}

pub(crate) async fn list_push(core: Arc<Core>, cx: Context, input: ListPushInput) -> Result<ListPushOutput> {
    let cmd = input.command()?;
    let length = core.query(&cx, &cmd, ("key", &input.key)).await?;
    Ok(ListPushOutput { length })
}

/// `redis.list_pop`: removes and returns values from one end of a list.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPopInput {
    /// The key of the list.
    #[schemars(length(min = 1))]
    pub key: String,
    /// Which end (default `left`, the head).
    #[serde(default = "left")]
    pub side: Side,
    /// How many values at most (default 1).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub count: Option<u64>,
}

fn left() -> Side {
    Side::Left
}

/// What `redis.list_pop` returns.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct ListPopOutput {
    /// The values removed, in the order they came off (empty when the list was empty).
    pub values: Vec<String>,
}

impl ListPopInput {
    /// `LPOP key [count]` or `RPOP key [count]`.
    pub fn command(&self) -> Result<Cmd> {
        check_name("/key", &self.key)?;
        let mut cmd = redis::cmd(match self.side {
            Side::Left => "LPOP",
            Side::Right => "RPOP",
        });
        cmd.arg(&self.key);
        match self.count {
            Some(0) => return Err(refuse("/count", "must be at least 1")),
            Some(n) => {
                cmd.arg(n);
            }
            None => {}
        }
        Ok(cmd)
    }
}

pub(crate) async fn list_pop(core: Arc<Core>, cx: Context, input: ListPopInput) -> Result<ListPopOutput> {
    let cmd = input.command()?;
    let target = ("key", input.key.as_str());
    // With a count: an array, or nil for an empty list; without: one value or nil.
    let values = if input.count.is_some() {
        core.query::<Option<Vec<String>>>(&cx, &cmd, target)
            .await?
            .unwrap_or_default()
    } else {
        core.query::<Option<String>>(&cx, &cmd, target)
            .await?
            .into_iter()
            .collect()
    };
    Ok(ListPopOutput { values })
}

// ---------------------------------------------------------------------------------------------
// publish
// ---------------------------------------------------------------------------------------------

/// `redis.publish`: sends a message on a pub/sub channel.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishInput {
    /// The channel.
    #[schemars(length(min = 1))]
    pub channel: String,
    /// The message: a string sent as it is, anything else as its JSON text.
    pub message: Value,
}

/// What `redis.publish` returns.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct PublishOutput {
    /// How many subscribers received it.
    pub receivers: u64,
}

impl PublishInput {
    /// `PUBLISH channel message`.
    pub fn command(&self) -> Result<Cmd> {
        check_name("/channel", &self.channel)?;
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(&self.channel).arg(stored_text(&self.message));
        Ok(cmd)
    }
}

pub(crate) async fn publish(core: Arc<Core>, cx: Context, input: PublishInput) -> Result<PublishOutput> {
    let cmd = input.command()?;
    let receivers = core.query(&cx, &cmd, ("channel", &input.channel)).await?;
    Ok(PublishOutput { receivers })
}

// ---------------------------------------------------------------------------------------------
// stream_add
// ---------------------------------------------------------------------------------------------

/// `redis.stream_add`: appends an entry to a stream.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamAddInput {
    /// The key of the stream (created when missing).
    #[schemars(length(min = 1))]
    pub stream: String,
    /// The entry's fields: strings stored as they are, other values as their JSON text.
    #[schemars(extend("minProperties" = 1))]
    pub fields: BTreeMap<String, Value>,
    /// The entry's id (default `*`: the server picks the next one).
    #[serde(default)]
    pub id: Option<String>,
    /// Trim the stream to about this many entries (`MAXLEN ~ n`; exact with `exact_max_len`).
    #[serde(default)]
    pub max_len: Option<u64>,
    /// Trim to exactly `max_len` (`MAXLEN = n`, slower) instead of about it.
    #[serde(default)]
    pub exact_max_len: bool,
}

/// What `redis.stream_add` returns.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct StreamAddOutput {
    /// The new entry's id (`1700000000000-0`).
    pub id: String,
}

impl StreamAddInput {
    /// `XADD stream [MAXLEN ~|= n] id field value…`.
    pub fn command(&self) -> Result<Cmd> {
        check_name("/stream", &self.stream)?;
        if self.fields.is_empty() {
            return Err(refuse("/fields", "must hold at least one field"));
        }
        if self.exact_max_len && self.max_len.is_none() {
            return Err(refuse("/exact_max_len", "needs max_len"));
        }
        let id = self.id.as_deref().unwrap_or("*");
        check_name("/id", id)?;
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.stream);
        if let Some(n) = self.max_len {
            cmd.arg("MAXLEN").arg(if self.exact_max_len { "=" } else { "~" }).arg(n);
        }
        cmd.arg(id);
        for (field, value) in &self.fields {
            cmd.arg(field).arg(stored_text(value));
        }
        Ok(cmd)
    }
}

pub(crate) async fn stream_add(core: Arc<Core>, cx: Context, input: StreamAddInput) -> Result<StreamAddOutput> {
    let cmd = input.command()?;
    let id = core.query(&cx, &cmd, ("stream", &input.stream)).await?;
    Ok(StreamAddOutput { id })
}
