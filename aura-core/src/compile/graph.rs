//! The graph of a scenario: edges, the trigger, cycles, reachability and iterate bodies.
//!
//! An edge is a pair of nodes, whatever list it was written in: a target named twice in one
//! list (`next: [b, b]`), or in two lists of the same node (`next` and `on_error.route`, two
//! routes of a switch), is one edge. Each target list keeps its first occurrence of an id;
//! [`PlanNode::succ`] and [`PlanNode::preds`] hold each neighbour once, and every check here
//! walks those, so a duplicate can never be counted twice.

use foldhash::HashMap;
use std::collections::{BTreeSet, VecDeque};

use super::problems::Problems;
use super::{Body, PlanNode};
use crate::node::NodeRole;

/// Resolves one list of edge targets (`field` is its pointer, `/next`): an id that is not a
/// node is a problem; an id listed twice is kept once.
pub(super) fn targets(
    problems: &mut Problems,
    index: &HashMap<String, usize>,
    from: &str,
    field: &str,
    ids: &[String],
) -> Vec<usize> {
    let mut out = Vec::with_capacity(ids.len());
    for (j, to) in ids.iter().enumerate() {
        match index.get(to) {
            Some(&t) => {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            None => problems.add(
                from,
                &format!("{field}/{j}"),
                format!("leads to {to:?}, which is not a node of this scenario"),
            ),
        }
    }
    out
}

/// Fills `succ` (every successor once, whatever the route) and `preds` (every predecessor once).
pub(super) fn link(nodes: &mut [PlanNode]) {
    for i in 0..nodes.len() {
        let mut succ: Vec<usize> = nodes[i].successors().collect();
        succ.sort_unstable();
        succ.dedup();
        for &s in &succ {
            nodes[s].preds.push(i);
        }
        nodes[i].succ = succ;
    }
}

/// The trigger nodes. A scenario has exactly one; with none, that is the one problem reported
/// (the checks that start from the trigger are then left out rather than guessed at).
pub(super) fn triggers(problems: &mut Problems, nodes: &[PlanNode]) -> Vec<usize> {
    let triggers: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].info.role == NodeRole::Trigger)
        .collect();
    match triggers.as_slice() {
        [] => problems.at(
            "/nodes",
            "no trigger node: a scenario needs exactly one node of kind `trigger`",
        ),
        [_] => {}
        [_, rest @ ..] => {
            for &r in rest {
                problems.add(&nodes[r].id, "/kind", "a scenario has exactly one trigger node");
            }
        }
    }
    for &t in &triggers {
        if !nodes[t].preds.is_empty() {
            problems.add(&nodes[t].id, "", "nothing may lead into the trigger node");
        }
    }
    triggers
}

/// Cycles, and nodes no trigger reaches (only checked when there is a trigger).
pub(super) fn check(problems: &mut Problems, nodes: &[PlanNode], triggers: &[usize]) {
    // Kahn's algorithm over distinct edges: what remains is on or behind a cycle.
    let mut indegree: Vec<usize> = nodes.iter().map(|n| n.preds.len()).collect();
    let mut queue: VecDeque<usize> = (0..nodes.len()).filter(|&i| indegree[i] == 0).collect();
    while let Some(i) = queue.pop_front() {
        for &s in &nodes[i].succ {
            indegree[s] = indegree[s].saturating_sub(1);
            if indegree[s] == 0 {
                queue.push_back(s);
            }
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        if indegree[i] > 0 {
            problems.add(&n.id, "", "is part of (or follows) a cycle");
        }
    }
    if triggers.is_empty() {
        return;
    }
    let mut reachable = vec![false; nodes.len()];
    let mut stack = triggers.to_vec();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut reachable[i], true) {
            stack.extend(nodes[i].succ.iter().copied());
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        if !reachable[i] {
            problems.add(&n.id, "", "cannot be reached from the trigger");
        }
    }
}

/// Finds each iterate node's body and aggregate.
pub(super) fn resolve_bodies(problems: &mut Problems, nodes: &mut [PlanNode], index: &HashMap<String, usize>) {
    let mut aggregates: HashMap<usize, usize> = HashMap::default();
    for (i, n) in nodes.iter().enumerate() {
        if let NodeRole::Aggregate { iterate } = &n.info.role {
            match index.get(iterate) {
                Some(&it) if matches!(nodes[it].info.role, NodeRole::Iterate { .. }) => {
                    if aggregates.insert(it, i).is_some() {
                        problems.add(
                            &n.id,
                            "/config/iterate",
                            format!("iterate {iterate:?} already has an aggregate"),
                        );
                    }
                }
                _ => problems.add(&n.id, "/config/iterate", format!("{iterate:?} is not an iterate node")),
            }
        }
    }
    let mut bodies: Vec<(usize, BTreeSet<usize>)> = Vec::new();
    for it in 0..nodes.len() {
        let NodeRole::Iterate { concurrency } = nodes[it].info.role else {
            continue;
        };
        let aggregate = aggregates.get(&it).copied();
        let entries = nodes[it].succ.clone();
        let mut body = BTreeSet::new();
        let mut stack = entries.clone();
        let mut reaches_aggregate = false;
        while let Some(i) = stack.pop() {
            if Some(i) == aggregate {
                reaches_aggregate = true;
                continue;
            }
            if body.insert(i) {
                stack.extend(nodes[i].succ.iter().copied());
            }
        }
        if let Some(agg) = aggregate {
            if !reaches_aggregate {
                problems.add(
                    &nodes[agg].id,
                    "",
                    format!("cannot be reached from the body of iterate {:?}", nodes[it].id),
                );
            }
            for &p in &nodes[agg].preds {
                if !body.contains(&p) {
                    problems.add(
                        &nodes[agg].id,
                        "",
                        format!("only nodes in the body of {:?} may lead to it", nodes[it].id),
                    );
                }
            }
            if entries.contains(&agg) {
                problems.add(
                    &nodes[it].id,
                    "/next",
                    "an iterate body needs at least one node before its aggregate",
                );
            }
        }
        for &b in &body {
            for &p in &nodes[b].preds {
                if p != it && !body.contains(&p) {
                    problems.add(
                        &nodes[b].id,
                        "",
                        format!(
                            "is inside the body of iterate {:?} but reached from outside it",
                            nodes[it].id
                        ),
                    );
                }
            }
        }
        bodies.push((it, body));
        nodes[it].body = Some(Body { aggregate, concurrency });
    }
    // A node inside nested bodies belongs to the innermost one: the smallest body holding it.
    bodies.sort_by_key(|(_, body)| std::cmp::Reverse(body.len()));
    for (it, body) in bodies {
        for b in body {
            nodes[b].in_body_of = Some(it);
        }
    }
}
