//! [`Sandbox`]: limits and a pool of set-up runtimes, shared by every code node that uses it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::Limits;
use super::error::CodeError;
use super::script::{Inputs, Script};
use super::worker::{Console, Ran, Worker};

/// Where code nodes run: the [`Limits`] of every run and a pool of set-up QuickJS runtimes.
/// Cheap to clone (clones share the pool).
///
/// A code node runs in the sandbox attached to the engine
/// ([`EngineBuilder::extension`](crate::engine::EngineBuilder::extension)), else in
/// [`Sandbox::shared`]:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use aura_core::code::{Limits, Sandbox};
/// use aura_core::engine::Engine;
/// use aura_core::Registry;
///
/// let sandbox = Sandbox::new(Limits::default().time(Duration::from_millis(200)));
/// let engine = Engine::builder(Arc::new(Registry::new())).extension(sandbox).build();
/// # drop(engine);
/// ```
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Pool>,
}

struct Pool {
    limits: Limits,
    idle: Mutex<Vec<Worker>>,
}

/// What a sandbox holds now: see [`Sandbox::stats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxStats {
    /// Runtimes set up and waiting for a run.
    pub idle: usize,
    /// The bytes they hold together.
    pub memory: usize,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.inner.limits)
            .field("idle", &self.inner.idle.lock().len())
            .finish()
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Sandbox {
    /// A sandbox with these limits and an empty pool (runtimes are set up on first use).
    pub fn new(limits: Limits) -> Self {
        Self {
            inner: Arc::new(Pool {
                limits,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The process's sandbox, with the default [`Limits`]: where code nodes run when the
    /// engine has none attached, and where [`Script::compile`] checks scripts.
    pub fn shared() -> &'static Sandbox {
        static SHARED: OnceLock<Sandbox> = OnceLock::new();
        SHARED.get_or_init(Sandbox::default)
    }

    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// How many runtimes wait in the pool, and the memory they hold.
    pub fn stats(&self) -> SandboxStats {
        let idle = self.inner.idle.lock();
        SandboxStats {
            idle: idle.len(),
            memory: idle.iter().map(Worker::memory).sum(),
        }
    }

    fn take(&self) -> Result<Worker, CodeError> {
        // Popped in its own statement: the lock is not held while a runtime is set up.
        let idle = self.inner.idle.lock().pop();
        match idle {
            Some(worker) => Ok(worker),
            None => Worker::new(&self.inner.limits),
        }
    }

    fn give_back(&self, worker: Worker) {
        let mut idle = self.inner.idle.lock();
        if idle.len() < self.inner.limits.idle {
            idle.push(worker);
        }
    }

    pub(crate) fn check(&self, script: &Script) -> Result<(), CodeError> {
        let mut worker = self.take()?;
        let checked = worker.check(script);
        self.give_back(worker);
        checked
    }

    pub(crate) fn run(&self, script: &Script, inputs: &Inputs<'_>) -> Ran {
        let mut worker = match self.take() {
            Ok(worker) => worker,
            Err(e) => {
                return Ran {
                    output: Err(e),
                    console: Console::default(),
                };
            }
        };
        let ran = worker.run(script, inputs, &self.inner.limits);
        if ran.reusable() {
            self.give_back(worker);
        }
        ran
    }
}
