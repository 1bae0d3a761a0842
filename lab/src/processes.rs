//! Real node processes under a simulated network, in real time: a JVM-free
//! Maelstrom for any node that speaks the protocol on stdin/stdout.
//!
//! Each node is a child process. A thread per child reads its stdout and
//! timestamps every line into a queue bounded in lines and bytes (a runner
//! that falls behind makes the nodes wait on their stdout); the runner (the
//! caller's thread) routes lines: to clients at once, to nodes after a
//! latency sample, unless a partition or loss drops them — the same network
//! model as the simulator. A thread per child writes its stdin from a
//! bounded queue.
//!
//! The runner never waits for a node. What it cannot carry it drops, as a
//! real network does, and counts as dropped by overload: a message due at a
//! node whose input queue is full, a message sent while too many bytes are
//! in flight. So a node that floods the cluster cannot stall the run or
//! grow the runner's memory: every queue is bounded, and the run ends on
//! time whatever the nodes do. A node that reads nothing at all while its
//! queue is full, for longer than the stall limit, fails the run.
//!
//! Each child runs in its own process group, killed (with anything it
//! started) when the cluster is dropped, whatever the reason: end of run,
//! error, panic, Ctrl-C or SIGTERM through [`INTERRUPTED`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::{Backend, ClientDelivery, NodeDelivery, Observer};
use crate::lab::{Metric, quantile};
use crate::network::NetStats;
use crate::network::{
    Fate, JournalFile, JournalSummary, NetConfig, Network, Partition, SharedJournal, TimedQueue,
    journal_sink,
};
use crate::process_group;
use maelstrom_framework::protocol::{self, NodeId};

/// Set by a Ctrl-C handler: the run stops, children are killed.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Lines longer than this from a node are a protocol problem.
const MAX_NODE_LINE: usize = 16 << 20;

/// Node-to-node lines queued for one node's stdin (on top of the pipe's
/// own buffer) before further ones are dropped by overload: seconds of
/// input at thousands of messages per second; a node that keeps up never
/// fills it.
const STDIN_QUEUE_LINES: usize = 4096;

/// The same bound in bytes.
const STDIN_QUEUE_BYTES: usize = 16 << 20;

/// Extra room in a node's input queue that only client requests may use,
/// so that a node flooded by its peers still gets its operations.
const CLIENT_HEADROOM_LINES: usize = 1024;

/// Lines read from all nodes and not yet routed; past this (or
/// [`FROM_NODES_QUEUE_BYTES`]) the reader threads wait, so nodes block on
/// their stdout: back-pressure on the producers rather than unbounded
/// memory.
const FROM_NODES_QUEUE_LINES: usize = 65_536;
const FROM_NODES_QUEUE_BYTES: usize = 64 << 20;

/// Memory for node-to-node messages in flight (sent, not yet due) before
/// new ones are dropped by overload: each copy is charged its line and
/// [`IN_FLIGHT_OVERHEAD`] for its queue entry and journal record.
const IN_FLIGHT_BYTES: usize = 256 << 20;
const IN_FLIGHT_OVERHEAD: usize = 512;

/// Lines the runner routes between two looks at the clock: a flood of
/// output cannot keep it from delivering, timing out operations or ending
/// the run.
const ROUTE_BATCH: usize = 2048;

/// The last lines of a node's log quoted when it fails the run.
const LOG_TAIL_LINES: usize = 8;

/// How much of a log's end is read for its last lines.
const LOG_TAIL_BYTES: u64 = 64 << 10;

/// The most of a node's stderr kept in its log (`<node>.log`): a node that
/// floods stderr costs a bounded file, however long the run.
pub const MAX_LOG_BYTES: u64 = 16 << 20;

enum FromNode {
    Line {
        node: usize,
        line: Vec<u8>,
        at: Instant,
    },
    TooLong {
        node: usize,
        len: usize,
    },
    Closed {
        node: usize,
    },
}

/// A message on its way to a node.
struct Delivery {
    id: u64,
    from: usize,
    to: usize,
    line: Vec<u8>,
    /// A service's reply (no network message id: never partitioned).
    service: bool,
}

