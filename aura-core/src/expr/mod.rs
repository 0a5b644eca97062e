//! Mappings and conditions, written in minijinja (Jinja2 syntax).
//!
//! A node's input is a JSON document whose strings may hold expressions:
//!
//! ```json
//! { "email": "{{ trigger.body.email | lower }}",
//!   "tags": "{{ trigger.body.tags }}",
//!   "note": "Lead from {{ trigger.body.source }} scored {{ steps.score.output.value }}" }
//! ```
//!
//! - a string that is exactly one `{{ … }}` keeps the JSON type of its value (`tags` stays an
//!   array, a number stays a number);
//! - any other string with `{{`/`{%` renders as text;
//! - everything else is taken literally.
//!
//! Variables: `trigger` (the trigger data), `steps.<node>.output` (an upstream node's output),
//! `item` and `index` (inside an iterate body), `input` (in conditions: the node's own input),
//! `execution` (`id`, `scenario_id`). Undefined variables are errors, not empty strings, so
//! that a typo fails loudly instead of sending wrong data downstream. Filters: Jinja's builtins
//! (`default`, `lower`, `upper`, `length`, `join`, `round` …) plus `json` and
//! `date(format)`. Evaluation is sandboxed (minijinja does no I/O) and bounded by fuel.

mod condition;
mod scope;
mod value;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use minijinja::{Environment, Expression, UndefinedBehavior};
use serde_json::Value;

pub use self::scope::{Scope, StepOutputs, step_value};
use crate::error::{Error, Result, Violation};

/// Upper bound on the work one evaluation may do (minijinja fuel units).
const FUEL: u64 = 200_000;

/// The roots a plain path is read from directly.
const FAST_ROOTS: [&str; 3] = ["trigger", "steps", "item"];

/// The roots a condition is tested on the JSON from: those of a plain path, and a node's own
/// `input`.
const CONDITION_ROOTS: [&str; 4] = ["trigger", "steps", "item", "input"];

/// Whether `path` starts at one of `roots`.
fn rooted_in(path: &[Segment], roots: &[&str]) -> bool {
    matches!(path.first(), Some(Segment::Key(root)) if roots.contains(&root.as_str()))
}

/// The variables an expression may use.
pub const VARIABLES: [&str; 6] = ["trigger", "steps", "item", "index", "input", "execution"];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        configure(&mut env);
        env
    })
}

fn configure(env: &mut Environment<'static>) {
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.add_filter("json", value::json_filter);
    env.add_filter("date", value::date_filter);
}

/// A compiled expression (`trigger.body.email | lower`).
#[derive(Clone)]
pub struct Expr {
    source: Arc<str>,
    compiled: Arc<Expression<'static, 'static>>,
    /// For a plain path (`steps.find.output.contact.id`), the path: read straight from the JSON,
    /// without converting anything. Anything the path cannot answer falls back to minijinja, so
    /// the result (and every error) is the same.
    path: Option<Arc<[Segment]>>,
    /// For a condition on one plain path (`steps.score.output.score > 10`), the condition:
    /// tested on the JSON when it can say (see [`condition`]), else left to minijinja.
    condition: Option<Arc<condition::Condition>>,
}

/// One step of a plain path.
#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Parses `a.b[0].c` into segments; `None` for anything else (filters, operators, quotes …).
fn plain_path(source: &str) -> Option<Vec<Segment>> {
    let mut out = Vec::new();
    for part in source.trim().split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        let mut chars = name.chars();
        let first = chars.next()?;
        if !(first.is_ascii_alphabetic() || first == '_') || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        out.push(Segment::Key(name.to_owned()));
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let index = rest.get(1..close)?;
            if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            out.push(Segment::Index(index.parse().ok()?));
            rest = &rest[close + 1..];
        }
    }
    Some(out)
}

/// Calls `f` with what plain `path` reads (`input` is the node's own input, when given), or
/// answers `None` when the path does not read plainly.
fn with_path<R>(
    scope: &Scope,
    input: Option<&Value>,
    path: &[Segment],
    f: impl FnOnce(&Value) -> Option<R>,
) -> Option<R> {
    let (Segment::Key(root), rest) = path.split_first()? else {
        return None;
    };
    match root.as_str() {
        "trigger" => f(walk(scope.trigger_json()?, rest)?),
        "item" => f(walk(scope.item_json()?, rest)?),
        "input" => f(walk(input?, rest)?),
        "steps" => {
            let (Segment::Key(node), rest) = rest.split_first()? else {
                return None;
            };
            let (Segment::Key(output), rest) = rest.split_first()? else {
                return None;
            };
            if output != "output" {
                return None;
            }
            let json = scope.step_json(node)?;
            f(walk(&json, rest)?)
        }
        _ => None,
    }
}

