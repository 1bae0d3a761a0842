//! Maelstrom's `lin-kv` workload (Jepsen's `linearizable-register` test):
//! independent integer keys, each a register that clients read, write and
//! compare-and-set, checked for linearizability per key.
//!
//! - Clients, as Jepsen's `independent/concurrent-generator`: the client
//!   threads form groups of 2 × the node count (a last, smaller group when
//!   `--concurrency` is no multiple of it, where Maelstrom refuses to
//!   run); each group works one key at a time, the first half of it only
//!   reading (`gen/reserve n r`), the rest writing and cas-ing (`gen/mix
//!   [w cas cas]`), values 0..4. A group moves to a fresh key once
//!   `--process-limit` different client processes (a thread gets a new one
//!   after an indeterminate operation) have worked the key, or after about
//!   `--per-key-limit` operations when that is set.
//! - Messages: `read {key}` → `read_ok {value}`, `write {key, value}` →
//!   `write_ok`, `cas {key, from, to}` → `cas_ok`; errors 20 (the key does
//!   not exist) and 22 (`from` did not match) are definite failures.
//! - Checker ([`check_key`]): each key's operations against Knossos's
//!   cas-register model ([`cas_register`]) with the Wing–Gong–Lowe search
//!   ([`linearizable`]). Failed operations did not happen and are left
//!   out, as Knossos does; an indeterminate read is left out too (it
//!   changed nothing), an indeterminate write or cas may have taken effect
//!   at any point after its invocation, or never. A read of a missing key
//!   answered with `read_ok` and `null` reads "missing". A key that is not
//!   linearizable fails the run with the smallest window of operations
//!   that shows it ([`window`]); a key whose search runs out of its budget
//!   (`--lin-steps`, `--lin-states`, per key) makes the run unknown, never
//!   a guess.

pub mod cas_register;
pub mod linearizable;
pub mod window;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};

use maelstrom_lab::figure::{OpBar, OpsWindow};
use maelstrom_lab::lab::{ClientThread, Field, closed_schema, millis};
use maelstrom_lab::network::NetStats;
use maelstrom_lab::{History, Lab, LabSetup, LabSpec, Op, Outcome, Verdict};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use cas_register::{CasRegister, RegisterOp, Values};
use linearizable::{Budget, Call, Effort, Linearizability};

/// The lab's flags on `sim`, `cluster` and `test`.
#[derive(Debug, Clone, clap::Args)]
pub struct LinKvLabOptions {
    /// A key is done once this many client processes have worked it
    /// (Jepsen's `process-limit`).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub process_limit: u64,
    /// A key is done after about this many operations (90–100 % of it,
    /// so keys change at different times; Jepsen's `per-key-limit`).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub per_key_limit: Option<u64>,
    /// The linearizability search's steps per key before it answers
    /// "unknown".
    #[arg(long, default_value_t = Budget::default().steps)]
    pub lin_steps: u64,
    /// The (linearized set, value) states the search remembers per key
    /// before it answers "unknown".
    #[arg(long, default_value_t = Budget::default().states)]
    pub lin_states: usize,
}

/// Operations of a key quoted from the start of a prefix that only fails
/// from the key's first state (the stuck operation and those before it).
const QUOTED: usize = 12;
/// At most this many of a long explanation's calls are drawn.
const DRAWN: usize = 40;

/// What one group of client threads is working on.
#[derive(Debug, Default)]
struct Group {
    key: u64,
    processes: HashSet<String>,
    ops: u64,
    /// This key's share of `--per-key-limit`.
    limit: Option<u64>,
}

pub struct LinKvLab {
    options: LinKvLabOptions,
    nodes: usize,
    groups: Vec<Group>,
    next_key: u64,
}

impl LinKvLab {
    fn budget(&self) -> Budget {
        Budget {
            steps: self.options.lin_steps,
            states: self.options.lin_states,
        }
    }