/// One node's input: the queue its writer thread drains, and what the
/// runner knows of it.
struct NodeInput {
    tx: SyncSender<Vec<u8>>,
    /// Lines and bytes queued and not yet written to the pipe.
    lines: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
    /// Lines written to the pipe so far (the writer's progress).
    written: Arc<AtomicU64>,
    /// Since when the queue has been full without the node reading, and
    /// the writer's progress then.
    full_since: Option<(Instant, u64)>,
}

/// A cluster of node processes.
pub struct ProcessCluster {
    start: Instant,
    node_ids: Vec<NodeId>,
    index: HashMap<NodeId, usize>,
    inputs: Vec<NodeInput>,
    /// How long a node may leave a full input queue unread.
    stall_limit: Duration,
    rx: Receiver<FromNode>,
    unrouted_bytes: Arc<AtomicUsize>,
    /// Set when the cluster is dropped: reader threads waiting on
    /// back-pressure stop waiting.
    closed: Arc<AtomicBool>,
    queue: TimedQueue<Delivery>,
    in_flight_bytes: usize,
    services: crate::services::Services,
    network: Network,
    journal: Option<SharedJournal>,
    inbox: Vec<ClientDelivery>,
    /// Node-to-node messages handed over, for a lab that reads them.
    deliveries: Option<Vec<NodeDelivery>>,
    problems: Vec<String>,
    fatal: Option<String>,
    /// Delivery time minus due time, in ms.
    lag: LagSamples,
    events: u64,
    logs: Option<PathBuf>,
    stderr_threads: Vec<Option<JoinHandle<()>>>,
    /// Last, so the nodes are killed after everything else is dropped.
    children: Children,
}

/// The node processes, each the leader of its own process group. Dropping
/// this kills every group: also on an early return from
/// [`ProcessCluster::start`] when a later node fails to start.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            process_group::kill_group(child);
            let _ = child.wait();
        }
    }
}

/// What a runner does with a line it cannot queue for a node.
enum Queued {
    Yes,
    /// The queue is full: dropped.
    Full,
    /// The node's input is closed (it exited; its reader reports that).
    Closed,
}

