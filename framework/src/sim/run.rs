//! One simulated test run, as Maelstrom runs one: init every node, clients
//! issue the workload's operations at a rate while the nemesis cuts and
//! heals the network, then heal, settle, final reads, check, report.

use std::collections::BTreeMap;
use std::time::Duration;

/// The longest time any setting in seconds may be (a day).
pub const MAX_SECONDS: f64 = 86_400.0;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::Error;
use crate::registry::NodeFactory;
use crate::sim::cluster::{Backend, Cluster};
use crate::sim::lab::{History, Lab, Op, Outcome};
use crate::sim::network::{LatencyDist, NetConfig, Partition, PartitionPattern};
use crate::sim::report::{FaultAction, FaultEvent, OpCounts, Report};

/// Faults the nemesis can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Nemesis {
    /// Maelstrom's partitions: start or stop one every ~interval.
    Partition,
}

/// The settings of a run: the `sim` command's flags.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct SimConfig {
    /// Number of nodes (named n0, n1, … as Maelstrom's --node-count).
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Mean node-to-node latency, in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    pub latency: f64,
    #[arg(long, value_enum, default_value_t = LatencyDist::Constant)]
    pub latency_dist: LatencyDist,
    /// Probability that a node-to-node message is lost.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Probability that a node-to-node message is delivered twice.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate: f64,
    /// Client operations per second, all clients together.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// Seconds during which clients issue operations.
    #[arg(long, default_value_t = 10.0)]
    pub time_limit: f64,
    /// Stop issuing operations after this many (the time limit still holds).
    #[arg(long)]
    pub ops: Option<u64>,
    /// Clients, each with one operation in flight (default: one per node).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Seconds before an operation without a reply counts as indeterminate.
    #[arg(long, default_value_t = 5.0)]
    pub op_timeout: f64,
    #[arg(long, value_enum)]
    pub nemesis: Option<Nemesis>,
    /// Mean seconds between the nemesis starting and stopping a fault.
    #[arg(long, default_value_t = 10.0)]
    pub nemesis_interval: f64,
    /// Only this partition pattern (default: a random one each time).
    #[arg(long, value_enum)]
    pub partition_pattern: Option<PartitionPattern>,
    /// Seconds between the final heal and the final reads.
    #[arg(long, default_value_t = 10.0)]
    pub settle: f64,
    /// With real processes: milliseconds between probe reads of every
    /// node's state (used for convergence and delivery times).
    #[arg(long, default_value_t = 10)]
    pub probe_ms: u64,
    /// The seed that decides everything random in the run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 5,
            latency: 0.0,
            latency_dist: LatencyDist::Constant,
            loss: 0.0,
            duplicate: 0.0,
            rate: 5.0,
            time_limit: 10.0,
            ops: None,
            concurrency: None,
            op_timeout: 5.0,
            nemesis: None,
            nemesis_interval: 10.0,
            partition_pattern: None,
            settle: 10.0,
            probe_ms: 10,
            seed: 1,
        }
    }
}

impl SimConfig {
    /// Checks the settings a user can get wrong.
    pub fn validate(&self) -> Result<(), String> {
        let prob = |p: f64| (0.0..=1.0).contains(&p);
        if self.nodes == 0 {
            return Err("--nodes must be at least 1".into());
        }
        if !(self.latency >= 0.0 && self.latency.is_finite()) {
            return Err("--latency must be >= 0".into());
        }
        if !prob(self.loss) || !prob(self.duplicate) {
            return Err("--loss and --duplicate are probabilities in 0..1".into());
        }
        if self.loss >= 1.0 {
            return Err("--loss 1 would drop every message".into());
        }
        // Upper bounds keep every duration far from overflow: a day of run
        // time, a million operations per second.
        const DAY: f64 = MAX_SECONDS;
        for (name, v, max) in [
            ("--rate", self.rate, 1e6),
            ("--time-limit", self.time_limit, DAY),
            ("--op-timeout", self.op_timeout, DAY),
            ("--nemesis-interval", self.nemesis_interval, DAY),
        ] {
            if !(v > 0.0 && v <= max) {
                return Err(format!("{name} must be > 0 and at most {max}"));
            }
        }
        if self.rate < 1e-3 {
            return Err("--rate must be at least 0.001 ops/s".into());
        }
        if !(0.0..=DAY).contains(&self.settle) {
            return Err(format!("--settle must be in 0..={DAY}"));
        }
        if self.latency > DAY * 1000.0 {
            return Err("--latency is in milliseconds, at most a day".into());
        }
        if self.probe_ms == 0 {
            return Err("--probe-ms must be at least 1".into());
        }
        if self.concurrency == Some(0) {
            return Err("--concurrency must be at least 1".into());
        }
        Ok(())
    }

