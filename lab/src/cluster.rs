//! N nodes in one process on a virtual clock: the simulator's engine.
//!
//! Nodes are the very [`Process`]es the stdin/stdout runtime drives. The
//! cluster hands them lines and wake-ups in the order of one event queue
//! (time, then scheduling order), routes what they write through the
//! simulated network, and keeps what they send to clients for the caller.
//! Nothing here reads a real clock or an unseeded RNG.

use foldhash::HashMap;
use std::any::Any;
use std::borrow::Cow;
use std::time::Duration;

use rand::SeedableRng;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::clock::ClockSkew;
use crate::network::{
    Fate, JournalFile, JournalSummary, NetConfig, NetStats, Network, Partition, TimedQueue,
};
use maelstrom_framework::node::{Now, Process, View};
use maelstrom_framework::protocol::{self, BodyHeader, LineHead, NodeId};

/// Virtual wall clock at time zero: 2024-01-01T00:00:00Z.
pub use maelstrom_framework::node::VIRTUAL_EPOCH_MICROS as UNIX_BASE_MICROS;

/// Called after every node step: (now, node index, what the node shows of
/// its state, [`maelstrom_framework::Handler::view`]).
pub type Observer<'a> = dyn FnMut(Duration, usize, Option<View<'_>>) + 'a;

