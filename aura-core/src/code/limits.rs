//! [`Limits`]: what one run of a script may use.

use std::time::Duration;

/// What one run of a script may use. Every limit hit is a [`CodeError`](super::CodeError)
/// naming it; none can crash or hang the process.
///
/// ```
/// use std::time::Duration;
/// use aura_core::code::{Limits, Sandbox};
///
/// let sandbox = Sandbox::new(Limits::default().time(Duration::from_millis(50)).memory(8 << 20));
/// assert_eq!(sandbox.limits().time, Duration::from_millis(50));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Bytes a run may allocate on top of what the context holds. Default 32 MiB.
    pub memory: usize,
    /// How long a run may compute, checked by QuickJS's interrupt handler (every few
    /// thousand instructions, and inside long regular expression matches). The script runs
    /// on the thread that runs the node, so this also bounds how long it holds that thread.
    /// Default 1 s.
    pub time: Duration,
    /// Stack bytes a run may use (deep recursion stops here, well before the thread's own
    /// stack). Default 256 KiB.
    pub stack: usize,
    /// Bytes of JSON a result may have. Default 4 MiB.
    pub output: usize,
    /// Bytes of `console` output a run keeps; further lines are counted, not kept. Default
    /// 16 KiB.
    pub console: usize,
    /// How many set-up runtimes the sandbox keeps between runs (more run at once when more
    /// threads run scripts; those are set up for the run and dropped after). Default: the
    /// number of CPUs.
    pub idle: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 32 << 20,
            time: Duration::from_secs(1),
            stack: 256 << 10,
            output: 4 << 20,
            console: 16 << 10,
            idle: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

impl Limits {
    /// Sets [`Limits::memory`].
    #[must_use]
    pub fn memory(mut self, bytes: usize) -> Self {
        self.memory = bytes;
        self
    }

    /// Sets [`Limits::time`].
    #[must_use]
    pub fn time(mut self, time: Duration) -> Self {
        self.time = time;
        self
    }

    /// Sets [`Limits::stack`].
    #[must_use]
    pub fn stack(mut self, bytes: usize) -> Self {
        self.stack = bytes;
        self
    }

    /// Sets [`Limits::output`].
    #[must_use]
    pub fn output(mut self, bytes: usize) -> Self {
        self.output = bytes;
        self
    }

    /// Sets [`Limits::console`].
    #[must_use]
    pub fn console(mut self, bytes: usize) -> Self {
        self.console = bytes;
        self
    }

    /// Sets [`Limits::idle`].
    #[must_use]
    pub fn idle(mut self, runtimes: usize) -> Self {
        self.idle = runtimes;
        self
    }
}
