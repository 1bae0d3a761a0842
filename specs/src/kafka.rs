//! Maelstrom's `kafka` workload (Gossip Glomers challenge 5): append-only
//! logs named by string keys, each offset holding one message.
//!
//! - `send {key, msg}` → `send_ok {offset}`;
//! - `poll {offsets: {key: offset}}` → `poll_ok {msgs: {key: [[offset,
//!   msg], ...]}}`, contiguous messages from each requested offset (a key
//!   may be left out);
//! - `commit_offsets {offsets}` → `commit_offsets_ok`;
//! - `list_committed_offsets {keys}` → `list_committed_offsets_ok
//!   {offsets}` (keys without one left out).
//!
//! Clients, as Maelstrom's (`workload/kafka.clj`, `assign` only, no
//! transactions): a fresh client is assigned a random non-empty set of
//! the `--key-count` keys and asks their committed offsets
//! (`list_committed_offsets`, Maelstrom's `assign`), starting each key
//! there (or at 0). Then it sends unique integer messages to any key, or
//! polls its keys from where it last polled; after a poll that returned
//! messages, its next operation commits the highest offsets it polled. A
//! client whose operation was indeterminate crashed (a timed-out one is
//! replaced by a new client id, as Maelstrom does), and a client crashes of
//! itself with `--crash-chance` before an operation (Jepsen's
//! `crash-clients?`): either way it starts over from the committed
//! offsets. Final polls: every node is polled for every key from offset 0,
//! then, for keys with acknowledged messages no poll had returned yet,
//! from the lowest of those.
//!
//! The checker is [`checker`]'s; every error class it finds fails the run,
//! as Maelstrom's allowed set with `assign` allows none of them.

pub mod checker;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use maelstrom_lab::lab::{Field, closed_schema};
use maelstrom_lab::network::NetStats;
use maelstrom_lab::{ClientThread, History, Lab, LabSetup, LabSpec, Op, Outcome, Verdict};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use checker::ErrorClass;

/// Error lines of one class quoted in a report before "and N more".
const QUOTED: usize = 5;

/// The lab's flags on `sim` and `cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaLabOptions {
    /// How many keys (logs) the clients send to and poll.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub key_count: u64,
    /// Fraction of operations that are sends (the others poll, assign and
    /// commit).
    #[arg(long, default_value_t = 0.5)]
    pub send_fraction: f64,
    /// Chance that a client crashes before an operation and is replaced
    /// by a fresh one, which starts from the committed offsets.
    #[arg(long, default_value_t = 0.02)]
    pub crash_chance: f64,
}

/// What a client does next.
#[derive(Debug, Clone)]
enum Step {
    /// Ask the committed offsets of its keys (Maelstrom's `assign`).
    Assign,
    /// Send or poll.
    Work,
    /// Commit these offsets, the highest of its last poll.
    Commit(BTreeMap<String, i64>),
}

/// One client's state: its keys and where it polls each from next.
#[derive(Debug, Clone)]
struct Client {
    keys: Vec<String>,
    positions: BTreeMap<String, i64>,
    step: Step,
}

pub struct KafkaLab {
    options: KafkaLabOptions,
    keys: Vec<String>,
    clients: HashMap<String, Client>,
    next_msg: u64,
    /// Offsets acknowledged to sends and returned by polls, by key: the
    /// final polls ask for what was acknowledged and not yet seen.
    acknowledged: BTreeMap<String, BTreeSet<i64>>,
    polled: BTreeMap<String, BTreeSet<i64>>,
}

impl KafkaLab {
    fn fresh_client(&self, rng: &mut StdRng) -> Client {
        let mut keys: Vec<String> = self
            .keys
            .iter()
            .filter(|_| rng.random_bool(0.5))
            .cloned()
            .collect();
        if keys.is_empty() {
            keys.push(self.keys[rng.random_range(0..self.keys.len())].clone());
        }
        Client {
            keys,
            positions: BTreeMap::new(),
            step: Step::Assign,
        }
    }
}

/// The offsets map of a request or reply, as integers by key.
fn offsets_of(v: &Value) -> BTreeMap<String, i64> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, o)| Some((k.clone(), o.as_i64()?)))
        .collect()
}

