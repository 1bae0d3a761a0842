//! One test run, as Maelstrom runs one: init every node (and the lab's
//! setup message), then — the time limit counting from here — clients
//! issue the workload's operations on a staggered schedule at a rate while
//! the nemesis cuts and heals the network, then heal, settle, final reads,
//! check, report. The same driver runs the simulator and real processes.
//!
//! Replies are judged as Maelstrom's clients judge them: a reply answers
//! the request its `in_reply_to` names, must be the request's `_ok` type
//! (or an error) and must fit the lab's closed schema, else the operation
//! is indeterminate. A reply to a request its client never sent is a
//! protocol error that fails the run. The runner's probe reads (real
//! processes) are judged the same way: a malformed reply to one is counted
//! and quoted as a client's is, and is no sample of the node's state.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::cluster::{Backend, Cluster};
use crate::lab::{ClientThread, History, Indeterminate, Lab, Op, Outcome};
use crate::nemesis::FaultSchedule;
use crate::network::PROBE_CLIENT;
use crate::report::{OpCounts, Phases, ProbeLoad, ReplyProblems, Report};
use maelstrom_framework::NodeFactory;
use maelstrom_framework::error::Error;

pub use crate::config::{
    MAX_SECONDS, Nemesis, ProbeSetting, SimConfig, Tested, node_seed, sub_seed,
};

/// How long a node may take to answer `init` or the setup message, as
/// Maelstrom allows.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The client that sends `init` and the lab's setup message.
const SETUP_CLIENT: &str = "c0";

/// Failure lines of one kind quoted in a report before "and N more".
const QUOTED: usize = 5;

struct Client {
    id: String,
    node: usize,
    next_msg_id: u64,
    in_flight: Option<InFlight>,
}

#[derive(Clone, Copy)]
struct InFlight {
    msg_id: u64,
    /// Index into the history.
    op: usize,
    deadline: Duration,
}

/// The runner's reads of node state between operations (real processes
/// only): one node at a time, in turn.
struct Probes {
    gap: Duration,
    next_at: Duration,
    next_node: usize,
    next_msg_id: u64,
    /// The lab's first probe body, asked for before the run to learn its
    /// type.
    first: Option<Value>,
}

struct Driver<'a, 'p, B: Backend> {
    progress: &'a mut ProgressFn<'p>,
    cfg: &'a SimConfig,
    cluster: B,
    lab: Box<dyn Lab>,
    clients: Vec<Client>,
    next_client: usize,
    ops: Vec<Op>,
    /// Every request a client sent: (client, msg_id) → its operation.
    op_of: HashMap<(String, u64), usize>,
    /// The next msg_id of every client that ever existed, by id.
    sent_up_to: HashMap<String, u64>,
    /// The history's one order of events (invocations and completions).
    next_index: u64,
    /// Operations that ended by timing out, with their deadlines: a reply
    /// to one is late, unless it was read before the deadline (a runner
    /// busy routing a flood may look at it only after).
    timed_out: HashMap<usize, Duration>,
    rng: StdRng,
    nemesis: FaultSchedule,
    /// `init` sent to restarted nodes and not answered yet: msg_id →
    /// (node, when sent).
    reinits: BTreeMap<u64, (usize, Duration)>,
    replies: ReplyProblems,
    /// Setup messages not answered yet: msg_id → (node, the request's type).
    /// A reply counts only if it answers one of them, from the node asked,
    /// so a node that answers twice cannot stand in for a node that never
    /// answers.
    setup_pending: BTreeMap<u64, (usize, String)>,
    setup_next_id: u64,
    probes: Option<Probes>,
    /// Whether the lab probes (real processes).
    lab_probes: bool,
    /// Probe requests in flight: msg_id → the request, for the lab.
    probe_requests: HashMap<u64, Value>,
    /// Samples of node state taken: probe replies and clients' reads.
    samples: u64,
    setup_failures: Vec<String>,
    /// Failures of the later phases that are no checker's (final reads cut
    /// short): the checker still judges what the run has.
    run_failures: Vec<String>,
    phases: Phases,
}

/// A setup reply that is not the `_ok` expected, for a failure line: an
/// error in words, anything else as it came.
fn reply_in_words(body: &Value) -> String {
    if body.get("type").and_then(Value::as_str) == Some("error") {
        match serde_json::from_value::<Error>(body.clone()) {
            Ok(e) => format!("an error: {e}"),
            Err(_) => format!("a malformed error: {body}"),
        }
    } else {
        format!("{body}")
    }
}

