//! What to import and how: [`ImportOptions`].

/// The default cap on a description's length, in bytes.
pub const DEFAULT_MAX_DESCRIPTION_BYTES: usize = 1_000;

/// The default depth limit of a schema (deeper parts become "anything", with a warning): a
/// manifest then nests less deeply than JSON parsers accept (serde_json: 128 levels).
pub const DEFAULT_MAX_SCHEMA_DEPTH: usize = 32;

/// Options of [`import`](super::import): which operations, which server, which limits.
///
/// ```
/// use aura_connectors::openapi::ImportOptions;
///
/// let options = ImportOptions::new().app_id("github").tag("issues").server(0);
/// assert_eq!(options.tags, ["issues"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// The manifest's id (default: derived from `info.title`).
    pub app_id: Option<String>,
    /// Import only operations with at least one of these tags (empty: no tag filter).
    pub tags: Vec<String>,
    /// Import only these operations, by `operationId` or by resulting key (empty: no filter).
    /// With both filters, an operation passes when it passes either.
    pub operations: Vec<String>,
    /// Which `servers[]` entry gives the base URL (default: the first).
    pub server: Option<usize>,
    /// Descriptions longer than this are cut (at a character boundary) and end with `…`.
    pub max_description_bytes: usize,
    /// Schemas nested deeper than this are cut (the rest accepts anything), with a warning.
    pub max_schema_depth: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            app_id: None,
            tags: Vec::new(),
            operations: Vec::new(),
            server: None,
            max_description_bytes: DEFAULT_MAX_DESCRIPTION_BYTES,
            max_schema_depth: DEFAULT_MAX_SCHEMA_DEPTH,
        }
    }
}

impl ImportOptions {
    /// Everything, from the first server, with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the manifest's id.
    #[must_use]
    pub fn app_id(mut self, id: impl Into<String>) -> Self {
        self.app_id = Some(id.into());
        self
    }

    /// Adds a tag to the tag filter.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Adds an operation (its `operationId` or its key) to the operation filter.
    #[must_use]
    pub fn operation(mut self, operation: impl Into<String>) -> Self {
        self.operations.push(operation.into());
        self
    }

    /// Picks the `servers[]` entry that gives the base URL.
    #[must_use]
    pub fn server(mut self, index: usize) -> Self {
        self.server = Some(index);
        self
    }

    /// Sets the description cap, in bytes.
    #[must_use]
    pub fn max_description_bytes(mut self, bytes: usize) -> Self {
        self.max_description_bytes = bytes;
        self
    }

    /// Sets the schema depth limit.
    #[must_use]
    pub fn max_schema_depth(mut self, depth: usize) -> Self {
        self.max_schema_depth = depth;
        self
    }

    /// Whether an operation with this id, key and tags is wanted.
    pub(crate) fn wants(&self, operation_id: Option<&str>, key: &str, tags: &[&str]) -> bool {
        if self.tags.is_empty() && self.operations.is_empty() {
            return true;
        }
        let by_tag = tags.iter().any(|t| self.tags.iter().any(|w| w == t));
        let by_id = self
            .operations
            .iter()
            .any(|w| Some(w.as_str()) == operation_id || w == key);
        by_tag || by_id
    }
}