impl ProcessCluster {
    /// Starts one process per node id, node `i` with `commands[i]`
    /// (program, then arguments). Each node's stderr goes to
    /// `<logs>/<node>.log` and every message's fate to
    /// `<logs>/messages.jsonl` when `logs` is given. A node whose input
    /// queue stays full, unread, for `stall_limit` fails the run.
    pub fn start(
        commands: Vec<Vec<String>>,
        node_ids: Vec<NodeId>,
        net: NetConfig,
        seed: u64,
        stall_limit: Duration,
        logs: Option<&Path>,
    ) -> std::io::Result<ProcessCluster> {
        assert_eq!(commands.len(), node_ids.len(), "one command per node");
        let (tx, rx) = sync_channel(FROM_NODES_QUEUE_LINES);
        let unrouted_bytes = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicBool::new(false));
        let mut children = Children(Vec::new());
        let mut inputs = Vec::new();
        let mut stderr_threads = Vec::new();
        for (i, (id, command)) in node_ids.iter().zip(commands).enumerate() {
            let (program, args) = command
                .split_first()
                .ok_or_else(|| std::io::Error::other("empty node command"))?;
            let mut cmd = Command::new(program);
            cmd.args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            // Its own process group: Ctrl-C at the terminal reaches only
            // the runner, which reports the interruption and kills the
            // groups; nodes do not die first and look like crashes.
            process_group::own_group(&mut cmd);
            let mut child = cmd.spawn().map_err(|e| {
                std::io::Error::other(format!("cannot start node {id} as `{program}`: {e}"))
            })?;
            let out = child.stdout.take().expect("piped");
            let err = child.stderr.take().expect("piped");
            let input = child.stdin.take().expect("piped");
            children.0.push(child);
            let tx = tx.clone();
            let (unrouted, closed) = (unrouted_bytes.clone(), closed.clone());
            std::thread::spawn(move || read_stdout(i, out, tx, unrouted, closed));
            let log = match logs {
                Some(dir) => Some(File::create(dir.join(format!("{id}.log")))?),
                None => None,
            };
            stderr_threads.push(Some(std::thread::spawn(move || copy_stderr(err, log))));
            let (line_tx, line_rx) =
                sync_channel::<Vec<u8>>(STDIN_QUEUE_LINES + CLIENT_HEADROOM_LINES);
            let node_input = NodeInput {
                tx: line_tx,
                lines: Arc::new(AtomicUsize::new(0)),
                bytes: Arc::new(AtomicUsize::new(0)),
                written: Arc::new(AtomicU64::new(0)),
                full_since: None,
            };
            let (lines, bytes, written) = (
                node_input.lines.clone(),
                node_input.bytes.clone(),
                node_input.written.clone(),
            );
            std::thread::spawn(move || write_stdin(input, line_rx, lines, bytes, written));
            inputs.push(node_input);
        }
        let mut network = Network::new(net, seed, node_ids.clone());
        let journal = match logs {
            Some(dir) => {
                let file = JournalFile::create(Some(&dir.join("messages.jsonl")), Duration::ZERO)?;
                let shared: SharedJournal = Arc::new(std::sync::Mutex::new(file));
                network.record_journal(journal_sink(&shared));
                Some(shared)
            }
            None => None,
        };
        Ok(ProcessCluster {
            start: Instant::now(),
            index: node_ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect(),
            node_ids,
            inputs,
            stall_limit,
            rx,
            unrouted_bytes,
            closed,
            queue: TimedQueue::default(),
            in_flight_bytes: 0,
            services: crate::services::Services::new(seed),
            network,
            journal,
            inbox: Vec::new(),
            deliveries: None,
            problems: Vec::new(),
            fatal: None,
            lag: LagSamples::default(),
            events: 0,
            logs: logs.map(Path::to_path_buf),
            stderr_threads,
            children,
        })
    }

    /// Queues a line for a node's stdin without waiting: node-to-node
    /// lines fit while the queue is under its bounds, client lines also in
    /// the headroom above them.
    fn queue_for_node(&mut self, node: usize, line: Vec<u8>, client: bool) -> Queued {
        let input = &mut self.inputs[node];
        let (lines, bytes) = (
            input.lines.load(Ordering::Acquire),
            input.bytes.load(Ordering::Acquire),
        );
        let full = lines >= STDIN_QUEUE_LINES || bytes >= STDIN_QUEUE_BYTES;
        if full {
            self.note_full(node);
            if !client {
                return Queued::Full;
            }
        }
        let input = &mut self.inputs[node];
        let len = line.len();
        input.lines.fetch_add(1, Ordering::AcqRel);
        input.bytes.fetch_add(len, Ordering::AcqRel);
        match input.tx.try_send(line) {
            Ok(()) => Queued::Yes,
            Err(e) => {
                input.lines.fetch_sub(1, Ordering::AcqRel);
                input.bytes.fetch_sub(len, Ordering::AcqRel);
                match e {
                    TrySendError::Full(_) => Queued::Full,
                    TrySendError::Disconnected(_) => Queued::Closed,
                }
            }
        }
    }

    /// Whether node-to-node lines still fit in `node`'s input queue.
    fn has_room(&self, node: usize) -> bool {
        let input = &self.inputs[node];
        input.lines.load(Ordering::Acquire) < STDIN_QUEUE_LINES
            && input.bytes.load(Ordering::Acquire) < STDIN_QUEUE_BYTES
    }

    /// Starts the stall clock of a node whose queue is full.
    fn note_full(&mut self, node: usize) {
        let input = &mut self.inputs[node];
        if input.full_since.is_none() {
            input.full_since = Some((Instant::now(), input.written.load(Ordering::Acquire)));
        }
    }

    /// Fails the run for a node that has left a full input queue unread
    /// for the stall limit; forgets the stall of one that read again.
    fn check_stalls(&mut self) {
        for node in 0..self.inputs.len() {
            let input = &mut self.inputs[node];
            let Some((since, written_then)) = input.full_since else {
                continue;
            };
            let written = input.written.load(Ordering::Acquire);
            let lines = input.lines.load(Ordering::Acquire);
            // A node blocked writing to a runner that holds back its
            // reader (back-pressure) may stop reading for our sake: that
            // is no stall of its own.
            let held_back =
                self.unrouted_bytes.load(Ordering::Acquire) > FROM_NODES_QUEUE_BYTES / 2;
            if written != written_then || lines < STDIN_QUEUE_LINES / 2 || held_back {
                input.full_since = None;
                continue;
            }
            if since.elapsed() >= self.stall_limit {
                let why = format!(
                    "{} has not read its input for {:.1} s ({lines} lines waiting for it); \
                     a node must keep reading stdin while it works",
                    self.node_ids[node],
                    self.stall_limit.as_secs_f64()
                );
                self.inputs[node].full_since = None;
                self.fail(why);
            }
        }
    }

    fn since_start(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    fn fail(&mut self, why: String) {
        self.problems.push(why.clone());
        if self.fatal.is_none() {
            self.fatal = Some(why);
        }
    }

    /// `<node>.log`, as the user can find it, and its last lines.
    fn log_tail(&mut self, node: usize) -> String {
        let Some(dir) = &self.logs else {
            return String::new();
        };
        // The node has exited: its stderr closes, and the copy ends soon.
        if let Some(handle) = self.stderr_threads[node].take() {
            let deadline = Instant::now() + Duration::from_millis(500);
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if handle.is_finished() {
                let _ = handle.join();
            }
        }
        let path = dir.join(format!("{}.log", self.node_ids[node]));
        let text = file_tail(&path, LOG_TAIL_BYTES);
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        if tail.is_empty() {
            format!("; its log {} is empty", path.display())
        } else {
            format!(
                "; its log {} ends with:\n      {}",
                path.display(),
                tail.join("\n      ")
            )
        }
    }

    fn handle(&mut self, msg: FromNode) {
        match msg {
            FromNode::Line { node, line, at } => {
                self.unrouted_bytes.fetch_sub(line.len(), Ordering::AcqRel);
                let at = self.since_start(at);
                self.route(node, line, at);
            }
            FromNode::TooLong { node, len } => self.fail(format!(
                "{} wrote a line of more than {MAX_NODE_LINE} bytes ({len} read without a newline)",
                self.node_ids[node]
            )),
            FromNode::Closed { node } => {
                // A node that exits closes its stdout a moment before it
                // can be reaped: wait that moment (long, on a loaded
                // machine) for its exit status.
                let deadline = Instant::now() + Duration::from_secs(2);
                let status = loop {
                    // Seen without reaping: the pid stays the group's until
                    // the group is killed.
                    match process_group::exit(&mut self.children.0[node]) {
                        Ok(Some(status)) => break format!("exited ({status})"),
                        _ if Instant::now() >= deadline => {
                            break "closed its stdout".to_string();
                        }
                        _ => std::thread::sleep(Duration::from_millis(5)),
                    }
                };
                let tail = self.log_tail(node);
                self.fail(format!(
                    "{} {status} during the run{tail}",
                    self.node_ids[node]
                ));
            }
        }
    }

    fn deliver_due(&mut self) {
        let now = self.since_start(Instant::now());
        while let Some((due, d)) = self.queue.pop_due(now) {
            self.events += 1;
            self.in_flight_bytes -= d.line.len() + IN_FLIGHT_OVERHEAD;
            let at = now;
            if !self.has_room(d.to) {
                if d.service {
                    self.network.stats_mut().dropped_by_overload += 1;
                } else {
                    self.network.overloaded(d.id, d.from, d.to, at);
                }
                self.note_full(d.to);
                continue;
            }
            if d.service {
                self.network.service_reply_delivered(d.to);
            } else if !self.network.arrives(d.id, d.from, d.to, at) {
                continue;
            }
            self.lag.record((now - due).as_secs_f64() * 1000.0);
            if let Some(deliveries) = &mut self.deliveries {
                let body = crate::cluster::parse_output(&d.line)
                    .and_then(|(_, _, body)| serde_json::from_str(body.get()).ok());
                if let Some(body) = body {
                    deliveries.push(NodeDelivery { at, to: d.to, body });
                }
            }
            if let Queued::Full = self.queue_for_node(d.to, d.line, false) {
                // Cannot happen (room was checked, and only this thread
                // adds); counted should it ever.
                self.network.stats_mut().dropped_by_overload += 1;
            }
        }
    }

    /// Node `from`'s request to `service`: answered a link latency there
    /// and one back later ([`crate::services::exchange`]).
    fn serve(
        &mut self,
        from: usize,
        service: &str,
        kind: &str,
        body: &str,
        bytes: u64,
        at: Duration,
    ) {
        let node = self.node_ids[from].clone();
        let (services, network) = (&mut self.services, &mut self.network);
        let reply = crate::services::exchange(
            services, network, at, from, &node, service, kind, body, bytes,
        );
        let Some((mut line, due)) = reply else {
            return;
        };
        line.push(b'\n');
        let reply = Delivery {
            id: 0,
            from,
            to: from,
            line,
            service: true,
        };
        if !self.hold(due, reply) {
            self.network.stats_mut().dropped_by_overload += 1;
        }
    }

    /// Holds `delivery` until `due`, unless what is in flight would pass
    /// [`IN_FLIGHT_BYTES`]; returns whether it is held.
    fn hold(&mut self, due: Duration, delivery: Delivery) -> bool {
        let cost = delivery.line.len() + IN_FLIGHT_OVERHEAD;
        if self.in_flight_bytes + cost > IN_FLIGHT_BYTES {
            return false;
        }
        self.in_flight_bytes += cost;
        self.queue.push(due, delivery);
        true
    }

    fn route(&mut self, from: usize, line: Vec<u8>, at: Duration) {
        let parsed = crate::cluster::parse_output(&line)
            .map(|(dest, kind, body)| (dest.into_owned(), kind, body.get().to_string()));
        let Some((dest, kind, body)) = parsed else {
            let why = crate::cluster::not_a_message(&self.node_ids[from], &line);
            return self.fail(why);
        };
        let bytes = line.len() as u64 + 1;
        if protocol::is_client(&dest) {
            self.network.stats_mut().count_client_reply(&dest);
            let src = self.node_ids[from].clone();
            self.network
                .client_message(at, &src, &dest, &kind, bytes, None);
            self.inbox.push(ClientDelivery {
                at,
                client: dest,
                node: from,
                body: serde_json::from_str(&body).unwrap_or(Value::Null),
            });
            return;
        }
        if crate::services::is_service(&dest) {
            return self.serve(from, &dest, &kind, &body, bytes, at);
        }
        let Some(&to) = self.index.get(&dest) else {
            let why = crate::cluster::unknown_destination(
                &self.node_ids[from],
                &kind,
                &dest,
                &self.node_ids,
                &line,
            );
            return self.fail(why);
        };
        let (id, fate) = self.network.send(at, from, to, &kind, bytes);
        if let Fate::Arrives(times) = fate {
            let mut line = line;
            line.push(b'\n');
            for due in times {
                let line = line.clone();
                let copy = Delivery {
                    id,
                    from,
                    to,
                    line,
                    service: false,
                };
                if !self.hold(due, copy) {
                    self.network.overloaded(id, from, to, at);
                }
            }
        }
    }
}

