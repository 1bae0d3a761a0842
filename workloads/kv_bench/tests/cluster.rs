//! Two or three in-process `kv` nodes, driven in virtual time by a tiny
//! router: node-to-node lines are delivered after a fixed latency (or
//! dropped across a cut), client replies are collected.

use std::collections::BTreeSet;
use std::time::Duration;

use kv_bench::{KvNode, Options};
use maelstrom_framework::{Node, Now, Process};
use serde_json::{Value, json};

const BASE_MICROS: u64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z

struct Cluster {
    ids: Vec<String>,
    nodes: Vec<Node<KvNode>>,
    now_ms: u64,
    latency_ms: u64,
    /// (deliver at, destination index, line), in send order.
    wire: Vec<(u64, usize, Vec<u8>)>,
    /// Dropped: (from, to).
    cuts: BTreeSet<(String, String)>,
    /// Every node-to-node message sent: (at, src, dest, body).
    sent: Vec<(u64, String, String, Value)>,
    replies: Vec<Value>,
    next_client_msg: u64,
}

impl Cluster {
    fn new(n: usize, latency_ms: u64) -> Cluster {
        Cluster::with(n, latency_ms, Options::default())
    }

    fn with(n: usize, latency_ms: u64, options: Options) -> Cluster {
        let ids: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let mut c = Cluster {
            nodes: (0..n)
                .map(|i| Node::new(KvNode::new(&options), i as u64))
                .collect(),
            ids: ids.clone(),
            now_ms: 0,
            latency_ms,
            wire: Vec::new(),
            cuts: BTreeSet::new(),
            sent: Vec::new(),
            replies: Vec::new(),
            next_client_msg: 1,
        };
        for i in 0..n {
            let init = json!({"type": "init", "msg_id": 0, "node_id": ids[i], "node_ids": ids});
            c.deliver(i, "c0", init);
        }
        c.replies.clear();
        c
    }

    fn now(&self) -> Now {
        Now {
            elapsed: Duration::from_millis(self.now_ms),
            unix_micros: BASE_MICROS + self.now_ms * 1000,
        }
    }

    fn index(&self, id: &str) -> usize {
        self.ids.iter().position(|n| n == id).unwrap()
    }

    fn deliver(&mut self, i: usize, src: &str, body: Value) {
        let line = json!({"src": src, "dest": self.ids[i], "body": body}).to_string();
        let now = self.now();
        self.nodes[i].on_line(now, line.as_bytes());
        self.route(i);
    }

    /// A client request to node `i`; returns its reply body.
    fn request(&mut self, i: usize, mut body: Value) -> Value {
        let msg_id = self.next_client_msg;
        self.next_client_msg += 1;
        body["msg_id"] = json!(msg_id);
        self.deliver(i, "c1", body);
        let at = self
            .replies
            .iter()
            .position(|r| r["body"]["in_reply_to"] == msg_id)
            .expect("a reply");
        self.replies.remove(at)["body"].clone()
    }

    fn route(&mut self, i: usize) {
        let out = std::mem::take(self.nodes[i].output());
        for line in String::from_utf8(out).unwrap().lines() {
            let msg: Value = serde_json::from_str(line).unwrap();
            let (src, dest) = (msg["src"].as_str().unwrap(), msg["dest"].as_str().unwrap());
            assert_eq!(src, self.ids[i]);
            if dest.starts_with('c') {
                self.replies.push(msg);
                continue;
            }
            // Nodes only ever write to ids from init.
            let to = self.index(dest);
            self.sent
                .push((self.now_ms, src.into(), dest.into(), msg["body"].clone()));
            if !self.cuts.contains(&(src.to_string(), dest.to_string())) {
                let at = self.now_ms + self.latency_ms;
                self.wire.push((at, to, line.as_bytes().to_vec()));
            }
        }
    }

