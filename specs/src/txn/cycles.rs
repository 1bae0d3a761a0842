//! Cycle anomalies: the strongly connected components of the dependency
//! graph, and in each the first cycle that a model forbids, searched
//! weakest first — ww alone (G0), ww+wr (G1c), then with rw edges: a cycle
//! with exactly one (G-single) or more (G2) — and, for strict
//! serializability, the same with real-time edges. A cycle is a shortest
//! one through the first transaction of its component (breadth first).
//!
//! Bounded: every edge looked at is paid for out of the budget. Running
//! out makes the components not yet searched "unknown". The one search
//! that is not linear — for a cycle with a single rw edge, a search per rw
//! edge — may spend half of what is left; when that runs out the cycle
//! already found (with several rw edges) is reported as G2, which it is.

use super::anomaly::{Anomaly, AnomalyKind};
use super::graph::{Budget, Dep, Deps, Graph, OutOfBudget, Search, TxnId};
use super::models::{ConsistencyModel, Judgement, judge_all};

/// What the cycle search found, and whether it finished.
pub struct CycleReport {
    pub anomalies: Vec<Anomaly>,
    /// Components of more than one transaction.
    pub components: usize,
    pub largest: usize,
    /// Components left unsearched when the budget ran out.
    pub unsearched: usize,
    /// The budget ran out before the components were known (then
    /// `components` is 0 and nothing was searched).
    pub components_unknown: bool,
}

/// Names and explains cycles: `describe` gives a transaction in words,
/// `wrote` the datatype's verb ("appended").
pub struct Explain<'a> {
    pub describe: &'a dyn Fn(TxnId) -> String,
    pub name: &'a dyn Fn(TxnId) -> String,
    pub wrote: &'static str,
}

pub fn search(
    graph: &Graph,
    models: &[ConsistencyModel],
    budget: &mut Budget,
    explain: &Explain<'_>,
) -> CycleReport {
    let forbids = |k: AnomalyKind| judge_all(models, k) == Judgement::Forbidden;
    let all: Vec<TxnId> = (0..graph.len() as TxnId).collect();
    let mut search = Search::new(graph);
    let mut report = CycleReport {
        anomalies: Vec::new(),
        components: 0,
        largest: 0,
        unsearched: 0,
        components_unknown: false,
    };
    let Ok(components) = search.components(&all, Deps::ALL, budget) else {
        report.components_unknown = true;
        return report;
    };
    report.components = components.len();
    report.largest = components.iter().map(Vec::len).max().unwrap_or(0);
    let mut plan: Vec<(Deps, bool)> = Vec::new();
    if forbids(AnomalyKind::G0) {
        plan.push((Deps::WW, false));
    }
    if forbids(AnomalyKind::G1c) {
        plan.push((Deps::WW_WR, false));
    }
    if forbids(AnomalyKind::GSingle) {
        plan.push((Deps::WW_WR_RW, true));
    }
    if forbids(AnomalyKind::G0Realtime) {
        plan.extend([
            (Deps::WW_RT, false),
            (Deps::WW_WR_RT, false),
            (Deps::ALL, true),
        ]);
    }
    for (i, component) in components.iter().enumerate() {
        match first_cycle(&mut search, graph, component, &plan, budget) {
            Ok(Some(steps)) => report.anomalies.push(explain_cycle(graph, &steps, explain)),
            Ok(None) => {}
            Err(OutOfBudget) => {
                report.unsearched = components.len() - i;
                break;
            }
        }
    }
    report
}

type Step = (TxnId, TxnId, Dep);

fn first_cycle(
    search: &mut Search<'_>,
    graph: &Graph,
    component: &[TxnId],
    plan: &[(Deps, bool)],
    budget: &mut Budget,
) -> Result<Option<Vec<Step>>, OutOfBudget> {
    for &(mask, refine) in plan {
        let Some(steps) = cycle_in(search, graph, component, mask, budget)? else {
            continue;
        };
        let rw = steps.iter().filter(|s| s.2 == Dep::Rw).count();
        if refine && rw > 1 {
            let without_rw = mask.without(Dep::Rw);
            let mut share = Budget {
                left: budget.left / 2,
            };
            let before = share.left;
            let single = single_rw(search, graph, component, without_rw, &mut share);
            budget.spend(before - share.left)?;
            if let Ok(Some(single)) = single {
                return Ok(Some(single));
            }
        }
        return Ok(Some(steps));
    }
    Ok(None)
}