/// What the test driver needs of a cluster: the simulated [`Cluster`] and
/// the cluster of real node processes implement it, so both run the same
/// clients, nemesis, checkers and reports.
pub trait Backend {
    /// Time since the run started (virtual or real).
    fn now(&self) -> Duration;
    fn node_ids(&self) -> Vec<NodeId>;
    /// Sends a client's request to `node`, undelayed; `msg_id` is added.
    fn client_request(
        &mut self,
        client: &str,
        node: usize,
        msg_id: u64,
        body: &Value,
        observe: &mut Observer<'_>,
    );
    /// Messages nodes sent to clients since the last call.
    fn take_client_messages(&mut self) -> Vec<ClientDelivery>;
    /// Lets the cluster run until `until`.
    fn run_until(&mut self, until: Duration, observe: &mut Observer<'_>);
    fn partition(&mut self, partition: Partition);
    fn heal(&mut self);
    fn is_partitioned(&self) -> bool;
    /// Kills `node`: its process and its memory are gone, and messages to
    /// it are lost until [`Backend::restart`].
    fn kill(&mut self, node: usize);
    /// Starts killed `node` again as a fresh process of the same node,
    /// memory wiped; the driver then sends it `init` again. Messages sent
    /// to it before the restart are lost.
    fn restart(&mut self, node: usize);
    /// Stops `node` (SIGSTOP): it handles nothing, and what is sent to it
    /// waits, until [`Backend::resume`].
    fn pause(&mut self, node: usize);
    fn resume(&mut self, node: usize);
    /// Sets how far `node`'s wall clock is off from now on (the clock
    /// nemesis); its monotonic clock and timers are untouched. The clock is
    /// the machine's: it stays skewed across kills and restarts.
    fn set_clock(&mut self, node: usize, skew: ClockSkew);
    /// What the backend could not do as asked, for the report's notes
    /// (e.g. skew the clock of a node it cannot reach into).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    fn stats(&self) -> &NetStats;
    /// Protocol problems seen (unknown destinations, lines that are not
    /// messages, nodes that exited).
    fn problems(&self) -> &[String];
    /// Requests nodes sent the services that they could not serve.
    fn service_misuses(&self) -> &crate::services::Misuses;
    fn panics(&self) -> u64;
    fn events(&self) -> u64;
    /// Set when the run cannot go on (a node process died): the driver
    /// stops and reports it.
    fn fatal(&self) -> Option<&str> {
        None
    }
    /// Whether the lab sees node state through `observe` after every step
    /// (the simulator) or must sample it with probe reads (real processes).
    fn observable(&self) -> bool {
        true
    }
    /// The runner's own measurements (e.g. scheduling lag).
    fn runner_metrics(&self) -> Vec<crate::lab::Metric> {
        Vec::new()
    }
    /// Ends the run's books: messages still in flight are counted (and
    /// journaled) as such; returns what the journal wrote, if one is kept.
    fn finish(&mut self) -> Option<JournalSummary>;
    /// From now on keep the node-to-node messages handed to nodes for
    /// [`Backend::take_deliveries`] (real processes, for a lab that reads
    /// them; the simulator's labs observe the handlers instead).
    fn watch_deliveries(&mut self) {}
    /// Node-to-node messages handed to nodes since the last call.
    fn take_deliveries(&mut self) -> Vec<NodeDelivery> {
        Vec::new()
    }
}

/// A node-to-node message as it reached its destination.
#[derive(Debug, Clone)]
pub struct NodeDelivery {
    pub at: Duration,
    pub to: usize,
    pub body: Value,
}

/// A borrowed backend is a backend: a test can run the driver on a cluster
/// and then inspect or query its nodes.
impl<B: Backend + ?Sized> Backend for &mut B {
    fn now(&self) -> Duration {
        (**self).now()
    }
    fn node_ids(&self) -> Vec<NodeId> {
        (**self).node_ids()
    }
    fn client_request(
        &mut self,
        client: &str,
        node: usize,
        msg_id: u64,
        body: &Value,
        observe: &mut Observer<'_>,
    ) {
        (**self).client_request(client, node, msg_id, body, observe)
    }
    fn take_client_messages(&mut self) -> Vec<ClientDelivery> {
        (**self).take_client_messages()
    }
    fn run_until(&mut self, until: Duration, observe: &mut Observer<'_>) {
        (**self).run_until(until, observe)
    }
    fn partition(&mut self, partition: Partition) {
        (**self).partition(partition)
    }
    fn heal(&mut self) {
        (**self).heal()
    }
    fn is_partitioned(&self) -> bool {
        (**self).is_partitioned()
    }
    fn kill(&mut self, node: usize) {
        (**self).kill(node)
    }
    fn restart(&mut self, node: usize) {
        (**self).restart(node)
    }
    fn pause(&mut self, node: usize) {
        (**self).pause(node)
    }
    fn resume(&mut self, node: usize) {
        (**self).resume(node)
    }
    fn set_clock(&mut self, node: usize, skew: ClockSkew) {
        (**self).set_clock(node, skew)
    }
    fn notes(&self) -> Vec<String> {
        (**self).notes()
    }
    fn stats(&self) -> &NetStats {
        (**self).stats()
    }
    fn problems(&self) -> &[String] {
        (**self).problems()
    }
    fn service_misuses(&self) -> &crate::services::Misuses {
        (**self).service_misuses()
    }
    fn panics(&self) -> u64 {
        (**self).panics()
    }
    fn events(&self) -> u64 {
        (**self).events()
    }
    fn fatal(&self) -> Option<&str> {
        (**self).fatal()
    }
    fn observable(&self) -> bool {
        (**self).observable()
    }
    fn runner_metrics(&self) -> Vec<crate::lab::Metric> {
        (**self).runner_metrics()
    }
    fn finish(&mut self) -> Option<JournalSummary> {
        (**self).finish()
    }
    fn watch_deliveries(&mut self) {
        (**self).watch_deliveries()
    }
    fn take_deliveries(&mut self) -> Vec<NodeDelivery> {
        (**self).take_deliveries()
    }
}

impl Backend for Cluster {
    fn now(&self) -> Duration {
        Cluster::now(self)
    }
    fn node_ids(&self) -> Vec<NodeId> {
        Cluster::node_ids(self)
    }
    fn client_request(
        &mut self,
        client: &str,
        node: usize,
        msg_id: u64,
        body: &Value,
        observe: &mut Observer<'_>,
    ) {
        Cluster::client_request(self, client, node, msg_id, body, observe)
    }
    fn take_client_messages(&mut self) -> Vec<ClientDelivery> {
        Cluster::take_client_messages(self)
    }
    fn run_until(&mut self, until: Duration, observe: &mut Observer<'_>) {
        Cluster::run_until(self, until, observe)
    }
    fn partition(&mut self, partition: Partition) {
        Cluster::partition(self, partition)
    }
    fn heal(&mut self) {
        Cluster::heal(self)
    }
    fn is_partitioned(&self) -> bool {
        Cluster::is_partitioned(self)
    }
    fn kill(&mut self, node: usize) {
        Cluster::kill(self, node)
    }
    fn restart(&mut self, node: usize) {
        Cluster::restart(self, node)
    }
    fn pause(&mut self, node: usize) {
        Cluster::pause(self, node)
    }
    fn resume(&mut self, node: usize) {
        Cluster::resume(self, node)
    }
    fn set_clock(&mut self, node: usize, skew: ClockSkew) {
        Cluster::set_clock(self, node, skew)
    }
    fn stats(&self) -> &NetStats {
        Cluster::stats(self)
    }
    fn problems(&self) -> &[String] {
        Cluster::problems(self)
    }
    fn service_misuses(&self) -> &crate::services::Misuses {
        self.services.misuses()
    }
    fn panics(&self) -> u64 {
        Cluster::panics(self)
    }
    fn events(&self) -> u64 {
        Cluster::events(self)
    }
    fn finish(&mut self) -> Option<JournalSummary> {
        let in_flight = self
            .queue
            .items()
            .filter(|e| matches!(e, Event::Deliver { .. } | Event::ServiceReply { .. }))
            .count();
        self.network.end_of_run(self.now, in_flight as u64);
        self.network.finish_journal()
    }
}

/// A message a node sent to a client.
#[derive(Debug, Clone)]
pub struct ClientDelivery {
    pub at: Duration,
    pub client: String,
    pub node: usize,
    pub body: Value,
}

/// A node-to-node message as a node wrote it, kept by a cluster whose
/// message log is on ([`Cluster::record_messages`]).
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// When it was written.
    pub at: Duration,
    /// Sender and destination, as node indices.
    pub from: usize,
    pub to: usize,
    pub body: Value,
    /// Whether the network let it go (`false` when a partition or loss
    /// dropped it at once; a partition can still cut it in flight).
    pub sent: bool,
}