    /// Runs deliveries and timers up to and including `until_ms`.
    fn run_until(&mut self, until_ms: u64) {
        loop {
            let next_line = self.wire.iter().map(|w| w.0).min();
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|n| n.next_deadline())
                .map(ceil_ms)
                .min();
            let Some(next) = next_line.into_iter().chain(next_timer).min() else {
                break;
            };
            if next > until_ms {
                break;
            }
            self.now_ms = self.now_ms.max(next);
            if let Some(k) = self.wire.iter().position(|w| w.0 <= self.now_ms) {
                let (_, to, line) = self.wire.remove(k);
                let now = self.now();
                self.nodes[to].on_line(now, &line);
                self.route(to);
                continue;
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i]
                    .next_deadline()
                    .is_some_and(|d| ceil_ms(d) <= self.now_ms)
                {
                    let now = self.now();
                    self.nodes[i].on_wake(now);
                    self.route(i);
                }
            }
        }
        self.now_ms = self.now_ms.max(until_ms);
    }

    fn cut(&mut self, a: &str, b: &str) {
        self.cuts.insert((a.into(), b.into()));
        self.cuts.insert((b.into(), a.into()));
    }

    fn heal(&mut self) {
        self.cuts.clear();
    }

    fn kv(&self, i: usize) -> &KvNode {
        self.nodes[i].handler_ref()
    }

    fn merges_from(&self, src: &str) -> Vec<&Value> {
        self.sent
            .iter()
            .filter(|(_, s, _, b)| s == src && b["type"] == "kv_merge")
            .map(|(_, _, _, b)| b)
            .collect()
    }
}

/// Timers are jittered below a millisecond: wake at the first whole
/// millisecond at or after the deadline.
fn ceil_ms(d: Duration) -> u64 {
    d.as_micros().div_ceil(1000) as u64
}

#[test]
fn a_write_reaches_every_peer_in_one_batch_per_peer() {
    let mut c = Cluster::new(3, 5);
    for k in ["a", "b", "c", "d", "e"] {
        let reply = c.request(0, json!({"type": "write", "key": k, "value": k}));
        assert_eq!(reply["type"], "write_ok");
    }
    c.run_until(100);
    for i in 1..3 {
        assert_eq!(c.kv(i).store(), c.kv(0).store(), "n{}", i + 1);
    }
    assert_eq!(c.kv(0).store().len(), 5);
    // The five writes share one kv_merge per peer, each acknowledged.
    let merges = c.merges_from("n1");
    assert_eq!(merges.len(), 2);
    assert!(
        merges
            .iter()
            .all(|m| m["entries"].as_object().unwrap().len() == 5)
    );
    assert_eq!(merges[0]["entries"]["a"]["node"], "n1");
    assert_eq!(c.kv(0).unsynced_keys(), 0);
    let report = c.kv(0).report();
    assert_eq!(report.total_writes, 5);
    assert_eq!(report.total_gossip_msgs, 2);
    // Peers got entries straight from their writer: they only acknowledge.
    assert_eq!(c.kv(1).report().total_gossip_msgs, 1);
    assert!(c.merges_from("n2").is_empty());

    // An idle cluster is silent.
    let before = c.sent.len();
    c.run_until(5_000);
    assert_eq!(c.sent.len(), before);
}

#[test]
fn concurrent_writes_to_one_key_converge_to_the_same_winner() {
    let mut c = Cluster::new(3, 10);
    // Same instant, same wall clock: equal timestamps, the node id decides.
    c.request(0, json!({"type": "write", "key": "k", "value": "from n1"}));
    c.request(1, json!({"type": "write", "key": "k", "value": "from n2"}));
    c.request(
        2,
        json!({"type": "write", "key": "j", "value": {"b": 1, "a": 2}}),
    );
    c.run_until(200);
    for i in 0..3 {
        let entry = c.kv(i).store().get("k").unwrap();
        assert_eq!(entry.value, json!("from n2"), "n{}", i + 1);
        assert_eq!(entry.node.as_deref(), Some("n2"));
        assert_eq!(c.kv(i).store(), c.kv(0).store());
        assert_eq!(c.kv(i).unsynced_keys(), 0);
    }
    // A later write wins over both.
    c.run_until(300);
    c.request(2, json!({"type": "write", "key": "k", "value": "later"}));
    c.run_until(500);
    for i in 0..3 {
        let read = c.request(i, json!({"type": "read", "key": "k"}));
        assert_eq!(
            read,
            json!({"type": "read_ok", "value": "later", "in_reply_to": read["in_reply_to"], "msg_id": read["msg_id"]})
        );
    }
}