/// A shortest cycle through the first transaction of the first component
/// of `nodes` under `mask`, as steps.
fn cycle_in(
    search: &mut Search<'_>,
    graph: &Graph,
    nodes: &[TxnId],
    mask: Deps,
    budget: &mut Budget,
) -> Result<Option<Vec<Step>>, OutOfBudget> {
    let components = search.components(nodes, mask, budget)?;
    let Some(first) = components.first() else {
        return Ok(None);
    };
    let path = search.path(first, first[0], first[0], mask, budget)?;
    Ok(path.map(|p| steps(graph, &p, mask)))
}

/// A cycle with exactly one rw edge `a → b`: a path `b → … → a` over
/// `mask` (which holds no rw) closed by it. Edges whose ends share a
/// component under `mask` are tried first: for them the path exists.
fn single_rw(
    search: &mut Search<'_>,
    graph: &Graph,
    component: &[TxnId],
    mask: Deps,
    budget: &mut Budget,
) -> Result<Option<Vec<Step>>, OutOfBudget> {
    let rw = graph.edges_within(component, Dep::Rw);
    for sub in search.components(component, mask, budget)? {
        if let Some(&(a, b)) = rw
            .iter()
            .find(|(a, b)| sub.binary_search(a).is_ok() && sub.binary_search(b).is_ok())
            && let Some(path) = search.path(&sub, b, a, mask, budget)?
        {
            let mut s = steps(graph, &path, mask);
            s.push((a, b, Dep::Rw));
            return Ok(Some(s));
        }
    }
    for &(a, b) in &rw {
        if let Some(path) = search.path(component, b, a, mask, budget)? {
            let mut s = steps(graph, &path, mask);
            s.push((a, b, Dep::Rw));
            return Ok(Some(s));
        }
    }
    Ok(None)
}

fn steps(graph: &Graph, path: &[TxnId], mask: Deps) -> Vec<Step> {
    path.windows(2)
        .map(|w| {
            let dep = graph
                .deps(w[0], w[1])
                .first_in(mask)
                .expect("the search followed this edge");
            (w[0], w[1], dep)
        })
        .collect()
}

/// The kind of a cycle, from its edges.
pub fn classify(deps: &[Dep]) -> AnomalyKind {
    let count = |d: Dep| deps.iter().filter(|x| **x == d).count();
    let (wr, rw, rt) = (count(Dep::Wr), count(Dep::Rw), count(Dep::Rt) > 0);
    use AnomalyKind as A;
    match (rw, wr, rt) {
        (0, 0, false) => A::G0,
        (0, _, false) => A::G1c,
        (1, _, false) => A::GSingle,
        (_, _, false) => A::G2,
        (0, 0, true) => A::G0Realtime,
        (0, _, true) => A::G1cRealtime,
        (1, _, true) => A::GSingleRealtime,
        (_, _, true) => A::G2Realtime,
    }
}

fn explain_cycle(graph: &Graph, steps: &[Step], explain: &Explain<'_>) -> Anomaly {
    let kind = classify(&steps.iter().map(|s| s.2).collect::<Vec<_>>());
    let name = explain.name;
    let mut chain: Vec<String> = steps.iter().map(|s| name(s.0)).collect();
    chain.push(name(steps[0].0));
    let because: Vec<String> = steps
        .iter()
        .map(|&(a, b, dep)| {
            let (ta, tb) = (name(a), name(b));
            let why = graph.why(a, b, dep);
            let (key, value) = why.map_or((0, 0), |w| (w.key, w.value));
            match dep {
                Dep::Ww => format!(
                    "{tb} {} {value} to key {key} after {ta}'s write (ww)",
                    explain.wrote
                ),
                Dep::Wr => format!("{tb} read {value} of key {key}, from {ta} (wr)"),
                Dep::Rw => format!(
                    "{ta} read key {key} before {tb} {} {value} (rw)",
                    explain.wrote
                ),
                Dep::Rt => format!("{ta} completed before {tb} was invoked (real time)"),
            }
        })
        .collect();
    let who: Vec<String> = steps.iter().map(|s| (explain.describe)(s.0)).collect();
    Anomaly::new(
        kind,
        format!(
            "a cycle {}: {}; where {}",
            chain.join(" → "),
            because.join("; "),
            who.join("; ")
        ),
    )
}
