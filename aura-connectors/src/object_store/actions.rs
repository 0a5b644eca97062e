//! The actions: put, get, list, delete, copy and presign, each a typed function over the
//! connection's [`ObjectStore`](::object_store::ObjectStore).

use std::collections::BTreeMap;
use std::time::Duration;

use ::object_store as store;
use aura_core::{Context, Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use store::path::Path;
use store::{
    Attribute, Attributes, CopyMode, CopyOptions, GetOptions, GetRange, ObjectMeta, PutMode, PutOptions, PutPayload,
};

use super::config::Provider;
use super::core::{Store, Stores, bad_field, key, prefix};

/// What `get` reads at most when the input says nothing (8 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 8 * 1024 * 1024;
/// The most `get` may be allowed to read (64 MiB): larger objects are read by range.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;
/// The most entries a `list` page may hold.
pub const MAX_RESULTS: u32 = 1000;
/// The longest a presigned URL may live (7 days, S3's limit).
pub const MAX_EXPIRY_SECS: u64 = 7 * 24 * 3600;

/// How `content` is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// UTF-8 text, stored as its bytes.
    #[default]
    Text,
    /// Base64 (standard alphabet, padded) of any bytes.
    Base64,
}

/// The input of `object_store.put`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutInput {
    /// The object's key (`reports/2024/summary.csv`): segments separated by `/`.
    #[schemars(length(min = 1, max = 1024))]
    pub key: String,
    /// The content: text, or base64 with `encoding: base64`.
    pub content: String,
    /// How `content` is written (default `text`).
    #[serde(default)]
    pub encoding: Encoding,
    /// The `Content-Type` stored with the object (`text/csv`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// The `Cache-Control` stored with the object.
    #[serde(default)]
    pub cache_control: Option<String>,
    /// The `Content-Disposition` stored with the object.
    #[serde(default)]
    pub content_disposition: Option<String>,
    /// User metadata (`x-amz-meta-*`, `x-ms-meta-*`): names of ASCII letters, digits, `-`
    /// and `_`.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Refuse with `Conflict` when the key exists (default: overwrite).
    #[serde(default)]
    pub if_not_exists: bool,
}

/// What `object_store.put` returns.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct PutOutput {
    /// The key written.
    pub key: String,
    /// How many bytes were written.
    pub size: u64,
    /// The new object's ETag, when the store gives one.
    pub etag: Option<String>,
    /// The new object's version, on a versioned bucket.
    pub version: Option<String>,
}

/// A byte range: from `start` up to `end` (exclusive), or to the end of the object.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ByteRange {
    /// The first byte.
    pub start: u64,
    /// The byte after the last (default: the object's end).
    #[serde(default)]
    pub end: Option<u64>,
}

/// The input of `object_store.get`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetInput {
    /// The object's key.
    #[schemars(length(min = 1, max = 1024))]
    pub key: String,
    /// Only these bytes.
    #[serde(default)]
    pub range: Option<ByteRange>,
    /// The most bytes to read (default 8 MiB, at most 64 MiB): a larger object (or range) is
    /// refused with `InvalidInput`, read it by range.
    #[serde(default)]
    #[schemars(range(min = 1, max = 67_108_864))]
    pub max_bytes: Option<u64>,
}

/// What `object_store.get` returns.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct GetOutput {
    /// The key read.
    pub key: String,
    /// The content: text when it is UTF-8, else base64 (see `encoding`).
    pub content: String,
    /// How `content` is written.
    pub encoding: Encoding,
    /// The whole object's size in bytes.
    pub size: u64,
    /// The bytes read, `[start, end)`.
    pub range: [u64; 2],
    /// The object's ETag.
    pub etag: Option<String>,
    /// The object's version, on a versioned bucket.
    pub version: Option<String>,
    /// When the object was last written (RFC 3339).
    pub last_modified: String,
    /// The stored `Content-Type`.
    pub content_type: Option<String>,
    /// The user metadata.
    pub metadata: BTreeMap<String, String>,
}

