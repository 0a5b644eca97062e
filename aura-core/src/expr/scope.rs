//! The variables an expression sees.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as Jinja};
use serde_json::Value;

use super::value::from_json;

/// Where expressions find upstream nodes' outputs. The executor implements it over an
/// execution's state; tests can use a `BTreeMap<String, serde_json::Value>`.
pub trait StepOutputs: Send + Sync + 'static {
    /// The output of a completed node, or `None` when it has not completed (or does not exist).
    fn output(&self, node_id: &str) -> Option<Jinja>;

    /// The output as JSON, when the implementation has it at hand (lets plain paths skip the
    /// conversion). Default: `None`.
    fn output_json(&self, node_id: &str) -> Option<Arc<Value>> {
        let _ = node_id;
        None
    }

    /// What `steps.<node_id>` is: an object with the `output`. Implementations that read the
    /// same step many times can cache it.
    fn step(&self, node_id: &str) -> Option<Jinja> {
        self.output(node_id).map(step_value)
    }
}

/// The value of `steps.<id>` for an output: `{ "output": … }`.
pub fn step_value(output: Jinja) -> Jinja {
    Jinja::from(BTreeMap::from([("output", output)]))
}

impl StepOutputs for BTreeMap<String, Value> {
    fn output(&self, node_id: &str) -> Option<Jinja> {
        self.get(node_id).map(from_json)
    }

    fn output_json(&self, node_id: &str) -> Option<Arc<Value>> {
        self.get(node_id).cloned().map(Arc::new)
    }
}

/// The variables of one evaluation: `trigger`, `steps`, `item`/`index`, `input`, `execution`.
/// Cheap to clone: clones share one allocation, which is also what expressions read.
#[derive(Clone)]
pub struct Scope {
    inner: Arc<Data>,
}

#[derive(Clone)]
struct Data {
    trigger_json: Option<Arc<Value>>,
    item_json: Option<Arc<Value>>,
    /// The trigger as expressions read it, converted on first use and shared by every scope
    /// of an execution.
    trigger: Arc<OnceLock<Jinja>>,
    steps: Option<Arc<dyn StepOutputs>>,
    item: Option<(Jinja, usize)>,
    input: Option<Jinja>,
    execution: Option<(Arc<str>, Arc<str>)>,
}

impl Data {
    /// Only the trigger, as expressions read it.
    fn new(trigger: Arc<OnceLock<Jinja>>) -> Self {
        Self {
            trigger_json: None,
            item_json: None,
            trigger,
            steps: None,
            item: None,
            input: None,
            execution: None,
        }
    }
}

impl Scope {
    /// A scope with the trigger data.
    pub fn new(trigger: &Value) -> Self {
        Self::from_parts(Arc::new(trigger.clone()), Arc::default())
    }

    /// A scope over shared trigger data: `converted` is filled on first use and may be shared
    /// by every scope of one execution, so the conversion happens at most once.
    pub fn from_parts(trigger: Arc<Value>, converted: Arc<OnceLock<Jinja>>) -> Self {
        Self::of(Data {
            trigger_json: Some(trigger),
            ..Data::new(converted)
        })
    }

    /// The scope of an execution's pass, built whole: [`from_parts`](Self::from_parts) with
    /// its steps and ids, without a check per part that the data is not shared yet.
    pub(crate) fn for_execution(
        trigger: Arc<Value>,
        converted: Arc<OnceLock<Jinja>>,
        steps: Arc<dyn StepOutputs>,
        execution_id: Arc<str>,
        scenario_id: Arc<str>,
    ) -> Self {
        Self::of(Data {
            trigger_json: Some(trigger),
            steps: Some(steps),
            execution: Some((execution_id, scenario_id)),
            ..Data::new(converted)
        })
    }

    /// A scope with trigger data already converted (the executor converts it once per run).
    pub fn from_jinja(trigger: Jinja) -> Self {
        Self::of(Data::new(Arc::new(OnceLock::from(trigger))))
    }

    fn of(data: Data) -> Self {
        Self { inner: Arc::new(data) }
    }