enum Event {
    /// A message due at `to`, sent to its incarnation `incarnation` (a
    /// message to an earlier one is lost: that process was killed).
    Deliver {
        id: u64,
        from: usize,
        to: usize,
        incarnation: u32,
        line: Box<[u8]>,
    },
    /// Service reply `id` on its way to node `to`.
    ServiceReply {
        id: u64,
        to: usize,
        incarnation: u32,
        line: Box<[u8]>,
    },
    /// A line that waited at a paused node, handed over after the resume.
    Held {
        to: usize,
        incarnation: u32,
        line: Box<[u8]>,
    },
    Wake(usize),
}

/// Whether a node runs, as the nemesis left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Up,
    /// Handles nothing; what arrives waits in `held`.
    Paused,
    /// Killed: what arrives is lost.
    Down,
}

struct SimNode {
    id: NodeId,
    process: Box<dyn Process>,
    wake_at: Option<Duration>,
    status: Status,
    /// Bumped at a kill and at the restart, so that messages sent to the
    /// killed process, or while it was down, never reach the new one.
    incarnation: u32,
    /// Lines that reached the node while it was paused, in order.
    held: Vec<Box<[u8]>>,
    /// Handler panics of its killed incarnations.
    carried_panics: u64,
    /// Its disk, which outlives its incarnations; a kill crashes it.
    disk: maelstrom_framework::storage::SimDisk,
    /// How far its wall clock is off (the clock nemesis); it outlives
    /// incarnations, as a machine's clock does.
    clock: ClockSkew,
}