fn walk<'v>(mut value: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    for seg in path {
        value = match (seg, value) {
            (Segment::Key(k), Value::Object(map)) => map.get(k)?,
            (Segment::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(value)
}

impl Expr {
    /// Compiles an expression (without `{{ }}`).
    pub fn compile(source: &str) -> Result<Self> {
        let compiled = environment()
            .compile_expression_owned(source.to_owned())
            .map_err(|e| syntax_error(source, &e))?;
        let path = plain_path(source).filter(|p| rooted_in(p, &FAST_ROOTS));
        let condition = condition::Condition::parse(source).filter(|c| rooted_in(&c.path, &CONDITION_ROOTS));
        Ok(Self {
            source: source.into(),
            compiled: Arc::new(compiled),
            path: path.map(Into::into),
            condition: condition.map(Arc::new),
        })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates to JSON.
    pub fn eval(&self, scope: &Scope) -> Result<Value> {
        if let Some(path) = &self.path
            && let Some(v) = self.read_path(scope, path)
        {
            return Ok(v);
        }
        let out = self
            .compiled
            .eval(scope.to_value())
            .map_err(|e| eval_error(&self.source, &e))?;
        value::to_json(&out).map_err(|e| e.with_context("expression", self.source.to_string()))
    }

    fn read_path(&self, scope: &Scope, path: &[Segment]) -> Option<Value> {
        with_path(scope, None, path, |v| Some(v.clone()))
    }

    /// Evaluates as a condition (Jinja truthiness: empty strings, zero, empty lists are false).
    pub fn eval_bool(&self, scope: &Scope) -> Result<bool> {
        if let Some(holds) = self.test_on_json(scope, None) {
            return Ok(holds);
        }
        let out = self
            .compiled
            .eval(scope.to_value())
            .map_err(|e| eval_error(&self.source, &e))?;
        Ok(out.is_true())
    }

    /// Evaluates as a condition of a node on its own `input`: as [`eval_bool`](Self::eval_bool)
    /// on `scope` with `input` set, without converting the input when the condition can be
    /// tested on the JSON.
    pub fn eval_bool_on(&self, scope: &Scope, input: &Value) -> Result<bool> {
        if let Some(holds) = self.test_on_json(scope, Some(input)) {
            return Ok(holds);
        }
        self.eval_bool(&scope.clone().with_input(input))
    }

    /// The condition's outcome read straight from the JSON, or `None` when minijinja decides.
    fn test_on_json(&self, scope: &Scope, input: Option<&Value>) -> Option<bool> {
        let condition = self.condition.as_deref()?;
        with_path(scope, input, &condition.path, |v| condition.holds(v))
    }

    /// The dotted variable paths the expression reads (`steps.score.output`); global functions
    /// (`range`, `dict`, `namespace` …) are not variables.
    pub fn variables(&self) -> BTreeSet<String> {
        without_globals(self.compiled.undeclared_variables(true))
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// A compiled text template (`Hello {{ trigger.name }}!`), rendered to a string.
#[derive(Clone)]
struct Text {
    source: Arc<str>,
    env: Arc<Environment<'static>>,
}

const TEXT: &str = "text";

impl Text {
    fn compile(source: &str) -> Result<Self> {
        let mut env = Environment::new();
        configure(&mut env);
        env.add_template_owned(TEXT, source.to_owned())
            .map_err(|e| syntax_error(source, &e))?;
        Ok(Self {
            source: source.into(),
            env: Arc::new(env),
        })
    }

    fn render(&self, scope: &Scope) -> Result<String> {
        let template = self.env.get_template(TEXT).map_err(|e| eval_error(&self.source, &e))?;
        template
            .render(scope.to_value())
            .map_err(|e| eval_error(&self.source, &e))
    }

    fn variables(&self) -> BTreeSet<String> {
        self.env
            .get_template(TEXT)
            .map(|t| without_globals(t.undeclared_variables(true)))
            .unwrap_or_default()
    }
}

/// Drops the names the environment defines itself (its global functions) from what an
/// expression reads, so only the scope's variables are left to check.
fn without_globals(names: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    names
        .into_iter()
        .filter(|name| {
            let root = name.split('.').next().unwrap_or_default();
            !environment().globals().any(|(global, _)| global == root)
        })
        .collect()
}

fn syntax_error(source: &str, err: &minijinja::Error) -> Error {
    Error::invalid_definition(format!(
        "expression does not parse: {}",
        err.detail().unwrap_or(&err.to_string())
    ))
    .with_context("expression", source.to_owned())
}

fn eval_error(source: &str, err: &minijinja::Error) -> Error {
    let detail = err.detail().map_or_else(|| err.kind().to_string(), str::to_owned);
    Error::invalid_input(format!("expression failed: {detail}"), vec![]).with_context("expression", source.to_owned())
}

/// A compiled input mapping: a JSON document whose strings may be expressions or templates.
#[derive(Clone, Debug)]
pub struct Mapping {
    root: Part,
}

#[derive(Clone)]
enum Part {
    Literal(Value),
    Expr(Expr),
    Text(Text),
    Array(Vec<Part>),
    Object(Vec<(String, Part)>),
}

impl fmt::Debug for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(v) => write!(f, "{v}"),
            Self::Expr(e) => write!(f, "{{{{ {} }}}}", e.source),
            Self::Text(t) => write!(f, "{:?}", t.source),
            Self::Array(items) => f.debug_list().entries(items).finish(),
            Self::Object(fields) => f.debug_map().entries(fields.iter().map(|(k, v)| (k, v))).finish(),
        }
    }
}

impl Mapping {
    /// Compiles a mapping, collecting *every* expression that does not parse, each with the
    /// JSON pointer of its field.
    pub fn compile(template: &Value) -> std::result::Result<Self, Vec<Violation>> {
        let mut problems = Vec::new();
        let root = compile_part(template, &mut String::new(), &mut problems);
        if problems.is_empty() {
            Ok(Self { root })
        } else {
            Err(problems)
        }
    }

    /// Every expression's variables, with the JSON pointer of its field.
    pub fn variables(&self) -> Vec<(String, BTreeSet<String>)> {
        let mut out = Vec::new();
        collect_variables(&self.root, &mut String::new(), &mut out);
        out
    }

    /// Builds the value. A failure names the field (`field`) and the expression.
    pub fn eval(&self, scope: &Scope) -> Result<Value> {
        eval_part(&self.root, scope).map_err(Failed::into_error)
    }
}

fn single_expression(s: &str) -> Option<&str> {
    let inner = s.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    // `{{ a }} and {{ b }}` is text, not one expression.
    if inner.contains("{{") || inner.contains("}}") {
        None
    } else {
        Some(inner.trim())
    }
}

fn compile_part(v: &Value, path: &mut String, problems: &mut Vec<Violation>) -> Part {
    match v {
        Value::String(s) => {
            let result = if let Some(expr) = single_expression(s) {
                Some(Expr::compile(expr).map(Part::Expr))
            } else if s.contains("{{") || s.contains("{%") {
                Some(Text::compile(s).map(Part::Text))
            } else {
                None
            };
            match result {
                Some(Ok(part)) => part,
                Some(Err(e)) => {
                    problems.push(Violation::new(path.clone(), e.message().to_owned()));
                    Part::Literal(Value::Null)
                }
                None => Part::Literal(v.clone()),
            }
        }
        Value::Array(items) => {
            let parts: Vec<Part> = items
                .iter()
                .enumerate()
                .map(|(i, item)| with_segment(path, &i.to_string(), |path| compile_part(item, path, problems)))
                .collect();
            if parts.iter().all(|p| matches!(p, Part::Literal(_))) {
                Part::Literal(v.clone())
            } else {
                Part::Array(parts)
            }
        }
        Value::Object(map) => {
            let fields: Vec<(String, Part)> = map
                .iter()
                .map(|(k, item)| {
                    (
                        k.clone(),
                        with_segment(path, k, |path| compile_part(item, path, problems)),
                    )
                })
                .collect();
            if fields.iter().all(|(_, p)| matches!(p, Part::Literal(_))) {
                Part::Literal(v.clone())
            } else {
                Part::Object(fields)
            }
        }
        _ => Part::Literal(v.clone()),
    }
}

fn with_segment<T>(path: &mut String, segment: &str, f: impl FnOnce(&mut String) -> T) -> T {
    let len = path.len();
    path.push('/');
    path.push_str(&segment.replace('~', "~0").replace('/', "~1"));
    let out = f(path);
    path.truncate(len);
    out
}

fn collect_variables(part: &Part, path: &mut String, out: &mut Vec<(String, BTreeSet<String>)>) {
    match part {
        Part::Literal(_) => {}
        Part::Expr(e) => out.push((path.clone(), e.variables())),
        Part::Text(t) => out.push((path.clone(), t.variables())),
        Part::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                with_segment(path, &i.to_string(), |path| collect_variables(item, path, out));
            }
        }
        Part::Object(fields) => {
            for (k, item) in fields {
                with_segment(path, k, |path| collect_variables(item, path, out));
            }
        }
    }
}

