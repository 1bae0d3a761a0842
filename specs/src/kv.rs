//! The kv store in the cluster lab: clients writing and reading a key set,
//! a last-writer-wins checker, and the seed's benchmark figures.
//!
//! - Clients: `write {key, value}` of unique integers and `read {key}`
//!   over `--keys` keys (`k0`, `k1`, …), `--read-fraction` of them reads.
//! - Final reads: `kv_read` of every key at every node.
//! - Lost writes (must be 0): for each key, every node's final value must
//!   be the winning acknowledged write — the one with the highest `ts` —
//!   or a later write whose outcome was indeterminate. Replicas that
//!   disagree also fail the run.
//! - Stale reads, as clients see them: a read that returned an older
//!   value (lower `ts`, or "not found") than the newest write acknowledged
//!   before the read began. Reported as a fraction of all reads, next to
//!   its simple model: writes per second per key × mean convergence time.
//! - Convergence of a write: from its acknowledgement until every node
//!   holds it or a newer entry (a higher `ts`) for its key — seen after
//!   every simulator step. With real processes, from the first of: a
//!   `kv_merge` carrying the entry handed to the node (the task's own
//!   replication message; a lower bound, as the node reads it a little
//!   later), a reply of the node showing it (its write's acknowledgement,
//!   a client read, a probe `kv_read` of the key it is furthest behind
//!   on). Entries are compared by `ts` alone here, which only differs from
//!   the store's order on exact ties.
//! - Convergence after last heal (runs with a nemesis): from the final
//!   heal — or the last write's acknowledgement, if later, since winners
//!   change until then — until every node holds the winning entry of
//!   every key (the newest any node ever held); 0 if they all did by
//!   then. Only reported when every node got there.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use maelstrom_lab::lab::{Field, closed_schema, millis};
use maelstrom_lab::network::NetStats;
use maelstrom_lab::plots::{Plot, Series};
use maelstrom_lab::{History, Lab, LabSetup, LabSpec, Op, Outcome, Verdict};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use maelstrom_framework::{Ts, View};

/// The lab's flags on `sim` and `cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct KvLabOptions {
    /// How many keys the clients use.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub keys: u64,
    /// Fraction of operations that are reads.
    #[arg(long, default_value_t = 0.5)]
    pub read_fraction: f64,
}

pub struct KvLab {
    options: KvLabOptions,
    keys: Vec<String>,
    next_value: u64,
    /// Per node, the next key to probe when none is known to be behind.
    next_probe_key: Vec<usize>,
    /// Per key, the newest acknowledged write seen (real processes): its
    /// `ts` and when it was acknowledged.
    newest: HashMap<String, (Ts, Duration)>,
    /// The `ts` of each acknowledged write, by its (unique) value.
    ts_of_value: HashMap<u64, Ts>,
    /// Per node, per key: when its entry changed, to which `ts`. The `ts`
    /// only grows (last writer wins), which the checker relies on.
    held: Vec<HashMap<String, Vec<(Duration, Ts)>>>,
}

impl KvLab {
    fn record(&mut self, now: Duration, node: usize, key: &str, ts: Ts) {
        let changes = self.held[node].entry(key.to_string()).or_default();
        if changes.last().is_none_or(|(_, last)| ts > *last) {
            changes.push((now, ts));
        }
    }

    /// The newest `ts` `node` is known to hold for `key`.
    fn held_ts(&self, node: usize, key: &str) -> Option<Ts> {
        self.held[node].get(key)?.last().map(|(_, ts)| *ts)
    }

    /// When `node` first held `key` at `ts` or newer.
    fn held_since(&self, node: usize, key: &str, ts: Ts) -> Option<Duration> {
        let changes = self.held[node].get(key)?;
        let i = changes.partition_point(|(_, t)| *t < ts);
        changes.get(i).map(|(at, _)| *at)
    }
}

/// A write as the checker needs it.
struct Write<'a> {
    op: &'a Op,
    key: &'a str,
    value: &'a Value,
    ts: Option<Ts>,
}

