//! Test support: a few in-process [`Node`]s whose output lines are routed
//! to each other by hand, in virtual time, with a fixed link latency.
//!
//! Only compiled for tests (and, with the `testkit` feature, for other
//! crates' tests). It is deliberately small: no reordering, no random
//! delays; a test sees and may drop every node-to-node line. The
//! framework's deterministic simulator is the tool for anything more.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::Duration;

use maelstrom_framework::{Handler, Node, NodeId, Now, Process};
use serde_json::{Value, json};

/// Decides whether a node-to-node message is delivered.
pub type Filter = Box<dyn FnMut(&Value) -> bool>;

/// Nodes, the messages between them, and the replies to clients.
pub struct Cluster<H: Handler> {
    nodes: BTreeMap<NodeId, Node<H>>,
    now: Duration,
    latency: Duration,
    /// (delivery time, sequence, message); the sequence keeps FIFO order.
    in_transit: BinaryHeap<Reverse<(Duration, u64, String)>>,
    seq: u64,
    /// Pairs of nodes that cannot reach each other, both ways.
    cut: BTreeSet<(NodeId, NodeId)>,
    filter: Option<Filter>,
    /// Every node-to-node message written, delivered or not.
    pub sent: Vec<Value>,
    /// Every message written to a client (`c…`).
    pub replies: Vec<Value>,
    next_client_msg_id: u64,
}

fn now_at(elapsed: Duration) -> Now {
    Now {
        elapsed,
        unix_micros: 1_704_067_200_000_000 + elapsed.as_micros() as u64,
    }
}

