//! The `new_objects` trigger: a prefix polled for objects written since the last poll.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aura_core::trigger::{Poll, PollingTrigger, TriggerItem, TriggerParams};
use aura_core::{Context, Error, Result};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::actions::ObjectInfo;
use super::core::{Stores, prefix};

/// The most objects one poll brings by default.
const DEFAULT_MAX_ITEMS: u32 = 100;

/// The `new_objects` trigger's parameters.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewObjectsParams {
    /// Watch under this prefix, by whole segments (`incoming` watches `incoming/…`); empty
    /// for the whole bucket.
    #[serde(default)]
    pub prefix: String,
    /// The most objects one poll brings (default 100, at most 1000); the rest come on the
    /// next poll, at once (`more`).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub max_items: Option<u32>,
    /// On the first poll, bring the objects already there (default: only objects written
    /// after the first poll).
    #[serde(default)]
    pub include_existing: bool,
}

/// Where the trigger stands: the newest `(last_modified, key)` brought, and every key brought
/// at that exact time, so that an object written in the same instant (S3 times have a
/// resolution of one second) is not lost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewObjectsCursor {
    /// The newest modification time seen (`None`: nothing yet, everything is new).
    pub last_modified: Option<DateTime<Utc>>,
    /// The keys seen with exactly that time.
    pub keys: Vec<String>,
}

impl NewObjectsCursor {
    /// Whether an object written at `at` with `key` is after this cursor.
    pub fn is_new(&self, at: DateTime<Utc>, key: &str) -> bool {
        match self.last_modified {
            None => true,
            Some(seen) => at > seen || (at == seen && !self.keys.iter().any(|k| k == key)),
        }
    }

    /// The cursor that marks every object of `objects` as seen (the first poll's baseline).
    pub fn baseline<'a>(objects: impl IntoIterator<Item = (DateTime<Utc>, &'a str)>) -> Self {
        let mut cursor = Self::default();
        for (at, key) in objects {
            cursor.see(at, key);
        }
        cursor
    }

    /// Marks one object as seen.
    fn see(&mut self, at: DateTime<Utc>, key: &str) {
        match self.last_modified {
            Some(seen) if at < seen => {}
            Some(seen) if at == seen => {
                if !self.keys.iter().any(|k| k == key) {
                    self.keys.push(key.to_owned());
                }
            }
            _ => {
                self.last_modified = Some(at);
                self.keys = vec![key.to_owned()];
            }
        }
    }
}

/// Chooses, among objects, the new ones after `cursor`, oldest first, at most `max`: the
/// items, the next cursor, and whether more new objects wait.
pub fn select(
    objects: impl IntoIterator<Item = (DateTime<Utc>, ObjectInfo)>,
    cursor: &NewObjectsCursor,
    max: usize,
) -> (Vec<ObjectInfo>, NewObjectsCursor, bool) {
    let mut page = Page::new(cursor, max);
    for (at, info) in objects {
        page.offer(at, info);
    }
    page.finish()
}

/// The `max` oldest objects after a cursor, by (time, key), gathered one listed object at a
/// time: memory stays bounded by the page, not by the listing.
struct Page<'a> {
    cursor: &'a NewObjectsCursor,
    max: usize,
    oldest: BTreeMap<(DateTime<Utc>, String), ObjectInfo>,
    more: bool,
}

impl<'a> Page<'a> {
    fn new(cursor: &'a NewObjectsCursor, max: usize) -> Self {
        Self {
            cursor,
            max,
            oldest: BTreeMap::new(),
            more: false,
        }
    }

    fn offer(&mut self, at: DateTime<Utc>, info: ObjectInfo) {
        if !self.cursor.is_new(at, &info.key) {
            return;
        }
        self.oldest.insert((at, info.key.clone()), info);
        if self.oldest.len() > self.max {
            self.oldest.pop_last();
            self.more = true;
        }
    }

    fn finish(self) -> (Vec<ObjectInfo>, NewObjectsCursor, bool) {
        let mut next = self.cursor.clone();
        let mut items = Vec::with_capacity(self.oldest.len());
        for ((at, key), info) in self.oldest {
            next.see(at, &key);
            items.push(info);
        }
        (items, next, self.more)
    }
}

/// The dedupe key of an object: its key and what identifies this write of it.
pub fn dedupe_key(info: &ObjectInfo) -> String {
    let version = info
        .version
        .as_deref()
        .or(info.etag.as_deref())
        .unwrap_or(info.last_modified.as_str());
    format!("{}#{version}", info.key)
}

/// The trigger.
pub(crate) struct NewObjects {
    pub(crate) stores: Stores,
}

#[async_trait]
impl PollingTrigger for NewObjects {
    type Item = ObjectInfo;
    type Cursor = NewObjectsCursor;

    async fn poll(&self, cx: &Context, cursor: Option<NewObjectsCursor>) -> Result<Poll<ObjectInfo, NewObjectsCursor>> {
        let params: NewObjectsParams = TriggerParams::read(cx, "object_store.new_objects")?.unwrap_or_default();
        let under = prefix("prefix", &params.prefix)?;
        let max = params.max_items.unwrap_or(DEFAULT_MAX_ITEMS);
        if max == 0 || max > 1000 {
            return Err(
                Error::invalid_definition("new_objects: max_items is between 1 and 1000")
                    .with_context("field", "max_items"),
            );
        }
        let store = self.stores.of(cx)?;
        // The first poll takes what is there as its baseline (unless asked for it all).
        let first = cursor.is_none() && !params.include_existing;
        let cursor = cursor.unwrap_or_default();
        let mut baseline = NewObjectsCursor::default();
        let mut page = Page::new(&cursor, max as usize);
        let mut stream = store.objects.list(under.as_ref());
        while let Some(next) = stream.next().await {
            let meta = next.map_err(|e| store.error(e, None))?;
            if first {
                baseline.see(meta.last_modified, meta.location.as_ref());
            } else {
                page.offer(meta.last_modified, ObjectInfo::of(&meta));
            }
        }
        if first {
            return Ok(Poll::new(Vec::new(), baseline));
        }
        let (objects, next, more) = page.finish();
        let items = objects
            .into_iter()
            .map(|info| TriggerItem::new(dedupe_key(&info), info))
            .collect();
        let mut poll = Poll::new(items, next);
        poll.more = more;
        Ok(poll)
    }
}