    /// The group's current key, moving it to a fresh one when this client
    /// process would be one too many or its operations are done.
    fn key_for(&mut self, group: usize, client: &str, rng: &mut StdRng) -> u64 {
        while self.groups.len() <= group {
            self.groups.push(Group::default());
            self.fresh_key(self.groups.len() - 1, rng);
        }
        let limit = self.options.process_limit as usize;
        let g = &self.groups[group];
        let new_process = !g.processes.contains(client);
        let exhausted = g.limit.is_some_and(|l| g.ops >= l);
        if exhausted || (new_process && g.processes.len() >= limit) {
            self.fresh_key(group, rng);
        }
        let g = &mut self.groups[group];
        g.processes.insert(client.to_string());
        g.ops += 1;
        g.key
    }

    fn fresh_key(&mut self, group: usize, rng: &mut StdRng) {
        let limit = self
            .options
            .per_key_limit
            .map(|l| ((l as f64) * rng.random_range(0.9..1.0)).ceil() as u64);
        self.groups[group] = Group {
            key: self.next_key,
            processes: HashSet::new(),
            ops: 0,
            limit,
        };
        self.next_key += 1;
    }
}

impl Lab for LinKvLab {
    /// The driver asks [`Lab::next_op_for`]; this is thread 0's.
    fn next_op(&mut self, rng: &mut StdRng) -> Option<Value> {
        let only = ClientThread {
            thread: 0,
            threads: 1,
            client: "c0",
        };
        self.next_op_for(only, rng)
    }

    fn next_op_for(&mut self, client: ClientThread<'_>, rng: &mut StdRng) -> Option<Value> {
        let size = 2 * self.nodes.max(1);
        let group = client.thread / size;
        let members = size.min(client.threads.saturating_sub(group * size)).max(1);
        let reader = client.thread % size < members / 2;
        let key = self.key_for(group, client.client, rng);
        Some(request(key, reader, rng))
    }

    /// Maelstrom's lin-kv has no final phase.
    fn final_reads(&self) -> Vec<Value> {
        Vec::new()
    }

    fn validate_reply(&self, kind: &str, reply: &Value) -> Result<(), String> {
        match kind {
            "read" => closed_schema(reply, &[("value", Field::Any)]),
            _ => closed_schema(reply, &[]),
        }
    }

    fn check(&mut self, history: &History, _net: &NetStats) -> Verdict {
        let mut verdict = Verdict::new();
        let mut by_key: BTreeMap<String, Vec<&Op>> = BTreeMap::new();
        for op in &history.ops {
            by_key
                .entry(op.request["key"].to_string())
                .or_default()
                .push(op);
        }
        let (mut checked, mut indeterminate) = (0usize, 0usize);
        let mut most = Effort::default();
        for (key, ops) in &by_key {
            let key_history = KeyHistory::new(ops);
            checked += key_history.calls.len();
            indeterminate += key_history
                .calls
                .iter()
                .filter(|c| c.complete.is_none())
                .count();
            let effort = check_key(key, &key_history, history, self.budget(), &mut verdict);
            most.steps = most.steps.max(effort.steps);
            most.states = most.states.max(effort.states);
        }
        verdict.metric("keys", by_key.len() as f64, "");
        verdict.metric("operations checked", checked as f64, "");
        verdict.metric("indeterminate writes and cas", indeterminate as f64, "");
        verdict.metric("search steps, most on a key", most.steps as f64, "");
        verdict.metric("search states, most on a key", most.states as f64, "");
        verdict
    }
}

impl LabSpec for LinKvLab {
    type Options = LinKvLabOptions;

    fn new(options: &LinKvLabOptions, setup: &LabSetup) -> Self {
        LinKvLab {
            options: options.clone(),
            nodes: setup.node_ids.len(),
            groups: Vec::new(),
            next_key: 0,
        }
    }
}

/// One key's operations as register calls, with the operation each came
/// from.
pub struct KeyHistory<'a> {
    pub calls: Vec<Call<RegisterOp>>,
    pub ops: Vec<&'a Op>,
    pub values: Values,
}

