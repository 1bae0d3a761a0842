//! No checker is vacuous: deliberately broken nodes, run through the real
//! workloads' labs (clients and checkers) in the simulator, must fail their
//! check — for the right reason.
//!
//! - `Silent`: a broadcast node that acknowledges broadcasts but never
//!   gossips (it drops every value it should forward).
//! - `DoubleCounter`: a counter node that replicates adds by operation but
//!   applies every add it receives from a client twice.
//! - `LocalStore`: a kv node that never replicates: every node keeps only
//!   its own writes.

use std::collections::{BTreeMap, BTreeSet};

use maelstrom_framework::{Ctx, Error, ErrorCode, Handler, Node, NodeFactory, Process, Request};
use maelstrom_lab::{self as sim, LabFactory, SimConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use maelstrom_catalog as _;

/// The lab registered for `workload`, built with its flags.
fn lab_of(workload: &str, flags: &[&str]) -> LabFactory {
    let lab = sim::registry::choose(workload, None)
        .expect("a registered workload")
        .spec;
    let matches = (lab.augment_args)(clap::Command::new("test"))
        .get_matches_from(std::iter::once(&"test").chain(flags));
    (lab.build)(&matches).expect("lab flags")
}

fn nodes_of<H: Handler + Send + 'static>(
    new: impl Fn() -> H + Send + Sync + 'static,
) -> NodeFactory {
    std::sync::Arc::new(move |seed| Box::new(Node::new(new(), seed)) as Box<dyn Process>)
}

fn cfg(nodes: usize, rate: f64, seed: u64) -> SimConfig {
    SimConfig {
        nodes,
        latency: 10.0,
        rate,
        time_limit: 5.0,
        settle: 2.0,
        seed,
        ..SimConfig::default()
    }
}

/// Runs `seeds` and returns every run's failures; asserts every run failed.
fn failures(workload: &str, nodes: &NodeFactory, lab: &LabFactory, cfg: &SimConfig) -> Vec<String> {
    let reports = sim::run_seeds(workload, nodes, lab, cfg, &[1, 2, 3], 2, &|_, _| {});
    let mut all = Vec::new();
    for r in reports {
        assert!(
            !r.valid,
            "seed {} passed a broken node:\n{}",
            r.config.seed,
            r.table()
        );
        all.extend(r.failures);
    }
    all
}

// ---------------------------------------------------------------- broadcast

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BroadcastMsg {
    Broadcast { message: Value },
    Read,
    Topology {},
}

// The protocol's reply types all end in `_ok`.
#[allow(clippy::enum_variant_names)]
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BroadcastOut<'a> {
    BroadcastOk,
    ReadOk { messages: &'a [Value] },
    TopologyOk,
}

#[derive(Default)]
struct Silent {
    values: Vec<Value>,
}

impl Handler for Silent {
    type Message = BroadcastMsg;
    type Timer = ();

    fn handle(
        &mut self,
        ctx: &mut Ctx<Self>,
        req: &Request,
        msg: BroadcastMsg,
    ) -> anyhow::Result<()> {
        match msg {
            BroadcastMsg::Broadcast { message } => {
                self.values.push(message);
                ctx.reply(req, &BroadcastOut::BroadcastOk);
            }
            BroadcastMsg::Read => ctx.reply(
                req,
                &BroadcastOut::ReadOk {
                    messages: &self.values,
                },
            ),
            BroadcastMsg::Topology {} => ctx.reply(req, &BroadcastOut::TopologyOk),
        }
        Ok(())
    }
}

#[test]
fn broadcast_checker_catches_a_node_that_never_gossips() {
    let failures = failures(
        "broadcast",
        &nodes_of(Silent::default),
        &lab_of("broadcast", &[]),
        &cfg(5, 50.0, 0),
    );
    assert!(
        failures
            .iter()
            .any(|f| f.contains("lacks") && f.contains("acknowledged value")),
        "{failures:#?}"
    );
}