/// The input of `object_store.list`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    /// List under this prefix, by whole segments (`reports/2024` lists `reports/2024/…`);
    /// empty for the whole bucket.
    #[serde(default)]
    pub prefix: String,
    /// Group the keys one level below the prefix into `folders`, as `/` delimits them.
    #[serde(default)]
    pub delimiter: bool,
    /// Start after this key (the `next_offset` of the page before).
    #[serde(default)]
    pub offset: Option<String>,
    /// The most entries (objects and folders) in the page (default 100, at most 1000).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub max_results: Option<u32>,
}

/// One object in a listing or a trigger item.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written (RFC 3339).
    pub last_modified: String,
    /// Its ETag.
    pub etag: Option<String>,
    /// Its version, on a versioned bucket.
    pub version: Option<String>,
}

impl ObjectInfo {
    pub(crate) fn of(meta: &ObjectMeta) -> Self {
        Self {
            key: meta.location.to_string(),
            size: meta.size,
            last_modified: rfc3339(meta.last_modified),
            etag: meta.e_tag.clone(),
            version: meta.version.clone(),
        }
    }
}

/// What `object_store.list` returns.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct ListOutput {
    /// The objects, by key.
    pub objects: Vec<ObjectInfo>,
    /// With `delimiter`: the "folders" one level down, each ending in `/`.
    pub folders: Vec<String>,
    /// Whether more entries follow this page.
    pub truncated: bool,
    /// With `truncated`: the `offset` that reads the next page.
    pub next_offset: Option<String>,
}

/// The input of `object_store.delete`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteInput {
    /// The object's key.
    #[schemars(length(min = 1, max = 1024))]
    pub key: String,
}

/// What `object_store.delete` returns.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct DeleteOutput {
    /// The key deleted (or already absent: deleting is idempotent).
    pub key: String,
}

/// The input of `object_store.copy`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyInput {
    /// The key copied.
    #[schemars(length(min = 1, max = 1024))]
    pub from: String,
    /// The key written.
    #[schemars(length(min = 1, max = 1024))]
    pub to: String,
    /// Replace `to` when it exists (default `true`); with `false` an existing `to` is a
    /// `Conflict`.
    #[serde(default = "yes")]
    pub overwrite: bool,
}

fn yes() -> bool {
    true
}

/// What `object_store.copy` returns.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct CopyOutput {
    /// The key copied.
    pub from: String,
    /// The key written.
    pub to: String,
}

/// The method a presigned URL allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum SignedMethod {
    /// Download the object.
    #[default]
    #[serde(rename = "GET")]
    Get,
    /// Upload the object.
    #[serde(rename = "PUT")]
    Put,
}

/// The input of `object_store.presign`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PresignInput {
    /// The object's key.
    #[schemars(length(min = 1, max = 1024))]
    pub key: String,
    /// `GET` (default) or `PUT`.
    #[serde(default)]
    pub method: SignedMethod,
    /// How long the URL works, in seconds (default 3600, at most 7 days).
    #[serde(default)]
    #[schemars(range(min = 1, max = 604_800))]
    pub expires_secs: Option<u64>,
}

/// What `object_store.presign` returns.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct PresignOutput {
    /// The URL: whoever holds it may do `method` on the object until `expires_at`.
    pub url: String,
    /// The method it allows.
    pub method: SignedMethod,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}

pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

// ---------------------------------------------------------------------------------------------
// Input checks: everything a store would refuse, refused before the connection is touched.
// ---------------------------------------------------------------------------------------------

