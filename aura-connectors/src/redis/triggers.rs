//! The triggers: `subscribe` (a pub/sub channel or pattern, at-most-once) and `stream` (a
//! stream read through a consumer group, acknowledged once the runtime has accepted the
//! executions: at-least-once, deduplicated by entry id).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aura_core::trigger::{Poll, PollingTrigger, TriggerParams};
use aura_core::{ConnectionId, Context, Error, Result, TriggerItem};
use futures::StreamExt as _;
use redis::aio::PubSubSink;
use redis::{Cmd, Value as RedisValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::core::Core;
use super::error::from_redis;

// ---------------------------------------------------------------------------------------------
// subscribe
// ---------------------------------------------------------------------------------------------

/// `redis.subscribe`'s parameters: one channel or one pattern.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeParams {
    /// The channel to subscribe to (`SUBSCRIBE`).
    #[serde(default)]
    pub channel: Option<String>,
    /// A pattern of channels (`PSUBSCRIBE`, `orders.*`).
    #[serde(default)]
    pub pattern: Option<String>,
    /// How many messages wait between two polls at most; past that the oldest are dropped
    /// (and counted in the cursor's `dropped`). Default 10,000.
    #[serde(default = "ten_thousand")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_buffer: usize,
}

fn ten_thousand() -> usize {
    10_000
}

/// What a subscription listens to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Target {
    Channel(String),
    Pattern(String),
}

impl SubscribeParams {
    fn target(&self) -> Result<Target> {
        match (&self.channel, &self.pattern) {
            (Some(c), None) if !c.is_empty() => Ok(Target::Channel(c.clone())),
            (None, Some(p)) if !p.is_empty() => Ok(Target::Pattern(p.clone())),
            _ => Err(Error::invalid_definition(
                "redis.subscribe takes one non-empty `channel` or one non-empty `pattern`",
            )),
        }
    }
}

/// One pub/sub message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PubSubMessage {
    /// The channel it was published on.
    pub channel: String,
    /// The pattern it matched, for a pattern subscription.
    pub pattern: Option<String>,
    /// The message (bytes that are not UTF-8 are replaced with U+FFFD).
    pub message: String,
}

/// `redis.subscribe`'s cursor: counts, for the record (a subscription has no position to
/// resume from).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeCursor {
    /// Messages delivered so far.
    #[serde(default)]
    pub received: u64,
    /// Messages dropped so far because the buffer was full between two polls.
    #[serde(default)]
    pub dropped: u64,
}

#[derive(Default)]
struct Buffer {
    messages: VecDeque<PubSubMessage>,
    dropped: u64,
}

/// What the listening task and the polls share.
struct Inbox {
    buffer: Mutex<Buffer>,
    closed: AtomicBool,
    max: usize,
}

impl Inbox {
    fn push(&self, message: PubSubMessage) {
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        if buffer.messages.len() >= self.max {
            buffer.messages.pop_front();
            buffer.dropped += 1;
        }
        buffer.messages.push_back(message);
    }

    fn drain(&self, at_most: usize) -> (Vec<PubSubMessage>, bool, u64) {
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let n = at_most.min(buffer.messages.len());
        let out: Vec<_> = buffer.messages.drain(..n).collect();
        let dropped = std::mem::take(&mut buffer.dropped);
        (out, !buffer.messages.is_empty(), dropped)
    }
}

/// One live subscription: its connection (held by the listening task) and its inbox.
struct Subscription {
    version: u64,
    inbox: Arc<Inbox>,
    sink: tokio::sync::Mutex<PubSubSink>,
    /// Unique to this subscription: the prefix of its messages' dedupe keys.
    token: String,
    sequence: AtomicU64,
    last_poll: Mutex<Instant>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Ends the listening task, which drops the connection.
        self.task.abort();
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SubscriptionKey {
    connection: ConnectionId,
    scenario: Option<String>,
    node: Option<String>,
    target: Target,
}

/// The live subscriptions of the `subscribe` trigger, one per connection, trigger node and
/// channel or pattern.
pub(crate) struct Subscriptions {
    live: Mutex<HashMap<SubscriptionKey, Arc<Subscription>>>,
    /// A subscription no poll asked for in this long is closed (its scenario was undeployed).
    idle: Duration,
}

impl Subscriptions {
    pub(crate) fn new(idle: Duration) -> Self {
        Self {
            live: Mutex::new(HashMap::new()),
            idle,
        }
    }