/// How a simulated cluster rebuilds a killed node: the factory, and each
/// node's first seed (a restart's seed is derived from it and the
/// incarnation).
struct Rebuild {
    factory: maelstrom_framework::NodeFactory,
    seeds: Vec<u64>,
}

#[derive(Deserialize)]
struct OutHeader<'a> {
    #[serde(borrow)]
    dest: Cow<'a, str>,
    #[serde(borrow)]
    body: BodyHeader<'a>,
}

#[derive(Deserialize)]
struct RawBody<'a> {
    #[serde(borrow)]
    body: &'a RawValue,
}

#[derive(Deserialize)]
struct BodyValue {
    body: Value,
}

/// A line a node wrote, as a router needs it: destination and body `type`
/// (read where the node's [`LineHead`] says they are, or else from one
/// pass over the line); the body itself only for the messages that need it
/// (to clients and services), most go on as the line.
pub(crate) struct Output<'a> {
    pub(crate) dest: Cow<'a, str>,
    pub(crate) kind: Cow<'a, str>,
    line: &'a [u8],
}

impl<'a> Output<'a> {
    /// The body's text.
    pub(crate) fn raw_body(&self) -> &'a str {
        serde_json::from_slice::<RawBody>(self.line).map_or("null", |b| b.body.get())
    }

    /// The body, parsed.
    pub(crate) fn body(&self) -> Value {
        serde_json::from_slice::<BodyValue>(self.line).map_or(Value::Null, |b| b.body)
    }
}

/// Reads a line a node wrote. `None` when the line is not a message.
impl<'a> Output<'a> {
    /// A line whose `dest` and `type` are known without parsing it.
    fn new(dest: &'a str, kind: &'a str, line: &'a [u8]) -> Output<'a> {
        Output {
            dest: Cow::Borrowed(dest),
            kind: Cow::Borrowed(kind),
            line,
        }
    }
}

pub(crate) fn parse_output(line: &[u8]) -> Option<Output<'_>> {
    let h = serde_json::from_slice::<OutHeader>(line).ok()?;
    Some(Output {
        dest: h.dest,
        kind: h.body.kind,
        line,
    })
}

/// Why `line`, which [`parse_output`] refused, is not a message, as a
/// failure line that names the node.
pub(crate) fn not_a_message(node: &str, line: &[u8]) -> String {
    let shown = String::from_utf8_lossy(&line[..line.len().min(300)]);
    let why = match serde_json::from_slice::<Value>(line) {
        Err(_) => "it is not JSON",
        Ok(v) if !v.is_object() => "it is not a JSON object",
        Ok(v) if v.get("dest").and_then(Value::as_str).is_none() => "it has no string `dest`",
        Ok(_) => "its `body` is not an object with a string `type`",
    };
    format!(
        "{node} wrote a line that is not a Maelstrom message ({why}): {shown}\n      \
         stdout carries only protocol messages, one JSON object a line; logs belong on stderr"
    )
}

/// The failure line for a message to an id that is neither a node nor a
/// client.
pub(crate) fn unknown_destination(
    node: &str,
    kind: &str,
    dest: &str,
    node_ids: &[NodeId],
    line: &[u8],
) -> String {
    let shown = String::from_utf8_lossy(&line[..line.len().min(300)]);
    let nodes = match (node_ids.first(), node_ids.last()) {
        (Some(a), Some(b)) if node_ids.len() > 3 => format!("{a}…{b}"),
        _ => node_ids.join(", "),
    };
    format!(
        "{node} sent a `{kind}` message to {dest}, which is neither a node of this cluster \
         ({nodes}) nor a client: {shown}"
    )
}

