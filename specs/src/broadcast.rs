//! Maelstrom's `broadcast` workload: its clients and its checker, plus what
//! only a simulator can see — when each value truly reached every node, for
//! a node that shows its values ([`View::Values`]). It judges any node, ours
//! (`broadcast`, `tuning`) or not.
//!
//! - Setup (`broadcast` only): Maelstrom's `topology` message to every
//!   node, in the shape `--topology` names ([`Topology`], Maelstrom's
//!   default grid). `g-set` sends none, as Maelstrom's does not.
//! - Clients: `broadcast` of unique integers and `read`, half each
//!   (`--read-fraction`).
//! - Checker, as Maelstrom's: Jepsen's set-full over every read
//!   ([`set_full`]): a value is stable, lost or never read; any lost value
//!   fails the run, and a run where no value became stable is unknown.
//!   Stable latency, as Maelstrom reports it (sampled by reads): from when
//!   a value was known (its acknowledgement, or the first read that showed
//!   it) to the last read that still missed it; 0 when none did. Stable
//!   values only: a value that never arrived has no stable latency.
//! - Stricter than Maelstrom: every node's final read must hold every
//!   acknowledged value (reported per node), and no final read may hold a
//!   value nobody broadcast.
//! - Delivery latency, the truth: from the `broadcast` request to the
//!   moment the last node held the value for the first time (seen after
//!   every simulator step; with real processes, sampled by the clients'
//!   reads and the runner's probe reads, `--probe-ms`). A later kill that
//!   takes it from a node does not undo that delivery: what the spreading
//!   cost is one figure, what a crash cost is the next.
//! - Convergence after last heal (runs with a nemesis): from the final heal
//!   or restart until every node held every value acknowledged by then,
//!   by the same observation, counting a restarted node only by what it
//!   shows after its restart; 0 when they all held them at the heal.
//!   (Values broadcast after the heal are ordinary deliveries, measured
//!   above.)

use std::collections::BTreeMap;

use foldhash::{HashMap, HashSet, HashSetExt};
use std::time::Duration;

use maelstrom_framework::{NodeId, View};
use maelstrom_lab::lab::{Field, closed_schema, millis};
use maelstrom_lab::network::NetStats;
use maelstrom_lab::plots::{Plot, Series};
use maelstrom_lab::set_full::{self, Fate};
use maelstrom_lab::{History, Lab, LabSetup, LabSpec, Op, Outcome, Verdict};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::topology::Topology;

/// The lab's flags on `sim` and `cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct BroadcastLabOptions {
    /// Fraction of operations that are reads.
    #[arg(long, default_value_t = 0.5)]
    pub read_fraction: f64,
    /// The neighbours each node is told it has, in Maelstrom's `topology`
    /// message before the first operation (Maelstrom's shapes, neighbour
    /// order included; tree is tree2).
    #[arg(long, value_enum, default_value_t = Topology::Grid)]
    pub topology: Topology,
}

// `g-set`'s own: no `--topology`, as its nodes get no `topology` message.
/// The lab's flags on `sim` and `cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct GSetLabOptions {
    /// Fraction of operations that are reads.
    #[arg(long, default_value_t = 0.5)]
    pub read_fraction: f64,
}

/// What tells Maelstrom's two set workloads apart: their messages.
struct Shape {
    /// The add operation's type, and its value's field.
    add: &'static str,
    field: &'static str,
    /// The field of `read_ok` that holds the values.
    read: &'static str,
    /// Past participle of `add`, for the report's sentences.
    added: &'static str,
}

const BROADCAST: Shape = Shape {
    add: "broadcast",
    field: "message",
    read: "messages",
    added: "broadcast",
};

const G_SET: Shape = Shape {
    add: "add",
    field: "element",
    read: "value",
    added: "added",
};

/// Maelstrom's `broadcast` (`G = false`) or `g-set` (`G = true`): the same
/// set-full checking and measurements over different messages.
pub struct SetLab<const G: bool> {
    read_fraction: f64,
    /// What the nodes are told first (`broadcast` only).
    topology: Option<Topology>,
    /// The `topology` message, built once: every node gets the whole map
    /// (as from Maelstrom), and building it per node cost nodes².
    topology_message: Option<Value>,
    nodes: usize,
    next_value: u64,
    /// How many values each node held when last looked at.
    seen_len: Vec<usize>,
    /// Values seen through probe reads, per node (real processes only).
    probed: Vec<HashSet<u64>>,
    /// Indexed by value (the lab's values are 1, 2, 3, …). Empty until
    /// something is observed.
    reached: Vec<Reach>,
    /// The values counted in `reached` for each node, to take back when
    /// the node is restarted with its memory wiped.
    counted: Vec<Vec<u32>>,
}