#[test]
fn bench_stats_count_a_write_converged_once_every_peer_acknowledged() {
    let mut c = Cluster::new(3, 10);
    let reply = c.request(0, json!({"type": "bench_write", "key": "x", "value": 1}));
    assert_eq!(reply["write_id"], 1);
    let stats = c.kv(0).stats();
    assert_eq!((stats.tracked_writes, stats.unconverged_writes), (1, 1));
    assert_eq!(stats.convergence_p50_ms, None);

    // Pushed at 10 ms, delivered at 20, acknowledged at 30.
    c.run_until(25);
    assert_eq!(c.kv(0).stats().converged_writes, 0);
    c.run_until(30);
    let stats = c.kv(0).stats();
    assert_eq!((stats.converged_writes, stats.unconverged_writes), (1, 0));
    assert_eq!(stats.convergence_p50_ms, Some(30.0));
    assert_eq!(stats.convergence_max_ms, Some(30.0));

    // n3 is cut off: one peer's acknowledgement is not enough.
    c.cut("n1", "n3");
    let reply = c.request(0, json!({"type": "bench_write", "key": "x", "value": 2}));
    assert_eq!(reply["write_id"], 2);
    c.run_until(500);
    let stats = c.kv(0).stats();
    assert_eq!((stats.converged_writes, stats.unconverged_writes), (1, 1));
    assert_eq!(c.kv(2).store().get("x").unwrap().value, json!(1));
    // Healed: the timed-out kv_merge is retried by anti-entropy.
    c.heal();
    c.run_until(2_000);
    let stats = c.kv(0).stats();
    assert_eq!((stats.converged_writes, stats.unconverged_writes), (2, 0));
    assert_eq!(stats.merge_timeouts, 1);
    assert!(stats.convergence_max_ms.unwrap() > 1000.0, "{stats:?}");
    assert!(stats.gossip_bytes_sent > 0);
    assert_eq!(c.kv(2).store().get("x").unwrap().value, json!(2));
    let json_stats = c.request(0, json!({"type": "bench_stats"}));
    assert_eq!(json_stats["converged_writes"], 2);
    // The quantile is the top of its histogram bucket: at most 1/32 high.
    let p50 = json_stats["convergence_p50_ms"].as_f64().unwrap();
    assert!((30.0..=30.0 * (1.0 + 1.0 / 32.0)).contains(&p50), "{p50}");
}

#[test]
fn a_partition_costs_one_kv_merge_per_timeout_not_a_storm() {
    let options = Options {
        merge_timeout_ms: 500,
        ..Options::default()
    };
    let mut c = Cluster::with(2, 10, options);
    c.cut("n1", "n2");
    for i in 0..50 {
        c.request(
            0,
            json!({"type": "write", "key": format!("k{i}"), "value": i}),
        );
        c.run_until(c.now_ms + 20);
    }
    c.run_until(5_000);
    // 5 s with one kv_merge in flight at a time and a 500 ms timeout.
    let sent = c.merges_from("n1").len();
    assert!((5..=11).contains(&sent), "{sent} kv_merges");
    assert_eq!(c.kv(1).store().len(), 0);
    c.heal();
    c.run_until(6_000);
    assert_eq!(c.kv(1).store(), c.kv(0).store());
    assert_eq!(c.kv(0).unsynced_keys(), 0);
}

#[test]
fn entries_not_from_their_writer_are_relayed() {
    let mut c = Cluster::new(3, 5);
    // A client injects an entry at n1: every peer must get it from n1.
    let reply = c.request(
        0,
        json!({"type": "kv_merge", "entries": {"k": {"value": "v", "ts": 5.5}}}),
    );
    assert_eq!(reply["updated"], 1);
    c.run_until(100);
    for i in 1..3 {
        assert_eq!(c.kv(i).store().get("k").unwrap().value, json!("v"));
    }
    // n1 cannot reach n3, n2 can: n2 relays what n1 got from a client.
    c.cut("n1", "n3");
    c.request(
        0,
        json!({"type": "kv_merge", "entries": {"r": {"value": 1, "ts": 6}}}),
    );
    c.run_until(200);
    assert_eq!(c.kv(2).store().get("r").unwrap().value, json!(1));
}

