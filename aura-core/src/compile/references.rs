//! What expressions read: every expression of a node — its input mapping, the expressions of
//! its configuration (the conditions of `if`, `filter`, `switch`) and what else it says it reads
//! ([`Node::reads`](crate::node::Node::reads): a code node's `steps.<id>`) — goes through one
//! check.
//!
//! A variable must be one of [`VARIABLES`]; `steps.<id>` must name a node that runs before
//! this one (an ancestor in the graph); `item` and `index` exist only inside an iterate body
//! (and in an aggregate); `input`, the node's own input, only in conditions. A problem's path
//! is the expression's field: `/nodes/<node>/input/<field>` or `/nodes/<node>/config/condition`.

use foldhash::HashMap;
use std::collections::BTreeSet;

use super::PlanNode;
use super::problems::Problems;
use crate::expr::VARIABLES;
use crate::node::NodeRole;

/// Where an expression sits, which decides what it may read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In the input mapping: built before the node runs, so without `input`.
    Mapping,
    /// In the node's configuration: evaluated with the node's input at hand.
    Config,
}

/// Checks the variables of every node's expressions.
pub(super) fn check(problems: &mut Problems, nodes: &[PlanNode], index: &HashMap<String, usize>) {
    for (i, n) in nodes.iter().enumerate() {
        let mut expressions: Vec<(String, Place, BTreeSet<String>)> = Vec::new();
        if let Some(mapping) = &n.mapping {
            for (field, vars) in mapping.variables() {
                expressions.push((format!("/input{field}"), Place::Mapping, vars));
            }
        }
        for (field, expr) in n.node.expressions() {
            expressions.push((field.into_owned(), Place::Config, expr.variables()));
        }
        for (field, vars) in n.node.reads() {
            expressions.push((field.into_owned(), Place::Config, vars));
        }
        if expressions.is_empty() {
            continue;
        }
        let up = upstream(nodes, i);
        for (field, place, vars) in &expressions {
            for var in vars {
                check_variable(problems, index, n, &up, field, *place, var);
            }
        }
    }
}

/// Every node with a path to `node` (not `node` itself unless it is on a cycle).
fn upstream(nodes: &[PlanNode], node: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<usize> = nodes[node].preds.clone();
    while let Some(p) = stack.pop() {
        if seen.insert(p) {
            stack.extend(nodes[p].preds.iter().copied());
        }
    }
    seen
}

fn check_variable(
    problems: &mut Problems,
    index: &HashMap<String, usize>,
    n: &PlanNode,
    up: &BTreeSet<usize>,
    field: &str,
    place: Place,
    var: &str,
) {
    let mut parts = var.split('.');
    let root = parts.next().unwrap_or_default();
    if !VARIABLES.contains(&root) {
        problems.add(
            &n.id,
            field,
            format!("unknown variable {root:?} (known: {})", VARIABLES.join(", ")),
        );
        return;
    }
    match root {
        "steps" => {
            if let Some(step) = parts.next() {
                match index.get(step) {
                    None => problems.add(&n.id, field, format!("reads steps.{step}, which is not a node")),
                    Some(s) if !up.contains(s) => problems.add(
                        &n.id,
                        field,
                        format!("reads steps.{step}, which does not run before this node"),
                    ),
                    Some(_) => {}
                }
            }
        }
        "item" | "index" if n.in_body_of.is_none() && !matches!(n.info.role, NodeRole::Aggregate { .. }) => {
            problems.add(
                &n.id,
                field,
                format!("reads {root}, which exists only inside an iterate body"),
            );
        }
        "input" if place == Place::Mapping => problems.add(
            &n.id,
            field,
            "reads input, which exists only in conditions (a mapping reads trigger and steps.<id>.output)",
        ),
        _ => {}
    }
}