/// How far one value got.
#[derive(Debug, Clone, Copy, Default)]
struct Reach {
    /// How many nodes hold it now.
    holders: usize,
    /// When the last node first got it: its delivery.
    first_everywhere: Option<Duration>,
    /// Since when every node holds it (`None` while some node lacks it,
    /// a restarted node's lack included).
    everywhere_since: Option<Duration>,
}

/// Maelstrom's `broadcast`.
pub type BroadcastLab = SetLab<false>;
/// Maelstrom's `g-set`: `add {element}`, `read` → `read_ok {value}`.
pub type GSetLab = SetLab<true>;

impl<const G: bool> SetLab<G> {
    const SHAPE: &'static Shape = if G { &G_SET } else { &BROADCAST };

    fn reach(&mut self, now: Duration, node: usize, value: &Value) {
        // Only values this lab issued: a foreign node's reply could hold
        // any number, and this is a dense table.
        let Some(v) = value.as_u64().filter(|&v| v <= self.next_value) else {
            return;
        };
        self.counted[node].push(v as u32);
        let v = v as usize;
        if v >= self.reached.len() {
            self.reached.resize(v + 1, Reach::default());
        }
        let entry = &mut self.reached[v];
        entry.holders += 1;
        if entry.holders == self.nodes {
            entry.first_everywhere.get_or_insert(now);
            entry.everywhere_since = Some(now);
        }
    }
}

impl<const G: bool> SetLab<G> {
    /// A sample showed `node` holding `value` at `now`.
    fn saw(&mut self, now: Duration, node: usize, value: &Value) {
        if let Some(v) = value.as_u64() {
            if self.probed[node].insert(v) {
                self.reach(now, node, value);
            }
        }
    }
}

/// The values a read returned, sorted, each once (a node that repeats a
/// value must not count as two hits). A sorted `Vec` rather than a
/// `HashSet`: a run keeps every read, and most hold every value.
fn read_values(op: &Op, field: &str) -> Option<Vec<u64>> {
    let messages = op.ok_body()?.get(field)?.as_array()?;
    let values: Vec<u64> = messages.iter().filter_map(Value::as_u64).collect();
    Some(sorted_distinct(values))
}

/// `values` sorted, each once. A read holds most values written so far,
/// a dense range of integers: marked in a bitmap and collected in order,
/// that is linear (a sort of every read was a twentieth of a run's cost).
/// Sparse values (far apart, as a foreign node may return) are sorted.
fn sorted_distinct(mut values: Vec<u64>) -> Vec<u64> {
    let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
        return values;
    };
    let span = max - min;
    if values.len() < 32 || span / 8 > values.len() as u64 {
        values.sort_unstable();
        values.dedup();
        return values;
    }
    let mut words = vec![0u64; (span / 64 + 1) as usize];
    for v in &values {
        let bit = v - min;
        words[(bit / 64) as usize] |= 1 << (bit % 64);
    }
    values.clear();
    for (w, &word) in words.iter().enumerate() {
        let mut rest = word;
        while rest != 0 {
            let bit = u64::from(rest.trailing_zeros());
            values.push(min + w as u64 * 64 + bit);
            rest &= rest - 1;
        }
    }
    values
}

impl<const G: bool> Lab for SetLab<G> {
    fn setup_message(&mut self, _node: &str, node_ids: &[NodeId]) -> Option<Value> {
        let topology = self.topology?;
        let message = self.topology_message.get_or_insert_with(
            || json!({"type": "topology", "topology": topology.neighbours(node_ids)}),
        );
        Some(message.clone())
    }

    fn next_op(&mut self, rng: &mut StdRng) -> Option<Value> {
        if rng.random_bool(self.read_fraction.clamp(0.0, 1.0)) {
            Some(json!({"type": "read"}))
        } else {
            self.next_value += 1;
            let shape = Self::SHAPE;
            Some(json!({"type": shape.add, shape.field: self.next_value}))
        }
    }

    fn final_reads(&self) -> Vec<Value> {
        vec![json!({"type": "read"})]
    }

    fn observe(&mut self, now: Duration, node: usize, view: Option<View<'_>>) {
        let Some(View::Values(held)) = view else {
            return;
        };
        let from = self.seen_len[node];
        if held.len() > from {
            self.seen_len[node] = held.len();
            for value in &held[from..] {
                self.reach(now, node, value);
            }
        }
    }

