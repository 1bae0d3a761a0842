//! Maelstrom's `g-counter` and `pn-counter` workloads: their clients and
//! checker, plus the seed's measurement — the time from the last add until
//! every node reads the same value (exact in the simulator for a node that
//! shows its value, [`View::Counter`]).
//!
//! - Clients: `add` with a delta in −5..4 (g-counter: 0..4) and `read`,
//!   `--read-fraction` of them reads; `--adds N` issues exactly N adds and
//!   no reads, as the seed's "1000 random increments across 5 nodes".
//! - Checker, as Maelstrom's: every final read must equal the sum of the
//!   acknowledged adds plus some subset of the indeterminate ones.
//!   Stricter than Maelstrom (which skips them): a final read that fails or
//!   times out fails the run, and so do final reads that disagree — after
//!   the settle a converged counter reads one value everywhere.
//! - Convergence after the last add: from the completion of the last add
//!   to the moment all nodes first held the same value and kept it (in the
//!   simulator, seen exactly after every step; with real processes,
//!   sampled by probe reads every `--probe-ms`).

use std::collections::BTreeSet;
use std::time::Duration;

use maelstrom_lab::lab::{Field, closed_schema, millis};
use maelstrom_lab::network::NetStats;
use maelstrom_lab::plots::{Plot, Series};
use maelstrom_lab::{History, Lab, LabSetup, LabSpec, Outcome, Verdict};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use maelstrom_framework::View;

/// The lab's flags on `sim` and `cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct CounterLabOptions {
    /// Issue exactly this many adds (and no reads), then stop.
    #[arg(long)]
    pub adds: Option<u64>,
    /// Fraction of operations that are reads (without --adds).
    #[arg(long, default_value_t = 0.5)]
    pub read_fraction: f64,
}

/// How many value changes are kept for the convergence chart.
const TIMELINE_LIMIT: usize = 200_000;

/// The counter workloads' lab: `G` = true is Maelstrom's g-counter
/// (deltas 0..4), false its pn-counter (−5..4).
pub struct CounterLab<const G: bool = false> {
    options: CounterLabOptions,
    adds_issued: u64,
    /// The latest value seen at each node.
    values: Vec<Option<i128>>,
    /// Since when every node has held the same value, and which.
    agreed_since: Option<(Duration, i128)>,
    /// (time, node, value) at every change, for the chart.
    timeline: Vec<(Duration, usize, i128)>,
}

impl<const G: bool> CounterLab<G> {
    fn record(&mut self, now: Duration, node: usize, value: i128) {
        if self.values[node] == Some(value) {
            return;
        }
        self.values[node] = Some(value);
        if self.timeline.len() < TIMELINE_LIMIT {
            self.timeline.push((now, node, value));
        }
        let all_same = self.values.iter().all(|v| *v == Some(value));
        self.agreed_since = all_same.then_some((now, value));
    }

    fn agreement_plot(&self, final_value: i128) -> Plot {
        let mut current: Vec<Option<i128>> = vec![None; self.values.len()];
        let mut points = Vec::with_capacity(self.timeline.len());
        for &(t, node, value) in &self.timeline {
            current[node] = Some(value);
            let agreeing = current.iter().filter(|v| **v == Some(final_value)).count();
            points.push((t.as_secs_f64(), agreeing as f64));
        }
        Plot::over_time(
            "Nodes holding the final value",
            "nodes",
            vec![Series::new(format!("value {final_value}"), points)],
        )
    }
}

/// Every value `acked + (sum of a subset of maybe)` can take. Deltas are
/// small, so the set of subset sums stays small; past 64 indeterminate adds
/// it is widened to the whole range between the extreme sums.
fn possible_values(acked: i128, maybe: &[i128]) -> (i128, i128, Option<BTreeSet<i128>>) {
    let lo = acked + maybe.iter().filter(|d| **d < 0).sum::<i128>();
    let hi = acked + maybe.iter().filter(|d| **d > 0).sum::<i128>();
    if maybe.len() > 64 {
        return (lo, hi, None);
    }
    let mut sums = BTreeSet::from([acked]);
    for d in maybe {
        let shifted: Vec<i128> = sums.iter().map(|s| s + d).collect();
        sums.extend(shifted);
    }
    (lo, hi, Some(sums))
}

fn delta_of(op: &maelstrom_lab::Op) -> i128 {
    op.request["delta"].as_i64().map_or(0, i128::from)
}

impl<const G: bool> Lab for CounterLab<G> {
    fn op_budget(&self) -> Option<u64> {
        self.options.adds
    }

    fn next_op(&mut self, rng: &mut StdRng) -> Option<Value> {
        let delta = |rng: &mut StdRng, g: bool| {
            if g {
                rng.random_range(0..=4i64)
            } else {
                rng.random_range(-5..=4i64)
            }
        };
        match self.options.adds {
            Some(limit) if self.adds_issued >= limit => None,
            Some(_) => {
                self.adds_issued += 1;
                Some(json!({"type": "add", "delta": delta(rng, G)}))
            }
            None if rng.random_bool(self.options.read_fraction.clamp(0.0, 1.0)) => {
                Some(json!({"type": "read"}))
            }
            None => {
                self.adds_issued += 1;
                Some(json!({"type": "add", "delta": delta(rng, G)}))
            }
        }
    }

