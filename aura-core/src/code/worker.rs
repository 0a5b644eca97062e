//! One QuickJS runtime with its hardened context: what the pool lends to one run at a time.
//!
//! A worker is set up once (about 150 µs): a runtime with the stack limit and an interrupt
//! handler, a context with only the language's own objects (no `std`/`os` modules, no timers,
//! no `WeakRef`, no `performance`), `console`, dynamic code taken away, everything reachable
//! frozen (`harden.js`). Each script is compiled once per worker and kept. A run arms the
//! deadline, converts what the script reads, calls it, drains the jobs its promises left, and
//! converts the result back to JSON.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use rquickjs::context::intrinsic::{Date, Eval, Json, MapSet, Promise, Proxy, RegExp, RegExpCompiler, TypedArrays};
use rquickjs::function::Args as JsArgs;
use rquickjs::promise::PromiseState;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Object, Runtime, Value};
use serde_json::Value as Json_;

use super::Limits;
use super::convert::to_js;
use super::error::CodeError;
use super::script::{FILE_NAME, Inputs, Script};

/// How many compiled scripts a worker keeps before it starts over.
const SCRIPTS_KEPT: usize = 256;

/// What a run printed with `console`, bounded.
#[derive(Debug, Default)]
pub(crate) struct Console {
    pub(crate) lines: Vec<(Level, String)>,
    bytes: usize,
    pub(crate) dropped: usize,
    limit: usize,
}

/// A `console` method's level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Console {
    fn push(&mut self, level: i32, text: String) {
        if self.bytes + text.len() > self.limit {
            self.dropped += 1;
            return;
        }
        self.bytes += text.len();
        let level = match level {
            0 => Level::Debug,
            2 => Level::Warn,
            3 => Level::Error,
            _ => Level::Info,
        };
        self.lines.push((level, text));
    }
}

/// The deadline the interrupt handler watches.
#[derive(Default)]
struct Watch {
    deadline: Mutex<Option<Instant>>,
    fired: AtomicBool,
}

/// The scripts a context has compiled, kept in the runtime's user data (JavaScript values
/// cannot leave their runtime's thread-bound types, the runtime can).
type Compiled<'js> = RefCell<HashMap<u64, Function<'js>>>;

/// One runtime, ready to run scripts.
pub(crate) struct Worker {
    console: Arc<Mutex<Console>>,
    watch: Arc<Watch>,
    context: Context,
    runtime: Runtime,
}

/// A run's result: the output, and what the script printed.
pub(crate) struct Ran {
    pub(crate) output: Result<Json_, CodeError>,
    pub(crate) console: Console,
}

impl Ran {
    /// Whether the worker may serve another run: not after a limit was hit, which may have
    /// left it half-way through something (it is dropped).
    pub(crate) fn reusable(&self) -> bool {
        !matches!(
            self.output,
            Err(CodeError::TimeLimit { .. }
                | CodeError::MemoryLimit { .. }
                | CodeError::StackLimit { .. }
                | CodeError::Setup { .. })
        )
    }
}

type Intrinsics = (
    Date,
    Eval,
    RegExpCompiler,
    RegExp,
    Json,
    Proxy,
    MapSet,
    TypedArrays,
    Promise,
);

