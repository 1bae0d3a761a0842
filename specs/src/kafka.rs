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
//! Clients, as Maelstrom's (`workload/kafka.clj` over Jepsen's kafka
//! generator, `assign` only, no transactions). Each operation is a draw
//! from Elle's key pool ([`crate::key_pool`]: `--key-count` active keys,
//! one hot, each retired after `--max-writes-per-key` sends, messages
//! numbered 1, 2, … per key): a send of the key's next message, or a poll
//! of the client's assigned keys from where it last polled each (an empty
//! `offsets` map before its first assignment, as in Maelstrom). With
//! `--assign-chance` (Jepsen's `sub-p`, 1/64) the draw becomes an
//! `assign` of its key instead, a third of the time with every key that
//! has acknowledged messages no poll has returned yet: the client asks
//! their committed offsets (`list_committed_offsets`) and its assignment
//! becomes exactly those keys, a key it already polls keeping its
//! position, a new one starting at its committed offset or 0. After a
//! poll that returned messages, its next operation commits the highest
//! offsets it polled (Maelstrom commits inside the poll). A client whose
//! operation was indeterminate crashed (a timed-out one is replaced by a
//! new client id, as Maelstrom does), and a client crashes of itself with
//! `--crash-chance` before an operation (Jepsen's `crash-clients?`):
//! either way it starts over with no keys. Final polls: every node is
//! polled for every key any operation touched, from offset 0, and on
//! from where each page ended while it ended short of the key's highest
//! acknowledged offset (Maelstrom's final polls); then, for keys with
//! acknowledged messages no poll had returned yet, from the lowest of
//! those.
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

use crate::key_pool::{Draw, KeyPool};

/// Error lines of one class quoted in a report before "and N more".
const QUOTED: usize = 5;

/// The lab's flags on `sim` and `cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaLabOptions {
    /// Keys (logs) active at a time (Maelstrom sets none; Elle's default).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub key_count: u64,
    /// Sends to a key before it retires and a fresh key takes its place.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_writes_per_key: u64,
    /// Fraction of draws that are sends (the others poll; Elle's 0.5).
    #[arg(long, default_value_t = 0.5)]
    pub send_fraction: f64,
    /// Chance that a draw becomes an assign of its key (Jepsen's sub-p).
    #[arg(long, default_value_t = 1.0 / 64.0)]
    pub assign_chance: f64,
    /// Chance that a client crashes before an operation and is replaced
    /// by a fresh one, which has no keys until it is assigned some.
    #[arg(long, default_value_t = 0.02)]
    pub crash_chance: f64,
}

/// One client's state: its assigned keys, each with the offset it polls
/// from next, and whether its next operation commits.
#[derive(Debug, Clone, Default)]
struct Client {
    positions: BTreeMap<String, i64>,
    /// The highest offsets of its last poll, to commit next.
    commit: Option<BTreeMap<String, i64>>,
}

pub struct KafkaLab {
    options: KafkaLabOptions,
    keys: KeyPool,
    clients: HashMap<String, Client>,
    /// Offsets acknowledged to sends and returned by polls, by key: the
    /// assigns and final polls ask for what was acknowledged and not yet
    /// seen.
    acknowledged: BTreeMap<String, BTreeSet<i64>>,
    polled: BTreeMap<String, BTreeSet<i64>>,
}

