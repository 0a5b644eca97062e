//! Loading manifest files, and watching a directory of them: [`ManifestWatcher`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::load::{Format, parse};
use crate::app::AppManifest;
use crate::error::{Error, Result};
use crate::http::HttpPolicy;
use crate::registry::Registry;

impl Registry {
    /// Loads a manifest file (JSON for `.json`, else YAML) and registers its app, replacing
    /// the app of the same id and version (see [`Registry::replace`]). Requests go through
    /// the default [`HttpPolicy`]; see [`ManifestWatcher::policy`] for another.
    ///
    /// # Errors
    ///
    /// [`InvalidDefinition`](crate::ErrorKind::InvalidDefinition) with every problem (JSON
    /// path, line) and the file in the `file` context; [`NotFound`](crate::ErrorKind::NotFound)
    /// for a file that cannot be read. Nothing registered changes.
    pub fn load_manifest(&self, path: impl AsRef<Path>) -> Result<AppManifest> {
        load_file(self, path.as_ref(), &HttpPolicy::default()).map(|(m, _)| m)
    }

    /// Loads every manifest (`*.yaml`, `*.yml`, `*.json`) of a directory: those that load are
    /// registered, the others are reported with their problems.
    ///
    /// # Errors
    ///
    /// [`NotFound`](crate::ErrorKind::NotFound) when the directory cannot be read.
    pub fn load_manifests(self: &Arc<Self>, dir: impl AsRef<Path>) -> Result<ReloadReport> {
        ManifestWatcher::new(self.clone(), dir.as_ref()).scan()
    }
}

fn load_file(registry: &Registry, path: &Path, policy: &HttpPolicy) -> Result<(AppManifest, [u8; 32])> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::not_found("the manifest file cannot be read")
            .with_context("file", path.display().to_string())
            .with_source(e)
    })?;
    let hash: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    let app = parse(&text, Format::of_path(path), Some(&path.display().to_string()))?.policy(policy.clone());
    let manifest = crate::app::App::manifest(&app);
    registry
        .replace(Arc::new(app))
        .map_err(|e| e.with_context("file", path.display().to_string()))?;
    Ok((manifest, hash))
}

/// What one pass over a manifest directory did.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct ReloadReport {
    /// Files loaded (new or changed), with the app id and version each registered.
    pub loaded: Vec<(PathBuf, String, String)>,
    /// Files refused, with every problem; the app they replaced (if any) stays.
    pub rejected: Vec<(PathBuf, Arc<Error>)>,
    /// Files gone, whose app was unregistered.
    pub removed: Vec<PathBuf>,
}

impl ReloadReport {
    /// Whether the pass changed nothing and refused nothing.
    pub fn is_quiet(&self) -> bool {
        self.loaded.is_empty() && self.rejected.is_empty() && self.removed.is_empty()
    }
}

/// Watches a directory of manifests and keeps the registry in step with it.
///
/// Each [`scan`](Self::scan) loads new and changed files (by content), refuses bad ones with
/// their problems (the app they would replace stays as it was) and unregisters the apps of
/// deleted files. [`spawn`](Self::spawn) scans on an interval; each report that changed or
/// refused something is logged and published to [`reports`](Self::reports).
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use aura_core::declarative::ManifestWatcher;
/// use aura_core::Registry;
///
/// # async fn demo() -> aura_core::Result<()> {
/// let registry = Arc::new(Registry::new());
/// let watcher = Arc::new(ManifestWatcher::new(registry.clone(), "manifests/"));
/// let first = watcher.scan()?;
/// assert!(first.rejected.is_empty());
/// let task = watcher.clone().spawn(Duration::from_secs(2));
/// # task.abort(); Ok(()) }
/// ```
pub struct ManifestWatcher {
    registry: Arc<Registry>,
    dir: PathBuf,
    policy: HttpPolicy,
    known: Mutex<BTreeMap<PathBuf, Known>>,
    reports: watch::Sender<ReloadReport>,
}

/// What a file last loaded as.
struct Known {
    hash: [u8; 32],
    id: String,
    version: semver::Version,
}

impl ManifestWatcher {
    /// A watcher of `dir` for `registry`, with the default [`HttpPolicy`].
    pub fn new(registry: Arc<Registry>, dir: impl Into<PathBuf>) -> Self {
        Self {
            registry,
            dir: dir.into(),
            policy: HttpPolicy::default(),
            known: Mutex::default(),
            reports: watch::channel(ReloadReport::default()).0,
        }
    }

    /// The policy the loaded apps send through.
    #[must_use]
    pub fn policy(mut self, policy: HttpPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The last report that changed or refused something.
    pub fn reports(&self) -> watch::Receiver<ReloadReport> {
        self.reports.subscribe()
    }

    /// One pass over the directory.
    ///
    /// # Errors
    ///
    /// [`NotFound`](crate::ErrorKind::NotFound) when the directory cannot be read (nothing
    /// registered changes).
    pub fn scan(&self) -> Result<ReloadReport> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| {
            Error::not_found("the manifest directory cannot be read")
                .with_context("dir", self.dir.display().to_string())
                .with_source(e)
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| ["yaml", "yml", "json"].contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        files.sort();
        let mut report = ReloadReport::default();
        let mut known = self.known.lock();
        for path in &files {
            let Ok(bytes) = std::fs::read(path) else { continue };
            let hash: [u8; 32] = Sha256::digest(&bytes).into();
            if known.get(path).is_some_and(|k| k.hash == hash) {
                continue;
            }
            match load_file(&self.registry, path, &self.policy) {
                Ok((manifest, hash)) => {
                    if let Some(old) = known.get(path)
                        && (old.id != manifest.id || old.version != manifest.version)
                    {
                        self.registry.unregister(&old.id, &old.version);
                    }
                    report
                        .loaded
                        .push((path.clone(), manifest.id.clone(), manifest.version.to_string()));
                    known.insert(
                        path.clone(),
                        Known {
                            hash,
                            id: manifest.id,
                            version: manifest.version,
                        },
                    );
                }
                Err(err) => report.rejected.push((path.clone(), Arc::new(err))),
            }
        }
        let gone: Vec<PathBuf> = known.keys().filter(|p| !files.contains(p)).cloned().collect();
        for path in gone {
            if let Some(old) = known.remove(&path) {
                self.registry.unregister(&old.id, &old.version);
            }
            report.removed.push(path);
        }
        drop(known);
        if !report.is_quiet() {
            self.reports.send_replace(report.clone());
        }
        Ok(report)
    }

    /// Scans every `every` until the task is aborted; logs what each pass changed or refused.
    pub fn spawn(self: Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match self.scan() {
                    Ok(report) => {
                        for (path, id, version) in &report.loaded {
                            tracing::info!(file = %path.display(), app = %id, %version, "manifest loaded");
                        }
                        for (path, err) in &report.rejected {
                            tracing::warn!(file = %path.display(), error = %err, "manifest refused; the app loaded before stays");
                        }
                        for path in &report.removed {
                            tracing::info!(file = %path.display(), "manifest removed; its app is unregistered");
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "manifest directory unreadable"),
                }
            }
        })
    }
}

impl std::fmt::Debug for ManifestWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestWatcher")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}
