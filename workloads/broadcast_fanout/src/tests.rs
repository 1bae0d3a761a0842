//! The workload driven through in-process nodes: one node fed lines by
//! hand, or a simulated cluster (the framework's simulator) driven by hand
//! or by the broadcast lab.

use std::time::Duration;

use maelstrom_framework::{GossipSettings, Node, Process, testing};
use maelstrom_lab::lab::LabSetup;
use maelstrom_lab::run::run_on;
use maelstrom_lab::{Cluster, LabSpec, NetConfig, Partition, SimConfig};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::Broadcast;
use maelstrom_specs::broadcast::{BroadcastLab, BroadcastLabOptions};
use maelstrom_specs::topology::Topology;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn settings(fanout: u64) -> GossipSettings {
    GossipSettings {
        fanout,
        gossip_interval_ms: 100,
    }
}

/// One node, `n1` of `nodes`, after `init`.
fn node(nodes: &[&str], fanout: u64) -> Node<Broadcast> {
    let mut node = Node::new(Broadcast::new(settings(fanout)), 3);
    testing::init(&mut node, "n1", nodes);
    node
}

fn output(node: &mut Node<Broadcast>) -> Vec<Value> {
    testing::take_output(node)
}

/// Hands `node` one message from `src` and returns what it wrote.
fn send(node: &mut Node<Broadcast>, src: &str, body: Value) -> Vec<Value> {
    testing::deliver(node, Duration::ZERO, src, body)
}

/// Simulated nodes n0..n{n-1} with 100 ms links, not yet initialised.
fn sim_nodes(n: usize, fanout: u64, seed: u64) -> Cluster {
    let net = NetConfig {
        latency: ms(100),
        ..NetConfig::default()
    };
    maelstrom_lab::testing::sim_cluster((0..n).map(|_| Broadcast::new(settings(fanout))), net, seed)
}

/// [`sim_nodes`], initialised, to drive by hand.
fn cluster(n: usize, fanout: u64, seed: u64) -> Cluster {
    let mut c = sim_nodes(n, fanout, seed);
    maelstrom_lab::testing::sim_init(&mut c);
    c
}

fn values(c: &Cluster, node: usize) -> &[Value] {
    maelstrom_lab::testing::sim_handler::<Broadcast>(c, node).values()
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

/// Node-to-node messages of this type sent so far.
fn sent_of_type(c: &Cluster, kind: &str) -> u64 {
    c.stats().by_type.get(kind).map_or(0, |t| t.messages)
}

#[test]
fn the_reply_comes_before_the_forwards_and_msg_ids_count_up() {
    let mut n1 = node(&["n1", "n2", "n3"], 2);
    let out = send(
        &mut n1,
        "c1",
        json!({"type": "broadcast", "message": 42, "msg_id": 7}),
    );
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(
        out[0],
        json!({"src": "n1", "dest": "c1", "body":
            {"type": "broadcast_ok", "msg_id": 1, "in_reply_to": 7}})
    );
    let mut dests = Vec::new();
    for (i, msg) in out[1..].iter().enumerate() {
        assert_eq!(
            msg["body"],
            json!({"type": "gossip", "value": 42, "msg_id": i + 2})
        );
        dests.push(msg["dest"].as_str().unwrap().to_string());
    }
    dests.sort();
    assert_eq!(dests, ["n2", "n3"]);
}

#[test]
fn a_value_is_forwarded_once_never_back_to_its_source() {
    let mut n1 = node(&["n1", "n2", "n3", "n4"], 2);
    let out = send(&mut n1, "n2", json!({"type": "gossip", "value": "x"}));
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|m| m["dest"] != "n2" && m["dest"] != "n1"));
    // Seen already: from a peer, or from a client, it goes nowhere.
    assert!(send(&mut n1, "n3", json!({"type": "gossip", "value": "x"})).is_empty());
    let out = send(
        &mut n1,
        "c1",
        json!({"type": "broadcast", "message": "x", "msg_id": 2}),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["body"]["type"], "broadcast_ok");
    assert_eq!(n1.handler_ref().values(), [json!("x")]);
    assert_eq!(n1.handler_ref().stats().broadcasts_received, 1);
}

