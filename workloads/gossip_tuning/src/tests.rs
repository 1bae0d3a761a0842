//! The workload driven through in-process nodes: one node fed lines by
//! hand, or a simulated cluster (the framework's simulator) driven by hand
//! or by the broadcast lab.

use std::time::Duration;

use maelstrom_framework::{GossipSettings, Node, Process, testing};
use maelstrom_lab::lab::LabSetup;
use maelstrom_lab::run::run_on;
use maelstrom_lab::{Cluster, LabSpec, Nemesis, NetConfig, Partition, SimConfig};
use maelstrom_specs::broadcast::{BroadcastLab, BroadcastLabOptions};
use maelstrom_specs::topology::Topology;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{MessagesPerOp, Strategy, Tuning};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn settings(fanout: u64, interval_ms: u64) -> GossipSettings {
    GossipSettings {
        fanout,
        gossip_interval_ms: interval_ms,
    }
}

/// One node, `n1` of `nodes`, after `init`.
fn node(nodes: &[&str], strategy: Strategy) -> Node<Tuning> {
    let mut node = Node::new(Tuning::new(GossipSettings::default(), strategy), 3);
    testing::init(&mut node, "n1", nodes);
    node
}

fn output(node: &mut Node<Tuning>) -> Vec<Value> {
    testing::take_output(node)
}

/// Hands `node` one message from `src` at time `t` and returns its output.
fn send_at(node: &mut Node<Tuning>, t: Duration, src: &str, body: Value) -> Vec<Value> {
    testing::deliver(node, t, src, body)
}

fn send(node: &mut Node<Tuning>, src: &str, body: Value) -> Vec<Value> {
    send_at(node, Duration::ZERO, src, body)
}

fn net() -> NetConfig {
    NetConfig {
        latency: ms(100),
        ..NetConfig::default()
    }
}

/// Simulated nodes n0..n{n-1} with 100 ms links, initialised, to drive by
/// hand.
fn cluster(n: usize, strategy: Strategy, s: GossipSettings, seed: u64) -> Cluster {
    let mut c =
        maelstrom_lab::testing::sim_cluster((0..n).map(|_| Tuning::new(s, strategy)), net(), seed);
    maelstrom_lab::testing::sim_init(&mut c);
    c
}

fn handler(c: &Cluster, node: usize) -> &Tuning {
    maelstrom_lab::testing::sim_handler(c, node)
}

fn broadcast(c: &mut Cluster, node: usize, value: Value) {
    let replies = maelstrom_lab::testing::sim_request(
        c,
        node,
        json!({"type": "broadcast", "message": value}),
    );
    assert_eq!(replies[0]["type"], "broadcast_ok", "{replies:?}");
}

fn run_to(c: &mut Cluster, t: Duration) {
    maelstrom_lab::testing::sim_run(c, t);
}

fn gossip_stats(node: &mut Node<Tuning>) -> Value {
    let out = send(node, "c9", json!({"type": "gossip_stats", "msg_id": 99}));
    assert_eq!(out.len(), 1);
    out[0]["body"].clone()
}

#[test]
fn messages_per_op_is_the_integer_0_without_broadcasts_and_a_float_after() {
    assert_eq!(serde_json::to_string(&MessagesPerOp(None)).unwrap(), "0");
    assert_eq!(
        serde_json::to_string(&MessagesPerOp(Some(4.5))).unwrap(),
        "4.5"
    );
    assert_eq!(
        serde_json::to_string(&MessagesPerOp(Some(2.0))).unwrap(),
        "2.0"
    );

    let mut n1 = node(&["n1"], Strategy::Random);
    let stats = gossip_stats(&mut n1);
    assert_eq!(
        stats,
        json!({"type": "gossip_stats_ok", "broadcasts_received": 0, "gossip_messages_sent": 0,
               "messages_per_op": 0, "unique_messages": 0, "msg_id": 1, "in_reply_to": 99})
    );
    assert!(stats["messages_per_op"].is_u64());
    for (i, v) in [1, 2, 1].into_iter().enumerate() {
        send(
            &mut n1,
            "c1",
            json!({"type": "broadcast", "message": v, "msg_id": i}),
        );
    }
    let stats = gossip_stats(&mut n1);
    assert_eq!(stats["broadcasts_received"], 3);
    assert_eq!(stats["unique_messages"], 2);
    assert_eq!(stats["gossip_messages_sent"], 0);
    assert!(stats["messages_per_op"].is_f64());
    assert_eq!(stats["messages_per_op"], 0.0);
}