#[test]
fn reads_that_missed_an_earlier_write_are_counted_stale() {
    let mut c = Cluster::new(2, 5);
    c.cut("n1", "n2");
    c.run_until(10);
    c.request(1, json!({"type": "write", "key": "k", "value": "new"}));
    c.run_until(20);
    let read = c.request(0, json!({"type": "kv_read", "key": "k"}));
    assert_eq!(read["code"], 20);
    assert_eq!(read["text"], "Key not found");
    c.heal();
    c.run_until(3_000);
    let stats = c.kv(0).stats();
    assert_eq!((stats.reads, stats.stale_reads), (1, 1));
    // A read after the write arrived is not stale.
    c.request(0, json!({"type": "kv_read", "key": "k"}));
    assert_eq!(c.kv(0).stats().stale_reads, 1);
}

#[test]
fn own_timestamps_never_go_back_and_are_not_dragged_by_the_future() {
    let mut node = Node::new(KvNode::new(&Options::default()), 1);
    let at = |ms: u64, unix_micros: u64| Now {
        elapsed: Duration::from_millis(ms),
        unix_micros,
    };
    let send = |node: &mut Node<KvNode>, now: Now, body: Value| -> Value {
        let line = json!({"src": "c1", "dest": "n1", "body": body}).to_string();
        node.on_line(now, line.as_bytes());
        let out = String::from_utf8(std::mem::take(node.output())).unwrap();
        serde_json::from_str::<Value>(out.lines().last().unwrap()).unwrap()["body"].clone()
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
    let mut c = Cluster::new(2, 5);
    c.request(0, json!({"type": "write", "key": "k", "value": 1}));
    let before = c.kv(0).store().clone();
    for bad in [
        json!({"k": {"value": 2, "ts": 9e15}, "j": {"value": 3}}),
        json!({"k": {"value": 2, "ts": 9e15}, "j": {"value": 3, "ts": "1"}}),
        json!({"k": {"value": 2, "ts": 9e15}, "j": {"value": 3, "ts": 1, "node": 7}}),
        json!({"k": {"ts": 9e15}}),
        json!([1]),
    ] {
        let reply = c.request(0, json!({"type": "kv_merge", "entries": bad}));
        assert_eq!(reply["code"], 12, "{bad}");
        assert_eq!(c.kv(0).store(), &before);
    }
}

#[test]
fn configure_changes_fanout_and_interval_and_anti_entropy_follows() {
    let options = Options {
        merge_timeout_ms: 50,
        ..Options::default()
    };
    let mut c = Cluster::with(3, 5, options);
    let ok = c.request(
        0,
        json!({"type": "configure", "fanout": 1, "gossip_interval_ms": 1000}),
    );
    assert_eq!(ok["type"], "configure_ok");
    let bad = c.request(
        0,
        json!({"type": "configure", "fanout": 0, "gossip_interval_ms": 7}),
    );
    assert_eq!(bad["code"], 12);
    let settings = c.kv(0).settings();
    assert_eq!((settings.fanout, settings.gossip_interval_ms), (1, 1000));

    // Both peers miss a write; once healed, anti-entropy retries one peer
    // per round, a round every second.
    c.cut("n1", "n2");
    c.cut("n1", "n3");
    c.request(0, json!({"type": "write", "key": "k", "value": 1}));
    c.run_until(200);
    c.heal();
    let first_retry = c.sent.len();
    c.run_until(1_250);
    let retried: Vec<_> = c.sent[first_retry..]
        .iter()
        .filter(|(_, src, _, b)| src == "n1" && b["type"] == "kv_merge")
        .collect();
    assert_eq!(retried.len(), 1, "{retried:?}");
    c.run_until(3_000);
    assert_eq!(c.kv(0).unsynced_keys(), 0);
    for i in 1..3 {
        assert_eq!(c.kv(i).store(), c.kv(0).store());
    }
}