fn writes(history: &History) -> Vec<Write<'_>> {
    history
        .ops
        .iter()
        .filter(|op| op.kind == "write" && !op.is_fail())
        .filter_map(|op| {
            Some(Write {
                op,
                key: op.request["key"].as_str()?,
                value: &op.request["value"],
                ts: op
                    .ok_body()
                    .and_then(|b| b["ts"].as_f64())
                    .and_then(Ts::from_secs),
            })
        })
        .collect()
}

impl Lab for KvLab {
    fn next_op(&mut self, rng: &mut StdRng) -> Option<Value> {
        let key = &self.keys[rng.random_range(0..self.keys.len())];
        if rng.random_bool(self.options.read_fraction.clamp(0.0, 1.0)) {
            Some(json!({"type": "read", "key": key}))
        } else {
            self.next_value += 1;
            Some(json!({"type": "write", "key": key, "value": self.next_value}))
        }
    }

    fn final_reads(&self) -> Vec<Value> {
        self.keys
            .iter()
            .map(|key| json!({"type": "kv_read", "key": key}))
            .collect()
    }

    fn observe(&mut self, now: Duration, node: usize, view: Option<View<'_>>) {
        let Some(View::Versions(store)) = view else {
            return;
        };
        for k in 0..self.keys.len() {
            if let Some(ts) = store.version(&self.keys[k]) {
                let key = self.keys[k].clone();
                self.record(now, node, &key, ts);
            }
        }
    }

    /// The seed's replies, as closed schemas: a write without its `ts`
    /// cannot be ordered, and would be taken for one never acknowledged.
    fn validate_reply(&self, kind: &str, reply: &Value) -> Result<(), String> {
        match kind {
            "write" => closed_schema(reply, &[("ts", Field::Number)]),
            "read" => closed_schema(reply, &[("value", Field::Any)]),
            "kv_read" => closed_schema(
                reply,
                &[
                    ("key", Field::String),
                    ("value", Field::Any),
                    ("ts", Field::Number),
                ],
            ),
            _ => Ok(()),
        }
    }

    /// The key most worth asking `node` about: the one whose newest
    /// acknowledged write is the oldest the node is not known to hold;
    /// otherwise the next key in turn.
    fn probe(&mut self, node: usize) -> Option<Value> {
        let behind = self
            .newest
            .iter()
            .filter(|(key, (ts, _))| self.held_ts(node, key).is_none_or(|held| held < *ts))
            .min_by_key(|(key, (_, acked_at))| (*acked_at, key.as_str()))
            .map(|(key, _)| key.clone());
        let key = behind.unwrap_or_else(|| {
            let i = self.next_probe_key[node];
            self.next_probe_key[node] += 1;
            self.keys[i % self.keys.len()].clone()
        });
        Some(json!({"type": "kv_read", "key": key}))
    }

    fn on_sample(&mut self, now: Duration, node: usize, request: &Value, reply: &Value) -> bool {
        let Some(key) = request["key"].as_str().map(str::to_string) else {
            return false;
        };
        let ts = match request["type"].as_str() {
            // The writer holds its write from its acknowledgement on.
            Some("write") => {
                let ts = reply["ts"].as_f64().and_then(Ts::from_secs);
                if let (Some(ts), Some(value)) = (ts, request["value"].as_u64()) {
                    self.ts_of_value.insert(value, ts);
                    let newest = self.newest.entry(key.clone()).or_insert((ts, now));
                    if ts > newest.0 {
                        *newest = (ts, now);
                    }
                }
                ts
            }
            Some("kv_read") => reply["ts"].as_f64().and_then(Ts::from_secs),
            // A client read returns the value alone: its write says which.
            Some("read") => reply["value"]
                .as_u64()
                .and_then(|v| self.ts_of_value.get(&v).copied()),
            _ => None,
        };
        if let Some(ts) = ts {
            self.record(now, node, &key, ts);
        }
        false
    }

    /// The task's own replication message: a node handed a `kv_merge`
    /// holds each of its entries (or newer) once it has read it, as last
    /// writer wins.
    fn watches_deliveries(&self) -> bool {
        true
    }