impl Backend for ProcessCluster {
    fn kill(&mut self, node: usize) {
        self.fail(format!(
            "--nemesis kill is not in the real-process runner yet (n{node})"
        ));
    }
    fn restart(&mut self, _node: usize) {}
    fn pause(&mut self, node: usize) {
        self.fail(format!(
            "--nemesis pause is not in the real-process runner yet (n{node})"
        ));
    }
    fn resume(&mut self, _node: usize) {}
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn node_ids(&self) -> Vec<NodeId> {
        self.node_ids.clone()
    }

    fn client_request(
        &mut self,
        client: &str,
        node: usize,
        msg_id: u64,
        body: &Value,
        _observe: &mut Observer<'_>,
    ) {
        let mut line = Vec::with_capacity(128);
        if let Err(e) =
            protocol::write_line(&mut line, client, &self.node_ids[node], body, msg_id, None)
        {
            self.problems
                .push(format!("client body is not a JSON object: {body} ({e})"));
            return;
        }
        let at = self.now();
        let bytes = line.len() as u64;
        let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
        let queued = self.queue_for_node(node, line, true);
        let delivered = matches!(queued, Queued::Yes);
        let dropped = (!delivered).then_some(crate::network::DropReason::Overload);
        let dest = self.node_ids[node].clone();
        self.network
            .client_message(at, client, &dest, kind, bytes, dropped);
        let stats = self.network.stats_mut();
        stats.count_client_request(client);
        if !delivered {
            // The operation will time out: it may or may not have
            // happened, as far as its client knows. (A closed input means
            // the node exited, which ends the run.)
            stats.client_dropped_by_overload += 1;
        }
    }

