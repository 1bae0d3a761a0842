//! The simulator with a small test-only workload, `Flood`: a value added at
//! one node is forwarded to random peers, plus (optionally) anti-entropy.
//! Without anti-entropy it loses values under partitions, so the checker
//! below must catch it: no check here is vacuous.

use std::any::Any;
use std::collections::BTreeSet;
use std::time::Duration;

use maelstrom_framework::{Ctx, Handler, Node, NodeFactory, Process, Request, View};
use maelstrom_lab::network::NetStats;
use maelstrom_lab::{
    self as sim, Cluster, History, Lab, LabFactory, LabSetup, LabSpec, NetConfig, Partition,
    SimConfig, Verdict,
};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Msg {
    Add { value: u64 },
    Read,
    Gossip { values: Vec<u64> },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Out<'a> {
    AddOk,
    ReadOk { values: &'a BTreeSet<u64> },
    Gossip { values: Vec<u64> },
}

struct Flood {
    values: BTreeSet<u64>,
    anti_entropy: bool,
}

#[derive(Debug, Clone)]
struct Tick;

impl Handler for Flood {
    type Message = Msg;
    type Timer = Tick;

    /// All this test's lab needs: how many values the node holds.
    fn view(&self) -> Option<View<'_>> {
        Some(View::Counter(self.values.len() as i128))
    }

    fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
        if self.anti_entropy {
            ctx.every(Duration::from_millis(50), Duration::from_millis(10), Tick);
        }
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Msg) -> anyhow::Result<()> {
        match msg {
            Msg::Add { value } => {
                ctx.reply(req, &Out::AddOk);
                if self.values.insert(value) {
                    for peer in ctx.sample_peers(2, &[]) {
                        ctx.send(
                            &peer,
                            &Out::Gossip {
                                values: vec![value],
                            },
                        );
                    }
                }
            }
            Msg::Read => ctx.reply(
                req,
                &Out::ReadOk {
                    values: &self.values,
                },
            ),
            Msg::Gossip { values } => {
                let new: Vec<u64> = values
                    .into_iter()
                    .filter(|v| self.values.insert(*v))
                    .collect();
                if !new.is_empty() {
                    for peer in ctx.sample_peers(2, &[&req.src]) {
                        ctx.send(
                            &peer,
                            &Out::Gossip {
                                values: new.clone(),
                            },
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Ctx<Self>, _: Tick) -> anyhow::Result<()> {
        let values: Vec<u64> = self.values.iter().copied().collect();
        if !values.is_empty() {
            for peer in ctx.sample_peers(1, &[]) {
                ctx.send(
                    &peer,
                    &Out::Gossip {
                        values: values.clone(),
                    },
                );
            }
        }
        Ok(())
    }
}

struct FloodLab {
    next: u64,
    nodes: usize,
    /// When each value first reached each node (observed).
    reached: Vec<usize>,
}

impl Lab for FloodLab {
    fn next_op(&mut self, rng: &mut StdRng) -> Option<Value> {
        Some(if rng.random_bool(0.5) {
            self.next += 1;
            json!({"type": "add", "value": self.next})
        } else {
            json!({"type": "read"})
        })
    }

    fn final_reads(&self) -> Vec<Value> {
        vec![json!({"type": "read"})]
    }

    fn observe(&mut self, _now: Duration, node: usize, view: Option<View<'_>>) {
        let Some(View::Counter(held)) = view else {
            panic!("a Flood node shows how many values it holds");
        };
        self.reached[node] = held as usize;
    }

    fn check(&mut self, history: &History, _net: &NetStats) -> Verdict {
        let mut verdict = Verdict::new();
        let acked: BTreeSet<u64> = history
            .ops
            .iter()
            .filter(|op| op.kind == "add" && op.is_ok())
            .map(|op| op.request["value"].as_u64().unwrap())
            .collect();
        let mut finals = 0;
        for op in history.final_reads() {
            let Some(body) = op.ok_body() else {
                verdict.fail(format!(
                    "final read at {} failed",
                    history.node_ids[op.node]
                ));
                continue;
            };
            finals += 1;
            let seen: BTreeSet<u64> = serde_json::from_value(body["values"].clone()).unwrap();
            let lost = acked.difference(&seen).count();
            if lost > 0 {
                verdict.fail(format!(
                    "{} lacks {lost} acknowledged values",
                    history.node_ids[op.node]
                ));
            }
        }
        if finals != self.nodes {
            verdict.fail(format!("{finals} final reads for {} nodes", self.nodes));
        }
        verdict.metric("acknowledged values", acked.len() as f64, "");
        verdict.metric("observed values at n0", self.reached[0] as f64, "");
        verdict
    }
}

impl LabSpec for FloodLab {
    type Options = maelstrom_framework::NoOptions;

    fn new(_: &Self::Options, setup: &LabSetup) -> Self {
        FloodLab {
            next: 0,
            nodes: setup.node_ids.len(),
            reached: vec![0; setup.node_ids.len()],
        }
    }
}

fn factories(anti_entropy: bool) -> (NodeFactory, LabFactory) {
    let nodes: NodeFactory = std::sync::Arc::new(move |seed| {
        Box::new(Node::new(
            Flood {
                values: BTreeSet::new(),
                anti_entropy,
            },
            seed,
        )) as Box<dyn Process>
    });
    let lab: LabFactory = Box::new(|setup| {
        Box::new(FloodLab::new(&maelstrom_framework::NoOptions {}, setup)) as Box<dyn Lab>
    });
    (nodes, lab)
}

fn partitioned(seed: u64) -> SimConfig {
    SimConfig {
        nodes: 7,
        latency: 20.0,
        latency_dist: sim::LatencyDist::Exponential,
        rate: 50.0,
        time_limit: 10.0,
        nemesis: sim::Nemesis::Partition.into(),
        nemesis_interval: 2.0,
        settle: 5.0,
        seed,
        ..SimConfig::default()
    }
}

fn report_json(anti_entropy: bool, cfg: &SimConfig) -> (bool, String) {
    let (nodes, lab) = factories(anti_entropy);
    let report = sim::run_one("flood", &nodes, &lab, cfg);
    (
        report.valid,
        serde_json::to_string(&report).unwrap() + &report.table(),
    )
}

#[test]
fn same_seed_same_report_different_seed_different_report() {
    let cfg = SimConfig {
        loss: 0.05,
        duplicate: 0.05,
        ..partitioned(11)
    };
    let (valid, a) = report_json(true, &cfg);
    let (_, b) = report_json(true, &cfg);
    assert!(valid, "{a}");
    assert_eq!(a, b, "a seed must replay byte for byte");
    let (_, c) = report_json(true, &SimConfig { seed: 12, ..cfg });
    assert_ne!(a, c);
}

#[test]
fn anti_entropy_survives_partitions_and_plain_flooding_does_not() {
    let seeds: Vec<u64> = (1..=10).collect();
    let (nodes, lab) = factories(true);
    let reports = sim::run_seeds(
        "flood",
        &nodes,
        &lab,
        &partitioned(0),
        &seeds,
        2,
        &|_, _| {},
    );
    for r in &reports {
        assert!(r.valid, "seed {}: {}", r.config.seed, r.table());
        assert!(!r.faults.is_empty(), "the nemesis must have cut something");
        assert!(r.net.dropped_by_partition > 0);
    }
    // Without anti-entropy, values are lost: the checker must see it.
    let (nodes, lab) = factories(false);
    let reports = sim::run_seeds(
        "flood",
        &nodes,
        &lab,
        &partitioned(0),
        &seeds,
        2,
        &|_, _| {},
    );
    let failed = reports.iter().filter(|r| !r.valid).count();
    assert!(
        failed >= 8,
        "only {failed} of 10 seeds caught the lossy workload"
    );
}

#[test]
fn msgs_per_op_counts_node_to_node_messages_over_all_ops() {
    let cfg = SimConfig {
        nodes: 5,
        rate: 20.0,
        time_limit: 5.0,
        settle: 1.0,
        ..SimConfig::default()
    };
    let (nodes, lab) = factories(false);
    let r = sim::run_one("flood", &nodes, &lab, &cfg);
    assert!(
        r.valid || r.failures.iter().all(|f| f.contains("lacks")),
        "{}",
        r.table()
    );
    let gossip = r.net.by_type["gossip"].messages;
    assert_eq!(r.net.sent, gossip);
    assert_eq!(r.msgs_per_op, gossip as f64 / r.ops.total as f64);
    // Every op is either an add, a read or a final read, one per node.
    assert_eq!(r.ops.total, r.ops.by_kind["add"] + r.ops.by_kind["read"]);
    assert_eq!(r.history.final_reads().count(), 5);
}

#[test]
fn a_partition_drops_messages_in_flight_and_heal_restores() {
    let (nodes, _) = factories(false);
    let ids: Vec<String> = (0..3).map(|i| format!("n{i}")).collect();
    let processes = (0..3).map(&*nodes).collect();
    let net = NetConfig {
        latency: Duration::from_millis(100),
        ..NetConfig::default()
    };
    let mut cluster = Cluster::new(ids.clone(), processes, net, 1);
    let mut nothing = |_: Duration, _: usize, _: Option<View<'_>>| {};
    for i in 0..3 {
        let init = json!({"type": "init", "node_id": ids[i], "node_ids": ids});
        cluster.client_request("c0", i, 1, &init, &mut nothing);
    }
    // n0 floods a value; cut n0 off while its gossip is in flight.
    cluster.client_request(
        "c1",
        0,
        2,
        &json!({"type": "add", "value": 7}),
        &mut nothing,
    );
    cluster.partition(Partition::groups(3, &[vec![0], vec![1, 2]]));
    cluster.run_until(Duration::from_secs(1), &mut nothing);
    assert_eq!(cluster.stats().dropped_by_partition, 2);
    let has = |c: &Cluster, n: usize| {
        c.handler(n)
            .downcast_ref::<Flood>()
            .unwrap()
            .values
            .contains(&7)
    };
    assert!(!has(&cluster, 1) && !has(&cluster, 2));
    cluster.heal();
    cluster.client_request(
        "c1",
        0,
        3,
        &json!({"type": "add", "value": 8}),
        &mut nothing,
    );
    cluster.run_until(Duration::from_secs(2), &mut nothing);
    let has8 = |c: &Cluster, n: usize| {
        c.handler(n)
            .downcast_ref::<Flood>()
            .unwrap()
            .values
            .contains(&8)
    };
    assert!(has8(&cluster, 1) && has8(&cluster, 2));
    // The clock only moves through events: time is virtual.
    assert_eq!(cluster.now(), Duration::from_secs(2));
}

#[test]
fn the_message_log_shows_a_relay_across_a_bridge() {
    let (nodes, _) = factories(false);
    let ids: Vec<String> = (0..3).map(|i| format!("n{i}")).collect();
    let processes = (0..3).map(&*nodes).collect();
    let mut cluster = Cluster::new(ids.clone(), processes, NetConfig::default(), 1);
    let mut nothing = |_: Duration, _: usize, _: Option<View<'_>>| {};
    for i in 0..3 {
        let init = json!({"type": "init", "node_id": ids[i], "node_ids": ids});
        cluster.client_request("c0", i, 1, &init, &mut nothing);
    }
    cluster.client_request(
        "c1",
        0,
        2,
        &json!({"type": "add", "value": 1}),
        &mut nothing,
    );
    cluster.run_until(Duration::from_secs(1), &mut nothing);
    assert!(cluster.messages().is_empty(), "the log is opt-in");
    let before = cluster.stats().sent;
    // n0 and n1 cannot talk; both reach n2.
    cluster.partition(Partition::cut(3, &[(0, 1)]));
    cluster.record_messages();
    cluster.client_request(
        "c1",
        0,
        3,
        &json!({"type": "add", "value": 7}),
        &mut nothing,
    );
    cluster.run_until(Duration::from_secs(2), &mut nothing);
    let log: Vec<(usize, usize, bool, Value)> = cluster
        .messages()
        .iter()
        .map(|m| (m.from, m.to, m.sent, m.body["values"].clone()))
        .collect();
    assert_eq!(
        log,
        [
            (0, 1, false, json!([7])),
            (0, 2, true, json!([7])),
            (2, 1, true, json!([7])),
            (1, 0, false, json!([7])),
        ]
    );
    assert_eq!(
        cluster.stats().sent - before,
        4,
        "the log matches the stats"
    );
}

/// A node that answers `init` twice — once for itself, once with the next
/// msg_id, another node's — or, when `mute`, never.
struct Liar {
    mute: bool,
    out: Vec<u8>,
    /// What the lab inspects.
    state: Flood,
}

impl Process for Liar {
    fn on_line(&mut self, _: maelstrom_framework::Now, line: &[u8]) {
        let msg: Value = serde_json::from_slice(line).unwrap();
        let id = msg["body"]["msg_id"].as_u64().unwrap();
        if self.mute || msg["body"]["type"] != "init" {
            return;
        }
        for in_reply_to in [id, id + 1] {
            let reply = json!({"src": msg["dest"], "dest": msg["src"],
                "body": {"type": "init_ok", "msg_id": in_reply_to, "in_reply_to": in_reply_to}});
            self.out.extend(reply.to_string().bytes().chain([b'\n']));
        }
    }
    fn on_wake(&mut self, _: maelstrom_framework::Now) {}
    fn next_deadline(&self) -> Option<Duration> {
        None
    }
    fn output(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }
    fn node_id(&self) -> Option<&str> {
        None
    }
    fn panics(&self) -> u64 {
        0
    }
    fn handler(&self) -> &dyn Any {
        &self.state
    }
    fn view(&self) -> Option<View<'_>> {
        self.state.view()
    }
    // It keeps nothing.
    fn attach_disk(&mut self, _: Box<dyn maelstrom_framework::storage::Disk>) {}
}

#[test]
fn setup_replies_are_matched_not_counted() {
    // n0 answers init twice (the second time in n1's name), n1 never: two
    // replies for two nodes, but n1 did not answer, and the run must fail.
    let cfg = SimConfig {
        nodes: 2,
        time_limit: 0.5,
        settle: 0.0,
        ..SimConfig::default()
    };
    let processes: Vec<Box<dyn Process>> = [false, true]
        .into_iter()
        .map(|mute| {
            let state = Flood {
                values: BTreeSet::new(),
                anti_entropy: false,
            };
            Box::new(Liar {
                mute,
                out: Vec::new(),
                state,
            }) as Box<dyn Process>
        })
        .collect();
    let cluster = Cluster::new(cfg.node_ids(), processes, cfg.net(), 1);
    let lab = FloodLab::new(
        &maelstrom_framework::NoOptions {},
        &LabSetup {
            node_ids: cfg.node_ids(),
        },
    );
    let report = sim::run::run_on("flood", cluster, Box::new(lab), &cfg);
    assert!(!report.valid);
    assert!(
        report.history.ops.is_empty(),
        "a failed setup runs no operation"
    );
    assert!(
        report.failures[0].contains("only 1 of 2 nodes answered `init`")
            && report.failures[0].contains("silent: n1")
            && report.failures[0].contains("stopped before any operation"),
        "{:?}",
        report.failures
    );
}

/// Three Flood nodes with 100 ms links that can be killed and restarted,
/// each initialised.
fn restartable_cluster() -> (Cluster, Vec<String>) {
    let (nodes, _) = factories(false);
    let ids: Vec<String> = (0..3).map(|i| format!("n{i}")).collect();
    let seeds: Vec<u64> = (0..3).collect();
    let processes = seeds.iter().map(|&s| nodes(s)).collect();
    let net = NetConfig {
        latency: Duration::from_millis(100),
        ..NetConfig::default()
    };
    let mut cluster = Cluster::new(ids.clone(), processes, net, 1);
    cluster.restart_with(nodes, seeds);
    let mut nothing = |_: Duration, _: usize, _: Option<View<'_>>| {};
    for i in 0..3 {
        let init = json!({"type": "init", "node_id": ids[i], "node_ids": ids});
        cluster.client_request("c0", i, 1, &init, &mut nothing);
    }
    cluster.take_client_messages();
    (cluster, ids)
}

fn values(c: &Cluster, n: usize) -> &BTreeSet<u64> {
    &c.handler(n).downcast_ref::<Flood>().unwrap().values
}

#[test]
fn a_killed_node_loses_its_state_and_its_messages_and_needs_init_again() {
    let (mut cluster, ids) = restartable_cluster();
    let mut nothing = |_: Duration, _: usize, _: Option<View<'_>>| {};
    let add = |v: u64| json!({"type": "add", "value": v});
    // n0 gossips 7 to both peers; n1 is killed while it is in flight.
    cluster.client_request("c1", 0, 1, &add(7), &mut nothing);
    cluster.kill(1);
    cluster.run_until(Duration::from_secs(1), &mut nothing);
    assert!(values(&cluster, 2).contains(&7));
    assert!(values(&cluster, 1).is_empty(), "the message died with n1");
    assert!(cluster.stats().dropped_by_crash >= 1);
    // A request to a killed node is lost: no reply, ever.
    cluster.take_client_messages();
    cluster.client_request("c2", 1, 1, &json!({"type": "read"}), &mut nothing);
    cluster.run_until(Duration::from_secs(2), &mut nothing);
    assert!(cluster.take_client_messages().is_empty());
    // n2 held 7: killed, its memory is gone at once.
    cluster.kill(2);
    assert!(values(&cluster, 2).is_empty());
    cluster.restart(2);
    // Restarted, the node is a fresh process: it wants init before
    // anything else, and answers it.
    cluster.client_request("c2", 2, 2, &json!({"type": "read"}), &mut nothing);
    let before_init = cluster.take_client_messages();
    assert_eq!(before_init.len(), 1);
    assert_eq!(
        before_init[0].body["type"], "error",
        "{:?}",
        before_init[0].body
    );
    let init = json!({"type": "init", "node_id": ids[2], "node_ids": ids});
    cluster.client_request("c0", 2, 9, &init, &mut nothing);
    let replies = cluster.take_client_messages();
    assert_eq!(replies[0].body["type"], "init_ok");
    // Restarted and initialised, it hears new gossip again; n1, still
    // down, does not.
    cluster.client_request("c1", 0, 2, &add(8), &mut nothing);
    cluster.run_until(Duration::from_secs(3), &mut nothing);
    assert!(values(&cluster, 2).contains(&8));
    assert!(values(&cluster, 1).is_empty());
}

#[test]
fn a_message_sent_before_a_restart_never_reaches_the_new_process() {
    let (mut cluster, ids) = restartable_cluster();
    let mut nothing = |_: Duration, _: usize, _: Option<View<'_>>| {};
    cluster.client_request(
        "c1",
        0,
        1,
        &json!({"type": "add", "value": 7}),
        &mut nothing,
    );
    // Killed and back (with init) within the 100 ms the gossip takes.
    cluster.kill(1);
    cluster.restart(1);
    let init = json!({"type": "init", "node_id": ids[1], "node_ids": ids});
    cluster.client_request("c0", 1, 9, &init, &mut nothing);
    // n0's gossip arrives at 0.1 s (n2 relays it to n1 then, due at 0.2 s).
    cluster.run_until(Duration::from_millis(150), &mut nothing);
    assert!(
        values(&cluster, 1).is_empty(),
        "in flight to the old process"
    );
    assert!(values(&cluster, 2).contains(&7));
    assert_eq!(cluster.stats().dropped_by_crash, 1);
    // The relay, sent to the new process, arrives.
    cluster.run_until(Duration::from_secs(1), &mut nothing);
    assert!(values(&cluster, 1).contains(&7));
}

#[test]
fn a_paused_node_answers_nothing_until_resumed_then_everything_in_order() {
    let (mut cluster, _) = restartable_cluster();
    let mut nothing = |_: Duration, _: usize, _: Option<View<'_>>| {};
    cluster.pause(1);
    cluster.client_request("c1", 1, 1, &json!({"type": "read"}), &mut nothing);
    cluster.client_request(
        "c1",
        0,
        2,
        &json!({"type": "add", "value": 5}),
        &mut nothing,
    );
    // n0's gossip of 5 reaches paused n1 at 0.1 s, and waits there.
    cluster.run_until(Duration::from_secs(1), &mut nothing);
    cluster.client_request("c1", 1, 3, &json!({"type": "read"}), &mut nothing);
    cluster.run_until(Duration::from_secs(5), &mut nothing);
    let from_n1 = |c: &mut Cluster| -> Vec<Value> {
        c.take_client_messages()
            .into_iter()
            .filter(|d| d.node == 1)
            .map(|d| d.body)
            .collect()
    };
    assert!(from_n1(&mut cluster).is_empty(), "paused: no answer");
    assert!(values(&cluster, 1).is_empty(), "the gossip waits too");
    assert_eq!(cluster.stats().dropped_by_crash, 0, "nothing is lost");
    cluster.resume(1);
    let now = cluster.now();
    cluster.run_until(now, &mut nothing);
    let replies = from_n1(&mut cluster);
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert_eq!(replies[0]["in_reply_to"], 1);
    assert_eq!(replies[1]["in_reply_to"], 3);
    // In the order they arrived: the first read before the gossip of 5,
    // the second after it.
    assert_eq!(replies[0]["values"], json!([]));
    assert_eq!(replies[1]["values"], json!([5]));
}

#[test]
fn kills_and_pauses_replay_from_the_seed_and_show_in_the_report() {
    let cfg = SimConfig {
        nemesis: sim::Faults::of(&[
            sim::Nemesis::Partition,
            sim::Nemesis::Kill,
            sim::Nemesis::Pause,
        ]),
        ..partitioned(5)
    };
    let (a_valid, a) = report_json(true, &cfg);
    let (_, b) = report_json(true, &cfg);
    assert_eq!(a, b, "one seed, one run");
    for action in ["kill", "restart", "pause", "resume", "partition", "heal"] {
        assert!(
            a.contains(&format!("\"action\":\"{action}\"")),
            "{action}: {a}"
        );
    }
    assert!(a.contains("lost to kills"), "{a}");
    // Flood keeps nothing on disk: a kill wipes what a node held, and
    // values only it had are lost; the checker must say so.
    assert!(!a_valid, "{a}");
    assert!(a.contains(" lacks "), "lost values are the reason: {a}");
}