#[test]
fn reads_list_each_value_once_in_order_of_first_receipt() {
    let mut n1 = node(&["n1"], 2);
    for (i, v) in [
        json!(3),
        json!("a"),
        json!(3),
        json!({"k": [1]}),
        json!("a"),
    ]
    .into_iter()
    .enumerate()
    {
        send(
            &mut n1,
            "c1",
            json!({"type": "broadcast", "message": v, "msg_id": i}),
        );
    }
    let out = send(&mut n1, "c2", json!({"type": "read", "msg_id": 9}));
    assert_eq!(
        out[0]["body"],
        json!({"type": "read_ok", "messages": [3, "a", {"k": [1]}], "msg_id": 6, "in_reply_to": 9})
    );
}

#[test]
fn a_one_node_cluster_never_sends_to_a_node() {
    let mut n1 = node(&["n1"], 3);
    send(
        &mut n1,
        "c1",
        json!({"type": "broadcast", "message": 1, "msg_id": 1}),
    );
    for t in 1..=100 {
        n1.on_wake(testing::at(ms(t * 50)));
    }
    assert!(output(&mut n1).is_empty());
    assert_eq!(n1.handler_ref().stats().messages_sent, 0);
}

#[test]
fn node_messages_from_non_peers_are_refused_and_change_nothing() {
    let mut n1 = node(&["n1", "n2"], 2);
    for (src, body) in [
        ("c1", json!({"type": "gossip", "value": 1, "msg_id": 1})),
        (
            "n9",
            json!({"type": "exchange", "values": [2], "msg_id": 2}),
        ),
        ("n1", json!({"type": "gossip", "value": 3, "msg_id": 3})),
        ("c1", json!({"type": "broadcast", "msg_id": 4})),
        ("c1", json!({"type": "exchange", "values": 5, "msg_id": 5})),
    ] {
        let out = send(&mut n1, src, body);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0]["body"]["type"], "error");
        assert_eq!(out[0]["body"]["code"], 12);
        assert_eq!(out[0]["dest"], src);
    }
    assert!(n1.handler_ref().values().is_empty());
    assert_eq!(*n1.handler_ref().stats(), Default::default());
    // And the node goes on.
    let out = send(&mut n1, "c1", json!({"type": "read", "msg_id": 6}));
    assert_eq!(out[0]["body"]["messages"], json!([]));
}

#[test]
fn values_reach_every_node() {
    let mut c = cluster(5, 2, 1);
    for (i, node) in [0, 3, 4, 3, 1].into_iter().enumerate() {
        broadcast(&mut c, node, json!(i));
        let next = c.now() + ms(37);
        run_to(&mut c, next);
    }
    run_to(&mut c, ms(3000));
    for node in 0..5 {
        let mut held = values(&c, node).to_vec();
        held.sort_by_key(|v| v.as_u64());
        assert_eq!(
            held,
            (0..5).map(|i| json!(i)).collect::<Vec<_>>(),
            "n{node}"
        );
    }
}

#[test]
fn anti_entropy_delivers_what_forwarding_missed() {
    let mut c = cluster(4, 2, 2);
    // n0 is cut off while it forwards: both forwards are lost, and only
    // the anti-entropy rounds after the heal can deliver.
    c.partition(Partition::groups(4, &[vec![0], vec![1, 2, 3]]));
    broadcast(&mut c, 0, json!("v"));
    c.heal();
    run_to(&mut c, ms(2000));
    for node in 0..4 {
        assert_eq!(values(&c, node), [json!("v")], "n{node}");
    }
    assert_eq!(c.stats().dropped_by_partition, 2);
    // The only forwards were n0's: values learned by exchange are not
    // gossiped on.
    assert_eq!(sent_of_type(&c, "gossip"), 2);
    assert!(sent_of_type(&c, "exchange") >= 3, "{:?}", c.stats().by_type);
}