    fn final_reads(&self) -> Vec<Value> {
        vec![json!({"type": "read"})]
    }

    fn observe(&mut self, now: Duration, node: usize, view: Option<View<'_>>) {
        if let Some(View::Counter(value)) = view {
            self.record(now, node, value);
        }
    }

    /// A restarted node's value is unknown until it shows one again, and
    /// the nodes no longer agree.
    fn restarted(&mut self, _now: Duration, node: usize) {
        self.values[node] = None;
        self.agreed_since = None;
    }

    fn probe(&mut self, _node: usize) -> Option<Value> {
        Some(json!({"type": "read"}))
    }

    fn on_sample(&mut self, now: Duration, node: usize, request: &Value, reply: &Value) -> bool {
        if request["type"] != "read" {
            return false;
        }
        if let Some(value) = reply_value(reply) {
            self.record(now, node, value);
        }
        true
    }

    fn validate_reply(&self, kind: &str, reply: &Value) -> Result<(), String> {
        match kind {
            "read" => closed_schema(reply, &[("value", Field::Integer)]),
            _ => closed_schema(reply, &[]),
        }
    }

    fn check(&mut self, history: &History, net: &NetStats) -> Verdict {
        let mut verdict = Verdict::new();
        let adds: Vec<_> = history.ops.iter().filter(|op| op.kind == "add").collect();
        let acked: i128 = adds
            .iter()
            .filter(|op| op.is_ok())
            .map(|op| delta_of(op))
            .sum();
        let maybe: Vec<i128> = adds
            .iter()
            .filter(|op| matches!(op.outcome, Outcome::Info { .. }))
            .map(|op| delta_of(op))
            .collect();
        let (lo, hi, exact) = possible_values(acked, &maybe);
        let mut final_values = BTreeSet::new();
        for op in history.final_reads() {
            let node = &history.node_ids[op.node];
            let Some(value) = op.ok_body().and_then(reply_value) else {
                verdict.fail(format!("final read at {node}: {}", op.outcome));
                continue;
            };
            final_values.insert(value);
            let possible = match &exact {
                Some(sums) => sums.contains(&value),
                None => (lo..=hi).contains(&value),
            };
            if !possible {
                verdict.fail(format!(
                    "final read at {node} = {value}, but acknowledged adds sum to {acked}{}",
                    if maybe.is_empty() {
                        String::new()
                    } else {
                        format!(" (with {} indeterminate adds: {lo}..={hi})", maybe.len())
                    }
                ));
            }
        }
        if final_values.len() > 1 {
            verdict.fail(format!("final reads disagree: {final_values:?}"));
        }
        let add_count = adds.len().max(1) as f64;
        verdict.metric(
            "adds acknowledged",
            adds.iter().filter(|op| op.is_ok()).count() as f64,
            "",
        );
        verdict.metric("adds indeterminate", maybe.len() as f64, "");
        verdict.metric("acknowledged sum", acked as f64, "");
        verdict.metric("messages per add", net.sent as f64 / add_count, "");
        verdict.metric("bytes per add", net.bytes as f64 / add_count, "B");

        let last_add = adds.iter().map(|op| op.complete).max();
        let final_value = final_values.iter().next().copied();
        match (self.agreed_since, last_add, final_value) {
            (Some((at, value)), Some(last), Some(fv)) if value == fv => {
                verdict.metric(
                    "convergence after last add",
                    millis(at.saturating_sub(last)),
                    "ms",
                );
                // Recovery: from the last heal, or the last add if one came
                // later, until every node held the final value.
                if let Some(healed) = history.healed_at {
                    verdict.metric(
                        "convergence after last heal",
                        millis(at.saturating_sub(healed.max(last))),
                        "ms",
                    );
                }
            }
            // Nodes that agreed only during the final reads (or a lab that
            // could not see them) have no convergence figure. That is no
            // failure: the final reads judge the values, as Maelstrom's.
            _ => {}
        }
        if let Some(fv) = final_value {
            verdict.plots.push(self.agreement_plot(fv));
        }
        verdict
    }
}

fn reply_value(body: &Value) -> Option<i128> {
    if let Some(v) = body["value"].as_i64() {
        return Some(i128::from(v));
    }
    // Values beyond i64 are written as plain JSON integers.
    body["value"].as_u64().map(i128::from)
}

impl<const G: bool> LabSpec for CounterLab<G> {
    type Options = CounterLabOptions;

    fn new(options: &CounterLabOptions, setup: &LabSetup) -> Self {
        CounterLab {
            options: options.clone(),
            adds_issued: 0,
            values: vec![None; setup.node_ids.len()],
            agreed_since: None,
            timeline: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn possible_values_are_subset_sums() {
        let (lo, hi, exact) = possible_values(10, &[3, -2]);
        assert_eq!((lo, hi), (8, 13));
        assert_eq!(exact.unwrap(), BTreeSet::from([8, 10, 11, 13]));
        let (_, _, exact) = possible_values(5, &[]);
        assert_eq!(exact.unwrap(), BTreeSet::from([5]));
        let many = vec![1; 100];
        assert_eq!(possible_values(0, &many), (0, 100, None));
    }
}