#[test]
fn bad_configures_are_refused_and_change_nothing() {
    let mut n1 = node(&["n1", "n2", "n3"], Strategy::Random);
    for bad in [
        json!({"fanout": 0}),
        json!({"fanout": "3"}),
        json!({"fanout": -1}),
        json!({"fanout": 2.5}),
        json!({"gossip_interval_ms": -100}),
        json!({"gossip_interval_ms": 0}),
        json!({"gossip_interval_ms": 3_600_001}),
        json!({"fanout": 4, "gossip_interval_ms": 0}),
        json!({"fanout": 4, "strategy": "star"}),
        json!({"fanout": 0, "strategy": "hub"}),
    ] {
        let mut body = bad.clone();
        body["type"] = json!("configure");
        body["msg_id"] = json!(5);
        let out = send(&mut n1, "c1", body);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["body"]["code"], 12, "{bad}");
        assert_eq!(
            n1.handler_ref().settings(),
            GossipSettings::default(),
            "{bad}"
        );
        assert_eq!(n1.handler_ref().strategy(), Strategy::Random, "{bad}");
    }
    let out = send(
        &mut n1,
        "c1",
        json!({"type": "configure", "msg_id": 6, "fanout": 3, "gossip_interval_ms": 250, "strategy": "hub"}),
    );
    assert_eq!(out[0]["body"]["type"], "configure_ok");
    assert_eq!(n1.handler_ref().settings(), settings(3, 250));
    assert_eq!(n1.handler_ref().strategy(), Strategy::Hub);
    // Fields left out are left alone.
    send(&mut n1, "c1", json!({"type": "configure", "msg_id": 7}));
    assert_eq!(n1.handler_ref().settings(), settings(3, 250));
}

#[test]
fn a_new_interval_re_arms_the_timer() {
    // n1 is the hub of n1..n2: its ticks push what n2 lacks.
    let mut n1 = node(&["n1", "n2"], Strategy::Hub);
    send(
        &mut n1,
        "c1",
        json!({"type": "configure", "msg_id": 1, "gossip_interval_ms": 1000}),
    );
    send(
        &mut n1,
        "c1",
        json!({"type": "broadcast", "msg_id": 2, "message": 8}),
    );
    // The old 100 ms timer is gone: nothing at 500 ms.
    n1.on_wake(testing::at(ms(500)));
    assert!(output(&mut n1).is_empty());
    // The new one fires within 1000 ms + 5 % jitter.
    n1.on_wake(testing::at(ms(1050)));
    let out = output(&mut n1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["dest"], "n2");
    assert_eq!(out[0]["body"]["type"], "batch");
    assert_eq!(out[0]["body"]["values"], json!([8]));
}

#[test]
fn node_messages_from_non_peers_are_refused_and_change_nothing() {
    let mut n1 = node(&["n1", "n2"], Strategy::Random);
    for (src, body) in [
        ("c1", json!({"type": "batch", "values": [1], "msg_id": 1})),
        (
            "n7",
            json!({"type": "exchange", "values": [2], "msg_id": 2}),
        ),
        ("c1", json!({"type": "broadcast", "msg_id": 3})),
        (
            "n2",
            json!({"type": "batch", "values": [3], "acks": ["x"], "msg_id": 4}),
        ),
    ] {
        let out = send(&mut n1, src, body);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0]["body"]["code"], 12);
    }
    assert!(n1.handler_ref().values().is_empty());
    assert_eq!(gossip_stats(&mut n1)["unique_messages"], 0);
}

#[test]
fn random_rounds_spread_values_to_every_node() {
    let mut c = cluster(6, Strategy::Random, GossipSettings::default(), 1);
    for (i, node) in [0, 5, 2, 5].into_iter().enumerate() {
        broadcast(&mut c, node, json!(format!("v{i}")));
        let next = c.now() + ms(30);
        run_to(&mut c, next);
    }
    run_to(&mut c, ms(2000));
    for node in 0..6 {
        assert_eq!(handler(&c, node).values().len(), 4, "n{node}");
    }
    let types: Vec<&String> = c.stats().by_type.keys().collect();
    assert_eq!(types, ["exchange", "exchange_ok"]);
}