    pub fn net(&self) -> NetConfig {
        NetConfig {
            latency: Duration::from_secs_f64(self.latency / 1000.0),
            latency_dist: self.latency_dist,
            loss: self.loss,
            duplicate: self.duplicate,
        }
    }

    pub fn node_ids(&self) -> Vec<String> {
        (0..self.nodes).map(|i| format!("n{i}")).collect()
    }
}

/// Derives independent seeds for the parts of a run from the run's seed,
/// so that e.g. adding message loss does not change the clients' choices.
pub fn sub_seed(seed: u64, stream: u64) -> u64 {
    // SplitMix64's finaliser over the pair.
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(stream.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(0x94D0_49BB_1331_11EB);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of node `index`'s random number generator in a run seeded
/// with `seed`: the simulator's nodes and our own node processes get the
/// same ones.
pub fn node_seed(seed: u64, index: usize) -> u64 {
    sub_seed(seed, 1000 + index as u64)
}

/// The client id of probe reads (a client id: it starts with `c`).
const PROBE_CLIENT: &str = "cprobe";

struct Client {
    id: String,
    node: usize,
    next_msg_id: u64,
    /// msg_id, index into the history, deadline.
    in_flight: Option<(u64, usize, Duration)>,
}

struct Driver<'a, B: Backend> {
    cfg: &'a SimConfig,
    cluster: B,
    lab: Box<dyn Lab>,
    clients: Vec<Client>,
    next_client: usize,
    ops: Vec<Op>,
    /// Indices of ops still open: (client index) → op index via Client.
    rng: StdRng,
    faults: Vec<FaultEvent>,
    late_replies: u64,
    /// Setup messages not answered yet: msg_id → (node, the reply type
    /// expected). A reply counts only if it answers one of them, from the
    /// node asked, so a node that answers twice cannot stand in for a node
    /// that never answers.
    setup_pending: BTreeMap<u64, (usize, String)>,
    setup_next_id: u64,
    /// Probe reads (real processes only): when the next round is due, and
    /// the next msg_id.
    probe: Option<(Duration, u64)>,
    setup_failures: Vec<String>,
}

/// Runs one simulated test of a workload and returns its report.
pub fn run(workload: &str, factory: &NodeFactory, lab: Box<dyn Lab>, cfg: &SimConfig) -> Report {
    let node_ids = cfg.node_ids();
    let processes = (0..cfg.nodes)
        .map(|i| factory(node_seed(cfg.seed, i)))
        .collect();
    let cluster = Cluster::new(node_ids, processes, cfg.net(), sub_seed(cfg.seed, 1));
    run_on(workload, cluster, lab, cfg)
}

/// Runs one test on any [`Backend`]: init, clients and nemesis, heal,
/// settle, final reads, check.
pub fn run_on<B: Backend>(
    workload: &str,
    cluster: B,
    lab: Box<dyn Lab>,
    cfg: &SimConfig,
) -> Report {
    let concurrency = cfg.concurrency.unwrap_or(cfg.nodes);
    let mut driver = Driver {
        cfg,
        cluster,
        lab,
        clients: Vec::new(),
        next_client: 1,
        ops: Vec::new(),
        rng: StdRng::seed_from_u64(sub_seed(cfg.seed, 2)),
        faults: Vec::new(),
        late_replies: 0,
        setup_pending: BTreeMap::new(),
        setup_next_id: 1,
        probe: None,
        setup_failures: Vec::new(),
    };
    for slot in 0..concurrency {
        let client = driver.new_client(slot % cfg.nodes);
        driver.clients.push(client);
    }
    driver.init_nodes();
    if !driver.cluster.observable() {
        driver.probe = Some((driver.cluster.now(), 1));
    }
    driver.main_phase();
    let healed_at = driver.heal_and_settle();
    driver.final_reads();
    driver.finish(workload, healed_at)
}

impl<B: Backend> Driver<'_, B> {
    fn new_client(&mut self, node: usize) -> Client {
        let id = format!("c{}", self.next_client);
        self.next_client += 1;
        Client {
            id,
            node,
            next_msg_id: 1,
            in_flight: None,
        }
    }

    fn step_to(&mut self, t: Duration) {
        loop {
            let probe_due = self.probe.map(|(due, _)| due).filter(|due| *due <= t);
            let until = probe_due.unwrap_or(t);
            let lab = &mut self.lab;
            self.cluster.run_until(until, &mut |now, node, handler| {
                lab.observe(now, node, handler)
            });
            self.collect_replies();
            if probe_due.is_none() || self.cluster.fatal().is_some() {
                return;
            }
            self.send_probes();
        }
    }

    /// Sends the probe read to every node; replies go to the lab.
    fn send_probes(&mut self) {
        let Some((due, mut msg_id)) = self.probe.take() else {
            return;
        };
        let Some(body) = self.lab.probe() else {
            return; // this lab does not probe: stop asking
        };
        for node in 0..self.cfg.nodes {
            let lab = &mut self.lab;
            self.cluster.client_request(
                PROBE_CLIENT,
                node,
                msg_id,
                &body,
                &mut |now, node, handler| lab.observe(now, node, handler),
            );
            msg_id += 1;
        }
        let next = (due + Duration::from_millis(self.cfg.probe_ms)).max(self.cluster.now());
        self.probe = Some((next, msg_id));
    }

    /// Sends `init` (and the lab's setup message) to every node and waits
    /// for the answers, up to 10 s as Maelstrom does. They are not part of
    /// the history.
    fn init_nodes(&mut self) {
        let node_ids = self.cluster.node_ids();
        let inits: Vec<(usize, Value)> = node_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                (
                    i,
                    json!({"type": "init", "node_id": id, "node_ids": node_ids}),
                )
            })
            .collect();
        self.send_setup(inits, "init");
        let mut setup = Vec::new();
        for (i, id) in node_ids.iter().enumerate() {
            if let Some(body) = self.lab.setup_message(id, &node_ids) {
                setup.push((i, body));
            }
        }
        if !setup.is_empty() && self.setup_failures.is_empty() {
            self.send_setup(setup, "the setup message");
        }
    }

    fn send_setup(&mut self, messages: Vec<(usize, Value)>, what: &str) {
        let count = messages.len();
        for (node, body) in messages {
            let msg_id = self.setup_next_id;
            self.setup_next_id += 1;
            let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
            self.setup_pending
                .insert(msg_id, (node, format!("{kind}_ok")));
            let lab = &mut self.lab;
            self.cluster
                .client_request("c0", node, msg_id, &body, &mut |now, node, handler| {
                    lab.observe(now, node, handler)
                });
        }
        self.await_setup_replies(count, what);
    }

    /// Waits (up to 10 s) until every setup message has its reply.
    fn await_setup_replies(&mut self, count: usize, what: &str) {
        let deadline = self.cluster.now() + Duration::from_secs(10);
        loop {
            self.collect_replies();
            if self.setup_pending.is_empty() || self.cluster.fatal().is_some() {
                break;
            }
            if self.cluster.now() >= deadline {
                let ids = self.cfg.node_ids();
                let silent: Vec<&str> = self
                    .setup_pending
                    .values()
                    .map(|(node, _)| ids[*node].as_str())
                    .collect();
                self.setup_failures.push(format!(
                    "only {} of {count} nodes answered {what} within 10 s (not: {})",
                    count - silent.len(),
                    silent.join(", ")
                ));
                self.setup_pending.clear();
                break;
            }
            let t = self.cluster.now() + Duration::from_millis(5);
            self.step_to(t);
        }
    }

    /// A reply to `c0`: it must answer a pending setup message, from the
    /// node that was asked, with the `_ok` type.
    fn match_setup_reply(&mut self, node: usize, body: &Value) {
        // A repeat, a late answer, or one to another node's message
        // answers nothing of this node's, and counts for nothing.
        let Some(msg_id) = body.get("in_reply_to").and_then(Value::as_u64) else {
            return;
        };
        let Some((asked, want)) = self.setup_pending.get(&msg_id) else {
            return;
        };
        if *asked != node {
            return;
        }
        if body.get("type").and_then(Value::as_str) != Some(want.as_str()) {
            let id = &self.cfg.node_ids()[node];
            self.setup_failures
                .push(format!("{id} answered setup with {body}"));
        }
        self.setup_pending.remove(&msg_id);
    }

    fn collect_replies(&mut self) {
        for delivery in self.cluster.take_client_messages() {
            if delivery.client == PROBE_CLIENT {
                self.lab
                    .on_probe(delivery.at, delivery.node, &delivery.body);
                continue;
            }
            if delivery.client == "c0" {
                self.match_setup_reply(delivery.node, &delivery.body);
                continue;
            }
            let in_reply_to = delivery.body.get("in_reply_to").and_then(Value::as_u64);
            let client = self.clients.iter_mut().find(|c| c.id == delivery.client);
            let Some(client) = client else {
                self.late_replies += 1; // to a client that timed out and was closed
                continue;
            };
            let Some((msg_id, op_index, _)) = client.in_flight else {
                self.late_replies += 1;
                continue;
            };
            if in_reply_to != Some(msg_id) {
                self.late_replies += 1;
                continue;
            }
            client.in_flight = None;
            let op = &mut self.ops[op_index];
            op.complete = delivery.at;
            op.outcome = if delivery.body.get("type").and_then(Value::as_str) == Some("error") {
                match serde_json::from_value::<Error>(delivery.body.clone()) {
                    Ok(e) => Outcome::from_error(&e),
                    Err(e) => Outcome::Info {
                        reason: format!("malformed error reply: {e}"),
                    },
                }
            } else {
                Outcome::Ok {
                    body: delivery.body,
                }
            };
        }
    }

    /// Operations without a reply by their deadline become indeterminate;
    /// their client is closed and replaced, as Maelstrom does.
    fn expire_timeouts(&mut self) {
        let now = self.cluster.now();
        for slot in 0..self.clients.len() {
            let Some((_, op_index, deadline)) = self.clients[slot].in_flight else {
                continue;
            };
            if deadline > now {
                continue;
            }
            let op = &mut self.ops[op_index];
            op.complete = now;
            op.outcome = Outcome::Info {
                reason: "timeout".into(),
            };
            let node = self.clients[slot].node;
            self.clients[slot] = self.new_client(node);
        }
    }

    fn next_deadline(&self) -> Option<Duration> {
        self.clients
            .iter()
            .filter_map(|c| c.in_flight.map(|(_, _, d)| d))
            .min()
    }

    fn invoke(&mut self, slot: usize, body: Value, final_read: bool) {
        let now = self.cluster.now();
        let timeout = Duration::from_secs_f64(self.cfg.op_timeout);
        let client = &mut self.clients[slot];
        let msg_id = client.next_msg_id;
        client.next_msg_id += 1;
        let op_index = self.ops.len();
        client.in_flight = Some((msg_id, op_index, now + timeout));
        let (client_id, node) = (client.id.clone(), client.node);
        self.ops.push(Op {
            client: client_id.clone(),
            node,
            kind: body
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
            request: body.clone(),
            invoke: now,
            complete: now,
            outcome: Outcome::Info {
                reason: "no reply yet".into(),
            },
            final_read,
        });
        let lab = &mut self.lab;
        self.cluster.client_request(
            &client_id,
            node,
            msg_id,
            &body,
            &mut |now, node, handler| lab.observe(now, node, handler),
        );
        self.collect_replies();
    }

    fn stagger(&mut self) -> Duration {
        // Maelstrom's (gen/stagger (/ 1 rate)): uniform in 0..2/rate.
        Duration::from_secs_f64(self.rng.random_range(0.0..2.0 / self.cfg.rate))
    }

    fn nemesis_gap(&mut self) -> Duration {
        let mean = self.cfg.nemesis_interval;
        Duration::from_secs_f64(self.rng.random_range(0.5 * mean..1.5 * mean))
    }

    fn toggle_fault(&mut self) {
        let now = self.cluster.now();
        if self.cluster.is_partitioned() {
            self.cluster.heal();
            self.faults.push(FaultEvent::heal(now));
        } else {
            let pattern = self.cfg.partition_pattern.unwrap_or_else(|| {
                PartitionPattern::ALL[self.rng.random_range(0..PartitionPattern::ALL.len())]
            });
            let partition = Partition::random(pattern, self.cfg.nodes, &mut self.rng);
            self.faults
                .push(FaultEvent::partition(now, pattern, &partition));
            self.cluster.partition(partition);
        }
    }

    fn main_phase(&mut self) {
        let end = Duration::from_secs_f64(self.cfg.time_limit);
        let mut next_op = self.stagger();
        let mut next_fault = self
            .cfg
            .nemesis
            .map(|Nemesis::Partition| self.nemesis_gap());
        let mut issued = 0u64;
        let limit = self.cfg.ops.unwrap_or(u64::MAX);
        // The phase ends at the time limit, or once the clients have no
        // more operations (--ops, a lab's --adds) and the last one is done:
        // a fixed amount of work is measured without idle time after it.
        let mut clients_done = false;
        let label = if self.cluster.observable() {
            "sim"
        } else {
            "cluster"
        };
        let mut progress = crate::sim::report::Progress::new(label, end);
        loop {
            if clients_done && self.clients.iter().all(|c| c.in_flight.is_none()) {
                break;
            }
            let mut t = end.min(next_op);
            if let Some(f) = next_fault {
                t = t.min(f);
            }
            if let Some(d) = self.next_deadline() {
                t = t.min(d);
            }
            self.step_to(t);
            self.expire_timeouts();
            progress.at(t);
            if t >= end || self.cluster.fatal().is_some() {
                break;
            }
            if next_fault.is_some_and(|f| f <= t) {
                self.toggle_fault();
                next_fault = Some(t + self.nemesis_gap());
            }
            if next_op <= t {
                if issued < limit {
                    let free: Vec<usize> = (0..self.clients.len())
                        .filter(|&s| self.clients[s].in_flight.is_none())
                        .collect();
                    if free.is_empty() {
                        // Every client is busy: the operation waits, as
                        // Maelstrom's generator does.
                        next_op = t + Duration::from_millis(1);
                        continue;
                    }
                    let slot = free[self.rng.random_range(0..free.len())];
                    match self.lab.next_op(&mut self.rng) {
                        Some(body) => {
                            self.invoke(slot, body, false);
                            issued += 1;
                            next_op = t + self.stagger();
                        }
                        None => {
                            clients_done = true;
                            next_op = end;
                        }
                    }
                } else {
                    clients_done = true;
                    next_op = end;
                }
            }
        }
    }

    /// Heals any partition, lets the cluster settle, and returns when the
    /// last heal happened (if there ever was a fault).
    fn heal_and_settle(&mut self) -> Option<Duration> {
        let now = self.cluster.now();
        if self.cluster.is_partitioned() {
            self.cluster.heal();
            self.faults.push(FaultEvent::heal(now));
        }
        let healed_at = self
            .faults
            .iter()
            .rev()
            .find(|f| f.action == FaultAction::Heal)
            .map(|f| f.at);
        let end = now + Duration::from_secs_f64(self.cfg.settle);
        loop {
            let t = self.next_deadline().map_or(end, |d| d.min(end));
            self.step_to(t);
            self.expire_timeouts();
            if t >= end || self.cluster.fatal().is_some() {
                break;
            }
        }
        healed_at
    }

    fn final_reads(&mut self) {
        for body in self.lab.final_reads() {
            for node in 0..self.cfg.nodes {
                // The client bound to the node reads, or a new one if busy.
                let free = self
                    .clients
                    .iter()
                    .position(|c| c.node == node && c.in_flight.is_none());
                let slot = match free {
                    Some(slot) => slot,
                    None => {
                        let c = self.new_client(node);
                        self.clients.push(c);
                        self.clients.len() - 1
                    }
                };
                self.invoke(slot, body.clone(), true);
            }
            while let Some(deadline) = self.next_deadline() {
                if self.cluster.fatal().is_some() {
                    return;
                }
                // Real processes answer asynchronously: look often.
                let t = deadline.min(self.cluster.now() + Duration::from_millis(5));
                self.step_to(t);
                self.expire_timeouts();
            }
        }
    }

    fn finish(mut self, workload: &str, healed_at: Option<Duration>) -> Report {
        let history = History {
            ops: std::mem::take(&mut self.ops),
            node_ids: self.cluster.node_ids(),
            healed_at,
        };
        let verdict = self.lab.check(&history, self.cluster.stats());
        let mut counts = OpCounts::default();
        let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
        for op in &history.ops {
            counts.total += 1;
            match op.outcome {
                Outcome::Ok { .. } => counts.ok += 1,
                Outcome::Fail { .. } => counts.fail += 1,
                Outcome::Info { .. } => counts.info += 1,
            }
            *by_kind.entry(op.kind.clone()).or_default() += 1;
        }
        counts.by_kind = by_kind;
        let panics = self.cluster.panics();
        let problems = self.cluster.problems().to_vec();
        let mut failures = std::mem::take(&mut self.setup_failures);
        let fatal = self.cluster.fatal().map(str::to_string);
        if let Some(fatal) = &fatal {
            failures.push(format!("run stopped: {fatal}"));
        }
        let setup_ok = failures.is_empty();
        failures.extend(verdict.failures);
        if panics > 0 {
            failures.push(format!("{panics} handler panic(s); see stderr"));
        }
        failures.extend(
            problems
                .iter()
                .filter(|p| Some(*p) != fatal.as_ref())
                .take(20)
                .cloned(),
        );
        let stats = self.cluster.stats().clone();
        let per_op = |x: u64| x as f64 / counts.total.max(1) as f64;
        Report {
            workload: workload.to_string(),
            config: self.cfg.clone(),
            valid: setup_ok && verdict.valid && panics == 0 && problems.is_empty(),
            failures,
            msgs_per_op: per_op(stats.sent),
            bytes_per_op: per_op(stats.bytes),
            ops: counts,
            net: stats,
            faults: self.faults,
            checker: verdict.metrics,
            runner: self.cluster.runner_metrics(),
            panics,
            late_replies: self.late_replies,
            events: self.cluster.events(),
            simulated_s: self.cluster.now().as_secs_f64(),
            phases: Default::default(),
            journal: self.cluster.finish_journal(),
            history,
            plots: verdict.plots,
        }
    }
}