/// A simulated cluster.
pub struct Cluster {
    now: Duration,
    nodes: Vec<SimNode>,
    index: HashMap<NodeId, usize>,
    queue: TimedQueue<Event>,
    network: Network,
    inbox: Vec<ClientDelivery>,
    problems: Vec<String>,
    spare: Vec<u8>,
    spare_heads: Vec<LineHead>,
    events: u64,
    log: Option<Vec<SentMessage>>,
    services: crate::services::Services,
    rebuild: Option<Rebuild>,
    disk_rng: rand::rngs::StdRng,
}

impl Cluster {
    /// Builds a cluster of `processes` named `node_ids`. `seed` drives the
    /// network's randomness (latency samples, loss, duplication).
    pub fn new(
        node_ids: Vec<NodeId>,
        processes: Vec<Box<dyn Process>>,
        net: NetConfig,
        seed: u64,
    ) -> Cluster {
        assert_eq!(node_ids.len(), processes.len());
        // The report says what went wrong; nodes fed bad input on purpose
        // need not say it on stderr too.
        maelstrom_framework::log::quiet_unless_asked();
        let index = node_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let network = Network::new(net, seed, node_ids.clone());
        let nodes = node_ids
            .into_iter()
            .zip(processes)
            .map(|(id, mut process)| {
                let disk = maelstrom_framework::storage::SimDisk::new();
                process.attach_disk(Box::new(disk.clone()));
                SimNode {
                    id,
                    process,
                    wake_at: None,
                    status: Status::Up,
                    incarnation: 0,
                    held: Vec::new(),
                    carried_panics: 0,
                    disk,
                    clock: ClockSkew::OnTime,
                }
            })
            .collect();
        Cluster {
            now: Duration::ZERO,
            nodes,
            index,
            queue: TimedQueue::default(),
            network,
            inbox: Vec::new(),
            problems: Vec::new(),
            spare: Vec::new(),
            spare_heads: Vec::new(),
            events: 0,
            log: None,
            services: crate::services::Services::new(seed),
            rebuild: None,
            // Apart from the network's randomness: what a crash keeps of
            // unsynced writes.
            disk_rng: rand::rngs::StdRng::seed_from_u64(seed ^ 0xd15c_d15c_d15c_d15c),
        }
    }

    /// Lets the cluster restart killed nodes: a restarted node `i` is
    /// `factory`'s node for a seed derived from `seeds[i]` and how often
    /// it was restarted.
    pub fn restart_with(&mut self, factory: maelstrom_framework::NodeFactory, seeds: Vec<u64>) {
        assert_eq!(seeds.len(), self.nodes.len());
        self.rebuild = Some(Rebuild { factory, seeds });
    }

    /// Kills `node`: its state is dropped (the process is rebuilt from the
    /// factory, not initialised, and handles nothing), its disk crashes
    /// (what was synced survives), messages in flight to it and sent to it
    /// until the restart are lost.
    pub fn kill(&mut self, node: usize) {
        let Some(rebuild) = &self.rebuild else {
            self.problems.push(
                "this simulated cluster cannot kill nodes (no factory to rebuild them)".into(),
            );
            return;
        };
        let n = &mut self.nodes[node];
        if n.status == Status::Down {
            return;
        }
        n.incarnation += 1;
        let seed = crate::config::sub_seed(rebuild.seeds[node], u64::from(n.incarnation));
        let panics = n.process.panics();
        n.process = (rebuild.factory)(seed);
        n.carried_panics += panics;
        // What was synced survives; of the rest, what the seed says.
        n.disk.crash(&mut self.disk_rng);
        n.process.attach_disk(Box::new(n.disk.clone()));
        n.status = Status::Down;
        n.wake_at = None;
        n.held.clear();
    }

    /// Starts killed `node` again: the fresh process handles what comes
    /// from now on, `init` first (the driver sends it).
    pub fn restart(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        if n.status == Status::Down {
            n.incarnation += 1;
            n.status = Status::Up;
        }
    }