    /// A restarted node holds nothing it held before: its values no longer
    /// count as having reached it, and a value all nodes held waits for
    /// the restarted one again.
    fn restarted(&mut self, _now: Duration, node: usize) {
        for v in std::mem::take(&mut self.counted[node]) {
            let entry = &mut self.reached[v as usize];
            entry.holders -= 1;
            entry.everywhere_since = None;
        }
        self.seen_len[node] = 0;
        self.probed[node].clear();
    }

    fn probe(&mut self, _node: usize) -> Option<Value> {
        Some(json!({"type": "read"}))
    }

    fn on_sample(&mut self, now: Duration, node: usize, request: &Value, reply: &Value) -> bool {
        match request["type"].as_str() {
            Some("read") => {
                for value in reply[Self::SHAPE.read].as_array().into_iter().flatten() {
                    self.saw(now, node, value);
                }
                true
            }
            // A node that acknowledged an add holds its value.
            Some(kind) if kind == Self::SHAPE.add => {
                self.saw(now, node, &request[Self::SHAPE.field]);
                false
            }
            _ => false,
        }
    }

    fn validate_reply(&self, kind: &str, reply: &Value) -> Result<(), String> {
        match kind {
            "read" => closed_schema(reply, &[(Self::SHAPE.read, Field::Array)]),
            _ => closed_schema(reply, &[]),
        }
    }