/// The bytes and options of a put, checked.
pub(crate) fn put_request(input: &PutInput) -> Result<(Path, Bytes, PutOptions)> {
    let path = key("key", &input.key)?;
    let bytes = match input.encoding {
        Encoding::Text => Bytes::from(input.content.clone().into_bytes()),
        Encoding::Base64 => Bytes::from(
            STANDARD
                .decode(input.content.trim())
                .map_err(|_| bad_field("content", "not base64 (standard alphabet, padded)"))?,
        ),
    };
    let mut attributes = Attributes::new();
    for (attribute, value, field) in [
        (Attribute::ContentType, &input.content_type, "content_type"),
        (Attribute::CacheControl, &input.cache_control, "cache_control"),
        (
            Attribute::ContentDisposition,
            &input.content_disposition,
            "content_disposition",
        ),
    ] {
        if let Some(value) = value {
            header_value(field, value)?;
            attributes.insert(attribute, value.clone().into());
        }
    }
    for (name, value) in &input.metadata {
        let field = format!("metadata/{name}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(bad_field(
                &field,
                "a metadata name is ASCII letters, digits, `-` and `_`",
            ));
        }
        header_value(&field, value)?;
        attributes.insert(
            Attribute::Metadata(name.to_ascii_lowercase().into()),
            value.clone().into(),
        );
    }
    let options = PutOptions {
        mode: if input.if_not_exists {
            PutMode::Create
        } else {
            PutMode::Overwrite
        },
        attributes,
        ..PutOptions::default()
    };
    Ok((path, bytes, options))
}

/// A value that goes into an HTTP header: visible ASCII and spaces.
fn header_value(field: &str, value: &str) -> Result<()> {
    if value.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(bad_field(field, "a header value: printable ASCII only"))
    }
}

/// The options of a get, checked: the range and the byte limit.
pub(crate) fn get_request(input: &GetInput) -> Result<(Path, GetOptions, u64)> {
    let path = key("key", &input.key)?;
    let limit = input.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
    if limit == 0 || limit > MAX_BYTES {
        return Err(bad_field("max_bytes", "between 1 and 67108864 (64 MiB)"));
    }
    let range = match input.range {
        None => None,
        Some(ByteRange { start, end: None }) => Some(GetRange::Offset(start)),
        Some(ByteRange { start, end: Some(end) }) => {
            if end <= start {
                return Err(bad_field("range/end", "after `start`"));
            }
            Some(GetRange::Bounded(start..end))
        }
    };
    let options = GetOptions {
        range,
        ..GetOptions::default()
    };
    Ok((path, options, limit))
}

/// A checked listing: prefix, offset, page size.
pub(crate) struct ListRequest {
    pub(crate) prefix: Option<Path>,
    pub(crate) offset: Option<String>,
    pub(crate) max: usize,
    pub(crate) delimiter: bool,
}

pub(crate) fn list_request(input: &ListInput) -> Result<ListRequest> {
    let prefix = prefix("prefix", &input.prefix)?;
    let offset = match &input.offset {
        Some(offset) if !offset.is_empty() => {
            let trimmed = offset.strip_suffix('/').unwrap_or(offset);
            key("offset", trimmed)?;
            Some(offset.clone())
        }
        _ => None,
    };
    let max = input.max_results.unwrap_or(100);
    if max == 0 || max > MAX_RESULTS {
        return Err(bad_field("max_results", "between 1 and 1000"));
    }
    Ok(ListRequest {
        prefix,
        offset,
        max: max as usize,
        delimiter: input.delimiter,
    })
}

fn presign_request(input: &PresignInput) -> Result<(Path, http::Method, Duration)> {
    let path = key("key", &input.key)?;
    let secs = input.expires_secs.unwrap_or(3600);
    if secs == 0 || secs > MAX_EXPIRY_SECS {
        return Err(bad_field("expires_secs", "between 1 and 604800 (7 days)"));
    }
    let method = match input.method {
        SignedMethod::Get => http::Method::GET,
        SignedMethod::Put => http::Method::PUT,
    };
    Ok((path, method, Duration::from_secs(secs)))
}

// ---------------------------------------------------------------------------------------------
// The handlers
// ---------------------------------------------------------------------------------------------

/// Writes an object.
pub(crate) async fn put(stores: Stores, cx: Context, input: PutInput) -> Result<PutOutput> {
    let (path, bytes, options) = put_request(&input)?;
    let store = stores.of(&cx)?;
    if store.provider == Provider::Local && !options.attributes.is_empty() {
        return Err(Error::invalid_input(
            "the local filesystem stores no content type, cache control, disposition or metadata: leave them out",
            vec![],
        )
        .with_context("field", "provider"));
    }
    let size = bytes.len() as u64;
    let written = store
        .objects
        .put_opts(&path, PutPayload::from_bytes(bytes), options)
        .await
        .map_err(|e| store.error(e, Some(&input.key)))?;
    Ok(PutOutput {
        key: input.key,
        size,
        etag: written.e_tag,
        version: written.version,
    })
}