    /// Pauses `node`: it handles nothing, and what reaches it waits.
    pub fn pause(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        if n.status == Status::Up {
            n.status = Status::Paused;
        }
    }

    /// Resumes paused `node`: it handles what waited, in order, from now
    /// on, then its timers (overdue ones at once).
    pub fn resume(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        if n.status != Status::Paused {
            return;
        }
        n.status = Status::Up;
        let incarnation = n.incarnation;
        for line in std::mem::take(&mut n.held) {
            self.push(
                self.now,
                Event::Held {
                    to: node,
                    incarnation,
                    line,
                },
            );
        }
        self.nodes[node].wake_at = None;
        self.schedule_wake(node);
    }

    /// Skews `node`'s wall clock from now on ([`Backend::set_clock`]): the
    /// offset, a function of virtual time, is added to the `unix_micros`
    /// the node sees at each step; its `elapsed` and timers are untouched.
    pub fn set_clock(&mut self, node: usize, skew: ClockSkew) {
        self.nodes[node].clock = skew;
    }

    pub fn now(&self) -> Duration {
        self.now
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node_id(&self, node: usize) -> &str {
        &self.nodes[node].id
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.iter().map(|n| n.id.clone()).collect()
    }

    pub fn stats(&self) -> &NetStats {
        self.network.stats()
    }

    /// Events processed so far (deliveries and wake-ups).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Protocol problems seen: messages to unknown destinations, output
    /// lines that are not messages.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Turns on the message log: from now on every node-to-node message
    /// written, dropped or not, is kept for [`Cluster::messages`]. Off by
    /// default (a long run writes millions); for tests that must know who
    /// told whom what.
    pub fn record_messages(&mut self) {
        self.log.get_or_insert_with(Vec::new);
    }

    /// The node-to-node messages written since [`Cluster::record_messages`],
    /// in the order they were written; empty if the log is off.
    pub fn messages(&self) -> &[SentMessage] {
        self.log.as_deref().unwrap_or_default()
    }

    /// Keeps the network's journal in `file` (every message's fate, for
    /// `messages.jsonl` and the report's message diagram) from now on.
    pub fn record_journal(&mut self, file: JournalFile) {
        self.network.keep_journal(file);
    }

    /// Handler panics across all nodes.
    pub fn panics(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.process.panics() + n.carried_panics)
            .sum()
    }

    /// The handler of `node`, for inspection.
    pub fn handler(&self, node: usize) -> &dyn Any {
        self.nodes[node].process.handler()
    }

    /// Cuts the network as `partition` says; messages already in flight
    /// across a cut are dropped when they arrive.
    pub fn partition(&mut self, partition: Partition) {
        self.network.partition(partition);
    }

    /// Ends any partition.
    pub fn heal(&mut self) {
        self.network.heal();
    }

    pub fn is_partitioned(&self) -> bool {
        self.network.is_partitioned()
    }

    /// The time `node` sees now: virtual time, and the virtual wall clock
    /// off by the node's skew.
    fn now_for_node(&self, node: usize) -> Now {
        let unix_micros = UNIX_BASE_MICROS + self.now.as_micros() as u64;
        let offset = self.nodes[node].clock.offset_at(self.now);
        Now {
            elapsed: self.now,
            unix_micros: crate::clock::skewed(unix_micros, offset),
        }
    }

