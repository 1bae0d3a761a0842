//! The checker: transactions from the history, the datatype's dependencies
//! and plain anomalies, real-time edges when a model needs them, the cycle
//! search, and the verdict against `--consistency-models`.

use std::collections::BTreeMap;

use maelstrom_lab::{History, Verdict};

use super::anomaly::{Anomaly, AnomalyKind};
use super::cycles::{self, Explain};
use super::graph::{Budget, Dep, GraphBuilder, TxnId, Why};
use super::history::{Datatype, Status, Txn, describe, transactions};
use super::models::{ConsistencyModel, Judgement, judge_all};

/// Anomalies of one kind quoted in a verdict.
const QUOTED: usize = 6;

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub models: Vec<ConsistencyModel>,
    /// Steps the cycle search may take (see [`super::cycles`]).
    pub budget: u64,
}

/// Real-time order, as Elle builds it: each transaction follows the
/// transactions that had completed when it was invoked and that no later
/// completed one already follows — enough edges to keep every real-time
/// path, few enough (about the concurrency per transaction) to search.
fn realtime_edges<R>(txns: &[Txn<R>], graph: &mut GraphBuilder) {
    let mut events: Vec<(u64, bool, usize)> = Vec::new();
    for (t, txn) in txns.iter().enumerate() {
        if !txn.may_have_happened() {
            continue;
        }
        events.push((txn.invoke, false, t));
        if let Some(c) = txn.complete {
            events.push((c, true, t));
        }
    }
    events.sort_unstable();
    let mut frontier: Vec<usize> = Vec::new();
    let mut before: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (_, completes, t) in events {
        if completes {
            let preds = before.remove(&t).unwrap_or_default();
            frontier.retain(|f| !preds.contains(f));
            frontier.push(t);
        } else {
            for &f in &frontier {
                graph.add(f as TxnId, t as TxnId, Dep::Rt, Why { key: 0, value: 0 });
            }
            before.insert(t, frontier.clone());
        }
    }
}

/// Checks `history` as datatype `D`'s transactions.
pub fn check<D: Datatype>(history: &History, options: &CheckOptions) -> Verdict {
    let (txns, mut anomalies) = transactions::<D>(history);
    let mut builder = GraphBuilder::default();
    D::infer(&txns, &mut builder, &mut anomalies);
    if options.models.iter().any(|m| m.real_time()) {
        realtime_edges(&txns, &mut builder);
    }
    let graph = builder.build(txns.len());
    let describe_txn = |t: TxnId| describe::<D>(&txns[t as usize]);
    let name = |t: TxnId| format!("T{}", txns[t as usize].op);
    let explain = Explain {
        describe: &describe_txn,
        name: &name,
        wrote: D::WROTE,
    };
    let mut budget = Budget {
        left: options.budget,
    };
    let found = cycles::search(&graph, &options.models, &mut budget, &explain);
    anomalies.extend(found.anomalies);

    let mut verdict = Verdict::new();
    let mut by_kind: BTreeMap<AnomalyKind, Vec<&Anomaly>> = BTreeMap::new();
    for a in &anomalies {
        by_kind.entry(a.kind).or_default().push(a);
    }
    let models: Vec<&str> = options.models.iter().map(|m| m.name()).collect();
    let models = models.join(", ");
    for (kind, list) in &by_kind {
        let judgement = judge_all(&options.models, *kind);
        for a in list.iter().take(QUOTED) {
            match judgement {
                Judgement::Forbidden => verdict.fail(format!("{kind}: {}", a.text)),
                Judgement::CannotTell => verdict.cannot_tell(format!(
                    "{kind}: {} (whether {models} allows it the checker cannot tell)",
                    a.text
                )),
                Judgement::Allowed => {}
            }
        }
        if list.len() > QUOTED && judgement == Judgement::Forbidden {
            verdict.fail(format!("… and {} more {kind}", list.len() - QUOTED));
        }
        verdict.metric(format!("anomalies {kind}"), list.len() as f64, "");
    }
    if found.components_unknown {
        verdict.cannot_tell(format!(
            "the cycle search ran out of its budget (--cycle-search-budget {}) while finding \
             the cyclic components of the dependency graph of {} transactions: cycles are \
             unknown",
            options.budget,
            txns.len()
        ));
    }
    if found.unsearched > 0 {
        verdict.cannot_tell(format!(
            "the cycle search ran out of its budget (--cycle-search-budget {}) with {} of {} \
             cyclic components left unsearched (the largest has {} transactions): cycles there \
             are unknown",
            options.budget, found.unsearched, found.components, found.largest
        ));
    }
    let count = |s: Status| txns.iter().filter(|t| t.status == s).count() as f64;
    verdict.metric("transactions committed", count(Status::Committed), "");
    verdict.metric("transactions failed", count(Status::Failed), "");
    verdict.metric("transactions indeterminate", count(Status::Unknown), "");
    for dep in [Dep::Ww, Dep::Wr, Dep::Rw, Dep::Rt] {
        verdict.metric(
            format!("dependency edges {}", dep.name()),
            graph.count(dep) as f64,
            "",
        );
    }
    verdict.metric("cyclic components", found.components as f64, "");
    verdict.metric(
        "cycle search steps",
        (options.budget - budget.left) as f64,
        "",
    );
    verdict
}