    pub(crate) fn clear(&self) {
        self.live.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// The live subscription for `key` at credential `version`, after closing the idle ones
    /// and any of an older version.
    fn get(&self, key: &SubscriptionKey, version: u64) -> Option<Arc<Subscription>> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        live.retain(|k, s| {
            let idle = now.duration_since(*s.last_poll.lock().unwrap_or_else(PoisonError::into_inner)) > self.idle;
            let replaced = k == key && s.version != version;
            !idle && !replaced
        });
        live.get(key).cloned()
    }

    fn insert(&self, key: SubscriptionKey, subscription: Arc<Subscription>) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, subscription);
    }

    fn remove(&self, key: &SubscriptionKey) {
        self.live.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }
}

/// The `subscribe` trigger.
pub(crate) struct Subscribe {
    pub(crate) core: Arc<Core>,
    pub(crate) subscriptions: Arc<Subscriptions>,
}

/// At most this many messages per poll (more wait for the next poll, which comes at once).
const MESSAGES_PER_POLL: usize = 1_000;

#[async_trait]
impl PollingTrigger for Subscribe {
    type Item = PubSubMessage;
    type Cursor = SubscribeCursor;

    async fn poll(
        &self,
        cx: &Context,
        cursor: Option<SubscribeCursor>,
    ) -> Result<Poll<PubSubMessage, SubscribeCursor>> {
        let params: SubscribeParams = TriggerParams::required(cx, "redis.subscribe")?;
        let target = params.target()?;
        let conn = cx.require_connection()?;
        let key = SubscriptionKey {
            connection: conn.id().clone(),
            scenario: cx.scenario_id().map(str::to_owned),
            node: cx.node_id().map(str::to_owned),
            target: target.clone(),
        };
        let mut cursor = cursor.unwrap_or_default();
        let Some(sub) = self.subscriptions.get(&key, conn.version()) else {
            // The first poll (or the first since the connection changed): subscribe. What is
            // published from now on is delivered by the next polls.
            let sub = self.open(cx, &target, conn.version(), params.max_buffer).await?;
            self.subscriptions.insert(key, sub);
            return Ok(Poll::new(Vec::new(), cursor));
        };
        *sub.last_poll.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        let (messages, more, dropped) = sub.inbox.drain(MESSAGES_PER_POLL);
        cursor.received += messages.len() as u64;
        cursor.dropped += dropped;
        let items = messages
            .into_iter()
            .map(|m| {
                let n = sub.sequence.fetch_add(1, Ordering::Relaxed);
                TriggerItem::new(format!("{}-{n}", sub.token), m)
            })
            .collect();
        // A subscription whose connection is gone (the task ended, or it no longer answers a
        // PING) is dropped once drained: the next poll subscribes again.
        let alive = !sub.inbox.closed.load(Ordering::Acquire) && self.ping(&sub).await;
        if !alive && !more {
            self.subscriptions.remove(&key);
        }
        Ok(Poll { items, cursor, more })
    }
}

impl Subscribe {
    async fn open(&self, cx: &Context, target: &Target, version: u64, max: usize) -> Result<Arc<Subscription>> {
        let (pubsub, handle) = self.core.pubsub(cx).await?;
        let (mut sink, mut stream) = pubsub.split();
        let (subscribed, what, name) = match target {
            Target::Channel(c) => (sink.subscribe(c).await, "channel", c),
            Target::Pattern(p) => (sink.psubscribe(p).await, "pattern", p),
        };
        subscribed.map_err(|e| {
            from_redis(&e, &handle.scrubber)
                .with_context(what, name.clone())
                .with_context("address", handle.address.to_string())
        })?;
        let inbox = Arc::new(Inbox {
            buffer: Mutex::new(Buffer::default()),
            closed: AtomicBool::new(false),
            max,
        });
        let listening = inbox.clone();
        let task = tokio::spawn(async move {
            while let Some(msg) = stream.next().await {
                listening.push(PubSubMessage {
                    channel: String::from_utf8_lossy(msg.get_channel_name().as_bytes()).into_owned(),
                    pattern: msg.get_pattern::<Option<String>>().ok().flatten(),
                    message: String::from_utf8_lossy(msg.get_payload_bytes()).into_owned(),
                });
            }
            listening.closed.store(true, Ordering::Release);
        });
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Ok(Arc::new(Subscription {
            version,
            inbox,
            sink: tokio::sync::Mutex::new(sink),
            token: format!("{:x}", since_epoch.as_nanos()),
            sequence: AtomicU64::new(0),
            last_poll: Mutex::new(Instant::now()),
            task,
        }))
    }

    /// Whether the subscription's connection still answers (`PING` in subscribed mode).
    async fn ping(&self, sub: &Subscription) -> bool {
        let mut sink = sub.sink.lock().await;
        let ping = sink.ping::<RedisValue>();
        matches!(tokio::time::timeout(self.core.timeouts.response, ping).await, Ok(Ok(_)))
    }
}

