//! References between scenarios: `sub_scenario` nodes and the error scenario.
//!
//! At compile time each referenced id must be the scenario itself or a known (deployed)
//! scenario, unless the host allows late binding ([`CompileOptions::late_binding`]). At deploy
//! time, [`call_cycle`] finds a cycle of sub-scenario calls the new plan would close
//! (`a -> b -> a`, or `a -> a`); the engine refuses it with [`cycle_error`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::options::CompileOptions;
use super::problems::Problems;
use super::{Plan, ScenarioCall};
use crate::error::{Error, Violation};

/// Reports references to scenarios that are neither this one nor known.
pub(super) fn check_known(
    problems: &mut Problems,
    scenario_id: &str,
    error_scenario: Option<&str>,
    calls: &[ScenarioCall],
    options: &CompileOptions,
) {
    let known = |id: &str| id == scenario_id || options.knows(id);
    if let Some(id) = error_scenario
        && !known(id)
    {
        problems.at(
            "/settings/error_policy/error_scenario",
            format!("the error scenario {id:?} is not deployed (deploy it first, or allow late binding)"),
        );
    }
    for call in calls {
        if !known(&call.scenario) {
            problems.add(
                &call.node,
                &call.field,
                format!(
                    "runs scenario {:?}, which is not deployed (deploy it first, or allow late binding)",
                    call.scenario
                ),
            );
        }
    }
}

/// The shortest cycle of sub-scenario calls through `plan`, given the deployed plans (an older
/// version of `plan` among them is ignored): `["a", "b", "a"]`. Scenarios not deployed have no
/// calls.
pub(crate) fn call_cycle(plan: &Plan, deployed: &HashMap<String, Arc<Plan>>) -> Option<Vec<String>> {
    let start = plan.id();
    let calls = |id: &str| -> Vec<&str> {
        let of = if id == start {
            Some(plan)
        } else {
            deployed.get(id).map(|p| &**p)
        };
        of.map(|p| p.calls.iter().map(|c| c.scenario.as_str()).collect())
            .unwrap_or_default()
    };
    // Breadth first from `start`; `parent` leads each reached scenario back towards `start`.
    let mut parent: HashMap<&str, &str> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(current) = queue.pop_front() {
        for next in calls(current) {
            if next == start {
                let mut path = vec![start.to_owned()];
                let mut at = current;
                while at != start {
                    path.push(at.to_owned());
                    at = parent.get(at).copied().unwrap_or(start);
                }
                path.push(start.to_owned());
                path.reverse();
                return Some(path);
            }
            if !parent.contains_key(next) {
                parent.insert(next, current);
                queue.push_back(next);
            }
        }
    }
    None
}

/// The deploy error for a cycle found by [`call_cycle`]: it lists the cycle and points at the
/// node of `plan` that starts it.
pub(crate) fn cycle_error(plan: &Plan, cycle: &[String]) -> Error {
    let shown = cycle.join(" -> ");
    let first = cycle.get(1).map(String::as_str).unwrap_or_default();
    let violations = plan
        .calls
        .iter()
        .filter(|c| c.scenario == first)
        .map(|c| {
            Violation::new(
                format!("/nodes/{}{}", c.node, c.field),
                format!("runs scenario {first:?}, which leads back here: {shown}"),
            )
        })
        .collect();
    Error::invalid_definition(format!(
        "scenario {:?} would call itself through sub-scenarios: {shown}",
        plan.id()
    ))
    .with_context("scenario", plan.id().to_owned())
    .with_context("cycle", shown)
    .with_violations(violations)
}
