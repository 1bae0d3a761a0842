//! A tiny deterministic cluster for tests: `counter` nodes driven through
//! the framework's `Process` interface on a virtual clock, with their output
//! lines routed by hand. Node-to-node messages take `latency`; a `drop`
//! rule can lose some. Nothing reads a real clock.

#![allow(dead_code)] // each test file uses a different part

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use maelstrom_framework::{GossipSettings, Node, Now, Process};
use pn_counter_gossip::{CounterNode, DEFAULT_PUSH_DELAY_MS, Options, Strategy};
use serde_json::{Value, json};

pub fn options(strategy: Strategy) -> Options {
    Options {
        gossip: GossipSettings::default(),
        strategy,
        push_delay_ms: DEFAULT_PUSH_DELAY_MS,
    }
}

pub fn at(t: Duration) -> Now {
    Now {
        elapsed: t,
        unix_micros: 1_704_067_200_000_000 + t.as_micros() as u64,
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A message one node wrote.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Duration,
    pub src: String,
    pub dest: String,
    pub body: Value,
}

type DropRule = Box<dyn FnMut(&Sent) -> bool>;

/// A line in flight: (arrival, order sent, destination index, the line).
type InFlight = Reverse<(Duration, u64, usize, Vec<u8>)>;

pub struct Cluster {
    pub ids: Vec<String>,
    pub nodes: Vec<Node<CounterNode>>,
    pub now: Duration,
    pub latency: Duration,
    /// Every node-to-node message written, dropped or not.
    pub sent: Vec<Sent>,
    /// Every message written to a client.
    pub to_clients: Vec<Sent>,
    drop: DropRule,
    queue: BinaryHeap<InFlight>,
    seq: u64,
    next_client_msg: u64,
}

impl Cluster {
    /// `n` nodes `n0..n{n-1}`, initialised at time 0.
    pub fn new(n: usize, options: &Options) -> Cluster {
        let ids: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        let nodes = (0..n)
            .map(|i| Node::new(CounterNode::new(options), 1000 + i as u64))
            .collect();
        let mut cluster = Cluster {
            ids: ids.clone(),
            nodes,
            now: Duration::ZERO,
            latency: Duration::ZERO,
            sent: Vec::new(),
            to_clients: Vec::new(),
            drop: Box::new(|_| false),
            queue: BinaryHeap::new(),
            seq: 0,
            next_client_msg: 1,
        };
        for (i, id) in ids.iter().enumerate() {
            let init = json!({"type": "init", "msg_id": 1, "node_id": id, "node_ids": ids});
            cluster.client_line(i, "c0", init);
        }
        cluster.to_clients.clear();
        cluster
    }

    /// Loses every node-to-node message for which `rule` is true.
    pub fn set_drop(&mut self, rule: impl FnMut(&Sent) -> bool + 'static) {
        self.drop = Box::new(rule);
    }

    pub fn handler(&self, i: usize) -> &CounterNode {
        self.nodes[i].handler_ref()
    }

    pub fn values(&self) -> Vec<i128> {
        self.nodes.iter().map(|n| n.handler_ref().value()).collect()
    }

    /// A client request to node `i`, handled now (clients have no latency).
    /// Returns the node's reply body.
    pub fn request(&mut self, i: usize, mut body: Value) -> Value {
        let msg_id = self.next_client_msg;
        self.next_client_msg += 1;
        body["msg_id"] = json!(msg_id);
        self.client_line(i, "c1", body);
        self.to_clients
            .iter()
            .rev()
            .find(|m| m.body["in_reply_to"] == msg_id)
            .map(|m| m.body.clone())
            .expect("the node replied")
    }

    /// A line from `src` to node `i`, handled now.
    pub fn client_line(&mut self, i: usize, src: &str, body: Value) {
        let line = json!({"src": src, "dest": self.ids[i], "body": body}).to_string();
        self.nodes[i].on_line(at(self.now), line.as_bytes());
        self.collect(i);
    }

    /// When the next delivery or wake-up is due.
    fn next_event(&self) -> Option<Duration> {
        let wake = self.nodes.iter().filter_map(|n| n.next_deadline()).min();
        let delivery = self.queue.peek().map(|Reverse((t, ..))| *t);
        match (wake, delivery) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs one event due at or before `until`; false if there is none.
    pub fn step(&mut self, until: Duration) -> bool {
        let Some(t) = self.next_event().filter(|t| *t <= until) else {
            return false;
        };
        self.now = self.now.max(t);
        let delivery_due = self.queue.peek().is_some_and(|Reverse((d, ..))| *d <= t);
        if delivery_due {
            let Reverse((_, _, dest, line)) = self.queue.pop().expect("peeked");
            self.nodes[dest].on_line(at(self.now), &line);
            self.collect(dest);
        } else {
            let i = (0..self.nodes.len())
                .find(|&i| self.nodes[i].next_deadline().is_some_and(|d| d <= t))
                .expect("a node is due");
            self.nodes[i].on_wake(at(self.now));
            self.collect(i);
        }
        true
    }

    /// Runs every event up to `until`, then sets the clock there.
    pub fn run_until(&mut self, until: Duration) {
        while self.step(until) {}
        self.now = self.now.max(until);
    }

    /// Runs until every node reports `value`, or `limit` passes; when.
    pub fn run_until_agreed(&mut self, value: i128, limit: Duration) -> Option<Duration> {
        loop {
            if self.values().iter().all(|v| *v == value) {
                return Some(self.now);
            }
            if !self.step(limit) {
                return None;
            }
        }
    }

    /// Node-to-node messages written in `[from, to)`.
    pub fn sent_between(&self, from: Duration, to: Duration) -> Vec<&Sent> {
        self.sent
            .iter()
            .filter(|m| m.at >= from && m.at < to)
            .collect()
    }

    fn collect(&mut self, i: usize) {
        let out = std::mem::take(self.nodes[i].output());
        for line in String::from_utf8(out).expect("UTF-8").lines() {
            let msg: Value = serde_json::from_str(line).expect("JSON line");
            let sent = Sent {
                at: self.now,
                src: msg["src"].as_str().unwrap().to_string(),
                dest: msg["dest"].as_str().unwrap().to_string(),
                body: msg["body"].clone(),
            };
            assert_eq!(sent.src, self.ids[i], "a node writes as itself");
            match self.ids.iter().position(|id| *id == sent.dest) {
                Some(dest) => {
                    if !(self.drop)(&sent) {
                        self.seq += 1;
                        let arrival = self.now + self.latency;
                        self.queue.push(Reverse((
                            arrival,
                            self.seq,
                            dest,
                            line.as_bytes().to_vec(),
                        )));
                    }
                    self.sent.push(sent);
                }
                None => {
                    assert!(
                        sent.dest.starts_with('c'),
                        "{} wrote to {}, neither a node from init nor a client",
                        sent.src,
                        sent.dest
                    );
                    self.to_clients.push(sent);
                }
            }
        }
    }
}

/// A small deterministic generator (xorshift64*) for test workloads.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The result of [`run_adds`].
#[derive(Debug, Clone)]
pub struct AddsRun {
    /// From the last add until every node read the total.
    pub convergence: Duration,
    /// Node-to-node messages from the first add until `settle` after the last.
    pub messages: usize,
    pub bytes: usize,
    /// Messages in the last second of the settle period (idle traffic).
    pub idle_messages: usize,
}

/// `adds` random adds (−5..4) at `rate` per second on average (Poisson),
/// each to a random node, then `settle` of quiet; all nodes must agree.
pub fn run_adds(
    cluster: &mut Cluster,
    adds: usize,
    rate: f64,
    settle: Duration,
    seed: u64,
) -> AddsRun {
    let mut rng = Rng::new(seed);
    let start = cluster.now;
    let mut t = start;
    let mut total: i128 = 0;
    for _ in 0..adds {
        let gap = -(1.0 - rng.unit()).ln() / rate;
        t += Duration::from_secs_f64(gap);
        cluster.run_until(t);
        let node = rng.below(cluster.nodes.len() as u64) as usize;
        let delta = rng.below(10) as i64 - 5;
        total += i128::from(delta);
        let reply = cluster.request(node, json!({"type": "add", "delta": delta}));
        assert_eq!(reply["type"], "add_ok");
    }
    let last_add = cluster.now;
    let agreed = cluster
        .run_until_agreed(total, last_add + settle)
        .expect("the cluster converges within the settle period");
    cluster.run_until(last_add + settle);
    let window = cluster.sent_between(start, last_add + settle);
    AddsRun {
        convergence: agreed - last_add,
        messages: window.len(),
        bytes: window.iter().map(|m| m.body.to_string().len()).sum(),
        idle_messages: cluster
            .sent_between(
                last_add + settle - Duration::from_secs(1),
                last_add + settle,
            )
            .len(),
    }
}