// ---------------------------------------------------------------------------------------------
// stream
// ---------------------------------------------------------------------------------------------

/// Where a new consumer group starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupStart {
    /// With the entries added after the group is created (`$`).
    #[default]
    New,
    /// With every entry already in the stream (`0`).
    All,
}

/// `redis.stream`'s parameters.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// The key of the stream (created, empty, when missing).
    #[schemars(length(min = 1))]
    pub stream: String,
    /// The consumer group (created when missing).
    #[schemars(length(min = 1))]
    pub group: String,
    /// This reader's name in the group (default `aura`). Give each engine process its own
    /// name when several read the same group.
    #[serde(default = "aura")]
    #[schemars(length(min = 1))]
    pub consumer: String,
    /// Where a group created by the trigger starts (default `new`).
    #[serde(default)]
    pub start: GroupStart,
    /// At most this many entries per poll (default 100; more are read at once by the next
    /// poll).
    #[serde(default = "hundred")]
    #[schemars(range(min = 1, max = 10_000))]
    pub count: u64,
}

fn aura() -> String {
    "aura".to_owned()
}

fn hundred() -> u64 {
    100
}

/// One stream entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StreamEntry {
    /// Its id (`1700000000000-0`), also its dedupe key.
    pub id: String,
    /// The stream it was read from.
    pub stream: String,
    /// Its fields (bytes that are not UTF-8 are replaced with U+FFFD).
    pub fields: BTreeMap<String, String>,
}

/// `redis.stream`'s cursor: the entries the last poll delivered, acknowledged (`XACK`) at the
/// start of the next poll, which the runtime runs only after it stored this cursor with the
/// executions of those entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCursor {
    /// The stream the ids are from.
    pub stream: String,
    /// The group they were read through.
    pub group: String,
    /// The ids to acknowledge.
    #[serde(default)]
    pub ack: Vec<String>,
}

/// The `stream` trigger.
pub(crate) struct StreamTrigger {
    pub(crate) core: Arc<Core>,
}

#[async_trait]
impl PollingTrigger for StreamTrigger {
    type Item = StreamEntry;
    type Cursor = StreamCursor;

    async fn poll(&self, cx: &Context, cursor: Option<StreamCursor>) -> Result<Poll<StreamEntry, StreamCursor>> {
        let p: StreamParams = TriggerParams::required(cx, "redis.stream")?;
        check_stream_params(&p)?;
        // What the last poll delivered is now accepted (its cursor is this one): acknowledge it.
        if let Some(ack) = cursor.and_then(|c| ack_command(&p, &c)) {
            self.core.query::<i64>(cx, &ack, ("stream", &p.stream)).await?;
        }
        // Entries delivered to this consumer and never acknowledged first: a poll whose
        // executions were not stored (a crash, a failed commit) left them pending.
        let mut entries = self.read(cx, &p, "0").await?;
        let redelivered = !entries.is_empty();
        if !redelivered {
            entries = self.read(cx, &p, ">").await?;
        }
        // A full page may have more behind it; after a redelivery, the next poll (at once)
        // acknowledges it and goes on with the new entries.
        let more = redelivered || entries.len() as u64 >= p.count;
        let ack: Vec<String> = entries.iter().map(|(id, _)| id.clone()).collect();
        let items = entries
            .into_iter()
            // An entry deleted (XDEL, trimmed) while pending has no fields: acknowledged with
            // the others, delivered to no one.
            .filter_map(|(id, fields)| {
                fields.map(|fields| {
                    TriggerItem::new(
                        id.clone(),
                        StreamEntry {
                            id,
                            stream: p.stream.clone(),
                            fields,
                        },
                    )
                })
            })
            .collect();
        Ok(Poll {
            items,
            cursor: StreamCursor {
                stream: p.stream.clone(),
                group: p.group.clone(),
                ack,
            },
            more,
        })
    }
}

/// One entry as read: its id and its fields (none when it was deleted while pending).
type ReadEntry = (String, Option<BTreeMap<String, String>>);

impl StreamTrigger {
    /// `XREADGROUP … STREAMS stream from`, creating the group (and the stream) when missing.
    async fn read(&self, cx: &Context, p: &StreamParams, from: &str) -> Result<Vec<ReadEntry>> {
        let cmd = read_command(p, from);
        let answer = match self.core.query::<RedisValue>(cx, &cmd, ("stream", &p.stream)).await {
            Err(e) if e.context_value("code") == Some("NOGROUP") => {
                let create = create_group_command(p);
                match self.core.query::<RedisValue>(cx, &create, ("stream", &p.stream)).await {
                    // Created meanwhile by another reader.
                    Err(e) if e.context_value("code") == Some("BUSYGROUP") => {}
                    other => {
                        other.map_err(|e| e.with_context("group", p.group.clone()))?;
                    }
                }
                self.core.query::<RedisValue>(cx, &cmd, ("stream", &p.stream)).await?
            }
            other => other?,
        };
        stream_entries(answer)
    }
}