/// Runs one simulated test of a workload and returns its report.
pub fn run(workload: &str, factory: &NodeFactory, lab: Box<dyn Lab>, cfg: &SimConfig) -> Report {
    run_on(workload, sim_cluster(factory, cfg), lab, cfg)
}

/// The simulated cluster of a run: `cfg.nodes` nodes from `factory`, each
/// seeded with its node seed, on `cfg`'s network seeded from the run's.
pub fn sim_cluster(factory: &NodeFactory, cfg: &SimConfig) -> Cluster {
    let seeds: Vec<u64> = (0..cfg.nodes).map(|i| node_seed(cfg.seed, i)).collect();
    let processes = seeds.iter().map(|&seed| factory(seed)).collect();
    let mut cluster = Cluster::new(cfg.node_ids(), processes, cfg.net(), sub_seed(cfg.seed, 1));
    cluster.restart_with(factory.clone(), seeds);
    cluster
}

/// Runs one test on any [`Backend`]: init, clients and nemesis, heal,
/// settle, final reads, check.
pub fn run_on<B: Backend>(
    workload: &str,
    cluster: B,
    lab: Box<dyn Lab>,
    cfg: &SimConfig,
) -> Report {
    run_with_progress(workload, cluster, lab, cfg, &mut |_, _| {})
}

/// Hears of the main phase's progress: (run time now, when it ends).
pub type ProgressFn<'a> = dyn FnMut(Duration, Duration) + 'a;

/// [`run_on`], telling `progress` how far the main phase has come after
/// every step (the driver prints nothing itself).
pub fn run_with_progress<B: Backend>(
    workload: &str,
    cluster: B,
    lab: Box<dyn Lab>,
    cfg: &SimConfig,
    progress: &mut ProgressFn<'_>,
) -> Report {
    let concurrency = cfg.concurrency.unwrap_or(cfg.nodes);
    let mut driver = Driver {
        progress,
        cfg,
        cluster,
        lab,
        clients: Vec::new(),
        next_client: 1,
        ops: Vec::new(),
        op_of: HashMap::new(),
        sent_up_to: HashMap::new(),
        next_index: 0,
        timed_out: HashMap::new(),
        rng: StdRng::seed_from_u64(sub_seed(cfg.seed, 2)),
        nemesis: FaultSchedule::new(cfg),
        reinits: BTreeMap::new(),
        replies: ReplyProblems::default(),
        setup_pending: BTreeMap::new(),
        setup_next_id: 1,
        probes: None,
        lab_probes: false,
        probe_requests: HashMap::new(),
        samples: 0,
        setup_failures: Vec::new(),
        run_failures: Vec::new(),
        phases: Phases::default(),
    };
    for slot in 0..concurrency {
        let client = driver.new_client(slot % cfg.nodes);
        driver.clients.push(client);
    }
    driver.init_nodes();
    let start = driver.cluster.now();
    driver.phases.setup_done = start;
    let mut healed_at = None;
    if driver.setup_failures.is_empty() && driver.cluster.fatal().is_none() {
        if !driver.cluster.observable() {
            // Whether the lab probes at all, from its first probe (sent
            // first, to node 0).
            let first = driver.lab.probe(0);
            driver.lab_probes = first.is_some();
            driver.probes = cfg.probe_ms.gap(cfg.nodes, cfg.rate).map(|gap| Probes {
                gap,
                next_at: start,
                next_node: 0,
                next_msg_id: 1,
                first,
            });
            if driver.lab.watches_deliveries() {
                driver.cluster.watch_deliveries();
            }
        }
        driver.main_phase(start);
        driver.phases.clients_done = driver.cluster.now();
        healed_at = driver.heal_and_settle();
        driver.phases.final_reads = driver.cluster.now();
        driver.final_reads();
    }
    driver.phases.end = driver.cluster.now();
    driver.finish(workload, healed_at)
}

impl<B: Backend> Driver<'_, '_, B> {
    fn new_client(&mut self, node: usize) -> Client {
        let id = format!("c{}", self.next_client);
        self.next_client += 1;
        self.sent_up_to.insert(id.clone(), 1);
        Client {
            id,
            node,
            next_msg_id: 1,
            in_flight: None,
        }
    }

    fn next_index(&mut self) -> u64 {
        self.next_index += 1;
        self.next_index
    }