    fn on_delivery(&mut self, now: Duration, to: usize, body: &Value) {
        if body["type"] != "kv_merge" {
            return;
        }
        let Some(entries) = body["entries"].as_object() else {
            return;
        };
        for (key, entry) in entries {
            if let Some(ts) = entry["ts"].as_f64().and_then(Ts::from_secs) {
                self.record(now, to, key, ts);
            }
        }
    }

    fn check(&mut self, history: &History, net: &NetStats) -> Verdict {
        let mut verdict = Verdict::new();
        let writes = writes(history);
        let acked: Vec<&Write> = writes.iter().filter(|w| w.ts.is_some()).collect();
        let ts_of_value: HashMap<String, Ts> = acked
            .iter()
            .map(|w| (w.value.to_string(), w.ts.expect("acked")))
            .collect();

        // Final state: every replica holds the winner of every key.
        let mut finals: BTreeMap<&str, BTreeMap<usize, Value>> = BTreeMap::new();
        for op in history.final_reads() {
            let key = op.request["key"].as_str().unwrap_or("?");
            let value = match &op.outcome {
                Outcome::Ok { body } => body["value"].clone(),
                Outcome::Fail { code: 20, .. } => Value::Null,
                other => {
                    verdict.fail(format!(
                        "final read of {key} at {}: {other}",
                        history.node_ids[op.node]
                    ));
                    continue;
                }
            };
            finals.entry(key).or_default().insert(op.node, value);
        }
        let mut lost = 0;
        for (key, per_node) in &finals {
            let mut distinct: Vec<&Value> = per_node.values().collect();
            distinct.dedup();
            if distinct.len() > 1 {
                let values: Vec<String> = per_node
                    .iter()
                    .map(|(node, v)| format!("{}={v}", history.node_ids[*node]))
                    .collect();
                verdict.fail(format!("replicas disagree on {key}: {}", values.join(", ")));
            }
            let winner = acked.iter().filter(|w| w.key == *key).max_by(|a, b| {
                let writer = |w: &Write| &history.node_ids[w.op.node];
                a.ts.cmp(&b.ts).then_with(|| writer(a).cmp(writer(b)))
            });
            let Some(winner) = winner else { continue };
            for (node, value) in per_node {
                if value == winner.value {
                    continue;
                }
                // A later write whose reply never came may have won.
                let later_maybe = writes
                    .iter()
                    .any(|w| w.key == *key && w.ts.is_none() && w.value == value);
                if !later_maybe {
                    lost += 1;
                    verdict.fail(format!(
                        "lost write: {key} at {} is {value}, but {} (ts {}) was acknowledged last",
                        history.node_ids[*node],
                        winner.value,
                        winner.ts.expect("acked").secs()
                    ));
                }
            }
        }
        verdict.metric("writes acknowledged", acked.len() as f64, "");
        verdict.metric("lost writes", f64::from(lost), "");

        // Stale reads as clients see them.
        let mut reads = 0u64;
        let mut stale = 0u64;
        for op in history
            .ops
            .iter()
            .filter(|op| op.kind == "read" && !op.final_read)
        {
            let key = op.request["key"].as_str().unwrap_or("?");
            let returned: Option<Ts> = match &op.outcome {
                Outcome::Ok { body } => ts_of_value.get(&body["value"].to_string()).copied(),
                Outcome::Fail { code: 20, .. } => None,
                _ => continue,
            };
            reads += 1;
            let newest_before = acked
                .iter()
                .filter(|w| w.key == key && w.op.complete <= op.invoke)
                .filter_map(|w| w.ts)
                .max();
            if let Some(newest) = newest_before {
                if returned.is_none_or(|r| r < newest) {
                    stale += 1;
                }
            }
        }
        let stale_fraction = stale as f64 / reads.max(1) as f64;
        verdict.metric("reads", reads as f64, "");
        verdict.metric("stale reads", stale as f64, "");
        verdict.metric("stale-read fraction", stale_fraction, "");

        // Convergence of acknowledged writes.
        let nodes = history.node_ids.len();
        let mut convergence = Vec::new();
        let mut unconverged = 0;
        for w in &acked {
            let ts = w.ts.expect("acked");
            let everywhere = (0..nodes)
                .map(|n| self.held_since(n, w.key, ts))
                .collect::<Option<Vec<_>>>()
                .and_then(|times| times.into_iter().max());
            match everywhere {
                Some(at) => convergence.push(millis(at.saturating_sub(w.op.complete))),
                None => unconverged += 1,
            }
        }
        if self.held.iter().any(|h| !h.is_empty()) {
            let mean = convergence.iter().sum::<f64>() / convergence.len().max(1) as f64;
            verdict.quantiles_ms("convergence", &mut convergence.clone());
            verdict.metric("writes never everywhere", f64::from(unconverged), "");
            let span = history
                .ops
                .iter()
                .filter(|op| !op.final_read)
                .map(|op| op.invoke)
                .max()
                .unwrap_or_default()
                .as_secs_f64()
                .max(1e-9);
            let rate_per_key = acked.len() as f64 / span / self.keys.len() as f64;
            verdict.metric(
                "stale-read model (rate/key × mean convergence)",
                rate_per_key * mean / 1000.0,
                "",
            );
            if !convergence.is_empty() {
                verdict.plots.push(Plot::histogram(
                    "Write convergence (acknowledged → every node)",
                    "convergence (ms)",
                    &convergence,
                ));
            }
        }
        if let Some(healed) = history.healed_at {
            let last_write = acked.iter().map(|w| w.op.complete).max();
            let from = last_write.map_or(healed, |w| w.max(healed));
            if let Some(all_at) = self.all_hold_winners() {
                let after = millis(all_at.saturating_sub(from));
                verdict.metric("convergence after last heal", after, "ms");
            }
        }
        let per_write = |x: u64| x as f64 / writes.len().max(1) as f64;
        verdict.metric("messages per write", per_write(net.sent), "");
        verdict.metric("bytes per write", per_write(net.bytes), "B");
        verdict.plots.push(self.agreement_plot(nodes));
        verdict
    }
}