/// The highest offset polled per key, from a well-formed `poll_ok`.
fn highest_polled(body: &Value) -> BTreeMap<String, i64> {
    let mut highest = BTreeMap::new();
    for (key, pairs) in body["msgs"].as_object().into_iter().flatten() {
        let top = pairs
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p[0].as_i64())
            .max();
        if let Some(top) = top {
            highest.insert(key.clone(), top);
        }
    }
    highest
}

/// Checks a `poll_ok`'s `msgs` beyond its type: keys to lists of
/// `[offset, msg]` pairs with integer offsets.
fn check_msgs(msgs: &Value) -> Result<(), String> {
    for (key, pairs) in msgs.as_object().into_iter().flatten() {
        let Some(pairs) = pairs.as_array() else {
            return Err(format!("`msgs.{key}` is {pairs}, not a list"));
        };
        for pair in pairs {
            let ok = pair
                .as_array()
                .is_some_and(|p| p.len() == 2 && p[0].as_i64().is_some());
            if !ok {
                return Err(format!(
                    "`msgs.{key}` holds {pair}, not an [offset, msg] pair with an integer offset"
                ));
            }
        }
    }
    Ok(())
}

fn check_offsets(field: &str, offsets: &Value) -> Result<(), String> {
    for (key, offset) in offsets.as_object().into_iter().flatten() {
        if offset.as_i64().is_none() {
            return Err(format!(
                "`{field}.{key}` is {offset}, not an integer offset"
            ));
        }
    }
    Ok(())
}

impl Lab for KafkaLab {
    /// Kafka's clients each have their own state: the driver asks
    /// [`Lab::next_op_for`]; this is one client's.
    fn next_op(&mut self, rng: &mut StdRng) -> Option<Value> {
        let client = ClientThread {
            thread: 0,
            threads: 1,
            client: "c1",
        };
        self.next_op_for(client, rng)
    }

    fn next_op_for(&mut self, thread: ClientThread<'_>, rng: &mut StdRng) -> Option<Value> {
        let client = thread.client;
        // A new client, or one that crashes now, starts afresh.
        let crash = self.options.crash_chance.clamp(0.0, 1.0);
        if !self.clients.contains_key(client) || rng.random_bool(crash) {
            let fresh = self.fresh_client(rng);
            self.clients.insert(client.to_string(), fresh);
        }
        let c = self.clients.get_mut(client)?;
        let op = match std::mem::replace(&mut c.step, Step::Work) {
            // Its keys start where the reply says (`completed`).
            Step::Assign => json!({"type": "list_committed_offsets", "keys": c.keys}),
            Step::Commit(offsets) => json!({"type": "commit_offsets", "offsets": offsets}),
            Step::Work if rng.random_bool(self.options.send_fraction.clamp(0.0, 1.0)) => {
                let key = &self.keys[rng.random_range(0..self.keys.len())];
                self.next_msg += 1;
                json!({"type": "send", "key": key, "msg": self.next_msg})
            }
            Step::Work => {
                let offsets: Map<String, Value> = c
                    .keys
                    .iter()
                    .map(|k| (k.clone(), json!(c.positions.get(k).copied().unwrap_or(0))))
                    .collect();
                json!({"type": "poll", "offsets": offsets})
            }
        };
        Some(op)
    }

