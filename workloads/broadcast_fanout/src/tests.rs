//! The workload driven through in-process nodes: one node fed lines by
//! hand, or a few nodes whose lines the test cluster routes.

use std::time::Duration;

use maelstrom_framework::{GossipSettings, Node, Process, testing};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::Broadcast;
use crate::cluster::{Cluster, Load};

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

fn cluster(n: usize, fanout: u64, seed: u64) -> Cluster<Broadcast> {
    let ids: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    Cluster::new(&ids, ms(100), seed, |_| Broadcast::new(settings(fanout)))
}

/// The values a node-to-node message carries.
fn carried(msg: &Value) -> Vec<Value> {
    let body = &msg["body"];
    match body["type"].as_str() {
        Some("gossip") => vec![body["value"].clone()],
        _ => body["values"].as_array().cloned().unwrap_or_default(),
    }
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
    for (i, node) in ["n0", "n3", "n4", "n3", "n1"].iter().enumerate() {
        c.client(node, json!({"type": "broadcast", "message": i}));
        c.run_until(c.now() + ms(37));
    }
    c.run_until(ms(3000));
    for id in c.ids() {
        let mut held = c.handler(&id).values().to_vec();
        held.sort_by_key(|v| v.as_u64());
        assert_eq!(held, (0..5).map(|i| json!(i)).collect::<Vec<_>>(), "{id}");
    }
}

#[test]
fn anti_entropy_delivers_what_forwarding_missed() {
    let mut c = cluster(4, 2, 2);
    // Every forward is lost: only the anti-entropy rounds can deliver.
    c.set_filter(|msg| msg["body"]["type"] != "gossip");
    c.client("n0", json!({"type": "broadcast", "message": "v"}));
    c.run_until(ms(2000));
    for id in c.ids() {
        assert_eq!(c.handler(&id).values(), [json!("v")], "{id}");
    }
    let by_exchange = c
        .sent
        .iter()
        .filter(|m| m["body"]["type"] != "gossip" && carried(m).contains(&json!("v")))
        .count();
    assert!(by_exchange >= 3, "every other node got it by exchange");
}

#[test]
fn nothing_is_resent_to_a_peer_that_acknowledged_and_an_idle_cluster_goes_quiet() {
    let mut c = cluster(3, 1, 3);
    c.client("n0", json!({"type": "broadcast", "message": 1}));
    c.client("n2", json!({"type": "broadcast", "message": 2}));
    c.run_until(ms(10_000));
    // Every exchange was answered; after an answer, the asker never sends
    // the acknowledged values to that peer again.
    for (i, ask) in c.sent.iter().enumerate() {
        if ask["body"]["type"] != "exchange" {
            continue;
        }
        let (from, to) = (&ask["src"], &ask["dest"]);
        let answer = c.sent[i..]
            .iter()
            .position(|m| m["body"]["in_reply_to"] == ask["body"]["msg_id"] && m["src"] == *to)
            .map(|j| i + j)
            .expect("every exchange is answered");
        for later in &c.sent[answer..] {
            if later["src"] == *from && later["dest"] == *to {
                for v in carried(ask) {
                    assert!(!carried(later).contains(&v), "{v} re-sent: {later}");
                }
            }
        }
    }
    // Nothing is pending or in flight anywhere, so the timers send nothing:
    // all traffic is over long before the 10 s end.
    let sent = c.sent.len();
    c.run_until(ms(20_000));
    assert_eq!(c.sent.len(), sent);
    assert!(sent < 30, "{sent} messages for two values on three nodes");
}