impl Worker {
    pub(crate) fn new(limits: &Limits) -> Result<Self, CodeError> {
        let setup = |e: rquickjs::Error| CodeError::Setup { reason: e.to_string() };
        let runtime = Runtime::new().map_err(setup)?;
        runtime.set_max_stack_size(limits.stack);
        let watch = Arc::new(Watch::default());
        let handler = watch.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            let due = handler.deadline.lock().is_some_and(|d| Instant::now() >= d);
            if due {
                handler.fired.store(true, Ordering::Relaxed);
            }
            due
        })));
        let context = Context::custom::<Intrinsics>(&runtime).map_err(setup)?;
        let console = Arc::new(Mutex::new(Console {
            limit: limits.console,
            ..Console::default()
        }));
        let sink = console.clone();
        context
            .with(|ctx| -> rquickjs::Result<()> {
                let emit = Function::new(ctx.clone(), move |level: i32, text: String| {
                    sink.lock().push(level, text);
                })?;
                let harden: Function<'_> = ctx.eval(include_str!("harden.js"))?;
                harden.call::<_, ()>((emit,))?;
                ctx.store_userdata::<Compiled<'_>>(RefCell::default())
                    .map_err(|_| rquickjs::Error::Unknown)?;
                Ok(())
            })
            .map_err(setup)?;
        // The limit counts from what the context itself holds, so that every run gets the same.
        let baseline = usize::try_from(runtime.memory_usage().malloc_size).unwrap_or(0);
        runtime.set_memory_limit(baseline.saturating_add(limits.memory));
        Ok(Self {
            console,
            watch,
            context,
            runtime,
        })
    }

    /// Compiles a script in this worker (what a deploy does to check it).
    pub(crate) fn check(&mut self, script: &Script) -> Result<(), CodeError> {
        update_stack_top(&self.runtime);
        self.context.with(|ctx| compiled(&ctx, script).map(drop))
    }

    /// The bytes the runtime holds.
    pub(crate) fn memory(&self) -> usize {
        usize::try_from(self.runtime.memory_usage().memory_used_size).unwrap_or(0)
    }

    /// Runs a script.
    pub(crate) fn run(&mut self, script: &Script, inputs: &Inputs<'_>, limits: &Limits) -> Ran {
        let Self {
            console,
            watch,
            context,
            runtime,
        } = self;
        update_stack_top(runtime);
        watch.fired.store(false, Ordering::Relaxed);
        *watch.deadline.lock() = Some(Instant::now() + limits.time);
        let output = context.with(|ctx| {
            let result = call(&ctx, script, inputs, limits);
            // Whatever happened, no job is left behind for the next run.
            while ctx.execute_pending_job() {}
            // Past the deadline, the run failed, even if the time ran out in the jobs it left.
            if watch.fired.load(Ordering::Relaxed) {
                return Err(CodeError::TimeLimit { limit: limits.time });
            }
            result.map_err(|e| match e {
                Failure::Code(e) => e,
                Failure::Js(e) => classify(e, limits),
            })
        });
        *watch.deadline.lock() = None;
        Ran {
            output,
            console: std::mem::replace(
                &mut *console.lock(),
                Console {
                    limit: limits.console,
                    ..Console::default()
                },
            ),
        }
    }
}

/// QuickJS checks the stack against the top it last saw; a pooled runtime runs on whichever
/// thread borrows it, so the top is taken again before each use. (rquickjs updates it when it
/// calls a function or runs a job, not when it evaluates or parses: running the empty job
/// queue is its public way to do it.)
fn update_stack_top(runtime: &Runtime) {
    let _ = runtime.execute_pending_job();
}

enum Failure<'js> {
    Js(CaughtError<'js>),
    Code(CodeError),
}

impl<'js> From<CaughtError<'js>> for Failure<'js> {
    fn from(e: CaughtError<'js>) -> Self {
        Self::Js(e)
    }
}

fn compiled<'js>(ctx: &Ctx<'js>, script: &Script) -> Result<Function<'js>, CodeError> {
    let scripts = ctx.userdata::<Compiled<'js>>().ok_or_else(|| CodeError::Setup {
        reason: "the context lost its compiled scripts".to_owned(),
    })?;
    if let Some(f) = scripts.borrow().get(&script.id()) {
        return Ok(f.clone());
    }
    let mut options = rquickjs::context::EvalOptions::default();
    options.global = true;
    options.strict = true;
    options.backtrace_barrier = true;
    options.filename = Some(FILE_NAME.to_owned());
    let f: Function<'js> = ctx
        .eval_with_options(script.wrapped(), options)
        .catch(ctx)
        .map_err(|e| script.syntax_error(&e))?;
    let mut scripts = scripts.borrow_mut();
    if scripts.len() >= SCRIPTS_KEPT {
        scripts.clear();
    }
    scripts.insert(script.id(), f.clone());
    Ok(f)
}