impl<'a> KeyHistory<'a> {
    /// The calls of `ops` (one key's, in invocation order) that the
    /// register must explain: not the failed ones, not indeterminate
    /// reads, not requests of another kind or without their values.
    pub fn new(ops: &[&'a Op]) -> KeyHistory<'a> {
        let mut h = KeyHistory {
            calls: Vec::new(),
            ops: Vec::new(),
            values: Values::default(),
        };
        for &op in ops {
            let complete = match &op.outcome {
                Outcome::Fail { .. } => continue,
                Outcome::Info { .. } if op.kind == "read" => continue,
                Outcome::Info { .. } => None,
                Outcome::Ok { .. } => Some(op.complete_index),
            };
            let values = &mut h.values;
            let field =
                |values: &mut Values, name: &str| op.request.get(name).and_then(|v| values.id(v));
            let register_op = match op.kind.as_str() {
                "read" => RegisterOp::Read(
                    values.id(&op.ok_body().map_or(Value::Null, |b| b["value"].clone())),
                ),
                "write" => match field(values, "value") {
                    Some(v) => RegisterOp::Write(v),
                    None => continue,
                },
                "cas" => match (field(values, "from"), field(values, "to")) {
                    (Some(from), Some(to)) => RegisterOp::Cas { from, to },
                    _ => continue,
                },
                _ => continue,
            };
            h.calls.push(Call {
                op: register_op,
                invoke: op.invoke_index,
                complete,
            });
            h.ops.push(op);
        }
        h
    }
}

/// One client request on `key`, as Maelstrom's lin-kv clients draw them:
/// a read for a reader; else a write (a third) or a cas, of values 0..4.
pub fn request(key: u64, reader: bool, rng: &mut StdRng) -> Value {
    if reader {
        json!({"type": "read", "key": key})
    } else if rng.random_range(0..3) == 0 {
        json!({"type": "write", "key": key, "value": rng.random_range(0..5)})
    } else {
        let (from, to) = (rng.random_range(0..5), rng.random_range(0..5));
        json!({"type": "cas", "key": key, "from": from, "to": to})
    }
}

/// Checks one key's history; a failure goes to `verdict` in words and as
/// a picture, an unknown in words.
pub fn check_key(
    key: &str,
    h: &KeyHistory<'_>,
    history: &History,
    budget: Budget,
    verdict: &mut Verdict,
) -> Effort {
    let (result, effort) = linearizable::check(&CasRegister, None, &h.calls, budget);
    match result {
        Linearizability::Linearizable => {}
        Linearizability::Unknown { steps, states } => verdict.cannot_tell(format!(
            "key {key}: unknown whether linearizable: the search's budget ran out after {steps} \
             steps and {states} remembered states (--lin-steps {}, --lin-states {}; {} operations)",
            budget.steps,
            budget.states,
            h.calls.len()
        )),
        Linearizability::NotLinearizable { stuck } => {
            let w = window::smallest_window(
                &CasRegister,
                &h.values.all_states(),
                &h.calls,
                stuck,
                budget,
            );
            let say = |i: usize| describe(h.ops[i], &h.calls[i], &h.values, history);
            let stuck_op = h
                .ops
                .get(stuck)
                .map_or("?".to_string(), |op| format!("{}'s {}", op.client, op.kind));
            let text = if w.from_any_state {
                let quoted: Vec<String> = w.calls.iter().map(|&i| say(i)).collect();
                format!(
                    "key {key} is not linearizable: no order of these {} operations explains \
                     what they returned, whatever the key held before: {}",
                    w.calls.len(),
                    quoted.join("; ")
                )
            } else {
                let tail = w.calls.len().saturating_sub(QUOTED);
                let quoted: Vec<String> = w.calls[tail..].iter().map(|&i| say(i)).collect();
                format!(
                    "key {key} is not linearizable: no order of its first {} operations, from the \
                     key missing, explains what they returned by {stuck_op}{}: {}",
                    w.calls.len(),
                    if tail > 0 {
                        format!("; the last {QUOTED}")
                    } else {
                        String::new()
                    },
                    quoted.join("; ")
                )
            };
            verdict.fail(text);
            verdict
                .windows
                .push(picture(key, h, &w, stuck, history, &say));
        }
    }
    effort
}

/// The window `w` as bars, a lane per client (the last [`DRAWN`] calls of
/// a long prefix).
fn picture(
    key: &str,
    h: &KeyHistory<'_>,
    w: &window::Window,
    stuck: usize,
    history: &History,
    say: &dyn Fn(usize) -> String,
) -> OpsWindow {
    let shown = &w.calls[w.calls.len().saturating_sub(DRAWN)..];
    let mut lanes: Vec<String> = Vec::new();
    let mut lane_of: BTreeMap<&str, usize> = BTreeMap::new();
    let bars = shown
        .iter()
        .map(|&i| {
            let op = h.ops[i];
            let lane = *lane_of.entry(op.client.as_str()).or_insert_with(|| {
                let node = history.node_ids.get(op.node).map_or("?", String::as_str);
                lanes.push(format!("{} at {node}", op.client));
                lanes.len() - 1
            });
            let call = &h.calls[i];
            OpBar {
                lane,
                invoke_s: op.invoke.as_secs_f64(),
                complete_s: call.complete.map(|_| op.complete.as_secs_f64()),
                label: bar_label(call, &h.values),
                detail: say(i),
                stuck: i == stuck,
            }
        })
        .collect();
    let title = if shown.len() < w.calls.len() {
        format!(
            "key {key}: the last {} of its first {} operations",
            shown.len(),
            w.calls.len()
        )
    } else {
        format!("key {key}: {} operations no order explains", w.calls.len())
    };
    let from = if w.from_any_state {
        "whatever the key held before"
    } else {
        "from the key missing"
    };
    OpsWindow {
        title,
        lanes,
        bars,
        caption: format!(
            "Why key {key} is not linearizable: no order of these operations explains what they \
             returned, {from}. Each bar runs from an operation's invocation to its completion, in \
             its client's lane; a dashed open bar never completed (it may have taken effect at \
             any point after it began, or never). Outlined in red: the operation at whose \
             completion every order of the others fails. Hover a bar for its times."
        ),
    }
}

/// "write 3", "cas 1→2", "read 2"; an indeterminate call ends in "?".
fn bar_label(call: &Call<RegisterOp>, values: &Values) -> String {
    let what = match call.op {
        RegisterOp::Read(seen) => format!("read {}", values.text(seen)),
        RegisterOp::Write(v) => format!("write {}", values.text(Some(v))),
        RegisterOp::Cas { from, to } => {
            format!("cas {}→{}", values.text(Some(from)), values.text(Some(to)))
        }
    };
    if call.complete.is_some() {
        what
    } else {
        format!("{what} ?")
    }
}

/// "c3 at n1 cas 1→4 [12.0–14.5 ms] ok".
fn describe(op: &Op, call: &Call<RegisterOp>, values: &Values, history: &History) -> String {
    let node = history.node_ids.get(op.node).map_or("?", String::as_str);
    let what = match call.op {
        RegisterOp::Read(_) => "read".to_string(),
        RegisterOp::Write(v) => format!("write {}", values.text(Some(v))),
        RegisterOp::Cas { from, to } => {
            format!("cas {}→{}", values.text(Some(from)), values.text(Some(to)))
        }
    };
    let result = match (&op.outcome, call.op) {
        (Outcome::Ok { .. }, RegisterOp::Read(seen)) => format!("read {}", values.text(seen)),
        (outcome, _) => outcome.to_string(),
    };
    let end = if call.complete.is_some() {
        format!("{:.1}", millis(op.complete))
    } else {
        "?".to_string()
    };
    format!(
        "{} at {node} {what} [{:.1}–{end} ms] {result}",
        op.client,
        millis(op.invoke)
    )
}