    fn check(&mut self, history: &History, net: &NetStats) -> Verdict {
        let mut verdict = Verdict::new();
        let shape = Self::SHAPE;
        let read_values = |op: &Op| read_values(op, shape.read);
        let broadcasts: Vec<&Op> = history
            .ops
            .iter()
            .filter(|op| op.kind == shape.add)
            .collect();
        let value_of = |op: &Op| op.request[shape.field].as_u64();
        let acked: BTreeMap<u64, &Op> = broadcasts
            .iter()
            .filter(|op| op.is_ok())
            .filter_map(|op| Some((value_of(op)?, *op)))
            .collect();
        let attempted: HashSet<u64> = broadcasts
            .iter()
            .filter(|op| matches!(op.outcome, Outcome::Info { .. }))
            .filter_map(|op| value_of(op))
            .collect();

        // Maelstrom's checker: Jepsen's set-full over every read.
        let set = set_full::analyse(
            history,
            |op| (op.kind == shape.add).then(|| value_of(op)).flatten(),
            |op| (op.kind == "read").then(|| read_values(op)).flatten(),
        );
        let lost = set.values(Fate::Lost);
        if !lost.is_empty() {
            verdict.fail(format!(
                "{} value(s) lost: known to have been {}, then missing from every \
                 later read, e.g. {:?}",
                lost.len(),
                shape.added,
                &lost[..lost.len().min(5)]
            ));
        }
        let stable = set.count(Fate::Stable);
        if stable == 0 && !set.elements.is_empty() {
            verdict.cannot_tell(format!(
                "no {} value became stable (seen by every later read)",
                shape.added
            ));
        }

        // Stricter than Maelstrom: every node's final read holds every
        // acknowledged value (set-full forgives a node that misses values
        // if another node's final read, begun later, has them).
        let mut short_nodes = 0;
        for op in history.final_reads() {
            let node = &history.node_ids[op.node];
            let Some(seen) = read_values(op) else {
                verdict.fail(format!("final read at {node}: {}", op.outcome));
                continue;
            };
            let missing: Vec<u64> = acked
                .keys()
                .filter(|v| seen.binary_search(v).is_err())
                .copied()
                .collect();
            if !missing.is_empty() {
                short_nodes += 1;
                verdict.fail(format!(
                    "{node}'s final read lacks {} of {} acknowledged values, e.g. {:?}",
                    missing.len(),
                    acked.len(),
                    &missing[..missing.len().min(5)]
                ));
            }
            // Values the lab never issued: integers it did not add, and
            // anything that is not a non-negative integer (which the
            // checker's integer sets leave out, so it is looked for here).
            let mut invented: Vec<Value> = seen
                .iter()
                .filter(|v| !acked.contains_key(v) && !attempted.contains(v))
                .map(|&v| json!(v))
                .collect();
            let listed = op.ok_body().and_then(|b| b.get(shape.read)?.as_array());
            invented.extend(
                listed
                    .into_iter()
                    .flatten()
                    .filter(|v| v.as_u64().is_none())
                    .cloned(),
            );
            if !invented.is_empty() {
                let shown: Vec<String> = invented.iter().take(10).map(Value::to_string).collect();
                verdict.fail(format!(
                    "{node}'s final read holds values never {}: [{}]",
                    shape.added,
                    shown.join(", ")
                ));
            }
        }

        let mut reads: Vec<(Duration, Vec<u64>)> = history
            .ops
            .iter()
            .filter(|op| op.kind == "read")
            .filter_map(|op| Some((op.invoke, read_values(op)?)))
            .collect();
        reads.sort_by_key(|(t, _)| *t);
        // Reads that began after a value was acknowledged and lacked it.
        let mut hits: HashMap<u64, Vec<usize>> = acked.keys().map(|&v| (v, Vec::new())).collect();
        for (i, (_, seen)) in reads.iter().enumerate() {
            for v in seen {
                if let Some(h) = hits.get_mut(v) {
                    h.push(i);
                }
            }
        }
        let mut missing_reads = 0u64;
        for (&v, op) in &acked {
            let h = &hits[&v];
            let known = h
                .first()
                .map_or(op.complete, |&i| reads[i].0.min(op.complete));
            let start = reads.partition_point(|(t, _)| *t < known);
            let hits_after = h.len() - h.partition_point(|&i| i < start);
            missing_reads += (reads.len() - start - hits_after) as u64;
        }
        let mut stable_latency = set.latencies(Fate::Stable);
        let mut lost_latency = set.latencies(Fate::Lost);
        verdict.metric("values acknowledged", acked.len() as f64, "");
        verdict.metric("values stable", stable as f64, "");
        verdict.metric("values lost", lost.len() as f64, "");
        verdict.metric("values never read", set.count(Fate::NeverRead) as f64, "");
        verdict.metric("values stale", set.stale().len() as f64, "");
        verdict.metric("final reads lacking values", short_nodes as f64, "");
        verdict.metric("read misses (read × value)", missing_reads as f64, "");
        // Maelstrom's figures, with Jepsen's quantiles.
        verdict.jepsen_quantiles_ms("stable latency", &mut stable_latency.clone());
        verdict.jepsen_quantiles_ms("lost latency", &mut lost_latency);
        let stable = std::mem::take(&mut stable_latency);

        // Delivery latency: what the simulator (or the probes) saw.
        let mut delivery = Vec::new();
        let mut undelivered = 0;
        let mut delivered_at = Vec::new();
        for (v, op) in &acked {
            match self
                .reached
                .get(*v as usize)
                .and_then(|r| r.first_everywhere)
            {
                Some(at) => {
                    delivery.push(millis(at.saturating_sub(op.invoke)));
                    delivered_at.push(at);
                }
                None => undelivered += 1,
            }
        }
        if !self.reached.is_empty() {
            verdict.quantiles_ms("delivery latency", &mut delivery.clone());
            verdict.metric("values never seen at every node", undelivered as f64, "");
        }
        // Convergence after the last heal: from the heal until every node
        // held every value acknowledged by then (0 if they all did at the
        // heal). Values broadcast after the heal are not counted: their
        // delivery is the delivery latency above. Only defined when those
        // values all got everywhere; a lost one fails the run anyway.
        if let Some(healed) = history.healed_at.filter(|_| !self.reached.is_empty()) {
            let reached_at = acked
                .iter()
                .filter(|(_, op)| op.complete <= healed)
                .map(|(v, _)| {
                    self.reached
                        .get(*v as usize)
                        .and_then(|r| r.everywhere_since)
                })
                .try_fold(healed, |latest, at| Some(latest.max(at?)));
            if let Some(all_at) = reached_at {
                verdict.metric("convergence after last heal", millis(all_at - healed), "ms");
            }
        }
        let per_broadcast = net.sent as f64 / broadcasts.len().max(1) as f64;
        verdict.metric(format!("messages per {}", shape.add), per_broadcast, "");

        // Charts: values broadcast vs values at every node, over time;
        // delivery and stable latency distributions.
        let mut invoked: Vec<f64> = acked.values().map(|op| op.invoke.as_secs_f64()).collect();
        invoked.sort_by(f64::total_cmp);
        delivered_at.sort();
        let count_series = |name: &str, times: Vec<f64>| {
            Series::new(
                name,
                times
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| (t, (i + 1) as f64))
                    .collect(),
            )
        };
        verdict.plots.push(Plot::over_time(
            &format!(
                "Acknowledged values: {}, and held by every node",
                shape.added
            ),
            "values",
            vec![
                count_series(shape.add, invoked),
                count_series(
                    "at every node",
                    delivered_at.iter().map(Duration::as_secs_f64).collect(),
                ),
            ],
        ));
        if !delivery.is_empty() {
            verdict.plots.push(Plot::histogram(
                &format!("Delivery latency ({} → every node)", shape.add),
                "latency (ms)",
                &delivery,
            ));
        }
        verdict.plots.push(Plot::histogram(
            "Stable latency (sampled by reads)",
            "latency (ms)",
            &stable,
        ));
        verdict
    }
}