    fn step_to(&mut self, t: Duration) {
        loop {
            let probe_due = self
                .probes
                .as_ref()
                .map(|p| p.next_at)
                .filter(|due| *due <= t);
            let until = probe_due.unwrap_or(t);
            let lab = &mut self.lab;
            self.cluster
                .run_until(until, &mut |now, node, view| lab.observe(now, node, view));
            self.collect_replies();
            for d in self.cluster.take_deliveries() {
                self.lab.on_delivery(d.at, d.to, &d.body);
            }
            if probe_due.is_none() || self.cluster.fatal().is_some() {
                return;
            }
            self.send_probe();
        }
    }

    /// Sends the lab's probe read to the next node in turn; its reply goes
    /// to the lab.
    fn send_probe(&mut self) {
        let Some(mut probes) = self.probes.take() else {
            return;
        };
        let node = probes.next_node;
        let Some(body) = probes.first.take().or_else(|| self.lab.probe(node)) else {
            return; // this lab does not probe: stop asking
        };
        if self.probe_requests.len() >= 10_000 {
            // Probes a node never answered: forget them rather than grow.
            self.probe_requests.clear();
        }
        self.probe_requests.insert(probes.next_msg_id, body.clone());
        let lab = &mut self.lab;
        self.cluster.client_request(
            PROBE_CLIENT,
            node,
            probes.next_msg_id,
            &body,
            &mut |now, node, view| lab.observe(now, node, view),
        );
        probes.next_msg_id += 1;
        probes.next_node = (node + 1) % self.cfg.nodes;
        probes.next_at = (probes.next_at + probes.gap).max(self.cluster.now());
        self.probes = Some(probes);
    }