    fn take_client_messages(&mut self) -> Vec<ClientDelivery> {
        std::mem::take(&mut self.inbox)
    }

    fn run_until(&mut self, until: Duration, _observe: &mut Observer<'_>) {
        loop {
            // Route what has already arrived before looking at the clock, so
            // a busy runner never mistakes a received reply for a timeout;
            // but only a batch, so a flood cannot keep it from the clock.
            for _ in 0..ROUTE_BATCH {
                match self.rx.try_recv() {
                    Ok(msg) => self.handle(msg),
                    Err(_) => break,
                }
            }
            self.deliver_due();
            self.check_stalls();
            if INTERRUPTED.load(Ordering::Relaxed) && self.fatal.is_none() {
                self.fatal = Some("interrupted".into());
            }
            let now = self.now();
            if now >= until || self.fatal.is_some() {
                return;
            }
            let next = self.queue.next_at().map_or(until, |due| due.min(until));
            // Wake at least every 50 ms to notice Ctrl-C and stalls.
            let wait = next.saturating_sub(now).min(Duration::from_millis(50));
            match self.rx.recv_timeout(wait) {
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail("every node's output closed".into());
                }
            }
        }
    }

    fn partition(&mut self, partition: Partition) {
        self.network.partition(partition);
    }

    fn heal(&mut self) {
        self.network.heal();
    }

    fn is_partitioned(&self) -> bool {
        self.network.is_partitioned()
    }

    fn stats(&self) -> &NetStats {
        self.network.stats()
    }

    fn problems(&self) -> &[String] {
        &self.problems
    }

    fn service_misuses(&self) -> &crate::services::Misuses {
        self.services.misuses()
    }

    fn panics(&self) -> u64 {
        0
    }

    fn events(&self) -> u64 {
        self.events
    }

    fn fatal(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    fn observable(&self) -> bool {
        false
    }

    fn runner_metrics(&self) -> Vec<Metric> {
        let mut lag = self.lag.samples.clone();
        if lag.is_empty() {
            return Vec::new();
        }
        lag.sort_by(f64::total_cmp);
        vec![
            Metric::new("scheduling lag p50", quantile(&lag, 0.5), "ms"),
            Metric::new("scheduling lag p99", quantile(&lag, 0.99), "ms"),
            Metric::new("scheduling lag max", self.lag.max, "ms"),
        ]
    }

    fn watch_deliveries(&mut self) {
        self.deliveries.get_or_insert_with(Vec::new);
    }

    fn take_deliveries(&mut self) -> Vec<NodeDelivery> {
        self.deliveries
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn finish(&mut self) -> Option<JournalSummary> {
        let now = self.now();
        self.network.end_of_run(now, self.queue.len() as u64);
        let journal = self.journal.take()?;
        let mut file = journal.lock().ok()?;
        Some(file.finish())
    }
}

/// Scheduling-lag samples, bounded: past [`LagSamples::LIMIT`] every other
/// one is dropped and from then on only every second (then fourth, …)
/// delivery is sampled, which keeps the quantiles and bounds the memory.
#[derive(Default)]
struct LagSamples {
    samples: Vec<f64>,
    stride: u64,
    seen: u64,
    max: f64,
}

impl LagSamples {
    const LIMIT: usize = 1 << 20;

    fn record(&mut self, ms: f64) {
        self.max = self.max.max(ms);
        self.seen += 1;
        if self.seen % self.stride.max(1) != 0 {
            return;
        }
        if self.samples.len() >= Self::LIMIT {
            let mut i = 0;
            self.samples.retain(|_| {
                i += 1;
                i % 2 == 0
            });
            self.stride = self.stride.max(1) * 2;
        }
        self.samples.push(ms);
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        // `children` is dropped after this: every process group is killed.
    }
}

fn read_stdout(
    node: usize,
    out: impl Read,
    tx: SyncSender<FromNode>,
    unrouted: Arc<AtomicUsize>,
    closed: Arc<AtomicBool>,
) {
    let mut reader = BufReader::with_capacity(1 << 16, out);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader
            .by_ref()
            .take(MAX_NODE_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let at = Instant::now();
                if line.last() != Some(&b'\n') && line.len() > MAX_NODE_LINE {
                    let _ = tx.send(FromNode::TooLong {
                        node,
                        len: line.len(),
                    });
                    return;
                }
                while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    line.pop();
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                // Back-pressure in bytes: the node waits on its stdout
                // while the runner has this much unrouted.
                while unrouted.load(Ordering::Acquire) > FROM_NODES_QUEUE_BYTES {
                    if closed.load(Ordering::Acquire) {
                        return; // the run is over: nobody will route this
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                unrouted.fetch_add(line.len(), Ordering::AcqRel);
                let msg = FromNode::Line {
                    node,
                    line: std::mem::take(&mut line),
                    at,
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        }
    }
    let _ = tx.send(FromNode::Closed { node });
}

/// Copies a node's stderr into its log, at most [`MAX_LOG_BYTES`]; the
/// rest is read (so the node never blocks on a full pipe) and counted, and
/// the log ends with a line saying how much was left out.
fn copy_stderr(err: impl Read, log: Option<File>) {
    let mut err = BufReader::new(err);
    let Some(mut file) = log else {
        let _ = std::io::copy(&mut err, &mut std::io::sink());
        return;
    };
    let kept = std::io::copy(&mut (&mut err).take(MAX_LOG_BYTES), &mut file).unwrap_or(0);
    if kept < MAX_LOG_BYTES {
        return; // the stream ended (or the log could not be written)
    }
    let dropped = std::io::copy(&mut err, &mut std::io::sink()).unwrap_or(0);
    if dropped > 0 {
        let _ = writeln!(
            file,
            "\n[maelstrom-node: this log stops at {} MiB; {dropped} more bytes of stderr were discarded]",
            MAX_LOG_BYTES >> 20
        );
    }
}

/// The last `max` bytes of the file at `path`, as text (a cut character
/// shown as U+FFFD): a log's tail without reading the whole log.
fn file_tail(path: &Path, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(std::io::SeekFrom::Start(len.saturating_sub(max)));
    let mut bytes = Vec::new();
    let _ = file.take(max).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn write_stdin(
    input: ChildStdin,
    lines: Receiver<Vec<u8>>,
    queued_lines: Arc<AtomicUsize>,
    queued_bytes: Arc<AtomicUsize>,
    written: Arc<AtomicU64>,
) {
    let mut input = BufWriter::new(input);
    let wrote = |line: &[u8]| {
        queued_lines.fetch_sub(1, Ordering::AcqRel);
        queued_bytes.fetch_sub(line.len(), Ordering::AcqRel);
        written.fetch_add(1, Ordering::AcqRel);
    };
    while let Ok(line) = lines.recv() {
        if input.write_all(&line).is_err() {
            return;
        }
        wrote(&line);
        // Write everything that is queued, then flush once.
        while let Ok(more) = lines.try_recv() {
            if input.write_all(&more).is_err() {
                return;
            }
            wrote(&more);
        }
        if input.flush().is_err() {
            return;
        }
    }
}