    /// Sends a client's request to `node`, undelayed, and lets the node
    /// handle it at once. The body gets `msg_id`.
    pub fn client_request(
        &mut self,
        client: &str,
        node: usize,
        msg_id: u64,
        body: &Value,
        observe: &mut Observer<'_>,
    ) {
        let mut line = Vec::with_capacity(128);
        let written =
            protocol::write_line(&mut line, client, &self.nodes[node].id, body, msg_id, None);
        if let Err(e) = written {
            self.problems
                .push(format!("client body is not a JSON object: {body} ({e})"));
            return;
        }
        self.network.stats_mut().count_client_request(client);
        let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
        let bytes = line.len() as u64;
        let (at, dest) = (self.now, &self.nodes[node].id);
        // A killed node's requests are lost: its client times out.
        let up = self.nodes[node].status != Status::Down;
        let dropped = (!up).then_some(crate::network::DropReason::Crash);
        self.network
            .client_message(at, client, dest, kind, bytes, dropped);
        if up {
            self.hand_over(node, line.into(), observe);
        }
    }

    /// Messages nodes sent to clients since the last call.
    pub fn take_client_messages(&mut self) -> Vec<ClientDelivery> {
        std::mem::take(&mut self.inbox)
    }

    /// When the next event is due, if any.
    pub fn next_event_at(&self) -> Option<Duration> {
        self.queue.next_at()
    }

    /// Processes every event due up to `until`, then sets the clock there.
    pub fn run_until(&mut self, until: Duration, observe: &mut Observer<'_>) {
        while let Some((at, event)) = self.queue.pop_due(until) {
            self.now = at;
            self.events += 1;
            match event {
                Event::Deliver {
                    id,
                    from,
                    to,
                    incarnation,
                    line,
                } => {
                    if !self.reachable(to, incarnation) {
                        self.network.lost_to_crash(id, at);
                        continue;
                    }
                    if !self.network.arrives(id, from, to, at) {
                        continue;
                    }
                    self.hand_over(to, line, observe);
                }
                Event::ServiceReply {
                    id,
                    to,
                    incarnation,
                    line,
                } => {
                    if !self.reachable(to, incarnation) {
                        self.network.service_reply_lost_to_crash(id, at);
                        continue;
                    }
                    self.network.service_reply_delivered(id, to, at);
                    self.hand_over(to, line, observe);
                }
                Event::Held {
                    to,
                    incarnation,
                    line,
                } => {
                    if self.reachable(to, incarnation) {
                        self.hand_over(to, line, observe);
                    }
                }
                Event::Wake(node) => {
                    if self.nodes[node].wake_at == Some(at) {
                        self.nodes[node].wake_at = None;
                    }
                    if self.nodes[node].status != Status::Up {
                        // Its timers wait for the resume (or die with it).
                        continue;
                    }
                    let due = self.nodes[node]
                        .process
                        .next_deadline()
                        .is_some_and(|d| d <= self.now);
                    if due {
                        let now = self.now_for_node(node);
                        self.nodes[node].process.on_wake(now);
                        self.after_step(node, observe);
                    } else {
                        self.schedule_wake(node);
                    }
                }
            }
        }
        self.now = self.now.max(until);
    }

    fn push(&mut self, at: Duration, event: Event) {
        self.queue.push(at, event);
    }

    /// Whether a message for `node`'s incarnation `incarnation` can still
    /// reach it: not killed since it was sent, and not down.
    fn reachable(&self, node: usize, incarnation: u32) -> bool {
        let n = &self.nodes[node];
        n.incarnation == incarnation && n.status != Status::Down
    }

    /// Gives `line` to `node` now, or keeps it until the resume if the
    /// node is paused.
    fn hand_over(&mut self, node: usize, line: Box<[u8]>, observe: &mut Observer<'_>) {
        if self.nodes[node].status == Status::Paused {
            self.nodes[node].held.push(line);
            return;
        }
        let now = self.now_for_node(node);
        self.nodes[node].process.on_line(now, &line);
        self.after_step(node, observe);
    }

    fn schedule_wake(&mut self, node: usize) {
        let Some(deadline) = self.nodes[node].process.next_deadline() else {
            return;
        };
        let at = deadline.max(self.now);
        let sooner = self.nodes[node].wake_at.is_none_or(|w| at < w);
        if sooner {
            self.nodes[node].wake_at = Some(at);
            self.push(at, Event::Wake(node));
        }
    }