#[test]
fn with_a_hub_every_value_goes_through_it_once_per_link() {
    let n = 5;
    let mut c = cluster(n, Strategy::Hub, GossipSettings::default(), 2);
    for (i, node) in [1, 0, 4, 3, 1].into_iter().enumerate() {
        broadcast(&mut c, node, json!(i));
        let next = c.now() + ms(40);
        run_to(&mut c, next);
    }
    run_to(&mut c, ms(10_000));
    for node in 0..n {
        assert_eq!(handler(&c, node).values().len(), 5, "n{node}");
        assert_eq!(handler(&c, node).hub(), Some("n0"));
    }
    // Every message goes to or from the hub n0: what the others sent, n0
    // received, and the reverse (nothing was dropped).
    let traffic = &c.stats().per_node;
    assert_eq!(c.stats().delivered, c.stats().sent);
    let others_sent: u64 = traffic[1..].iter().map(|t| t.sent).sum();
    let others_received: u64 = traffic[1..].iter().map(|t| t.received).sum();
    assert_eq!(others_sent, traffic[0].received);
    assert_eq!(others_received, traffic[0].sent);
    // Nothing is lost here, so each value crosses each link it needs once:
    // to the hub (unless it started there) and on to the n − 2 or n − 1
    // others, n − 1 crossings in all. Acks settle every batch before it
    // could be re-sent.
    let carried: u64 = (0..n).map(|i| handler(&c, i).stats().values_sent).sum();
    assert_eq!(carried, 5 * (n as u64 - 1));
    // The idle cluster goes quiet once the last acks are out.
    let sent = c.stats().sent;
    run_to(&mut c, ms(20_000));
    assert_eq!(c.stats().sent, sent);
}

#[test]
fn without_the_hub_nodes_fall_back_to_random_rounds_and_heal() {
    let mut c = cluster(5, Strategy::Hub, GossipSettings::default(), 3);
    c.partition(Partition::groups(5, &[vec![0], vec![1, 2, 3, 4]]));
    broadcast(&mut c, 1, json!("a"));
    broadcast(&mut c, 0, json!("b"));
    // n1's batch to the hub is unacknowledged past the resend time
    // (2.2 s): n1 suspects the hub and reaches the others directly.
    run_to(&mut c, ms(5000));
    for node in [2, 3, 4] {
        assert_eq!(handler(&c, node).values(), [json!("a")], "n{node}");
    }
    c.heal();
    run_to(&mut c, ms(6000));
    for node in 0..5 {
        assert_eq!(handler(&c, node).values().len(), 2, "n{node}");
    }
}

#[test]
fn a_cut_shorter_than_the_fixed_timeouts_heals_within_a_few_hops() {
    let n = 5;
    let mut c = cluster(n, Strategy::Hub, GossipSettings::default(), 7);
    let mut next = 0;
    // Steady traffic (a broadcast every 50 ms) for 2 s: n1 learns that the hub's batches come every
    // interval, and the hub how fast n1 acknowledges.
    let mut step = |c: &mut Cluster, nodes: &[usize], until: u64| {
        while c.now() < ms(until) {
            broadcast(c, nodes[next % nodes.len()], json!(next));
            next += 1;
            let t = c.now() + ms(50);
            run_to(c, t);
        }
    };
    step(&mut c, &[1, 2, 3, 4], 2000);
    // n1 is cut off for 0.5 s while values arrive on both sides: far less
    // than the old fixed silence (1.6 s) and resend (2.2 s) times.
    c.partition(Partition::groups(n, &[vec![1], vec![0, 2, 3, 4]]));
    step(&mut c, &[1, 2, 3, 4], 2500);
    c.heal();
    let total = next;
    // The hub's first batch after the heal comes after a silence of five
    // intervals: n1 gives up what it had in flight and answers at once;
    // its ack overtakes the hub's lost batches, which go again at once.
    run_to(&mut c, ms(3100));
    for node in 0..n {
        assert_eq!(handler(&c, node).values().len(), total, "n{node}");
    }
}

/// A run of the broadcast lab's clients (and, with `nemesis`, its
/// partitions) on `c`; the report must be valid.
fn lab_run(c: &mut Cluster, nodes: usize, nemesis: bool, seed: u64) -> maelstrom_lab::Report {
    let cfg = SimConfig {
        nodes,
        latency: 100.0,
        rate: 100.0,
        time_limit: 6.0,
        nemesis: if nemesis {
            Nemesis::Partition.into()
        } else {
            Default::default()
        },
        nemesis_interval: 2.0,
        settle: 3.0,
        seed,
        ..SimConfig::default()
    };
    let lab = BroadcastLab::new(
        &BroadcastLabOptions {
            read_fraction: 0.5,
            topology: Topology::Grid,
        },
        &LabSetup {
            node_ids: cfg.node_ids(),
        },
    );
    let report = run_on("tuning", c, Box::new(lab), &cfg);
    assert!(report.valid, "{}", report.table());
    report
}