    fn completed(&mut self, op: &Op) {
        if op.final_read {
            return;
        }
        if let (Some(body), "send") = (op.ok_body(), op.kind.as_str()) {
            if let (Some(key), Some(offset)) = (op.request["key"].as_str(), body["offset"].as_i64())
            {
                self.acknowledged
                    .entry(key.to_string())
                    .or_default()
                    .insert(offset);
            }
        }
        let Some(c) = self.clients.get_mut(&op.client) else {
            return;
        };
        match (&op.outcome, op.kind.as_str()) {
            // A crash: the client starts over.
            (Outcome::Info { .. }, _) => {
                c.positions.clear();
                c.step = Step::Assign;
            }
            (Outcome::Ok { body }, "list_committed_offsets") => {
                // Maelstrom's client: a key it already polls keeps its
                // position, a new one starts at the committed offset or 0.
                let committed = offsets_of(&body["offsets"]);
                for key in &c.keys {
                    let start = committed.get(key).copied().unwrap_or(0);
                    c.positions.entry(key.clone()).or_insert(start);
                }
            }
            // Not assigned: ask again.
            (Outcome::Fail { .. }, "list_committed_offsets") => c.step = Step::Assign,
            (Outcome::Ok { body }, "poll") => {
                let highest = highest_polled(body);
                for (key, top) in &highest {
                    let p = c.positions.entry(key.clone()).or_insert(0);
                    *p = (*p).max(top + 1);
                }
                for (key, pairs) in body["msgs"].as_object().into_iter().flatten() {
                    let seen = self.polled.entry(key.clone()).or_default();
                    seen.extend(
                        pairs
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|p| p[0].as_i64()),
                    );
                }
                if !highest.is_empty() {
                    c.step = Step::Commit(highest);
                }
            }
            _ => {}
        }
    }

    fn final_reads(&self) -> Vec<Value> {
        let from_zero: Map<String, Value> =
            self.keys.iter().map(|k| (k.clone(), json!(0))).collect();
        let mut rounds = vec![json!({"type": "poll", "offsets": from_zero})];
        let empty = BTreeSet::new();
        let unseen: Map<String, Value> = self
            .acknowledged
            .iter()
            .filter_map(|(key, acked)| {
                let polled = self.polled.get(key).unwrap_or(&empty);
                let lowest = acked.difference(polled).next()?;
                Some((key.clone(), json!(lowest)))
            })
            .collect();
        if !unseen.is_empty() {
            rounds.push(json!({"type": "poll", "offsets": unseen}));
        }
        rounds
    }

    fn validate_reply(&self, kind: &str, reply: &Value) -> Result<(), String> {
        match kind {
            "send" => closed_schema(reply, &[("offset", Field::Integer)]),
            "poll" => {
                closed_schema(reply, &[("msgs", Field::Object)])?;
                check_msgs(&reply["msgs"])
            }
            "list_committed_offsets" => {
                closed_schema(reply, &[("offsets", Field::Object)])?;
                check_offsets("offsets", &reply["offsets"])
            }
            _ => closed_schema(reply, &[]),
        }
    }

    fn check(&mut self, history: &History, net: &NetStats) -> Verdict {
        let findings = checker::check(history);
        let mut verdict = Verdict::new();
        for (class, lines) in &findings.errors {
            for line in lines.iter().take(QUOTED) {
                verdict.fail(format!("{}: {line}", class.name()));
            }
            if lines.len() > QUOTED {
                verdict.fail(format!(
                    "{}: … and {} more",
                    class.name(),
                    lines.len() - QUOTED
                ));
            }
        }
        for line in findings.unknown.iter().take(QUOTED) {
            verdict.cannot_tell(line.clone());
        }
        if findings.unknown.len() > QUOTED {
            verdict.cannot_tell(format!(
                "… and {} more messages beyond the final polls' pages",
                findings.unknown.len() - QUOTED
            ));
        }
        let sends =
            (findings.sends_acknowledged + findings.sends_failed + findings.sends_indeterminate)
                .max(1) as f64;
        verdict.metric("sends acknowledged", findings.sends_acknowledged as f64, "");
        verdict.metric(
            "sends indeterminate",
            findings.sends_indeterminate as f64,
            "",
        );
        verdict.metric("polls ok", findings.polls_ok as f64, "");
        verdict.metric("messages polled", findings.messages_polled as f64, "");
        // Errors by class, the classes found only.
        for class in ErrorClass::ALL
            .into_iter()
            .filter(|c| findings.count(*c) > 0)
        {
            verdict.metric(
                format!("{} errors", class.name()),
                findings.count(class) as f64,
                "",
            );
        }
        verdict.metric("messages per send", net.sent as f64 / sends, "");
        verdict
    }
}

impl LabSpec for KafkaLab {
    type Options = KafkaLabOptions;

    fn new(options: &KafkaLabOptions, _: &LabSetup) -> Self {
        KafkaLab {
            options: options.clone(),
            keys: (0..options.key_count).map(|k| k.to_string()).collect(),
            clients: HashMap::new(),
            next_msg: 0,
            acknowledged: BTreeMap::new(),
            polled: BTreeMap::new(),
        }
    }
}