// ------------------------------------------------------------------ counter

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum CounterMsg {
    Add { delta: i64 },
    Read,
    Apply { delta: i64 },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum CounterOut {
    AddOk,
    ReadOk { value: i64 },
    Apply { delta: i64 },
}

#[derive(Default)]
struct DoubleCounter {
    value: i64,
}

impl Handler for DoubleCounter {
    type Message = CounterMsg;
    type Timer = ();

    fn handle(
        &mut self,
        ctx: &mut Ctx<Self>,
        req: &Request,
        msg: CounterMsg,
    ) -> anyhow::Result<()> {
        match msg {
            CounterMsg::Add { delta } => {
                // The bug: the local add is counted twice.
                self.value += 2 * delta;
                ctx.reply(req, &CounterOut::AddOk);
                let peers: Vec<String> = ctx.peers().cloned().collect();
                for peer in peers {
                    ctx.send(&peer, &CounterOut::Apply { delta });
                }
            }
            CounterMsg::Apply { delta } => self.value += delta,
            CounterMsg::Read => ctx.reply(req, &CounterOut::ReadOk { value: self.value }),
        }
        Ok(())
    }
}

#[test]
fn counter_checker_catches_a_node_that_double_counts() {
    let failures = failures(
        "counter",
        &nodes_of(DoubleCounter::default),
        &lab_of("counter", &["--adds", "200"]),
        &cfg(5, 50.0, 0),
    );
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("final read at") && f.contains("but acknowledged adds sum to")),
        "{failures:#?}"
    );
}

// ----------------------------------------------------------------------- kv

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum KvMsg {
    Write { key: String, value: Value },
    Read { key: String },
    KvRead { key: String },
}

// The protocol's reply types all end in `_ok`.
#[allow(clippy::enum_variant_names)]
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum KvOut<'a> {
    WriteOk {
        ts: f64,
    },
    ReadOk {
        value: &'a Value,
    },
    KvReadOk {
        key: &'a str,
        value: &'a Value,
        ts: f64,
    },
}

/// Keeps its own writes only: key → (value, ts in seconds).
#[derive(Default)]
struct LocalStore {
    entries: BTreeMap<String, (Value, f64)>,
}

impl Handler for LocalStore {
    type Message = KvMsg;
    type Timer = ();

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: KvMsg) -> anyhow::Result<()> {
        match msg {
            KvMsg::Write { key, value } => {
                let ts = ctx.unix_micros() as f64 / 1e6;
                self.entries.insert(key, (value, ts));
                ctx.reply(req, &KvOut::WriteOk { ts });
            }
            KvMsg::Read { key } => match self.entries.get(&key) {
                Some((value, _)) => ctx.reply(req, &KvOut::ReadOk { value }),
                None => ctx.reply_error(req, &Error::key_does_not_exist("Key not found")),
            },
            KvMsg::KvRead { key } => match self.entries.get(&key) {
                Some((value, ts)) => ctx.reply(
                    req,
                    &KvOut::KvReadOk {
                        key: &key,
                        value,
                        ts: *ts,
                    },
                ),
                None => ctx.reply_error(req, &Error::key_does_not_exist("Key not found")),
            },
        }
        Ok(())
    }
}

#[test]
fn kv_checker_catches_a_store_that_never_replicates() {
    let failures = failures(
        "kv",
        &nodes_of(LocalStore::default),
        &lab_of("kv", &["--keys", "5"]),
        &cfg(3, 100.0, 0),
    );
    let kinds: BTreeSet<&str> = failures
        .iter()
        .filter_map(|f| {
            if f.starts_with("lost write") {
                Some("lost")
            } else if f.starts_with("replicas disagree") {
                Some("disagree")
            } else {
                None
            }
        })
        .collect();
    assert_eq!(kinds, BTreeSet::from(["disagree", "lost"]), "{failures:#?}");
}

// -------------------------------------------------------------------- stats

/// Refuses every add (a definite error: it did not happen) and reads 0:
/// the counter's checker finds nothing wrong, yet the run shows nothing of
/// adds. Maelstrom composes every test with Jepsen's stats checker, whose
/// fold is `:valid? (pos? oks)` per kind of operation: invalid, not valid.
#[derive(Default)]
struct RefusingCounter;

impl Handler for RefusingCounter {
    type Message = CounterMsg;
    type Timer = ();

    fn handle(
        &mut self,
        ctx: &mut Ctx<Self>,
        req: &Request,
        msg: CounterMsg,
    ) -> anyhow::Result<()> {
        match msg {
            CounterMsg::Add { .. } => ctx.reply_error(
                req,
                &Error::new(ErrorCode::TemporarilyUnavailable, "not today"),
            ),
            CounterMsg::Read => ctx.reply(req, &CounterOut::ReadOk { value: 0 }),
            CounterMsg::Apply { .. } => {}
        }
        Ok(())
    }
}

#[test]
fn a_run_where_no_add_succeeded_is_invalid() {
    let failures = failures(
        "counter",
        &nodes_of(|| RefusingCounter),
        &lab_of("counter", &[]),
        &cfg(3, 50.0, 0),
    );
    assert!(
        failures
            .iter()
            .all(|f| f.starts_with("no `add` operation succeeded")),
        "the stats checker's failure, and no other: {failures:#?}"
    );
    assert!(!failures.is_empty());
}