impl<const G: bool> SetLab<G> {
    fn with(read_fraction: f64, topology: Option<Topology>, setup: &LabSetup) -> Self {
        let nodes = setup.node_ids.len();
        SetLab {
            read_fraction,
            topology,
            topology_message: None,
            nodes,
            next_value: 0,
            seen_len: vec![0; nodes],
            probed: vec![HashSet::new(); nodes],
            reached: Vec::new(),
            counted: vec![Vec::new(); nodes],
        }
    }
}

impl LabSpec for BroadcastLab {
    type Options = BroadcastLabOptions;

    fn new(options: &BroadcastLabOptions, setup: &LabSetup) -> Self {
        SetLab::with(options.read_fraction, Some(options.topology), setup)
    }
}

impl LabSpec for GSetLab {
    type Options = GSetLabOptions;

    fn new(options: &GSetLabOptions, setup: &LabSetup) -> Self {
        SetLab::with(options.read_fraction, None, setup)
    }
}

#[cfg(test)]
mod tests {
    use clap::{Args, FromArgMatches};
    use rand::{Rng, SeedableRng};

    #[test]
    fn sorted_distinct_is_sort_and_dedup() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for case in 0..2000 {
            let len = rng.random_range(0..300);
            // Dense ranges with repeats, sparse ones, and ones near the
            // ends of u64 (where `max - min` must not overflow).
            let (base, spread) = match case % 4 {
                0 => (rng.random_range(0..1000), 400),
                1 => (0, u64::MAX),
                2 => (u64::MAX - 500, 500),
                _ => (rng.random_range(0..10), 5000),
            };
            let values: Vec<u64> = (0..len)
                .map(|_| base + rng.random_range(0..=spread.min(u64::MAX - base)))
                .collect();
            let mut want = values.clone();
            want.sort_unstable();
            want.dedup();
            assert_eq!(super::sorted_distinct(values), want, "case {case}");
        }
    }

    use super::*;

    fn parse<O: Args + FromArgMatches>(args: &[&str]) -> Result<O, clap::Error> {
        let matches = O::augment_args(clap::Command::new("lab"))
            .try_get_matches_from(std::iter::once("lab").chain(args.iter().copied()))?;
        O::from_arg_matches(&matches)
    }

    fn setup() -> LabSetup {
        LabSetup {
            node_ids: (0..6).map(|i| format!("n{i}")).collect(),
        }
    }

    #[test]
    fn broadcast_sends_the_topology_named_by_the_flag() {
        for (args, topology) in [
            (&[][..], Topology::Grid),
            (&["--topology", "tree3"][..], Topology::Tree3),
            (&["--topology", "line"][..], Topology::Line),
        ] {
            let options: BroadcastLabOptions = parse(args).unwrap();
            let setup = setup();
            let mut lab = BroadcastLab::new(&options, &setup);
            let expected =
                json!({"type": "topology", "topology": topology.neighbours(&setup.node_ids)});
            assert_eq!(
                lab.setup_message("n0", &setup.node_ids),
                Some(expected),
                "{args:?}"
            );
        }
    }

    #[test]
    fn a_restart_delays_convergence_but_not_the_first_delivery() {
        let setup = LabSetup {
            node_ids: vec!["n0".into(), "n1".into()],
        };
        let mut lab = BroadcastLab::new(&parse(&[]).unwrap(), &setup);
        lab.next_value = 1;
        let held = [json!(1)];
        let at = Duration::from_millis;
        lab.observe(at(10), 0, Some(View::Values(&held)));
        lab.observe(at(20), 1, Some(View::Values(&held)));
        // n1 is killed and shows the value again (recovered) at 500 ms.
        lab.restarted(at(400), 1);
        assert_eq!(lab.reached[1].everywhere_since, None);
        lab.observe(at(500), 1, Some(View::Values(&held)));
        assert_eq!(lab.reached[1].first_everywhere, Some(at(20)));
        assert_eq!(lab.reached[1].everywhere_since, Some(at(500)));
        assert_eq!(lab.reached[1].holders, 2);
    }

    #[test]
    fn g_set_sends_no_topology_and_has_no_flag_for_one() {
        assert!(parse::<GSetLabOptions>(&["--topology", "line"]).is_err());
        let setup = setup();
        let mut lab = GSetLab::new(&parse(&[]).unwrap(), &setup);
        assert_eq!(lab.setup_message("n0", &setup.node_ids), None);
    }
}