impl<H: Handler> Cluster<H> {
    /// Starts a node per id (its RNG seeded from `seed` and its position)
    /// and sends each `init`.
    pub fn new(
        ids: &[&str],
        latency: Duration,
        seed: u64,
        mut make: impl FnMut(usize) -> H,
    ) -> Self {
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            now: Duration::ZERO,
            latency,
            in_transit: BinaryHeap::new(),
            seq: 0,
            cut: BTreeSet::new(),
            filter: None,
            sent: Vec::new(),
            replies: Vec::new(),
            next_client_msg_id: 1,
        };
        for (i, id) in ids.iter().enumerate() {
            let mut node = Node::new(make(i), seed.wrapping_mul(1000).wrapping_add(i as u64));
            let init = json!({"src": "c0", "dest": id, "body":
                {"type": "init", "msg_id": 1, "node_id": id, "node_ids": ids}});
            node.on_line(now_at(Duration::ZERO), init.to_string().as_bytes());
            cluster.nodes.insert(id.to_string(), node);
            cluster.collect(id);
        }
        cluster.replies.clear();
        cluster
    }

    pub fn now(&self) -> Duration {
        self.now
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().cloned().collect()
    }

    pub fn handler(&self, id: &str) -> &H {
        self.nodes[id].handler_ref()
    }

    /// Only messages for which `filter` returns true are delivered.
    pub fn set_filter(&mut self, filter: impl FnMut(&Value) -> bool + 'static) {
        self.filter = Some(Box::new(filter));
    }

    pub fn clear_filter(&mut self) {
        self.filter = None;
    }

    /// Cuts every link between the two sides (messages in flight across it
    /// are dropped when they arrive).
    pub fn partition(&mut self, side: &[&str]) {
        let side: BTreeSet<&str> = side.iter().copied().collect();
        for a in self.nodes.keys() {
            for b in self.nodes.keys() {
                if side.contains(a.as_str()) != side.contains(b.as_str()) {
                    self.cut.insert((a.clone(), b.clone()));
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// A client request to `node`, handled now (clients have no latency).
    /// Returns the request's msg_id.
    pub fn client(&mut self, node: &str, mut body: Value) -> u64 {
        let msg_id = self.next_client_msg_id;
        self.next_client_msg_id += 1;
        body["msg_id"] = json!(msg_id);
        let line = json!({"src": "c1", "dest": node, "body": body});
        let now = now_at(self.now);
        self.nodes
            .get_mut(node)
            .expect("a node of the cluster")
            .on_line(now, line.to_string().as_bytes());
        self.collect(node);
        msg_id
    }

    /// The reply to client request `msg_id`, if one was written.
    pub fn reply_to(&self, msg_id: u64) -> Option<&Value> {
        self.replies
            .iter()
            .find(|r| r["body"]["in_reply_to"] == json!(msg_id))
    }

    /// Delivers messages and fires timers in time order up to `until`.
    pub fn run_until(&mut self, until: Duration) {
        loop {
            let next_message = self.in_transit.peek().map(|Reverse((at, _, _))| *at);
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|(id, n)| n.next_deadline().map(|d| (d, id.clone())))
                .min();
            let message_first = match (next_message, &next_timer) {
                (None, None) => break,
                (Some(m), Some((t, _))) => m <= *t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            let at = if message_first {
                next_message.unwrap()
            } else {
                next_timer.as_ref().unwrap().0
            };
            if at > until {
                break;
            }
            self.now = self.now.max(at);
            if message_first {
                let Reverse((_, _, line)) = self.in_transit.pop().unwrap();
                self.deliver(&line);
            } else {
                let id = next_timer.unwrap().1;
                self.nodes.get_mut(&id).unwrap().on_wake(now_at(self.now));
                self.collect(&id);
            }
        }
        self.now = self.now.max(until);
    }

    fn deliver(&mut self, line: &str) {
        let msg: Value = serde_json::from_str(line).unwrap();
        let (src, dest) = (msg["src"].as_str().unwrap(), msg["dest"].as_str().unwrap());
        if self.cut.contains(&(src.to_string(), dest.to_string())) {
            return;
        }
        if let Some(filter) = &mut self.filter {
            if !filter(&msg) {
                return;
            }
        }
        let dest = dest.to_string();
        let now = now_at(self.now);
        self.nodes
            .get_mut(&dest)
            .unwrap()
            .on_line(now, line.as_bytes());
        self.collect(&dest);
    }

    /// Takes `id`'s output: replies to clients are kept, messages to nodes
    /// go in transit.
    fn collect(&mut self, id: &str) {
        let out = std::mem::take(self.nodes.get_mut(id).unwrap().output());
        for line in String::from_utf8(out).unwrap().lines() {
            let msg: Value = serde_json::from_str(line).unwrap();
            let dest = msg["dest"].as_str().unwrap().to_string();
            if self.nodes.contains_key(&dest) {
                self.seq += 1;
                let at = self.now + self.latency;
                self.in_transit
                    .push(Reverse((at, self.seq, line.to_string())));
                self.sent.push(msg);
            } else {
                self.replies.push(msg);
            }
        }
    }
}

/// A client load in the Fly.io 3d/3e style: `rate` operations per second
/// in total, to random nodes, alternately `broadcast` (a fresh integer)
/// and `read`.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub rate: u64,
    pub duration: Duration,
    /// Quiet time after the last operation, for delivery to complete.
    pub settle: Duration,
    pub seed: u64,
}

/// What a run of a [`Load`] measured, with true delivery times (not
/// Maelstrom's read-sampled ones).
#[derive(Debug, Clone)]
pub struct Measured {
    pub ops: u64,
    /// Node-to-node messages over the whole run / client operations.
    pub msgs_per_op: f64,
    /// Per broadcast value, ms from its broadcast until the last node
    /// held it; sorted. Values some node never got are not included.
    pub latencies_ms: Vec<u64>,
    /// (value, node) pairs never delivered.
    pub missing: usize,
}

impl Measured {
    pub fn quantile(&self, q: f64) -> u64 {
        if self.latencies_ms.is_empty() {
            return 0;
        }
        let i = ((self.latencies_ms.len() - 1) as f64 * q).round() as usize;
        self.latencies_ms[i]
    }
}

impl<H: Handler> Cluster<H> {
    /// Runs `load`, watching `values` of every node every millisecond.
    pub fn run_load(&mut self, load: Load, values: impl Fn(&H) -> &[Value]) -> Measured {
        let ids = self.ids();
        let mut rng = load.seed | 1;
        let mut next_random = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let start = self.now;
        let sent_before = self.sent.len();
        let op_every = Duration::from_micros(1_000_000 / load.rate.max(1));
        let mut next_op = start;
        let mut ops = 0u64;
        let mut born: BTreeMap<String, Duration> = BTreeMap::new();
        let mut arrived: BTreeMap<String, BTreeMap<NodeId, Duration>> = BTreeMap::new();
        let mut seen: BTreeMap<NodeId, usize> = ids.iter().map(|id| (id.clone(), 0)).collect();
        let end = start + load.duration;
        let mut t = start;
        while t < end + load.settle {
            t += Duration::from_millis(1);
            while next_op <= t && next_op < end {
                self.run_until(next_op);
                let node = &ids[(next_random() % ids.len() as u64) as usize];
                if ops % 2 == 0 {
                    let value = ops / 2;
                    born.insert(value.to_string(), self.now);
                    self.client(node, json!({"type": "broadcast", "message": value}));
                } else {
                    self.client(node, json!({"type": "read"}));
                }
                ops += 1;
                next_op += op_every;
            }
            self.run_until(t);
            for id in &ids {
                let held = values(self.handler(id));
                let count = seen.get_mut(id).unwrap();
                for v in &held[*count..] {
                    arrived
                        .entry(v.to_string())
                        .or_default()
                        .insert(id.clone(), self.now);
                }
                *count = held.len();
            }
            self.replies.clear();
        }
        let mut latencies_ms = Vec::new();
        let mut missing = 0;
        for (value, at) in &born {
            let got = arrived.get(value).map_or(0, BTreeMap::len);
            if got < ids.len() {
                missing += ids.len() - got;
            } else {
                let last = arrived[value].values().max().unwrap();
                latencies_ms.push(last.saturating_sub(*at).as_millis() as u64);
            }
        }
        latencies_ms.sort_unstable();
        let messages = self.sent.len() - sent_before;
        Measured {
            ops,
            msgs_per_op: messages as f64 / ops.max(1) as f64,
            latencies_ms,
            missing,
        }
    }
}