#[test]
fn gossip_stats_agree_with_the_messages_the_simulator_routed() {
    for (nodes, strategy, nemesis) in [
        (5, Strategy::Random, false),
        (5, Strategy::Hub, true),
        (25, Strategy::Random, true),
        (25, Strategy::Hub, false),
    ] {
        let case = format!("{nodes} nodes, {strategy:?}, partitions {nemesis}");
        let handlers = (0..nodes).map(|_| Tuning::new(GossipSettings::default(), strategy));
        let mut c = maelstrom_lab::testing::sim_cluster(handlers, net(), 4);
        let report = lab_run(&mut c, nodes, nemesis, 4);
        if nemesis {
            assert!(report.net.dropped_by_partition > 0, "{case}");
        }
        // Now, with no time passing, every node's own account.
        let (mut sent, mut received) = (0, 0);
        for node in 0..nodes {
            let reply =
                maelstrom_lab::testing::sim_request(&mut c, node, json!({"type": "gossip_stats"}));
            let stats = &reply[0];
            assert_eq!(stats["type"], "gossip_stats_ok", "{case}");
            let node_sent = stats["gossip_messages_sent"].as_u64().unwrap();
            assert_eq!(node_sent, report.net.per_node[node].sent, "{case} n{node}");
            let node_received = stats["broadcasts_received"].as_u64().unwrap();
            assert_eq!(stats["unique_messages"], handler(&c, node).values().len());
            // serde_json's default float parsing may be off in the last bit.
            let ratio = node_sent as f64 / node_received as f64;
            let reported = stats["messages_per_op"].as_f64().unwrap();
            assert!(
                (reported - ratio).abs() < 1e-9,
                "{case}: {reported} vs {ratio}"
            );
            sent += node_sent;
            received += node_received;
        }
        // Summed: every node-to-node message the simulator routed, by type.
        let by_type: u64 = ["exchange", "exchange_ok", "batch"]
            .iter()
            .filter_map(|t| report.net.by_type.get(*t))
            .map(|t| t.messages)
            .sum();
        assert_eq!(sent, by_type, "{case}: {:?}", report.net.by_type);
        assert_eq!(sent, report.net.sent, "{case}");
        let acknowledged = report
            .history
            .ops
            .iter()
            .filter(|op| op.kind == "broadcast" && op.is_ok())
            .count() as u64;
        assert!(acknowledged > 100, "{case}");
        assert_eq!(received, acknowledged, "{case}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// With any mix of strategies and settings across the nodes, whatever
    /// partitions cut while the network is bad, every value reaches every
    /// node once it is good again.
    #[test]
    fn every_value_reaches_every_node_despite_partitions_and_mixed_settings(
        nodes in 2usize..6,
        hub_nodes in proptest::collection::vec(any::<bool>(), 6),
        fanout in 1u64..4,
        interval in 20u64..300,
        broadcasts in proptest::collection::vec((0usize..6, 0u64..2000), 1..12),
        cuts in proptest::collection::vec(0u8..64, 10),
        seed in 0u64..1000,
    ) {
        let handlers = (0..nodes).map(|i| {
            let strategy = if hub_nodes[i] { Strategy::Hub } else { Strategy::Random };
            Tuning::new(settings(fanout, interval), strategy)
        });
        let mut c = maelstrom_lab::testing::sim_cluster(handlers, net(), seed);
        maelstrom_lab::testing::sim_init(&mut c);
        // Every 200 ms for 2 s, a new cut: the nodes whose bit is set
        // against the others (no bit: healed).
        let mut events: Vec<(u64, Option<usize>, usize)> = cuts
            .iter()
            .enumerate()
            .map(|(k, &mask)| (k as u64 * 200, None, mask as usize))
            .collect();
        events.extend(broadcasts.iter().enumerate().map(|(i, &(node, t))| (t, Some(node % nodes), i)));
        events.sort();
        for (t, node, x) in events {
            run_to(&mut c, ms(t));
            match node {
                Some(node) => broadcast(&mut c, node, json!(x)),
                None => {
                    let (a, b): (Vec<usize>, Vec<usize>) = (0..nodes).partition(|i| x >> i & 1 == 1);
                    c.heal();
                    if !a.is_empty() && !b.is_empty() {
                        c.partition(Partition::groups(nodes, &[a, b]));
                    }
                }
            }
        }
        run_to(&mut c, ms(2000));
        c.heal();
        run_to(&mut c, ms(20_000));
        for node in 0..nodes {
            prop_assert_eq!(handler(&c, node).values().len(), broadcasts.len(), "n{}", node);
        }
    }
}