    /// Sends `init` (and the lab's setup message) to every node and waits
    /// for the answers, up to 10 s each as Maelstrom does. They are not
    /// part of the history; a failed setup ends the run, as in Maelstrom.
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
        self.send_setup(inits);
        if !self.setup_failures.is_empty() || self.cluster.fatal().is_some() {
            return;
        }
        let mut setup = Vec::new();
        for (i, id) in node_ids.iter().enumerate() {
            if let Some(body) = self.lab.setup_message(id, &node_ids) {
                setup.push((i, body));
            }
        }
        if !setup.is_empty() {
            self.send_setup(setup);
        }
    }

    fn send_setup(&mut self, messages: Vec<(usize, Value)>) {
        let count = messages.len();
        let kind = messages
            .first()
            .and_then(|(_, body)| body.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("setup")
            .to_string();
        for (node, body) in messages {
            let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
            let kind = kind.to_string();
            // The reply is read later, with the others
            // (`await_setup_replies`).
            let msg_id = self.setup_request(node, &body);
            self.setup_pending.insert(msg_id, (node, kind));
        }
        self.await_setup_replies(count, &kind);
    }

    /// Sends `body` to `node` from the setup client; returns its msg_id.
    fn setup_request(&mut self, node: usize, body: &Value) -> u64 {
        let msg_id = self.setup_next_id;
        self.setup_next_id += 1;
        let lab = &mut self.lab;
        self.cluster
            .client_request(SETUP_CLIENT, node, msg_id, body, &mut |now, node, view| {
                lab.observe(now, node, view)
            });
        msg_id
    }

    /// Waits (up to 10 s) until every setup message has its reply.
    fn await_setup_replies(&mut self, count: usize, kind: &str) {
        let deadline = self.cluster.now() + SETUP_TIMEOUT;
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
                    "setup failed: only {} of {count} nodes answered `{kind}` within {} s \
                     (silent: {}); the run stopped before any operation",
                    count - silent.len(),
                    SETUP_TIMEOUT.as_secs(),
                    silent.join(", ")
                ));
                self.setup_pending.clear();
                break;
            }
            let t = self.cluster.now() + Duration::from_millis(5);
            self.step_to(t);
        }
    }

    /// A reply to the setup client: it must answer a pending setup message, from the
    /// node that was asked, with the `_ok` type.
    fn match_setup_reply(&mut self, node: usize, body: &Value) {
        // A repeat, a late answer, or one to another node's message
        // answers nothing of this node's, and counts for nothing.
        let Some(msg_id) = body.get("in_reply_to").and_then(Value::as_u64) else {
            return;
        };
        if let Some(&(asked, sent)) = self.reinits.get(&msg_id) {
            if asked == node {
                self.reinits.remove(&msg_id);
                let got = body.get("type").and_then(Value::as_str).unwrap_or("");
                if got != "init_ok" {
                    let id = &self.cfg.node_ids()[node];
                    self.run_failures.push(format!(
                        "{id} answered `init` after its restart at {:.3} s with {}; \
                         expected `init_ok`",
                        sent.as_secs_f64(),
                        reply_in_words(body)
                    ));
                }
            }
            return;
        }
        let Some((asked, kind)) = self.setup_pending.get(&msg_id) else {
            return;
        };
        if *asked != node {
            return;
        }
        let got = body.get("type").and_then(Value::as_str).unwrap_or("");
        if got != format!("{kind}_ok") {
            let id = &self.cfg.node_ids()[node];
            let what = reply_in_words(body);
            self.setup_failures.push(format!(
                "setup failed: {id} answered `{kind}` (msg_id {msg_id}) with {what}; \
                 expected `{kind}_ok`. The run stopped before any operation."
            ));
        }
        self.setup_pending.remove(&msg_id);
    }

    fn collect_replies(&mut self) {
        for delivery in self.cluster.take_client_messages() {
            let node = delivery.node;
            if delivery.client == PROBE_CLIENT {
                self.probe_reply(delivery.at, node, &delivery.body);
                continue;
            }
            if delivery.client == SETUP_CLIENT {
                self.match_setup_reply(node, &delivery.body);
                continue;
            }
            let in_reply_to = delivery.body.get("in_reply_to");
            let Some(in_reply_to) = in_reply_to.and_then(Value::as_u64) else {
                let why = match in_reply_to {
                    None => "has no `in_reply_to`",
                    Some(_) => "has an `in_reply_to` that is not a msg_id (an integer >= 0)",
                };
                self.stray_reply(node, &delivery.client, &delivery.body, why);
                continue;
            };
            let Some(&op_index) = self.op_of.get(&(delivery.client.clone(), in_reply_to)) else {
                let why = match self.sent_up_to.get(&delivery.client) {
                    None => format!("goes to {}, a client that never existed", delivery.client),
                    Some(1) => format!(
                        "answers msg_id {in_reply_to}, but {} had sent nothing yet",
                        delivery.client
                    ),
                    Some(next) => format!(
                        "answers msg_id {in_reply_to}, which {} never sent (it sent 1..={})",
                        delivery.client,
                        next - 1
                    ),
                };
                self.stray_reply(node, &delivery.client, &delivery.body, &why);
                continue;
            };
            let slot = self.clients.iter().position(|c| {
                c.id == delivery.client && c.in_flight.is_some_and(|f| f.msg_id == in_reply_to)
            });
            match (slot, self.timed_out.get(&op_index)) {
                (Some(slot), _) => self.clients[slot].in_flight = None,
                // Read in time, looked at late: the operation completed.
                (None, Some(&deadline)) if delivery.at <= deadline => {
                    self.timed_out.remove(&op_index);
                }
                // Its operation is over: timed out (the client was closed)
                // or already answered. Maelstrom's client ignores both.
                (None, Some(_)) => {
                    self.replies.late += 1;
                    continue;
                }
                (None, None) => {
                    self.replies.duplicate += 1;
                    continue;
                }
            }
            let index = self.next_index();
            let outcome = self.judge_reply(op_index, delivery.body);
            if let Outcome::Ok { body } = &outcome {
                // A client's reply samples the node's state as well as a
                // probe's does, and costs the node nothing extra. (The
                // simulator's labs see every step instead.)
                let request = &self.ops[op_index].request;
                if !self.cluster.observable()
                    && self.lab.on_sample(delivery.at, node, request, body)
                {
                    self.samples += 1;
                }
            }
            let op = &mut self.ops[op_index];
            op.complete = delivery.at;
            op.complete_index = index;
            op.outcome = outcome;
            self.lab.completed(&self.ops[op_index]);
        }
    }

    /// A reply that answers no request of its client: a protocol error.
    fn stray_reply(&mut self, node: usize, client: &str, body: &Value, why: &str) {
        self.replies.stray += 1;
        if self.replies.stray_examples.len() < QUOTED {
            let id = &self.cfg.node_ids()[node];
            self.replies
                .stray_examples
                .push(format!("{id} sent {client} {body}, which {why}"));
        }
    }

    /// A reply to one of the runner's probes: a sample of the node's state
    /// for the lab if it is a good reply (judged as a client's is, by
    /// [`read_reply`]); an error is no sample; a malformed reply is
    /// counted and quoted as a client's is, and is no sample either.
    fn probe_reply(&mut self, at: Duration, node: usize, body: &Value) {
        // A repeat, or an answer to a probe forgotten, samples nothing.
        let Some(request) = body
            .get("in_reply_to")
            .and_then(Value::as_u64)
            .and_then(|id| self.probe_requests.remove(&id))
        else {
            return;
        };
        let kind = request.get("type").and_then(Value::as_str).unwrap_or("?");
        match read_reply(self.lab.as_ref(), kind, body) {
            Reply::Ok => {
                if self.lab.on_sample(at, node, &request, body) {
                    self.samples += 1;
                }
            }
            Reply::Error(_) => {}
            Reply::Malformed(problem) => {
                let asked =
                    format!("the runner's probe `{kind}` {request} (client {PROBE_CLIENT})");
                self.malformed_reply(node, &asked, body, &problem);
            }
        }
    }

    /// The outcome a reply gives its operation (see [`read_reply`]): ok,
    /// fail or info if it is an error, info (a malformed reply, counted)
    /// otherwise.
    fn judge_reply(&mut self, op_index: usize, body: Value) -> Outcome {
        let op = &self.ops[op_index];
        let problem = match read_reply(self.lab.as_ref(), &op.kind, &body) {
            Reply::Ok => return Outcome::Ok { body },
            Reply::Error(e) => return Outcome::from_error(&e),
            Reply::Malformed(problem) => problem,
        };
        let (node, asked) = (
            op.node,
            format!("{}'s `{}` {}", op.client, op.kind, op.request),
        );
        self.malformed_reply(node, &asked, &body, &problem);
        Outcome::Info {
            reason: Indeterminate::Malformed(problem),
        }
    }

    /// Counts a malformed reply from `node` to the request `asked` (in
    /// words), and quotes the first few.
    fn malformed_reply(&mut self, node: usize, asked: &str, body: &Value, problem: &str) {
        self.replies.malformed += 1;
        if self.replies.malformed_examples.len() < QUOTED {
            let id = &self.cfg.node_ids()[node];
            self.replies
                .malformed_examples
                .push(format!("{id} answered {asked} with {body}: {problem}"));
        }
    }

    /// Operations without a reply by their deadline become indeterminate;
    /// their client is closed and replaced, as Maelstrom does.
    fn expire_timeouts(&mut self) {
        let now = self.cluster.now();
        for slot in 0..self.clients.len() {
            let Some(flight) = self.clients[slot].in_flight else {
                continue;
            };
            if flight.deadline > now {
                continue;
            }
            let index = self.next_index();
            let op = &mut self.ops[flight.op];
            op.complete = now;
            op.complete_index = index;
            op.outcome = Outcome::Info {
                reason: Indeterminate::TimedOut {
                    after: flight.deadline.saturating_sub(op.invoke),
                },
            };
            self.timed_out.insert(flight.op, flight.deadline);
            self.lab.completed(&self.ops[flight.op]);
            let node = self.clients[slot].node;
            self.clients[slot] = self.new_client(node);
        }
    }

    fn next_deadline(&self) -> Option<Duration> {
        self.clients
            .iter()
            .filter_map(|c| c.in_flight.map(|f| f.deadline))
            .min()
    }

    fn invoke(&mut self, slot: usize, body: Value, final_read: bool, deadline: Duration) {
        let now = self.cluster.now();
        let index = self.next_index();
        let client = &mut self.clients[slot];
        let msg_id = client.next_msg_id;
        client.next_msg_id += 1;
        let op_index = self.ops.len();
        client.in_flight = Some(InFlight {
            msg_id,
            op: op_index,
            deadline,
        });
        let (client_id, node) = (client.id.clone(), client.node);
        self.sent_up_to.insert(client_id.clone(), msg_id + 1);
        self.op_of.insert((client_id.clone(), msg_id), op_index);
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
                reason: Indeterminate::Pending,
            },
            final_read,
            invoke_index: index,
            complete_index: index,
        });
        let lab = &mut self.lab;
        self.cluster
            .client_request(&client_id, node, msg_id, &body, &mut |now, node, view| {
                lab.observe(now, node, view)
            });
        self.collect_replies();
    }

    fn stagger(&mut self) -> Duration {
        // Maelstrom's (gen/stagger (/ 1 rate)): uniform in 0..2/rate.
        Duration::from_secs_f64(self.rng.random_range(0.0..2.0 / self.cfg.rate))
    }

    /// Starts or stops the faults due now; restarted nodes get `init`.
    fn flip_faults(&mut self) {
        let restarted = self.nemesis.flip_due(&mut self.cluster, &mut self.rng);
        // A node killed again before it answered its re-init (a real
        // process answers later) owes nothing: that process is gone.
        let down: Vec<usize> = self.nemesis.down().collect();
        self.reinits.retain(|_, (node, _)| !down.contains(node));
        self.reinit(&restarted);
    }

    /// Sends `init` again to restarted `nodes`, without waiting: the reply
    /// comes with the clients' ([`Driver::match_setup_reply`]).
    fn reinit(&mut self, nodes: &[usize]) {
        let node_ids = self.cluster.node_ids();
        for &node in nodes {
            self.lab.restarted(self.cluster.now(), node);
            let body = json!({"type": "init", "node_id": node_ids[node], "node_ids": node_ids});
            let msg_id = self.setup_request(node, &body);
            self.reinits.insert(msg_id, (node, self.cluster.now()));
        }
    }

    /// Clients and nemesis, from `start` (setup done) for the time limit.
    fn main_phase(&mut self, start: Duration) {
        let end = start + Duration::from_secs_f64(self.cfg.time_limit);
        let timeout = Duration::from_secs_f64(self.cfg.op_timeout);
        let mut next_op = start + self.stagger();
        self.nemesis.start(start, &mut self.rng);
        let mut issued = 0u64;
        let limit = self.cfg.ops.unwrap_or(u64::MAX);
        // The phase ends at the time limit, or once the clients have no
        // more operations (--ops, a lab's --adds) and the last one is done:
        // a fixed amount of work is measured without idle time after it.
        let mut clients_done = false;
        // Whether the next operation had to wait for a free client.
        let mut waited = false;
        loop {
            if clients_done && self.clients.iter().all(|c| c.in_flight.is_none()) {
                break;
            }
            let mut t = end.min(next_op);
            if let Some(f) = self.nemesis.next_due() {
                t = t.min(f);
            }
            if let Some(d) = self.next_deadline() {
                t = t.min(d);
            }
            self.step_to(t);
            self.expire_timeouts();
            (self.progress)(t, end);
            if t >= end || self.cluster.fatal().is_some() {
                break;
            }
            if self.nemesis.next_due().is_some_and(|f| f <= t) {
                self.flip_faults();
            }
            if next_op <= t {
                if issued < limit {
                    let free: Vec<usize> = (0..self.clients.len())
                        .filter(|&s| self.clients[s].in_flight.is_none())
                        .collect();
                    let now = self.cluster.now();
                    if free.is_empty() {
                        // Every client is busy: the operation waits, as
                        // Maelstrom's generator does, polling from now (a
                        // runner behind real time that polled from its past
                        // target would never catch up).
                        next_op = now + Duration::from_millis(1);
                        waited = true;
                        continue;
                    }
                    let slot = free[self.rng.random_range(0..free.len())];
                    let client = ClientThread {
                        thread: slot,
                        threads: self.clients.len(),
                        client: &self.clients[slot].id,
                    };
                    match self.lab.next_op_for(client, &mut self.rng) {
                        Some(body) => {
                            self.invoke(slot, body, false, now + timeout);
                            issued += 1;
                            // Jepsen's stagger: the next operation is due a
                            // random gap after this one's scheduled time, so
                            // a runner a little late keeps the rate; after a
                            // wait for a free client, after now. (In the
                            // simulator both are `t`.)
                            let base = if waited { now } else { next_op };
                            waited = false;
                            next_op = base + self.stagger();
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

    /// Ends every fault (heals, restarts, resumes), lets the cluster
    /// settle, and returns when the last fault ended (if there ever was
    /// one).
    fn heal_and_settle(&mut self) -> Option<Duration> {
        let now = self.cluster.now();
        let restarted = self.nemesis.end_all(&mut self.cluster);
        self.reinit(&restarted);
        let healed_at = self.nemesis.last_recovery();
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

    /// The lab's final reads, one round after the other, every client
    /// thread in a round ([`Self::final_read_nodes`]). No round begins
    /// later than one operation timeout into the phase, and each lasts at
    /// most one: a node that hangs or floods cannot keep the run from
    /// ending.
    fn final_reads(&mut self) {
        // No probes among the final reads.
        if let Some(p) = &mut self.probes {
            p.next_at = Duration::MAX;
        }
        let timeout = Duration::from_secs_f64(self.cfg.op_timeout);
        let phase_end = self.cluster.now() + timeout;
        let rounds = self.lab.final_reads();
        let total = rounds.len();
        for (round, body) in rounds.into_iter().enumerate() {
            if self.cluster.fatal().is_some() {
                return;
            }
            if self.cluster.now() >= phase_end {
                self.run_failures.push(format!(
                    "final reads stopped after {round} of {total} rounds: the final phase \
                     is bounded by --op-timeout ({} s)",
                    self.cfg.op_timeout
                ));
                return;
            }
            // A round started in time runs its whole timeout (with real
            // processes the clock moves between here and each read).
            let deadline = self.cluster.now() + timeout;
            // The round's reads by client slot, to follow up on.
            let mut reading: Vec<(usize, usize)> = Vec::new();
            for node in self.final_read_nodes() {
                // A free client bound to the node reads, or a new one.
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
                reading.push((slot, self.ops.len()));
                self.invoke(slot, body.clone(), true, deadline);
            }
            while let Some(next) = self.next_deadline() {
                if self.cluster.fatal().is_some() {
                    return;
                }
                // Real processes answer asynchronously: look often.
                let t = next.min(self.cluster.now() + Duration::from_millis(5));
                self.step_to(t);
                self.expire_timeouts();
                self.follow_up_final_reads(&mut reading, deadline);
            }
        }
    }

    /// Each of the round's reads that has completed well gets the lab's
    /// next read on the same client, if it wants one ([`Lab::final_read_after`]).
    fn follow_up_final_reads(&mut self, reading: &mut Vec<(usize, usize)>, deadline: Duration) {
        if self.cluster.now() >= deadline {
            return;
        }
        let mut i = 0;
        while i < reading.len() {
            let (slot, op) = reading[i];
            if self.clients[slot].in_flight.is_some() {
                i += 1;
                continue;
            }
            // Over: a read that failed or timed out (its client replaced)
            // has no follow-up.
            let op = &self.ops[op];
            let answered =
                self.clients[slot].id == op.client && matches!(op.outcome, Outcome::Ok { .. });
            match answered.then(|| self.lab.final_read_after(op)).flatten() {
                Some(body) => {
                    reading[i].1 = self.ops.len();
                    self.invoke(slot, body, true, deadline);
                    i += 1;
                }
                None => {
                    reading.swap_remove(i);
                }
            }
        }
    }

    /// The node of every final read in a round: one per client thread, as
    /// Maelstrom's `each-thread` (thread i on node i mod n, so `--concurrency
    /// 2n` reads every node twice), then one for each node no thread is
    /// bound to (fewer threads than nodes): the lab checks every node's
    /// final state, where Maelstrom would leave it unread.
    fn final_read_nodes(&self) -> Vec<usize> {
        let threads = self.cfg.concurrency.unwrap_or(self.cfg.nodes);
        let nodes = self.cfg.nodes;
        let mut order: Vec<usize> = (0..threads).map(|t| t % nodes.max(1)).collect();
        order.extend(threads..nodes);
        order
    }

    fn finish(mut self, workload: &str, healed_at: Option<Duration>) -> Report {
        for flight in self.clients.iter().filter_map(|c| c.in_flight) {
            let op = &mut self.ops[flight.op];
            if let Outcome::Info { reason } = &mut op.outcome {
                if *reason == Indeterminate::Pending {
                    *reason = Indeterminate::Stopped;
                }
            }
        }
        let history = History {
            ops: std::mem::take(&mut self.ops),
            node_ids: self.cluster.node_ids(),
            healed_at,
        };
        let setup_ok = self.setup_failures.is_empty();
        let mut verdict = if setup_ok {
            self.lab.check(&history, self.cluster.stats())
        } else {
            crate::lab::Verdict::new()
        };
        let counts = OpCounts::of(&history);
        let panics = self.cluster.panics();
        let problems = self.cluster.problems().to_vec();
        let mut failures = std::mem::take(&mut self.setup_failures);
        let fatal = self.cluster.fatal().map(str::to_string);
        if let Some(fatal) = &fatal {
            failures.push(format!("run stopped: {fatal}"));
        }
        // A node that misuses a service has a bug that the checkers only
        // see as its symptoms (timeouts, missing values): name it first.
        failures.extend(self.cluster.service_misuses().failures());
        let ids = self.cfg.node_ids();
        for (node, sent) in std::mem::take(&mut self.reinits).into_values() {
            self.run_failures.push(format!(
                "{} never answered `init` after its restart at {:.3} s",
                ids[node],
                sent.as_secs_f64()
            ));
        }
        failures.append(&mut self.run_failures);
        failures.append(&mut verdict.failures);
        // Maelstrom's stats checker, with every workload's checker.
        if setup_ok && fatal.is_none() {
            failures.extend(crate::lab::stats_failures(&history));
            failures.extend(crate::lab::availability_failure(
                &history,
                self.cfg.availability,
            ));
        }
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
        failures.extend(self.replies.failures());
        let unknown = std::mem::take(&mut verdict.unknown);
        let journal = self.cluster.finish();
        let stats = self.cluster.stats().clone();
        let per_op = |x: u64| x as f64 / counts.total.max(1) as f64;
        let probes = self.probes_load(&stats);
        let valid = failures.is_empty() && verdict.valid && panics == 0 && problems.is_empty();
        Report {
            workload: workload.to_string(),
            config: self.cfg.clone(),
            tested: self.cfg.tested.clone(),
            validity: crate::report::Validity::of(valid, &unknown),
            valid: valid && unknown.is_empty(),
            failures,
            unknown,
            msgs_per_op: per_op(stats.sent),
            bytes_per_op: per_op(stats.bytes),
            ops: counts,
            net: stats,
            faults: self.nemesis.take_events(),
            notes: self.cluster.notes(),
            checker: verdict.metrics,
            runner: self.cluster.runner_metrics(),
            probes,
            panics,
            replies: self.replies,
            events: self.cluster.events(),
            simulated_s: self.cluster.now().as_secs_f64(),
            phases: self.phases,
            journal,
            history,
            plots: std::mem::take(&mut verdict.plots),
            windows: std::mem::take(&mut verdict.windows),
        }
    }

    /// The probes' load on the nodes, next to the clients' (real processes).
    fn probes_load(&self, stats: &crate::network::NetStats) -> Option<ProbeLoad> {
        if self.cluster.observable() || !self.lab_probes {
            return None; // the simulator sees every step; this lab never probes
        }
        let per_node = self
            .cfg
            .probe_ms
            .gap(self.cfg.nodes, self.cfg.rate)
            .map(|gap| gap * self.cfg.nodes as u32);
        let active = (self
            .phases
            .final_reads
            .saturating_sub(self.phases.setup_done))
        .as_secs_f64()
        .max(1e-9);
        Some(ProbeLoad {
            setting: self.cfg.probe_ms.to_string(),
            every_node_ms: per_node.map(|d| d.as_secs_f64() * 1000.0),
            requests: stats.probe_requests,
            per_second: stats.probe_requests as f64 / active,
            share_of_client_requests: stats.probe_requests as f64
                / stats.client_requests.max(1) as f64,
            sampled_every_ms: (self.samples > 0)
                .then(|| active * 1000.0 * self.cfg.nodes as f64 / self.samples as f64),
        })
    }
}

/// A reply to a request of type `kind`, as Maelstrom's clients read it.
enum Reply {
    /// The request's `_ok` type, and it fits the lab's schema.
    Ok,
    /// A well-formed error.
    Error(Error),
    /// Anything else: what is wrong with it.
    Malformed(String),
}

/// Judges `body` as the reply to a `kind` request: it must be `{kind}_ok`
/// and fit `lab`'s closed schema ([`Lab::validate_reply`]), or be an error.
/// The one check of client operations' and probes' replies alike.
fn read_reply(lab: &dyn Lab, kind: &str, body: &Value) -> Reply {
    let got = body.get("type").and_then(Value::as_str).unwrap_or("");
    if got == "error" {
        match serde_json::from_value::<Error>(body.clone()) {
            Ok(e) => Reply::Error(e),
            Err(e) => Reply::Malformed(format!("a malformed error ({e})")),
        }
    } else if got != format!("{kind}_ok") {
        Reply::Malformed(format!("type `{got}`; expected `{kind}_ok` or `error`"))
    } else {
        match lab.validate_reply(kind, body) {
            Ok(()) => Reply::Ok,
            Err(why) => Reply::Malformed(why),
        }
    }
}