fn call<'js>(ctx: &Ctx<'js>, script: &Script, inputs: &Inputs<'_>, limits: &Limits) -> Result<Json_, Failure<'js>> {
    let f = compiled(ctx, script).map_err(Failure::Code)?;
    let uses = script.uses();
    let undefined = || Value::new_undefined(ctx.clone());
    let convert = |json: Option<&Json_>| -> Result<Value<'js>, Failure<'js>> {
        match json {
            None => Ok(undefined()),
            Some(json) => Ok(to_js(ctx, json).catch(ctx)?),
        }
    };
    let steps = if script.steps().is_empty() {
        undefined()
    } else {
        let steps = Object::new(ctx.clone()).catch(ctx)?;
        for id in script.steps() {
            if let Some(output) = (inputs.steps)(id) {
                let step = Object::new(ctx.clone()).catch(ctx)?;
                step.set("output", convert(Some(&output))?).catch(ctx)?;
                steps.set(id.as_str(), step).catch(ctx)?;
            }
        }
        steps.into_value()
    };
    let execution = match (uses.execution, inputs.execution) {
        (true, Some((id, scenario))) => {
            let execution = Object::new(ctx.clone()).catch(ctx)?;
            execution.set("id", id).catch(ctx)?;
            execution.set("scenario_id", scenario).catch(ctx)?;
            execution.into_value()
        }
        _ => undefined(),
    };
    let index = inputs
        .index
        .and_then(|i| i32::try_from(i).ok())
        .map_or_else(undefined, |i| Value::new_int(ctx.clone(), i));
    // In the order of the wrapper's parameters.
    let values = [
        convert(inputs.trigger.filter(|_| uses.trigger))?,
        steps,
        convert(inputs.item.filter(|_| uses.item))?,
        index,
        convert(Some(inputs.input).filter(|_| uses.input))?,
        execution,
    ];
    let mut args = JsArgs::new(ctx.clone(), values.len());
    for value in values {
        args.push_arg(value).catch(ctx)?;
    }
    let mut out: Value<'js> = f.call_arg(args).catch(ctx)?;
    if let Some(promise) = out.as_promise().cloned() {
        while ctx.execute_pending_job() {}
        out = match promise.state() {
            PromiseState::Resolved => promise
                .result::<Value<'js>>()
                .transpose()
                .catch(ctx)?
                .unwrap_or_else(undefined),
            PromiseState::Rejected => {
                return Err(Failure::Js(
                    promise
                        .result::<Value<'js>>()
                        .transpose()
                        .catch(ctx)
                        .err()
                        .unwrap_or(CaughtError::Value(undefined())),
                ));
            }
            PromiseState::Pending => {
                return Err(Failure::Code(CodeError::NotJson {
                    reason: "it returned a promise that never settles (a code node has no timers or I/O to wait for)"
                        .to_owned(),
                }));
            }
        };
    }
    let text = match ctx.json_stringify(out).catch(ctx) {
        Ok(Some(text)) => text.to_string().catch(ctx)?,
        Ok(None) => return Ok(Json_::Null),
        Err(CaughtError::Exception(e)) if !is_limit(&e) => {
            return Err(Failure::Code(CodeError::NotJson {
                reason: e.message().unwrap_or_default(),
            }));
        }
        Err(e) => return Err(Failure::Js(e)),
    };
    if text.len() > limits.output {
        return Err(Failure::Code(CodeError::OutputLimit {
            size: text.len(),
            limit: limits.output,
        }));
    }
    serde_json::from_str(&text).map_err(|e| Failure::Code(CodeError::NotJson { reason: e.to_string() }))
}

/// QuickJS's own errors for the memory and stack limits (scripts may catch them; uncaught,
/// they are the limits, not script errors).
const OUT_OF_MEMORY: (&str, &str) = ("InternalError", "out of memory");
const STACK_OVERFLOW: (&str, &str) = ("RangeError", "Maximum call stack size exceeded");

fn name_and_message(e: &rquickjs::Exception<'_>) -> (String, String) {
    (e.get("name").unwrap_or_default(), e.message().unwrap_or_default())
}

fn is_limit(e: &rquickjs::Exception<'_>) -> bool {
    let (name, message) = name_and_message(e);
    [OUT_OF_MEMORY, STACK_OVERFLOW].contains(&(name.as_str(), message.as_str()))
}

/// An exception the script did not catch, as a [`CodeError`].
fn classify(e: CaughtError<'_>, limits: &Limits) -> CodeError {
    match e {
        CaughtError::Error(rquickjs::Error::Allocation) => CodeError::MemoryLimit { limit: limits.memory },
        CaughtError::Error(e) => CodeError::Thrown {
            message: e.to_string(),
            stack: None,
        },
        CaughtError::Exception(e) => {
            let (name, message) = name_and_message(&e);
            match (name.as_str(), message.as_str()) {
                OUT_OF_MEMORY => CodeError::MemoryLimit { limit: limits.memory },
                STACK_OVERFLOW => CodeError::StackLimit { limit: limits.stack },
                _ => CodeError::Thrown {
                    message: if name.is_empty() {
                        message
                    } else {
                        format!("{name}: {message}")
                    },
                    stack: e.stack().map(|s| Script::user_lines(&s)).filter(|s| !s.is_empty()),
                },
            }
        }
        CaughtError::Value(v) => {
            let shown = v
                .ctx()
                .json_stringify(v.clone())
                .ok()
                .flatten()
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| format!("a {}", v.type_name()));
            CodeError::Thrown {
                message: shown,
                stack: None,
            }
        }
    }
}
