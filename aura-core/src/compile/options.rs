//! What the compiler knows beyond the scenario, the registry and the connections.

use std::collections::BTreeSet;

/// Deploy-time knowledge for [`super::compile_with`]: which other scenarios exist, and whether
/// references to scenarios that do not (yet) exist are allowed.
///
/// A scenario refers to other scenarios through `sub_scenario` nodes (`config.scenario`) and
/// its `settings.error_policy.error_scenario`. By default each such id must be the scenario's
/// own id or one of [`CompileOptions::known_scenarios`]; anything else is a compile error
/// naming the node and field, so that a typo cannot silently switch failure alerting off.
/// [`CompileOptions::late_binding`] turns that check off for hosts that deploy scenarios in
/// any order (the reference is then resolved when it runs, and fails there if still unknown).
///
/// ```
/// use aura_core::compile::CompileOptions;
///
/// let options = CompileOptions::new().known_scenarios(["child", "alerts"]);
/// assert!(options.knows("child"));
/// assert!(!options.knows("chlid"));
/// assert!(CompileOptions::new().late_binding(true).knows("anything"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    known: BTreeSet<String>,
    late_binding: bool,
}

impl CompileOptions {
    /// No other scenario known, late binding off.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds ids of scenarios that exist (the engine passes every deployed scenario).
    #[must_use]
    pub fn known_scenarios<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.known.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Whether references to unknown scenarios are allowed (default `false`).
    #[must_use]
    pub fn late_binding(mut self, allowed: bool) -> Self {
        self.late_binding = allowed;
        self
    }

    /// Whether late binding is on.
    pub fn allows_late_binding(&self) -> bool {
        self.late_binding
    }

    /// Whether a reference to `scenario_id` is acceptable: it is known, or late binding is on.
    pub fn knows(&self, scenario_id: &str) -> bool {
        self.late_binding || self.known.contains(scenario_id)
    }
}
