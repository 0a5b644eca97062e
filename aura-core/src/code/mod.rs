//! Sandboxed JavaScript for the `code` node (feature `code-js`).
//!
//! A code node's `code` is the body of a function; what it returns (any JSON value, an array
//! of items included) is the node's output:
//!
//! ```json
//! { "id": "shape", "kind": "code", "config": { "code":
//!     "return trigger.body.orders.filter(o => o.total > 100).map(o => ({ id: o.id, vip: o.total > steps.threshold.output }))"
//! }, "next": ["send"] }
//! ```
//!
//! In scope, read-only copies of what a mapping reads: `trigger`, `steps.<id>.output`, `item`
//! and `index` (inside an iterate body), `input` (the node's own mapped input) and
//! `execution` (`id`, `scenario_id`). `console.log/info/debug/warn/error` go to `tracing`
//! (target `aura::code`) and, when the run fails, into the error's context.
//!
//! ## The sandbox
//! [QuickJS](https://github.com/quickjs-ng/quickjs) through [`rquickjs`]: only the
//! language's own objects (JSON, Math, Date, RegExp, Map/Set, typed arrays, Proxy, Promise);
//! no filesystem, network, process, timers, modules (`import` is a syntax error) or host
//! objects. `eval`, `Function(…)` and the async/generator function constructors throw. Every
//! object reachable from the global one is frozen before the first run, so a run cannot leave
//! anything for the next: a global it sets or a prototype it changes is a `TypeError`, in
//! strict mode. (`err.name = …` and `o.toString = …` still work on the script's own objects.)
//!
//! Each run has [`Limits`]: memory, time (QuickJS's interrupt handler, no thread is killed),
//! stack depth, output size, console bytes. Hitting one is a [`CodeError`] that names it; the
//! runtime that hit it is dropped and the next run gets a fresh one.
//!
//! Runtimes are pooled per [`Sandbox`] and each compiles a script once, so a warm call costs
//! microseconds. A run is synchronous, on the thread that runs the node, for at most
//! [`Limits::time`].
//!
//! ## Checked at deploy
//! [`Script::compile`] (what the node's `prepare` calls) compiles the body: a syntax error is
//! a compile error with the node, the field `/config/code`, and the script's line and column.
//! The compiler checks every `steps.<id>` the script names exactly like a mapping's: the node
//! must exist and run before this one. `steps` read as a whole (`steps[name]`, `const s =
//! steps`) is refused for that reason.
//!
//! | file | what |
//! | --- | --- |
//! | `limits.rs` | [`Limits`] |
//! | `sandbox.rs` | [`Sandbox`]: the limits and the pool |
//! | `script.rs` | [`Script`]: a checked body; what one run reads |
//! | `scan.rs` | the tokenizer that finds `steps.<id>` and stray brackets |
//! | `worker.rs` | one runtime: setup, compile cache, a run |
//! | `convert.rs` | JSON into JavaScript values |
//! | `harden.js` | the setup run in every context: `console`, no dynamic code, frozen |
//! | `error.rs` | [`CodeError`] |

mod convert;
mod error;
mod limits;
mod sandbox;
mod scan;
mod script;
mod worker;

pub use self::error::CodeError;
pub use self::limits::Limits;
pub use self::sandbox::{Sandbox, SandboxStats};
pub(crate) use self::script::Inputs;
pub use self::script::Script;
pub(crate) use self::worker::Level;