impl KafkaLab {
    /// Keys with an acknowledged offset above every polled one (Jepsen's
    /// `poll-unseen`).
    fn unseen_keys(&self) -> Vec<String> {
        self.acknowledged
            .iter()
            .filter(|(key, acked)| {
                let top_polled = self.polled.get(*key).and_then(|p| p.last());
                acked.last() > top_polled
            })
            .map(|(key, _)| key.clone())
            .collect()
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
            self.clients.insert(client.to_string(), Client::default());
        }
        if let Some(offsets) = self.clients.get_mut(client)?.commit.take() {
            return Some(json!({"type": "commit_offsets", "offsets": offsets}));
        }
        let draw = self.keys.draw(rng);
        let (Draw::Read(key) | Draw::Write(key, _)) = draw;
        let assign = self.options.assign_chance.clamp(0.0, 1.0);
        if rng.random_bool(assign) {
            let mut keys = vec![key.to_string()];
            if rng.random_bool(1.0 / 3.0) {
                for unseen in self.unseen_keys() {
                    if !keys.contains(&unseen) {
                        keys.push(unseen);
                    }
                }
            }
            // Its assignment becomes these keys when the reply comes
            // (`completed`).
            return Some(json!({"type": "list_committed_offsets", "keys": keys}));
        }
        let op = match draw {
            Draw::Write(key, n) => json!({"type": "send", "key": key.to_string(), "msg": n}),
            Draw::Read(_) => {
                let positions = &self.clients.get(client)?.positions;
                json!({"type": "poll", "offsets": positions})
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
            (Outcome::Info { .. }, _) => *c = Client::default(),
            (Outcome::Ok { body }, "list_committed_offsets") => {
                // Maelstrom's assign: exactly the keys asked, a key it
                // already polls keeping its position, a new one starting
                // at the committed offset or 0.
                let committed = offsets_of(&body["offsets"]);
                let asked = op.request["keys"].as_array().into_iter().flatten();
                c.positions = asked
                    .filter_map(Value::as_str)
                    .map(|key| {
                        let start = c
                            .positions
                            .get(key)
                            .or_else(|| committed.get(key))
                            .copied()
                            .unwrap_or(0);
                        (key.to_string(), start)
                    })
                    .collect();
            }
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
                    c.commit = Some(highest);
                }
            }
            _ => {}
        }
    }

    fn final_reads(&self) -> Vec<Value> {
        let touched: BTreeSet<&String> =
            self.acknowledged.keys().chain(self.polled.keys()).collect();
        if touched.is_empty() {
            return Vec::new();
        }
        let from_zero: Map<String, Value> =
            touched.iter().map(|k| (k.to_string(), json!(0))).collect();
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

    /// Maelstrom's final polls poll on until they have caught up: a page
    /// that ended below a key's highest acknowledged offset is followed by
    /// a poll from just past it (a key whose page did not move on is left,
    /// so a node that returns nothing cannot keep the round going).
    fn final_read_after(&self, op: &Op) -> Option<Value> {
        let body = op.ok_body()?;
        let asked = offsets_of(&op.request["offsets"]);
        let behind: Map<String, Value> = highest_polled(body)
            .into_iter()
            .filter(|(key, top)| {
                let moved_on = asked.get(key).is_some_and(|from| top >= from);
                let acked = self.acknowledged.get(key).and_then(|a| a.last());
                moved_on && acked.is_some_and(|a| a > top)
            })
            .map(|(key, top)| (key, json!(top + 1)))
            .collect();
        (!behind.is_empty()).then(|| json!({"type": "poll", "offsets": behind}))
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
            keys: KeyPool::new(options.key_count as usize, options.max_writes_per_key)
                .with_write_chance(options.send_fraction),
            clients: HashMap::new(),
            acknowledged: BTreeMap::new(),
            polled: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod client_tests {
    use std::time::Duration;

    use rand::SeedableRng;

    use super::*;

    fn lab(assign_chance: f64) -> KafkaLab {
        let options = KafkaLabOptions {
            key_count: 2,
            max_writes_per_key: 3,
            send_fraction: 0.5,
            assign_chance,
            crash_chance: 0.0,
        };
        KafkaLab::new(&options, &LabSetup { node_ids: vec![] })
    }

    fn next(lab: &mut KafkaLab, rng: &mut StdRng) -> Value {
        let thread = ClientThread {
            thread: 0,
            threads: 1,
            client: "c1",
        };
        lab.next_op_for(thread, rng).unwrap()
    }

    fn ok(request: Value, body: Value) -> Op {
        Op {
            client: "c1".into(),
            node: 0,
            kind: request["type"].as_str().unwrap().into(),
            request,
            invoke: Duration::ZERO,
            complete: Duration::ZERO,
            outcome: Outcome::Ok { body },
            final_read: false,
            invoke_index: 0,
            complete_index: 1,
        }
    }

    #[test]
    fn a_client_polls_nothing_until_assigned_then_exactly_its_keys() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut never = lab(0.0);
        let polls: Vec<Value> = (0..40)
            .map(|_| next(&mut never, &mut rng))
            .filter(|op| op["type"] == "poll")
            .collect();
        assert!(!polls.is_empty());
        assert!(polls.iter().all(|p| p["offsets"] == json!({})), "{polls:?}");

        let mut lab = lab(1.0);
        let assign = next(&mut lab, &mut rng);
        assert_eq!(assign["type"], "list_committed_offsets", "{assign}");
        let request = json!({"type": "list_committed_offsets", "keys": ["0", "1"]});
        lab.completed(&ok(request, json!({"offsets": {"1": 5}})));
        let positions = &lab.clients["c1"].positions;
        assert_eq!(
            positions,
            &BTreeMap::from([("0".into(), 0), ("1".into(), 5)])
        );
        // A poll moves key 1 on; a new assignment keeps its position,
        // drops key 0 and starts key 7 at its committed offset.
        let poll = json!({"type": "poll", "offsets": {"0": 0, "1": 5}});
        lab.completed(&ok(poll, json!({"msgs": {"1": [[5, 1], [6, 2]]}})));
        assert_eq!(
            lab.clients["c1"].commit,
            Some(BTreeMap::from([("1".into(), 6)]))
        );
        let request = json!({"type": "list_committed_offsets", "keys": ["1", "7"]});
        lab.completed(&ok(request, json!({"offsets": {"1": 2, "7": 3}})));
        let positions = &lab.clients["c1"].positions;
        assert_eq!(
            positions,
            &BTreeMap::from([("1".into(), 7), ("7".into(), 3)])
        );
    }

    #[test]
    fn a_final_page_short_of_what_was_acknowledged_is_polled_on() {
        let mut lab = lab(0.0);
        for offset in [0, 1, 2, 3] {
            let send = json!({"type": "send", "key": "0", "msg": offset + 1});
            lab.completed(&ok(send, json!({"offset": offset})));
        }
        let page = |request: Value, body: Value| {
            let mut op = ok(request, body);
            op.final_read = true;
            lab.final_read_after(&op)
        };
        let first = json!({"type": "poll", "offsets": {"0": 0, "5": 0}});
        let next = page(first, json!({"msgs": {"0": [[0, 1], [1, 2]]}}));
        assert_eq!(next, Some(json!({"type": "poll", "offsets": {"0": 2}})));
        let last = json!({"type": "poll", "offsets": {"0": 2}});
        assert_eq!(
            page(last.clone(), json!({"msgs": {"0": [[2, 3], [3, 4]]}})),
            None
        );
        // A page that does not move on ends the key's polling.
        assert_eq!(page(last.clone(), json!({"msgs": {}})), None);
        assert_eq!(page(last, json!({"msgs": {"0": [[1, 2]]}})), None);
    }

    #[test]
    fn sends_are_numbered_per_key_and_keys_rotate() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut lab = lab(0.0);
        let mut sent: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for _ in 0..200 {
            let op = next(&mut lab, &mut rng);
            if op["type"] == "send" {
                let key = op["key"].as_str().unwrap().to_string();
                sent.entry(key)
                    .or_default()
                    .push(op["msg"].as_i64().unwrap());
            }
        }
        assert!(sent.len() > 10, "keys retire after 3 sends: {sent:?}");
        for msgs in sent.values() {
            assert!(msgs.len() <= 3 && msgs.iter().copied().eq(1..=msgs.len() as i64));
        }
    }
}