/// An evaluation failure and the path to it, innermost segment first; the path is only
/// built when something fails, so a successful evaluation allocates nothing for it.
struct Failed {
    error: Error,
    reversed_path: Vec<String>,
}

impl Failed {
    fn at(mut self, segment: String) -> Self {
        self.reversed_path.push(segment);
        self
    }

    fn into_error(self) -> Error {
        let pointer: String = self
            .reversed_path
            .iter()
            .rev()
            .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
            .collect();
        self.error
            .with_context("field", if pointer.is_empty() { "/".to_owned() } else { pointer })
    }
}

fn eval_part(part: &Part, scope: &Scope) -> std::result::Result<Value, Failed> {
    let failed = |error: Error| Failed {
        error,
        reversed_path: Vec::new(),
    };
    match part {
        Part::Literal(v) => Ok(v.clone()),
        Part::Expr(e) => e.eval(scope).map_err(failed),
        Part::Text(t) => t.render(scope).map(Value::String).map_err(failed),
        Part::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| eval_part(item, scope).map_err(|f| f.at(i.to_string())))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(Value::Array),
        Part::Object(fields) => {
            let mut map = serde_json::Map::new();
            for (k, item) in fields {
                let v = eval_part(item, scope).map_err(|f| f.at(k.clone()))?;
                map.insert(k.clone(), v);
            }
            Ok(Value::Object(map))
        }
    }
}

#[cfg(test)]
mod tests;