    fn data(&mut self) -> &mut Data {
        Arc::make_mut(&mut self.inner)
    }

    /// Converts JSON to the form expressions read, for values used many times.
    pub fn convert(value: &Value) -> Jinja {
        from_json(value)
    }

    /// Sets where upstream outputs come from.
    #[must_use]
    pub fn with_steps(mut self, steps: Arc<dyn StepOutputs>) -> Self {
        self.data().steps = Some(steps);
        self
    }

    /// Sets the current iteration's item and index.
    #[must_use]
    pub fn with_item(mut self, item: Jinja, index: usize) -> Self {
        self.data().item = Some((item, index));
        self
    }

    /// Sets the current iteration's item as JSON too (for plain paths).
    #[must_use]
    pub fn with_item_json(mut self, item: Arc<Value>, converted: Jinja, index: usize) -> Self {
        let data = self.data();
        data.item_json = Some(item);
        data.item = Some((converted, index));
        self
    }

    pub(crate) fn trigger_json(&self) -> Option<&Value> {
        self.inner.trigger_json.as_deref()
    }

    pub(crate) fn item_json(&self) -> Option<&Value> {
        self.inner.item_json.as_deref()
    }

    pub(crate) fn step_json(&self, node_id: &str) -> Option<Arc<Value>> {
        self.inner.steps.as_ref()?.output_json(node_id)
    }

    /// The current iteration's index, inside an iterate body.
    #[cfg_attr(not(feature = "code-js"), allow(dead_code))]
    pub(crate) fn index(&self) -> Option<usize> {
        self.inner.item.as_ref().map(|(_, i)| *i)
    }

    /// The execution's id and its scenario's id.
    #[cfg_attr(not(feature = "code-js"), allow(dead_code))]
    pub(crate) fn execution_ids(&self) -> Option<(&str, &str)> {
        self.inner.execution.as_ref().map(|(e, s)| (&**e, &**s))
    }

    /// Sets the node's own input (for conditions).
    #[must_use]
    pub fn with_input(mut self, input: &Value) -> Self {
        self.data().input = Some(from_json(input));
        self
    }

    /// Sets the execution's ids.
    #[must_use]
    pub fn with_execution(mut self, execution_id: &str, scenario_id: &str) -> Self {
        self.data().execution = Some((execution_id.into(), scenario_id.into()));
        self
    }

    /// Sets the execution's ids, shared.
    #[must_use]
    pub fn with_execution_ids(mut self, execution_id: Arc<str>, scenario_id: Arc<str>) -> Self {
        self.data().execution = Some((execution_id, scenario_id));
        self
    }

    /// The `execution` variable for these ids, to convert once and reuse.
    pub fn execution_value(execution_id: &str, scenario_id: &str) -> Jinja {
        Jinja::from(BTreeMap::from([
            ("id", Jinja::from(execution_id)),
            ("scenario_id", Jinja::from(scenario_id)),
        ]))
    }

    pub(super) fn to_value(&self) -> Jinja {
        Jinja::from_dyn_object(self.inner.clone())
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("item", &self.inner.item.as_ref().map(|(_, i)| i))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("scope")
    }
}

impl Object for Data {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Jinja) -> Option<Jinja> {
        match key.as_str()? {
            "trigger" => Some(
                self.trigger
                    .get_or_init(|| self.trigger_json.as_deref().map(from_json).unwrap_or_default())
                    .clone(),
            ),
            "steps" => self.steps.clone().map(|s| Jinja::from_object(Steps(s))),
            "item" => self.item.as_ref().map(|(item, _)| item.clone()),
            "index" => self.item.as_ref().map(|(_, i)| Jinja::from(*i)),
            "input" => self.input.clone(),
            "execution" => self.execution.as_ref().map(|(e, s)| Scope::execution_value(e, s)),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&super::VARIABLES)
    }
}

struct Steps(Arc<dyn StepOutputs>);

impl fmt::Debug for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("steps")
    }
}

impl Object for Steps {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Jinja) -> Option<Jinja> {
        self.0.step(key.as_str()?)
    }
}