/// Reads an object (or a range of it), refusing more than the byte limit before reading.
pub(crate) async fn get(stores: Stores, cx: Context, input: GetInput) -> Result<GetOutput> {
    let (path, options, limit) = get_request(&input)?;
    let store = stores.of(&cx)?;
    let found = store
        .objects
        .get_opts(&path, options)
        .await
        .map_err(|e| store.error(e, Some(&input.key)))?;
    let length = found.range.end.saturating_sub(found.range.start);
    if length > limit {
        return Err(bad_field(
            "max_bytes",
            format!(
                "the object has {length} bytes to read, over the limit of {limit}: raise max_bytes (at most 64 MiB) or read a range"
            ),
        )
        .with_context("key", input.key.clone()));
    }
    let range = [found.range.start, found.range.end];
    let meta = found.meta.clone();
    let mut content_type = None;
    let mut metadata = BTreeMap::new();
    for (attribute, value) in found.attributes.iter() {
        match attribute {
            Attribute::ContentType => content_type = Some(value.to_string()),
            Attribute::Metadata(name) => {
                metadata.insert(name.to_string(), value.to_string());
            }
            _ => {}
        }
    }
    let bytes = found.bytes().await.map_err(|e| store.error(e, Some(&input.key)))?;
    let (content, encoding) = match std::str::from_utf8(&bytes) {
        Ok(text) => (text.to_owned(), Encoding::Text),
        Err(_) => (STANDARD.encode(&bytes), Encoding::Base64),
    };
    Ok(GetOutput {
        key: input.key,
        content,
        encoding,
        size: meta.size,
        range,
        etag: meta.e_tag,
        version: meta.version,
        last_modified: rfc3339(meta.last_modified),
        content_type,
        metadata,
    })
}

/// One page of a listing.
pub(crate) async fn list(stores: Stores, cx: Context, input: ListInput) -> Result<ListOutput> {
    let request = list_request(&input)?;
    let store = stores.of(&cx)?;
    if request.delimiter {
        list_folders(&store, &request).await
    } else {
        list_objects(&store, &request).await
    }
}

/// Every object under the prefix, the `max` smallest keys after the offset kept (a listing
/// in key order stops as soon as the page is full).
async fn list_objects(store: &Store, request: &ListRequest) -> Result<ListOutput> {
    let prefix = request.prefix.as_ref();
    let mut stream = match &request.offset {
        Some(offset) => store.objects.list_with_offset(prefix, &Path::from(offset.as_str())),
        None => store.objects.list(prefix),
    };
    let mut page: BTreeMap<String, ObjectInfo> = BTreeMap::new();
    let mut truncated = false;
    while let Some(next) = stream.next().await {
        let meta = next.map_err(|e| store.error(e, None))?;
        let info = ObjectInfo::of(&meta);
        // Some servers ignore the start-after parameter (azurite): the offset holds anyway.
        if request.offset.as_ref().is_some_and(|o| info.key.as_str() <= o.as_str()) {
            continue;
        }
        page.insert(info.key.clone(), info);
        if page.len() > request.max {
            page.pop_last();
            truncated = true;
            if store.lists_in_order() {
                // The entry after a full page came: the page is complete.
                break;
            }
        }
    }
    let objects: Vec<ObjectInfo> = page.into_values().collect();
    let next_offset = truncated.then(|| objects.last().map(|o| o.key.clone())).flatten();
    Ok(ListOutput {
        objects,
        folders: Vec::new(),
        truncated,
        next_offset,
    })
}