#[test]
fn an_acknowledged_cluster_settles_and_goes_quiet() {
    let mut c = cluster(3, 1, 3);
    broadcast(&mut c, 0, json!(1));
    broadcast(&mut c, 2, json!(2));
    run_to(&mut c, ms(10_000));
    // Every peer acknowledged every value: nothing is pending or in flight
    // anywhere, so nothing will be sent again.
    for node in 0..3 {
        assert_eq!(values(&c, node).len(), 2, "n{node}");
        let ledger = maelstrom_lab::testing::sim_handler::<Broadcast>(&c, node)
            .replica()
            .ledger();
        for peer in ledger.peers() {
            assert_eq!(ledger.pending_len(peer), 0, "n{node} -> {peer}");
            assert_eq!(ledger.in_flight_len(peer), 0, "n{node} -> {peer}");
        }
    }
    // So the timers send nothing: all traffic is over long before 10 s.
    let sent = c.stats().sent;
    run_to(&mut c, ms(20_000));
    assert_eq!(c.stats().sent, sent);
    assert!(sent < 30, "{sent} messages for two values on three nodes");
}

#[test]
fn after_a_silence_a_probe_brings_back_what_was_lost() {
    let mut c = cluster(2, 1, 4);
    // Cut off for 3 s: the forward, the first exchange (~100 ms) and its
    // resend (~2.3 s) are lost.
    c.partition(Partition::groups(2, &[vec![0], vec![1]]));
    broadcast(&mut c, 0, json!(5));
    run_to(&mut c, ms(3000));
    c.heal();
    assert!(values(&c, 1).is_empty());
    // The resend is unacknowledged, and would go again only at ~4.5 s.
    // But n1 has been silent for 1.6 s with something in flight to it, so
    // n0's next round probes it (~3.1 s); the answer ends the silence, and
    // the value goes again at once.
    run_to(&mut c, ms(4000));
    assert_eq!(values(&c, 1), [json!(5)]);
    assert!(sent_of_type(&c, "exchange") > 2, "{:?}", c.stats().by_type);
}

#[test]
fn values_cut_off_by_a_partition_arrive_within_a_second_of_the_heal() {
    let mut c = cluster(5, 2, 5);
    c.partition(Partition::groups(5, &[vec![3, 4], vec![0, 1, 2]]));
    broadcast(&mut c, 0, json!("majority"));
    broadcast(&mut c, 4, json!("minority"));
    run_to(&mut c, ms(5000));
    assert_eq!(values(&c, 3), [json!("minority")]);
    assert_eq!(values(&c, 1), [json!("majority")]);
    c.heal();
    run_to(&mut c, ms(6000));
    for node in 0..5 {
        assert_eq!(values(&c, node).len(), 2, "n{node}");
    }
}

#[test]
fn stats_count_the_messages_the_simulator_routed() {
    let nodes = 5;
    let mut c = sim_nodes(nodes, 2, 6);
    let cfg = SimConfig {
        nodes,
        latency: 100.0,
        rate: 50.0,
        time_limit: 3.0,
        settle: 1.0,
        seed: 6,
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
    let report = run_on("broadcast", &mut c, Box::new(lab), &cfg);
    assert!(report.valid, "{}", report.table());
    let mut broadcasts = 0;
    for node in 0..nodes {
        let stats = *maelstrom_lab::testing::sim_handler::<Broadcast>(&c, node).stats();
        assert_eq!(
            stats.messages_sent, report.net.per_node[node].sent,
            "n{node}"
        );
        broadcasts += stats.broadcasts_received;
    }
    let acknowledged = report
        .history
        .ops
        .iter()
        .filter(|op| op.kind == "broadcast" && op.is_ok())
        .count();
    assert!(acknowledged > 50);
    assert_eq!(broadcasts, acknowledged as u64);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever partitions cut while the network is bad, every value
    /// reaches every node once it is good again.
    #[test]
    fn every_value_reaches_every_node_despite_partitions(
        nodes in 2usize..6,
        fanout in 1u64..4,
        broadcasts in proptest::collection::vec((0usize..6, 0u64..2000), 1..12),
        cuts in proptest::collection::vec(0u8..64, 10),
        seed in 0u64..1000,
    ) {
        let mut c = cluster(nodes, fanout, seed);
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
        run_to(&mut c, ms(12_000));
        for node in 0..nodes {
            prop_assert_eq!(values(&c, node).len(), broadcasts.len(), "n{}", node);
        }
    }
}