#[test]
fn a_lost_batch_is_sent_again_after_the_resend_time() {
    let mut c = cluster(2, 1, 4);
    let mut dropped = false;
    c.set_filter(move |msg| {
        let first_exchange = msg["body"]["type"] == "exchange" && !dropped;
        dropped |= first_exchange;
        msg["body"]["type"] != "gossip" && !first_exchange
    });
    c.client("n0", json!({"type": "broadcast", "message": 5}));
    // The first exchange goes at the first tick (~100 ms) and is lost; it
    // is unacknowledged, so it is not re-sent before 2.2 s have passed.
    c.run_until(ms(2250));
    assert!(c.handler("n1").values().is_empty());
    c.run_until(ms(2500));
    assert_eq!(c.handler("n1").values(), [json!(5)]);
}

#[test]
fn values_cut_off_by_a_partition_arrive_after_it_heals() {
    let mut c = cluster(5, 2, 5);
    c.partition(&["n3", "n4"]);
    c.client("n0", json!({"type": "broadcast", "message": "majority"}));
    c.client("n4", json!({"type": "broadcast", "message": "minority"}));
    c.run_until(ms(5000));
    assert_eq!(c.handler("n3").values(), [json!("minority")]);
    assert_eq!(c.handler("n1").values(), [json!("majority")]);
    c.heal();
    c.run_until(ms(10_000));
    for id in c.ids() {
        assert_eq!(c.handler(&id).values().len(), 2, "{id}");
    }
}

#[test]
fn stats_count_the_messages_actually_written() {
    let mut c = cluster(5, 2, 6);
    let load = Load {
        rate: 50,
        duration: ms(2000),
        settle: ms(1000),
        seed: 6,
    };
    let measured = c.run_load(load, Broadcast::values);
    assert_eq!(measured.missing, 0);
    let mut broadcasts = 0;
    for id in c.ids() {
        let stats = *c.handler(&id).stats();
        let written: Vec<&Value> = c.sent.iter().filter(|m| m["src"] == id).collect();
        assert_eq!(stats.messages_sent, written.len() as u64, "{id}");
        let values: usize = written.iter().map(|m| carried(m).len()).sum();
        assert_eq!(stats.values_sent, values as u64, "{id}");
        broadcasts += stats.broadcasts_received;
    }
    assert_eq!(broadcasts, measured.ops.div_ceil(2));
}

/// Not a test: the Fly.io 3d setting (25 nodes, 100 ms links, 100 ops/s),
/// printed. `cargo test -p broadcast_fanout --release -- --ignored --nocapture`
#[test]
#[ignore]
fn measure_fly_io_setting() {
    let mut c = cluster(25, 2, 7);
    let load = Load {
        rate: 100,
        duration: Duration::from_secs(20),
        settle: Duration::from_secs(5),
        seed: 7,
    };
    let m = c.run_load(load, Broadcast::values);
    println!(
        "msgs/op {:.2} p50 {} p95 {} max {} ms, missing {}",
        m.msgs_per_op,
        m.quantile(0.5),
        m.quantile(0.95),
        m.quantile(1.0),
        m.missing
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever is lost while the network is bad, every value reaches
    /// every node once it is good again.
    #[test]
    fn every_value_reaches_every_node_despite_losses(
        nodes in 2usize..6,
        fanout in 1u64..4,
        broadcasts in proptest::collection::vec((0usize..6, 0u64..1500), 1..12),
        drops in proptest::collection::vec(any::<bool>(), 64),
        seed in 0u64..1000,
    ) {
        let mut c = cluster(nodes, fanout, seed);
        let mut n = 0usize;
        c.set_filter(move |_| { n += 1; !drops[n % drops.len()] });
        let mut broadcasts = broadcasts;
        broadcasts.sort_by_key(|b| b.1);
        for (i, (node, t)) in broadcasts.iter().enumerate() {
            c.run_until(ms(*t));
            c.client(&format!("n{}", node % nodes), json!({"type": "broadcast", "message": i}));
        }
        c.run_until(ms(2000));
        c.clear_filter();
        c.run_until(ms(12_000));
        for id in c.ids() {
            prop_assert_eq!(c.handler(&id).values().len(), broadcasts.len(), "{}", id);
        }
    }
}