/// One level below the prefix: objects and folders, merged by name, a page after the offset.
async fn list_folders(store: &Store, request: &ListRequest) -> Result<ListOutput> {
    let listed = store
        .objects
        .list_with_delimiter(request.prefix.as_ref())
        .await
        .map_err(|e| store.error(e, None))?;
    // Entries by name: folders end in `/`.
    let mut entries: Vec<(String, Option<ObjectInfo>)> = listed
        .objects
        .iter()
        .map(|m| {
            let info = ObjectInfo::of(m);
            (info.key.clone(), Some(info))
        })
        .chain(listed.common_prefixes.iter().map(|p| (format!("{p}/"), None)))
        .filter(|(name, _)| request.offset.as_ref().is_none_or(|o| name.as_str() > o.as_str()))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let truncated = entries.len() > request.max;
    entries.truncate(request.max);
    let next_offset = truncated.then(|| entries.last().map(|e| e.0.clone())).flatten();
    let mut objects = Vec::new();
    let mut folders = Vec::new();
    for (name, info) in entries {
        match info {
            Some(info) => objects.push(info),
            None => folders.push(name),
        }
    }
    Ok(ListOutput {
        objects,
        folders,
        truncated,
        next_offset,
    })
}

/// Deletes an object; an absent one is no error.
pub(crate) async fn delete(stores: Stores, cx: Context, input: DeleteInput) -> Result<DeleteOutput> {
    let path = key("key", &input.key)?;
    let store = stores.of(&cx)?;
    match store.delete(&path).await {
        Ok(()) | Err(store::Error::NotFound { .. }) => Ok(DeleteOutput { key: input.key }),
        Err(e) => Err(store.error(e, Some(&input.key))),
    }
}

/// Copies an object inside the bucket.
pub(crate) async fn copy(stores: Stores, cx: Context, input: CopyInput) -> Result<CopyOutput> {
    let from = key("from", &input.from)?;
    let to = key("to", &input.to)?;
    if from == to {
        return Err(bad_field("to", "the same key as `from`"));
    }
    let store = stores.of(&cx)?;
    let mapped = |e: store::Error| match e {
        store::Error::NotFound { .. } => store.error(e, Some(&input.from)),
        other => store.error(other, Some(&input.to)),
    };
    if input.overwrite {
        store
            .objects
            .copy_opts(&from, &to, CopyOptions::new())
            .await
            .map_err(mapped)?;
    } else {
        let create = CopyOptions {
            mode: CopyMode::Create,
            ..CopyOptions::default()
        };
        match store.objects.copy_opts(&from, &to, create).await {
            Ok(()) => {}
            // S3 without a copy-if-not-exists extension: look, then copy (not atomic).
            Err(store::Error::NotSupported { .. } | store::Error::NotImplemented { .. }) => {
                match store.head(&to).await {
                    Ok(_) => {
                        return Err(Error::conflict(format!("object `{}` already exists", input.to))
                            .with_context("key", input.to.clone()));
                    }
                    Err(store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(store.error(e, Some(&input.to))),
                }
                store
                    .objects
                    .copy_opts(&from, &to, CopyOptions::new())
                    .await
                    .map_err(mapped)?;
            }
            Err(e) => return Err(mapped(e)),
        }
    }
    Ok(CopyOutput {
        from: input.from,
        to: input.to,
    })
}

/// A presigned URL (S3, Azure, GCS; the local filesystem cannot sign).
pub(crate) async fn presign(stores: Stores, cx: Context, input: PresignInput) -> Result<PresignOutput> {
    let (path, method, expires) = presign_request(&input)?;
    let store = stores.of(&cx)?;
    let Some(signer) = &store.signer else {
        return Err(Error::invalid_input(
            format!(
                "a `{}` connection cannot presign URLs: only s3, azure and gcs can",
                Provider::Local.as_str()
            ),
            vec![],
        )
        .with_context("field", "provider"));
    };
    let url = signer
        .signed_url(method, &path, expires)
        .await
        .map_err(|e| store.error(e, Some(&input.key)))?;
    let expires_at = Utc::now() + chrono::Duration::from_std(expires).unwrap_or(chrono::Duration::zero());
    Ok(PresignOutput {
        url: url.to_string(),
        method: input.method,
        expires_at: rfc3339(expires_at),
    })
}
