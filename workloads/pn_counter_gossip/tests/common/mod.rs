//! What the counter's tests share on top of the framework's simulator
//! (`maelstrom_lab`, driven through `maelstrom_lab::testing::sim_*`): the
//! options, and a cluster that keeps the sum of the adds it was given and
//! notes when every node came to read it.

#![allow(dead_code)] // each test file uses a different part

use std::time::Duration;

use maelstrom_framework::GossipSettings;
use maelstrom_lab::testing::{sim_cluster, sim_handler, sim_init, sim_request};
use maelstrom_lab::{Cluster, NetConfig};
use pn_counter_gossip::{CounterNode, DEFAULT_PUSH_DELAY_MS, Options, Strategy};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

pub fn options(strategy: Strategy) -> Options {
    Options {
        gossip: GossipSettings::default(),
        strategy,
        push_delay_ms: DEFAULT_PUSH_DELAY_MS,
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A simulated cluster of initialised `counter` nodes n0, n1, … and the
/// sum of the adds made through [`Counters::add`].
pub struct Counters {
    pub cluster: Cluster,
    total: i128,
    values: Vec<i128>,
    /// Since when every node has read `total`, if they all do.
    agreed_since: Option<Duration>,
}

impl Counters {
    pub fn new(n: usize, options: &Options, net: NetConfig, seed: u64) -> Counters {
        let mut cluster = sim_cluster((0..n).map(|_| CounterNode::new(options)), net, seed);
        sim_init(&mut cluster);
        Counters {
            cluster,
            total: 0,
            values: vec![0; n],
            agreed_since: Some(Duration::ZERO),
        }
    }

    pub fn len(&self) -> usize {
        self.cluster.len()
    }

    pub fn now(&self) -> Duration {
        self.cluster.now()
    }

    pub fn node(&self, i: usize) -> &CounterNode {
        sim_handler(&self.cluster, i)
    }

    pub fn values(&self) -> Vec<i128> {
        (0..self.len()).map(|i| self.node(i).value()).collect()
    }

    pub fn total(&self) -> i128 {
        self.total
    }

    /// Node-to-node messages sent so far.
    pub fn messages(&self) -> u64 {
        self.cluster.stats().sent
    }

    /// Adds `delta` at node `i`, now; the node must say `add_ok`.
    pub fn add(&mut self, i: usize, delta: i64) {
        let replies = sim_request(&mut self.cluster, i, json!({"type": "add", "delta": delta}));
        assert_eq!(replies.len(), 1, "{replies:?}");
        assert_eq!(replies[0]["type"], "add_ok", "{replies:?}");
        self.total += i128::from(delta);
        self.values[i] = self.node(i).value();
        self.note(self.now());
    }

    /// Runs every event up to `until`, watching every node's value.
    pub fn run_until(&mut self, until: Duration) {
        let Counters {
            cluster,
            total,
            values,
            agreed_since,
        } = self;
        cluster.run_until(until, &mut |now, node, view| {
            let Some(maelstrom_framework::View::Counter(value)) = view else {
                panic!("a counter node shows its value");
            };
            values[node] = value;
            if values.iter().all(|v| v == total) {
                agreed_since.get_or_insert(now);
            } else {
                *agreed_since = None;
            }
        });
    }

    fn note(&mut self, now: Duration) {
        if self.values.iter().all(|v| *v == self.total) {
            self.agreed_since.get_or_insert(now);
        } else {
            self.agreed_since = None;
        }
    }

    /// Since when every node has read the sum of the adds; `None` if some
    /// node reads something else now.
    pub fn agreed_since(&self) -> Option<Duration> {
        self.agreed_since
    }
}

/// The result of [`run_adds`].
#[derive(Debug, Clone)]
pub struct AddsRun {
    /// From the last add until every node read the total.
    pub convergence: Duration,
    /// Node-to-node messages from the first add until `settle` after the
    /// last, and their bytes (whole lines, as the framework counts them).
    pub messages: u64,
    pub bytes: u64,
    /// Messages in the last second of the settle period (idle traffic).
    pub idle_messages: u64,
}

/// `adds` random adds (−5..4) at `rate` per second on average (Poisson),
/// each to a random node, then `settle` of quiet; all nodes must agree by
/// the last second of it.
pub fn run_adds(
    counters: &mut Counters,
    adds: usize,
    rate: f64,
    settle: Duration,
    seed: u64,
) -> AddsRun {
    assert!(settle > Duration::from_secs(1));
    let mut rng = StdRng::seed_from_u64(seed);
    let (start_msgs, start_bytes) = (counters.messages(), counters.cluster.stats().bytes);
    let mut t = counters.now();
    for _ in 0..adds {
        let gap = -(1.0 - rng.random::<f64>()).ln() / rate;
        t += Duration::from_secs_f64(gap);
        counters.run_until(t);
        let node = rng.random_range(0..counters.len());
        counters.add(node, rng.random_range(-5..5));
    }
    let last_add = counters.now();
    let end = last_add + settle;
    counters.run_until(end - Duration::from_secs(1));
    let agreed = counters
        .agreed_since()
        .expect("the cluster converges within the settle period");
    let before_idle = counters.messages();
    counters.run_until(end);
    assert!(counters.agreed_since().is_some(), "and stays converged");
    AddsRun {
        convergence: agreed.saturating_sub(last_add),
        messages: counters.messages() - start_msgs,
        bytes: counters.cluster.stats().bytes - start_bytes,
        idle_messages: counters.messages() - before_idle,
    }
}