impl KvLab {
    /// When every node first held the winning entry of every key (the
    /// newest any node held); `None` if some node never did.
    fn all_hold_winners(&self) -> Option<Duration> {
        let mut winners: HashMap<&str, Ts> = HashMap::new();
        for changes in self.held.iter().flat_map(HashMap::iter) {
            if let (key, Some((_, ts))) = (changes.0.as_str(), changes.1.last()) {
                let winner = winners.entry(key).or_insert(*ts);
                *winner = (*winner).max(*ts);
            }
        }
        let mut latest = Duration::ZERO;
        for (key, ts) in winners {
            for node in 0..self.held.len() {
                latest = latest.max(self.held_since(node, key, ts)?);
            }
        }
        Some(latest)
    }

    /// Keys on which every node holds the same entry, over time.
    fn agreement_plot(&self, nodes: usize) -> Plot {
        let mut events: Vec<(Duration, usize, &str, Ts)> = Vec::new();
        for (node, keys) in self.held.iter().enumerate() {
            for (key, changes) in keys {
                for (at, ts) in changes {
                    events.push((*at, node, key, *ts));
                }
            }
        }
        events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)));
        let mut current: HashMap<&str, Vec<Option<Ts>>> = HashMap::new();
        let mut agreeing = 0i64;
        let mut points = Vec::new();
        for (at, node, key, ts) in events {
            let row = current.entry(key).or_insert_with(|| vec![None; nodes]);
            let before = row.iter().all(|t| t.is_some() && *t == row[0]);
            row[node] = Some(ts);
            let after = row.iter().all(|t| t.is_some() && *t == row[0]);
            agreeing += i64::from(after) - i64::from(before);
            points.push((at.as_secs_f64(), agreeing as f64));
        }
        Plot::over_time(
            "Keys on which every node agrees",
            "keys",
            vec![Series::new("agreeing keys", points)],
        )
    }
}

impl LabSpec for KvLab {
    type Options = KvLabOptions;

    fn new(options: &KvLabOptions, setup: &LabSetup) -> Self {
        KvLab {
            options: options.clone(),
            keys: (0..options.keys).map(|k| format!("k{k}")).collect(),
            next_value: 0,
            next_probe_key: vec![0; setup.node_ids.len()],
            newest: HashMap::new(),
            ts_of_value: HashMap::new(),
            held: vec![HashMap::new(); setup.node_ids.len()],
        }
    }
}
