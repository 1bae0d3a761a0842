//! `kv` nodes in the framework's simulated cluster (nodes n0, n1, …, a
//! virtual clock, partitions, loss and duplication), driven by hand; one
//! node fed lines by hand where a single link matters; and a property:
//! whatever the network does, replicas end equal.

use std::time::Duration;

use kv_bench::{KvNode, Options};
use maelstrom_framework::{Node, Now, Process, testing};
use maelstrom_lab::{Cluster, LatencyDist, NetConfig, Partition};
use proptest::prelude::*;
use serde_json::{Value, json};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` initialised nodes with constant `latency_ms` links.
fn cluster(n: usize, latency_ms: u64) -> Cluster {
    cluster_with(n, latency_ms, Options::default())
}

fn cluster_with(n: usize, latency_ms: u64, options: Options) -> Cluster {
    let net = NetConfig {
        latency: ms(latency_ms),
        ..NetConfig::default()
    };
    let mut c = maelstrom_lab::testing::sim_cluster((0..n).map(|_| KvNode::new(&options)), net, 1);
    maelstrom_lab::testing::sim_init(&mut c);
    c
}

/// Client request `body` to `node`, now; its reply body.
fn request(c: &mut Cluster, node: usize, body: Value) -> Value {
    let mut replies = maelstrom_lab::testing::sim_request(c, node, body);
    assert_eq!(replies.len(), 1, "{replies:?}");
    replies.remove(0)
}

fn write(c: &mut Cluster, node: usize, key: &str, value: Value) {
    let reply = request(
        c,
        node,
        json!({"type": "write", "key": key, "value": value}),
    );
    assert_eq!(reply["type"], "write_ok", "{reply}");
}

fn run_to(c: &mut Cluster, t: u64) {
    maelstrom_lab::testing::sim_run(c, ms(t));
}

fn kv(c: &Cluster, node: usize) -> &KvNode {
    maelstrom_lab::testing::sim_handler(c, node)
}

/// Node-to-node messages `node` has sent.
fn sent_by(c: &Cluster, node: usize) -> u64 {
    c.stats().per_node[node].sent
}

fn assert_all_equal(c: &Cluster) {
    for i in 1..c.len() {
        assert_eq!(kv(c, i).store(), kv(c, 0).store(), "n{i} vs n0");
    }
    for i in 0..c.len() {
        assert_eq!(kv(c, i).unsynced_keys(), 0, "n{i}");
        assert_eq!(kv(c, i).pending_seqs(), 0, "n{i} {:#?}", kv(c, i));
    }
}

#[test]
fn writes_share_one_push_per_peer_and_peers_acknowledge_once() {
    let mut c = cluster(3, 5);
    for k in ["a", "b", "c", "d", "e"] {
        write(&mut c, 0, k, json!(k));
    }
    run_to(&mut c, 300);
    assert_all_equal(&c);
    assert_eq!(kv(&c, 0).store().len(), 5);
    // One kv_merge per peer with all five; each peer, with nothing of its
    // own to push, acknowledges once after the ack delay and never relays
    // entries it got from their writer.
    assert_eq!(sent_by(&c, 0), 2);
    assert_eq!((sent_by(&c, 1), sent_by(&c, 2)), (1, 1));
    assert_eq!(c.stats().by_type["kv_merge"].messages, 4);
    assert!(!c.stats().by_type.contains_key("kv_merge_ok"));
    assert_eq!(kv(&c, 0).report().total_gossip_msgs, 2);
    assert_eq!(kv(&c, 1).report().total_gossip_msgs, 1);

    // An idle cluster is silent.
    let before = c.stats().sent;
    run_to(&mut c, 5_000);
    assert_eq!(c.stats().sent, before);
}

#[test]
fn acknowledgements_ride_on_pushes_when_both_sides_write() {
    let mut c = cluster(2, 5);
    // Both write every 50 ms: each push (40 ms after a write) carries the
    // acknowledgement of the other's previous push, so only the last push
    // of each is acknowledged alone.
    for round in 0..10 {
        run_to(&mut c, round * 50);
        write(&mut c, 0, &format!("a{round}"), json!(round));
        write(&mut c, 1, &format!("b{round}"), json!(round));
    }
    run_to(&mut c, 2_000);
    assert_all_equal(&c);
    assert_eq!((sent_by(&c, 0), sent_by(&c, 1)), (11, 11));
    assert_eq!(kv(&c, 0).stats().merge_timeouts, 0);
}

#[test]
fn concurrent_writes_to_one_key_converge_to_the_same_winner() {
    let mut c = cluster(3, 10);
    // Same instant, same virtual wall clock: equal timestamps, the node id
    // decides.
    write(&mut c, 0, "k", json!("from n0"));
    write(&mut c, 1, "k", json!("from n1"));
    write(&mut c, 2, "j", json!({"b": 1, "a": 2}));
    run_to(&mut c, 300);
    assert_all_equal(&c);
    let entry = kv(&c, 2).store().get("k").unwrap();
    assert_eq!(entry.value, json!("from n1"));
    assert_eq!(entry.node.as_deref(), Some("n1"));
    // A later write wins over both.
    write(&mut c, 2, "k", json!("later"));
    run_to(&mut c, 1_000);
    for i in 0..3 {
        let read = request(&mut c, i, json!({"type": "read", "key": "k"}));
        assert_eq!(read["value"], "later", "n{i}");
    }
}

#[test]
fn a_tracked_write_converges_once_every_peer_acknowledged_it() {
    let mut c = cluster(3, 10);
    let reply = request(
        &mut c,
        0,
        json!({"type": "bench_write", "key": "x", "value": 1}),
    );
    assert_eq!(reply["write_id"], 1);
    let stats = kv(&c, 0).stats();
    assert_eq!((stats.tracked_writes, stats.unconverged_writes), (1, 1));
    assert_eq!(stats.convergence_p50_ms, None);

    // Pushed at 40 ms, delivered at 50; the peers have nothing to push, so
    // they acknowledge alone at 150, delivered at 160: the ack delay is
    // part of what bench_stats measures.
    run_to(&mut c, 159);
    assert_eq!(kv(&c, 0).stats().converged_writes, 0);
    assert_eq!(kv(&c, 2).store().get("x").unwrap().value, json!(1));
    run_to(&mut c, 160);
    let stats = kv(&c, 0).stats();
    assert_eq!((stats.converged_writes, stats.unconverged_writes), (1, 0));
    assert_eq!(stats.convergence_max_ms, Some(160.0));

    // n2 is cut off: one peer's acknowledgement is not enough.
    c.partition(Partition::groups(3, &[vec![0, 1], vec![2]]));
    let reply = request(
        &mut c,
        0,
        json!({"type": "bench_write", "key": "x", "value": 2}),
    );
    assert_eq!(reply["write_id"], 2);
    run_to(&mut c, 1_500);
    let stats = kv(&c, 0).stats();
    assert_eq!((stats.converged_writes, stats.unconverged_writes), (1, 1));
    assert!(stats.merge_timeouts >= 1, "{stats:?}");
    assert_eq!(kv(&c, 2).store().get("x").unwrap().value, json!(1));
    // Healed: the retry gets through.
    c.heal();
    run_to(&mut c, 4_000);
    let stats = kv(&c, 0).stats();
    assert_eq!((stats.converged_writes, stats.unconverged_writes), (2, 0));
    assert!(stats.convergence_max_ms.unwrap() > 1_000.0, "{stats:?}");
    assert!(stats.gossip_bytes_sent > 0);
    assert_all_equal(&c);
    let json_stats = request(&mut c, 0, json!({"type": "bench_stats"}));
    assert_eq!(json_stats["converged_writes"], 2);
    // The quantile is the top of its histogram bucket: at most 1/32 high.
    let p50 = json_stats["convergence_p50_ms"].as_f64().unwrap();
    assert!((160.0..=160.0 * (1.0 + 1.0 / 32.0)).contains(&p50), "{p50}");
}

#[test]
fn an_unreachable_peer_costs_bounded_memory_and_backed_off_retries() {
    let mut c = cluster(2, 10);
    c.partition(Partition::groups(2, &[vec![0], vec![1]]));
    // 10 s of writes to 200 keys, 50 a second, none acknowledged.
    for i in 0..500u64 {
        run_to(&mut c, i * 20);
        write(&mut c, 0, &format!("k{}", i % 200), json!(i));
    }
    run_to(&mut c, 10_000);
    let n0 = kv(&c, 0);
    // Pushes stop once the first one times out (~0.5 s); then the pending
    // set is retried 0.5 s, then 1 s apart: ~15 messages, not 250.
    let sent = sent_by(&c, 0);
    assert!((10..=30).contains(&sent), "{sent} kv_merges");
    // Memory: the unsynced keys (bounded by the store) and at most the one
    // retry in flight.
    assert_eq!(n0.unsynced_keys(), 200);
    assert!(n0.pending_seqs() <= 1, "{}", n0.pending_seqs());
    assert_eq!(kv(&c, 1).store().len(), 0);

    c.heal();
    run_to(&mut c, 12_000);
    assert_all_equal(&c);
}

#[test]
fn lost_and_duplicated_merges_are_repaired_by_retries() {
    let net = NetConfig {
        latency: ms(20),
        latency_dist: LatencyDist::Exponential,
        loss: 0.3,
        duplicate: 0.2,
    };
    let options = Options::default();
    let mut c = maelstrom_lab::testing::sim_cluster((0..4).map(|_| KvNode::new(&options)), net, 9);
    maelstrom_lab::testing::sim_init(&mut c);
    for i in 0..200u64 {
        run_to(&mut c, i * 10);
        write(&mut c, (i % 4) as usize, &format!("k{}", i % 7), json!(i));
    }
    run_to(&mut c, 30_000);
    assert!(c.stats().dropped_by_loss > 50 && c.stats().duplicated > 20);
    assert!(kv(&c, 0).stats().merge_timeouts > 0);
    assert_all_equal(&c);
}

/// One node, `n1` of n1..n3, fed lines by hand.
fn lone_node() -> Node<KvNode> {
    let mut node = Node::new(KvNode::new(&Options::default()), 3);
    testing::init(&mut node, "n1", &["n1", "n2", "n3"]);
    node
}

#[test]
fn entries_not_from_their_writer_are_relayed_but_never_back() {
    let mut node = lone_node();
    let t = Duration::ZERO;
    let merge = json!({"type": "kv_merge", "msg_id": 5, "seq": 1, "entries": {
        "relayed": {"value": 1, "ts": 5.5, "node": "n3"},
        "anonymous": {"value": 2, "ts": 6},
        "own": {"value": 3, "ts": 7, "node": "n2"},
    }});
    assert!(testing::deliver(&mut node, t, "n2", merge).is_empty());
    node.on_wake(testing::at(ms(40)));
    let out = testing::take_output(&mut node);
    // Only n3 gets a push (with what n2 relayed or had no writer for);
    // n2's acknowledgement waits for the ack delay.
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["dest"], "n3");
    let entries = out[0]["body"]["entries"].as_object().unwrap();
    let keys: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert_eq!(keys, ["anonymous", "relayed"]);
    node.on_wake(testing::at(ms(100)));
    let out = testing::take_output(&mut node);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["dest"], "n2");
    assert_eq!(
        out[0]["body"],
        json!({"type": "kv_merge", "entries": {}, "seq": 1, "acks": [1], "msg_id": 2})
    );
}

#[test]
fn a_peer_holding_an_older_entry_gets_ours_back() {
    let mut node = lone_node();
    let write = json!({"type": "write", "msg_id": 1, "key": "k", "value": "new"});
    testing::deliver(&mut node, Duration::ZERO, "c1", write);
    node.on_wake(testing::at(ms(40)));
    let pushes = testing::take_output(&mut node);
    assert_eq!(pushes.len(), 2);
    // n2 acknowledges our push but also sends an older k: it is sent again.
    let old = json!({"type": "kv_merge", "msg_id": 9, "seq": 1, "acks": [1],
        "entries": {"k": {"value": "old", "ts": 1, "node": "n2"}}});
    testing::deliver(&mut node, ms(50), "n2", old);
    node.on_wake(testing::at(ms(90)));
    let out = testing::take_output(&mut node);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["dest"], "n2");
    assert_eq!(out[0]["body"]["seq"], 2);
    assert_eq!(out[0]["body"]["acks"], json!([1]));
    assert_eq!(out[0]["body"]["entries"]["k"]["value"], "new");
}

#[test]
fn reads_that_missed_an_earlier_write_are_counted_stale() {
    let mut c = cluster(2, 5);
    c.partition(Partition::groups(2, &[vec![0], vec![1]]));
    run_to(&mut c, 10);
    write(&mut c, 1, "k", json!("new"));
    run_to(&mut c, 20);
    let read = request(&mut c, 0, json!({"type": "kv_read", "key": "k"}));
    assert_eq!(read["code"], 20);
    assert_eq!(read["text"], "Key not found");
    c.heal();
    run_to(&mut c, 3_000);
    let stats = kv(&c, 0).stats();
    assert_eq!((stats.reads, stats.stale_reads), (1, 1));
    // A read after the write arrived is not stale.
    request(&mut c, 0, json!({"type": "kv_read", "key": "k"}));
    assert_eq!(kv(&c, 0).stats().stale_reads, 1);
}

#[test]
fn own_timestamps_never_go_back_and_are_not_dragged_by_the_future() {
    const BASE_MICROS: u64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z
    let mut node = Node::new(KvNode::new(&Options::default()), 1);
    let at = |ms: u64, unix_micros: u64| Now {
        elapsed: Duration::from_millis(ms),
        unix_micros,
    };
    let send = |node: &mut Node<KvNode>, now: Now, body: Value| -> Value {
        let line = json!({"src": "c1", "dest": "n1", "body": body}).to_string();
        node.on_line(now, line.as_bytes());
        let out = testing::take_output(node);
        out.last().unwrap()["body"].clone()
    };
    send(
        &mut node,
        at(0, BASE_MICROS),
        json!({"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n1"]}),
    );
    let ts = |body: Value| body["ts"].as_f64().unwrap();
    let first = ts(send(
        &mut node,
        at(1, BASE_MICROS + 500),
        json!({"type": "write", "msg_id": 2, "key": "a", "value": 1}),
    ));
    // The wall clock jumps back a second: one microsecond later, not earlier.
    let second = ts(send(
        &mut node,
        at(2, BASE_MICROS - 1_000_000),
        json!({"type": "write", "msg_id": 3, "key": "a", "value": 2}),
    ));
    assert_eq!(first, 1_704_067_200.000_5);
    assert_eq!(second, 1_704_067_200.000_501);
    assert_eq!(node.handler_ref().store().get("a").unwrap().value, json!(2));

    // An entry from the year 33658 wins its key but leaves our clock alone.
    let merged = send(
        &mut node,
        at(3, BASE_MICROS + 2000),
        json!({"type": "kv_merge", "msg_id": 4, "entries": {"f": {"value": "future", "ts": 1e12}}}),
    );
    assert_eq!(merged["updated"], 1);
    let third = ts(send(
        &mut node,
        at(4, BASE_MICROS + 3000),
        json!({"type": "write", "msg_id": 5, "key": "f", "value": "now"}),
    ));
    assert_eq!(third, 1_704_067_200.003);
    assert_eq!(
        node.handler_ref().store().get("f").unwrap().value,
        json!("future")
    );
    // Even at the end of u64 time, no overflow.
    let last = ts(send(
        &mut node,
        at(5, u64::MAX),
        json!({"type": "write", "msg_id": 6, "key": "g", "value": 1}),
    ));
    let after = ts(send(
        &mut node,
        at(6, u64::MAX),
        json!({"type": "write", "msg_id": 7, "key": "g", "value": 2}),
    ));
    assert!(last.is_finite() && after.is_finite());
    assert_eq!(node.panics(), 0);
}

#[test]
fn a_bad_kv_merge_changes_nothing() {
    let mut c = cluster(2, 5);
    write(&mut c, 0, "k", json!(1));
    let before = kv(&c, 0).store().clone();
    let future = json!({"value": 2, "ts": 9e15});
    for bad in [
        json!({"entries": {"k": future, "j": {"value": 3}}}),
        json!({"entries": {"k": future, "j": {"value": 3, "ts": "1"}}}),
        json!({"entries": {"k": future, "j": {"value": 3, "ts": 1, "node": 7}}}),
        json!({"entries": {"k": {"ts": 9e15}}}),
        json!({"entries": [1]}),
        // seq and acks are for node-to-node merges only.
        json!({"entries": {"k": future}, "seq": 1}),
        json!({"entries": {"k": future}, "acks": [1]}),
        json!({"entries": {"k": future}, "seq": "1"}),
    ] {
        let mut body = bad.clone();
        body["type"] = json!("kv_merge");
        let reply = request(&mut c, 0, body);
        assert_eq!(reply["code"], 12, "{bad}");
        assert_eq!(kv(&c, 0).store(), &before);
    }
    assert_eq!(c.panics(), 0);
}

#[test]
fn configure_is_validated_as_a_whole_and_anti_entropy_follows() {
    let mut c = cluster(3, 5);
    let ok = request(
        &mut c,
        0,
        json!({"type": "configure", "fanout": 1, "gossip_interval_ms": 1000, "merge_timeout_ms": 50}),
    );
    assert_eq!(ok["type"], "configure_ok");
    let set = kv(&c, 0).options();
    for bad in [
        json!({"fanout": 0, "gossip_interval_ms": 7}),
        json!({"fanout": 3, "push_delay_ms": 3_600_001}),
        json!({"ack_delay_ms": 5, "merge_timeout_ms": 0}),
        json!({"push_delay_ms": 5, "ack_delay_ms": -1}),
    ] {
        let mut body = bad.clone();
        body["type"] = json!("configure");
        let reply = request(&mut c, 0, body);
        assert_eq!(reply["code"], 12, "{bad}");
        assert_eq!(kv(&c, 0).options(), set, "{bad}");
    }
    assert_eq!(set.gossip.fanout, 1);
    assert_eq!(set.merge_timeout_ms, 50);

    // Both peers miss a write's push; anti-entropy, once a second and one
    // peer per round (fanout 1), gives the timed-out keys to one of them.
    c.partition(Partition::groups(3, &[vec![0], vec![1, 2]]));
    write(&mut c, 0, "k", json!(1));
    run_to(&mut c, 100);
    assert_eq!(sent_by(&c, 0), 2);
    c.heal();
    run_to(&mut c, 1_150);
    assert_eq!(sent_by(&c, 0), 3);
    run_to(&mut c, 4_000);
    assert_all_equal(&c);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any interleaving (exponential latencies reorder), duplication, loss
    /// (retried) and partitions end with every replica equal and nothing
    /// left to send.
    #[test]
    fn replicas_end_equal_whatever_the_network_does(
        seed in 0u64..1_000_000,
        nodes in 2usize..5,
        loss in 0.0f64..0.4,
        duplicate in 0.0f64..0.3,
        writes in prop::collection::vec((0usize..4, 0u8..4, 0u64..2_000), 1..40),
        cut in prop::option::of((1usize..4, 0u64..2_000, 0u64..3_000)),
    ) {
        let net = NetConfig {
            latency: ms(20),
            latency_dist: LatencyDist::Exponential,
            loss,
            duplicate,
        };
        let options = Options::default();
        let mut c = maelstrom_lab::testing::sim_cluster((0..nodes).map(|_| KvNode::new(&options)), net, seed);
        maelstrom_lab::testing::sim_init(&mut c);
        let mut events: Vec<(u64, Option<(usize, u8)>)> =
            writes.iter().map(|&(n, k, t)| (t, Some((n % nodes, k)))).collect();
        if let Some((_, from, len)) = cut {
            events.push((from, None));
            events.push((from + len, None));
        }
        events.sort_by_key(|e| e.0);
        let mut partitioned = false;
        for (i, (t, event)) in events.into_iter().enumerate() {
            run_to(&mut c, t);
            match event {
                Some((node, key)) => write(&mut c, node, &format!("k{key}"), json!(i)),
                None if partitioned => c.heal(),
                None => {
                    let split = cut.map_or(1, |(s, _, _)| s).min(nodes - 1);
                    let groups = [(0..split).collect(), (split..nodes).collect()];
                    c.partition(Partition::groups(nodes, &groups));
                }
            }
            partitioned = c.is_partitioned();
        }
        c.heal();
        run_to(&mut c, 60_000);
        for i in 1..nodes {
            prop_assert_eq!(kv(&c, i).store(), kv(&c, 0).store());
        }
        for i in 0..nodes {
            prop_assert_eq!(kv(&c, i).unsynced_keys(), 0);
            prop_assert_eq!(kv(&c, i).pending_seqs(), 0);
        }
        prop_assert_eq!(c.panics(), 0);
        // Quiet once synced.
        let before = c.stats().sent;
        run_to(&mut c, 65_000);
        prop_assert_eq!(c.stats().sent, before);
    }
}