    /// Routes what `node` wrote, then lets the observer look at it.
    fn after_step(&mut self, node: usize, observe: &mut Observer<'_>) {
        let mut out = std::mem::take(&mut self.spare);
        let mut heads = std::mem::take(&mut self.spare_heads);
        self.nodes[node].process.swap_output(&mut out, &mut heads);
        // memchr, not a byte-by-byte split: this is every byte every node
        // writes.
        let mut start = 0;
        let mut next_head = heads.iter().peekable();
        for end in memchr::memchr_iter(b'\n', &out).chain([out.len()]) {
            let line = &out[start..end];
            // The node's word for where `dest` and `type` are, if it gave
            // one for exactly this line (heads come in line order).
            while next_head.next_if(|h| h.start < start).is_some() {}
            let head = next_head
                .next_if(|h| h.start == start && h.len == line.len())
                .and_then(|h| h.read(line));
            if !line.is_empty() {
                let out = match head {
                    Some((dest, kind)) => Some(Output::new(dest, kind, line)),
                    None => parse_output(line),
                };
                self.route(node, line, out);
            }
            start = end + 1;
        }
        out.clear();
        self.spare = out;
        heads.clear();
        self.spare_heads = heads;
        self.schedule_wake(node);
        observe(self.now, node, self.nodes[node].process.view());
    }

    /// Node `from`'s request to `service`: answered a link latency there
    /// and one back later ([`crate::services::exchange`]).
    fn serve(&mut self, from: usize, service: &str, kind: &str, body: &str, bytes: u64) {
        let node = self.nodes[from].id.clone();
        let (services, network) = (&mut self.services, &mut self.network);
        let reply = crate::services::exchange(
            services, network, self.now, from, &node, service, kind, body, bytes,
        );
        if let Some((line, due, id)) = reply {
            let line = line.into();
            let incarnation = self.nodes[from].incarnation;
            self.push(
                due,
                Event::ServiceReply {
                    id,
                    to: from,
                    incarnation,
                    line,
                },
            );
        }
    }

    fn route(&mut self, from: usize, line: &[u8], out: Option<Output<'_>>) {
        let Some(out) = out else {
            let why = not_a_message(&self.nodes[from].id, line);
            self.problems.push(why);
            return;
        };
        let (dest, kind) = (&out.dest, &out.kind);
        if protocol::is_client(dest) {
            self.network.stats_mut().count_client_reply(dest);
            let bytes = line.len() as u64 + 1;
            let src = &self.nodes[from].id;
            self.network
                .client_message(self.now, src, dest, kind, bytes, None);
            let body = out.body();
            self.inbox.push(ClientDelivery {
                at: self.now,
                client: dest.to_string(),
                node: from,
                body,
            });
            return;
        }
        if crate::services::is_service(dest) {
            return self.serve(from, dest, kind, out.raw_body(), line.len() as u64 + 1);
        }
        let Some(&to) = self.index.get(dest.as_ref()) else {
            let ids: Vec<NodeId> = self.nodes.iter().map(|n| n.id.clone()).collect();
            let why = unknown_destination(&self.nodes[from].id, kind, dest, &ids, line);
            self.problems.push(why);
            return;
        };
        let bytes = line.len() as u64 + 1;
        let (id, fate) = self.network.send(self.now, from, to, kind, bytes);
        if let Some(log) = &mut self.log {
            log.push(SentMessage {
                at: self.now,
                from,
                to,
                body: out.body(),
                sent: matches!(fate, Fate::Arrives(_)),
            });
        }
        if let Fate::Arrives(times) = fate {
            let incarnation = self.nodes[to].incarnation;
            for at in times {
                let line = line.into();
                self.push(
                    at,
                    Event::Deliver {
                        id,
                        from,
                        to,
                        incarnation,
                        line,
                    },
                );
            }
        }
    }
}