fn check_stream_params(p: &StreamParams) -> Result<()> {
    for (field, value) in [("stream", &p.stream), ("group", &p.group), ("consumer", &p.consumer)] {
        if value.is_empty() {
            return Err(Error::invalid_definition(format!(
                "redis.stream's `{field}` must not be empty"
            )));
        }
    }
    if p.count == 0 {
        return Err(Error::invalid_definition("redis.stream's `count` must be at least 1"));
    }
    Ok(())
}

/// `XREADGROUP GROUP group consumer COUNT n STREAMS stream from` (no `BLOCK`: a poll never
/// waits on the server).
pub(crate) fn read_command(p: &StreamParams, from: &str) -> Cmd {
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(&p.group)
        .arg(&p.consumer)
        .arg("COUNT")
        .arg(p.count)
        .arg("STREAMS")
        .arg(&p.stream)
        .arg(from);
    cmd
}

/// `XGROUP CREATE stream group $|0 MKSTREAM`.
pub(crate) fn create_group_command(p: &StreamParams) -> Cmd {
    let mut cmd = redis::cmd("XGROUP");
    cmd.arg("CREATE")
        .arg(&p.stream)
        .arg(&p.group)
        .arg(match p.start {
            GroupStart::New => "$",
            GroupStart::All => "0",
        })
        .arg("MKSTREAM");
    cmd
}

/// `XACK stream group id…` for the cursor's ids, when it has some and is of this stream and
/// group (the params may have changed since).
pub(crate) fn ack_command(p: &StreamParams, cursor: &StreamCursor) -> Option<Cmd> {
    if cursor.ack.is_empty() || cursor.stream != p.stream || cursor.group != p.group {
        return None;
    }
    let mut cmd = redis::cmd("XACK");
    cmd.arg(&p.stream).arg(&p.group).arg(&cursor.ack);
    Some(cmd)
}

/// The entries of an `XREADGROUP` answer for one stream: nil (nothing new), or
/// `[[stream, [[id, [field, value, …] | nil], …]]]` (RESP2), or a map of stream to entries
/// (RESP3).
pub(crate) fn stream_entries(answer: RedisValue) -> Result<Vec<ReadEntry>> {
    let bad = || {
        Error::new(
            aura_core::ErrorKind::Upstream,
            "redis answered XREADGROUP with an unexpected shape",
        )
    };
    let per_stream = match answer {
        RedisValue::Nil => return Ok(Vec::new()),
        RedisValue::Array(streams) => streams
            .into_iter()
            .map(|s| match s {
                RedisValue::Array(mut pair) if pair.len() == 2 => Ok(pair.swap_remove(1)),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>>>()?,
        RedisValue::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        _ => return Err(bad()),
    };
    let mut out = Vec::new();
    for entries in per_stream {
        let RedisValue::Array(entries) = entries else {
            return Err(bad());
        };
        for entry in entries {
            let RedisValue::Array(mut parts) = entry else {
                return Err(bad());
            };
            if parts.len() != 2 {
                return Err(bad());
            }
            let fields = parts.pop().ok_or_else(bad)?;
            let id = text(parts.pop().ok_or_else(bad)?).ok_or_else(bad)?;
            let fields = match fields {
                RedisValue::Nil => None,
                RedisValue::Array(flat) => {
                    let mut map = BTreeMap::new();
                    let mut flat = flat.into_iter();
                    while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                        map.insert(text(k).ok_or_else(bad)?, text(v).ok_or_else(bad)?);
                    }
                    Some(map)
                }
                RedisValue::Map(pairs) => Some(
                    pairs
                        .into_iter()
                        .map(|(k, v)| Ok((text(k).ok_or_else(bad)?, text(v).ok_or_else(bad)?)))
                        .collect::<Result<_>>()?,
                ),
                _ => return Err(bad()),
            };
            out.push((id, fields));
        }
    }
    Ok(out)
}

/// A string-like answer as text (bytes that are not UTF-8 replaced).
fn text(value: RedisValue) -> Option<String> {
    match value {
        RedisValue::BulkString(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        RedisValue::SimpleString(s) => Some(s),
        RedisValue::VerbatimString { text, .. } => Some(text),
        RedisValue::Int(i) => Some(i.to_string()),
        _ => None,
    }
}
