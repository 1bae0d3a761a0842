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
//! queue is full, for longer than the stall limit, fails the run (unless
//! the nemesis paused it).
//!
//! The nemesis may kill a node (SIGKILL to its group; later a new process
//! of the same command starts, and the driver sends it `init`) or pause
//! one (SIGSTOP, later SIGCONT), as Maelstrom does. As in the simulator,
//! each process is an incarnation of its node: what was sent to an
//! earlier one is lost, and so is what an earlier one wrote that the
//! runner had not routed yet. A line counts as delivered once the writer
//! has written it into the node's pipe; one still in the input queue at
//! the kill is lost with the process.
//!
//! The clock nemesis skews a node's wall clock through an offset file that
//! the node's runtime, or libfaketime for a foreign node, reads
//! ([`crate::node_clocks`]).
//!
//! Each child runs in its own process group, killed (with anything it
//! started) when the cluster is dropped, whatever the reason: end of run,
//! error, panic, Ctrl-C or SIGTERM through [`INTERRUPTED`].

use std::collections::VecDeque;

use foldhash::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::clock::ClockSkew;
use crate::cluster::{Backend, ClientDelivery, NodeDelivery, Observer};
use crate::lab::{Metric, quantile};
use crate::network::NetStats;
use crate::network::{
    DropReason, Fate, JournalFile, JournalSummary, NetConfig, Network, Partition, TimedQueue,
};
use crate::node_clocks::NodeClocks;
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

/// What a reader thread saw on a node's stdout.
struct FromNode {
    node: usize,
    /// Of the process it read: a killed process's reader may still pass on
    /// lines it had read, and then its end, after the kill. The runner
    /// drops what is not from the node's current incarnation. (A tag
    /// rather than a channel per process: one channel keeps one bound on
    /// what all readers have queued.)
    incarnation: u32,
    output: Output,
}

enum Output {
    Line { line: Vec<u8>, at: Instant },
    TooLong { len: usize },
    Closed,
}

/// What a line handed to a node is, for the network's books.
#[derive(Debug, Clone, Copy)]
enum Carried {
    /// A client's request (journaled when it is handed over).
    Client,
    /// Service reply `id` (never partitioned).
    Service(u64),
    /// A copy of node-to-node message `id`.
    Message(u64),
}

/// A message on its way to a node.
struct Delivery {
    carried: Carried,
    from: usize,
    to: usize,
    /// `to`'s incarnation when it was sent: a copy for a process that was
    /// killed since is lost.
    incarnation: u32,
    line: Vec<u8>,
}

/// What the nemesis has made of a node's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Up,
    /// Stopped (SIGSTOP): what is sent to it waits in its input queue.
    Paused,
    /// Killed and reaped, not restarted yet: what is sent to it is lost.
    Down,
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
    /// What the queued lines are, oldest first, with when each was handed
    /// over: a line counts as delivered once the writer has written it to
    /// the pipe (or at the end of the run), and as lost if the process is
    /// killed before.
    unsettled: VecDeque<(Carried, Duration)>,
    /// Lines written and settled so far.
    settled: u64,
}

/// A cluster of node processes.
pub struct ProcessCluster {
    start: Instant,
    node_ids: Vec<NodeId>,
    index: HashMap<NodeId, usize>,
    /// Each node's command (program, then arguments), to start it again.
    commands: Vec<Vec<String>>,
    status: Vec<Status>,
    /// Each node's, bumped at a kill and at the restart (the simulator's
    /// rule): messages sent to the killed process, or while it was down,
    /// never reach the new one.
    incarnations: Vec<u32>,
    inputs: Vec<NodeInput>,
    /// How long a node may leave a full input queue unread.
    stall_limit: Duration,
    rx: Receiver<FromNode>,
    /// Kept for the readers of restarted nodes (so `rx` never disconnects).
    from_nodes: SyncSender<FromNode>,
    unrouted_bytes: Arc<AtomicUsize>,
    /// Set when the cluster is dropped: reader threads waiting on
    /// back-pressure stop waiting.
    closed: Arc<AtomicBool>,
    queue: TimedQueue<Delivery>,
    in_flight_bytes: usize,
    services: crate::services::Services,
    network: Network,
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
    /// The nodes' clocks, in a run with clock faults.
    clocks: Option<NodeClocks>,
    /// What the cluster could not do as asked, for the report.
    notes: Vec<String>,
    /// Killed first when the cluster is dropped (see its `Drop`).
    children: Children,
}

/// The node processes, each the leader of its own process group; `None`
/// for a killed node (reaped: its pid is no longer ours to signal).
/// Dropping this kills every group, paused ones too: also on an early
/// return from [`ProcessCluster::start`] when a later node fails to start.
struct Children(Vec<Option<Child>>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in self.0.iter_mut().flatten() {
            process_group::kill_group(child);
            let _ = child.wait();
        }
    }
}

/// A node's new process and the threads that carry its lines.
struct Started {
    child: Child,
    input: NodeInput,
    stderr: JoinHandle<()>,
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
        Self::start_with_clocks(commands, node_ids, net, seed, stall_limit, logs, None)
    }

    /// [`ProcessCluster::start`], with `clocks` (a run with clock faults)
    /// handing each node process its offset file.
    pub fn start_with_clocks(
        commands: Vec<Vec<String>>,
        node_ids: Vec<NodeId>,
        net: NetConfig,
        seed: u64,
        stall_limit: Duration,
        logs: Option<&Path>,
        clocks: Option<NodeClocks>,
    ) -> std::io::Result<ProcessCluster> {
        assert_eq!(commands.len(), node_ids.len(), "one command per node");
        let n = node_ids.len();
        let (from_nodes, rx) = sync_channel(FROM_NODES_QUEUE_LINES);
        let mut network = Network::new(net, seed, node_ids.clone());
        if let Some(dir) = logs {
            let file = JournalFile::create(Some(&dir.join("messages.jsonl")), Duration::ZERO)?;
            network.keep_journal(file);
        }
        let mut cluster = ProcessCluster {
            start: Instant::now(),
            index: node_ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect(),
            node_ids,
            commands,
            status: vec![Status::Up; n],
            incarnations: vec![0; n],
            inputs: Vec::new(),
            stall_limit,
            rx,
            from_nodes,
            unrouted_bytes: Arc::new(AtomicUsize::new(0)),
            closed: Arc::new(AtomicBool::new(false)),
            queue: TimedQueue::default(),
            in_flight_bytes: 0,
            services: crate::services::Services::new(seed),
            network,
            inbox: Vec::new(),
            deliveries: None,
            problems: Vec::new(),
            fatal: None,
            lag: LagSamples::default(),
            events: 0,
            logs: logs.map(Path::to_path_buf),
            stderr_threads: Vec::new(),
            clocks,
            notes: Vec::new(),
            children: Children(Vec::new()),
        };
        for node in 0..n {
            let log = match cluster.log_path(node) {
                Some(path) => Some(File::create(path)?),
                None => None,
            };
            // On an error the cluster is dropped: the nodes started so far
            // are killed.
            let started = cluster.spawn(node, log)?;
            cluster.children.0.push(Some(started.child));
            cluster.inputs.push(started.input);
            cluster.stderr_threads.push(Some(started.stderr));
        }
        cluster.start = Instant::now();
        Ok(cluster)
    }

    /// Starts `node`'s command as its current incarnation, in a process
    /// group of its own, with a thread that writes its stdin from a bounded
    /// queue, one that reads its stdout into the runner's queue, and one
    /// that copies its stderr into `log`.
    fn spawn(&self, node: usize, log: Option<File>) -> std::io::Result<Started> {
        let (program, args) = self.commands[node]
            .split_first()
            .ok_or_else(|| std::io::Error::other("empty node command"))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group: Ctrl-C at the terminal reaches only the
        // runner, which reports the interruption and kills the groups;
        // nodes do not die first and look like crashes.
        process_group::own_group(&mut cmd);
        if let Some(clocks) = &self.clocks {
            cmd.envs(clocks.env(node));
        }
        let mut child = cmd.spawn().map_err(|e| {
            let id = &self.node_ids[node];
            std::io::Error::other(format!("cannot start node {id} as `{program}`: {e}"))
        })?;
        process_group::lower_priority(&child);
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let stdin = child.stdin.take().expect("piped");
        let (tx, unrouted, closed) = (
            self.from_nodes.clone(),
            self.unrouted_bytes.clone(),
            self.closed.clone(),
        );
        let incarnation = self.incarnations[node];
        std::thread::spawn(move || read_stdout(node, incarnation, out, tx, unrouted, closed));
        let stderr = std::thread::spawn(move || copy_stderr(err, log));
        let (line_tx, line_rx) = sync_channel::<Vec<u8>>(STDIN_QUEUE_LINES + CLIENT_HEADROOM_LINES);
        let input = NodeInput {
            tx: line_tx,
            lines: Arc::new(AtomicUsize::new(0)),
            bytes: Arc::new(AtomicUsize::new(0)),
            written: Arc::new(AtomicU64::new(0)),
            full_since: None,
            unsettled: VecDeque::new(),
            settled: 0,
        };
        let (lines, bytes, written) = (
            input.lines.clone(),
            input.bytes.clone(),
            input.written.clone(),
        );
        std::thread::spawn(move || write_stdin(stdin, line_rx, lines, bytes, written));
        Ok(Started {
            child,
            input,
            stderr,
        })
    }

    /// `<logs>/<node>.log`, if logs are kept.
    fn log_path(&self, node: usize) -> Option<PathBuf> {
        let dir = self.logs.as_ref()?;
        Some(dir.join(format!("{}.log", self.node_ids[node])))
    }

    /// The pid of `node`'s process; `None` while it is killed.
    pub fn pid(&self, node: usize) -> Option<u32> {
        self.children.0[node].as_ref().map(Child::id)
    }

    /// Queues a line for a node's stdin without waiting, as handed over
    /// at `at`: node-to-node lines fit while the queue is under its bounds,
    /// client lines also in the headroom above them.
    fn queue_for_node(
        &mut self,
        node: usize,
        line: Vec<u8>,
        carried: Carried,
        at: Duration,
    ) -> Queued {
        // Keeps `unsettled` as short as the queue.
        let written = self.inputs[node].written.load(Ordering::Acquire);
        self.settle(node, written);
        let input = &mut self.inputs[node];
        let (lines, bytes) = (
            input.lines.load(Ordering::Acquire),
            input.bytes.load(Ordering::Acquire),
        );
        let full = lines >= STDIN_QUEUE_LINES || bytes >= STDIN_QUEUE_BYTES;
        if full {
            self.note_full(node);
            if !matches!(carried, Carried::Client) {
                return Queued::Full;
            }
        }
        let input = &mut self.inputs[node];
        let len = line.len();
        input.lines.fetch_add(1, Ordering::AcqRel);
        input.bytes.fetch_add(len, Ordering::AcqRel);
        match input.tx.try_send(line) {
            Ok(()) => {
                input.unsettled.push_back((carried, at));
                Queued::Yes
            }
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

    /// Counts as delivered the lines of `node`'s input queue among the
    /// first `written` its writer took (all of them, past the number
    /// written so far).
    fn settle(&mut self, node: usize, written: u64) {
        let input = &mut self.inputs[node];
        while input.settled < written {
            let Some((carried, at)) = input.unsettled.pop_front() else {
                break;
            };
            input.settled += 1;
            match carried {
                Carried::Message(id) => self.network.delivered(id, node, at),
                Carried::Service(id) => self.network.service_reply_delivered(id, node, at),
                // Journaled when it was handed over.
                Carried::Client => {}
            }
        }
    }

    /// A line for a process that was killed: lost with it.
    fn lost_to_crash(&mut self, carried: Carried, at: Duration) {
        match carried {
            Carried::Message(id) => self.network.lost_to_crash(id, at),
            Carried::Service(id) => self.network.service_reply_lost_to_crash(id, at),
            // Journaled as delivered when it was handed over; its operation
            // times out.
            Carried::Client => {}
        }
    }

    /// Whether a message sent to `node`'s incarnation `incarnation` can
    /// still reach it: not killed since, and not down.
    fn reachable(&self, node: usize, incarnation: u32) -> bool {
        self.incarnations[node] == incarnation && self.status[node] != Status::Down
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
            // A paused node reads nothing by the nemesis's doing, not its
            // own: its clock starts again at the resume.
            if self.status[node] != Status::Up {
                continue;
            }
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
        let Some(path) = self.log_path(node) else {
            return String::new();
        };
        self.finish_stderr(node);
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

    /// Waits a moment for the copy of `node`'s stderr to end (it ends when
    /// the process is gone), so that its log is whole.
    fn finish_stderr(&mut self, node: usize) {
        self.finish_stderr_by(node, Instant::now() + Duration::from_millis(500));
    }

    fn finish_stderr_by(&mut self, node: usize, deadline: Instant) {
        if let Some(handle) = self.stderr_threads[node].take() {
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if handle.is_finished() {
                let _ = handle.join();
            }
        }
    }

    fn handle(&mut self, msg: FromNode) {
        let FromNode {
            node,
            incarnation,
            output,
        } = msg;
        if let Output::Line { line, .. } = &output {
            self.unrouted_bytes.fetch_sub(line.len(), Ordering::AcqRel);
        }
        if incarnation != self.incarnations[node] {
            return; // from a killed process: its end is no failure
        }
        match output {
            Output::Line { line, at } => {
                let at = self.since_start(at);
                self.route(node, line, at);
            }
            Output::TooLong { len } => self.fail(format!(
                "{} wrote a line of more than {MAX_NODE_LINE} bytes ({len} read without a newline)",
                self.node_ids[node]
            )),
            Output::Closed => {
                // A node that exits closes its stdout a moment before it
                // can be reaped: wait that moment (long, on a loaded
                // machine) for its exit status.
                let deadline = Instant::now() + Duration::from_secs(2);
                let status = loop {
                    // Seen without reaping: the pid stays the group's until
                    // the group is killed.
                    let exit = match &mut self.children.0[node] {
                        Some(child) => process_group::exit(child),
                        None => Ok(None),
                    };
                    match exit {
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
            let Delivery {
                carried, from, to, ..
            } = d;
            if !self.reachable(to, d.incarnation) {
                self.lost_to_crash(carried, at);
                continue;
            }
            if let Carried::Message(id) = carried {
                if self.network.cut(id, from, to, at) {
                    continue;
                }
            }
            if !self.has_room(to) {
                self.dropped_by_overload(carried, from, to, at);
                self.note_full(to);
                continue;
            }
            self.lag.record((now - due).as_secs_f64() * 1000.0);
            if let Some(deliveries) = &mut self.deliveries {
                let body = crate::cluster::parse_output(&d.line).map(|out| out.body());
                if let Some(body) = body {
                    deliveries.push(NodeDelivery { at, to, body });
                }
            }
            match self.queue_for_node(to, d.line, carried, at) {
                Queued::Yes => {}
                // Cannot happen (room was checked, and only this thread
                // adds); counted should it ever.
                Queued::Full => self.dropped_by_overload(carried, from, to, at),
                // The node exited (which ends the run): lost with it.
                Queued::Closed => self.lost_to_crash(carried, at),
            }
        }
    }

    /// A line the runner could not hand to `to`, whose queue is full.
    fn dropped_by_overload(&mut self, carried: Carried, from: usize, to: usize, at: Duration) {
        match carried {
            Carried::Message(id) => self.network.overloaded(id, from, to, at),
            _ => self.network.stats_mut().dropped_by_overload += 1,
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
        let Some((mut line, due, id)) = reply else {
            return;
        };
        line.push(b'\n');
        let reply = Delivery {
            carried: Carried::Service(id),
            from,
            to: from,
            incarnation: self.incarnations[from],
            line,
        };
        if !self.hold(due, reply) {
            self.network.service_reply_overloaded(id, due);
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
        let Some(out) = crate::cluster::parse_output(&line) else {
            let why = crate::cluster::not_a_message(&self.node_ids[from], &line);
            return self.fail(why);
        };
        let bytes = line.len() as u64 + 1;
        if protocol::is_client(&out.dest) {
            self.network.stats_mut().count_client_reply(&out.dest);
            let src = self.node_ids[from].clone();
            self.network
                .client_message(at, &src, &out.dest, &out.kind, bytes, None);
            self.inbox.push(ClientDelivery {
                at,
                client: out.dest.to_string(),
                node: from,
                body: out.body(),
            });
            return;
        }
        if crate::services::is_service(&out.dest) {
            return self.serve(from, &out.dest, &out.kind, out.raw_body(), bytes, at);
        }
        let Some(&to) = self.index.get(out.dest.as_ref()) else {
            let why = crate::cluster::unknown_destination(
                &self.node_ids[from],
                &out.kind,
                &out.dest,
                &self.node_ids,
                &line,
            );
            return self.fail(why);
        };
        let (id, fate) = self.network.send(at, from, to, &out.kind, bytes);
        if let Fate::Arrives(times) = fate {
            let mut line = line;
            line.push(b'\n');
            for due in times {
                let line = line.clone();
                let copy = Delivery {
                    carried: Carried::Message(id),
                    from,
                    to,
                    incarnation: self.incarnations[to],
                    line,
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
        if self.status[node] == Status::Down {
            return;
        }
        if let Some(mut child) = self.children.0[node].take() {
            process_group::kill_group(&mut child);
            let _ = child.wait();
            if let Some(clocks) = &self.clocks {
                clocks.reaped(child.id());
            }
        }
        self.status[node] = Status::Down;
        self.incarnations[node] += 1;
        // What the writer took from the queue reached the process (or its
        // pipe), as if read; the rest is lost with it. Its writer thread
        // ends on the dead pipe, or when the restart drops its queue.
        let written = self.inputs[node].written.load(Ordering::Acquire);
        self.settle(node, written);
        let at = self.now();
        for (carried, _) in std::mem::take(&mut self.inputs[node].unsettled) {
            self.lost_to_crash(carried, at);
        }
        self.inputs[node].full_since = None;
    }

    fn restart(&mut self, node: usize) {
        if self.status[node] != Status::Down {
            return;
        }
        self.incarnations[node] += 1;
        let at = self.now();
        // The killed process's stderr all in the log before the new one's.
        self.finish_stderr(node);
        let log = match self.log_path(node).map(|path| reopen_log(&path, at)) {
            Some(Ok(file)) => Some(file),
            Some(Err(e)) => {
                let id = &self.node_ids[node];
                return self.fail(format!("cannot reopen the log of {id}: {e}"));
            }
            None => None,
        };
        match self.spawn(node, log) {
            Ok(started) => {
                self.children.0[node] = Some(started.child);
                self.inputs[node] = started.input;
                self.stderr_threads[node] = Some(started.stderr);
                self.status[node] = Status::Up;
            }
            Err(e) => self.fail(format!("{e} (its restart at {:.3} s)", at.as_secs_f64())),
        }
    }

    fn pause(&mut self, node: usize) {
        if self.status[node] != Status::Up {
            return;
        }
        if let Some(child) = &self.children.0[node] {
            process_group::stop_group(child);
        }
        self.status[node] = Status::Paused;
    }

    fn resume(&mut self, node: usize) {
        if self.status[node] != Status::Paused {
            return;
        }
        if let Some(child) = &self.children.0[node] {
            process_group::continue_group(child);
        }
        self.status[node] = Status::Up;
        // The stall clock starts now, should the queue still be full.
        self.inputs[node].full_since = None;
        if !self.has_room(node) {
            self.note_full(node);
        }
    }

    fn set_clock(&mut self, node: usize, skew: ClockSkew) {
        let now = self.now();
        match &mut self.clocks {
            Some(clocks) => clocks.set(node, skew, now),
            None => {
                let note = "clock faults could not be applied: this cluster was started \
                            without offset files for its nodes"
                    .to_string();
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
            }
        }
    }

    fn notes(&self) -> Vec<String> {
        let clocks = self.clocks.iter().flat_map(|c| c.notes());
        clocks.chain(&self.notes).cloned().collect()
    }

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
        // Either way the operation will time out: it may or may not have
        // happened, as far as its client knows.
        let dropped = if self.status[node] == Status::Down {
            Some(DropReason::Crash)
        } else {
            match self.queue_for_node(node, line, Carried::Client, at) {
                Queued::Yes => None,
                // (A closed input means the node exited, which ends the
                // run.)
                Queued::Full | Queued::Closed => Some(DropReason::Overload),
            }
        };
        let dest = self.node_ids[node].clone();
        self.network
            .client_message(at, client, &dest, kind, bytes, dropped);
        let stats = self.network.stats_mut();
        stats.count_client_request(client);
        if dropped == Some(DropReason::Overload) {
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
            let now = self.now();
            if let Some(clocks) = &mut self.clocks {
                clocks.update(now);
            }
            if INTERRUPTED.load(Ordering::Relaxed) && self.fatal.is_none() {
                self.fatal = Some("interrupted".into());
            }
            let now = self.now();
            if now >= until || self.fatal.is_some() {
                return;
            }
            let mut next = self.queue.next_at().map_or(until, |due| due.min(until));
            // A strobe's next edge, to write it on time.
            if let Some(edge) = self.clocks.as_ref().and_then(|c| c.next_change(now)) {
                next = next.min(edge);
            }
            // Wake at least every 50 ms to notice Ctrl-C and stalls.
            let wait = next.saturating_sub(now).min(Duration::from_millis(50));
            // Never disconnected (the cluster keeps a sender for restarts):
            // a node whose output closes says so itself.
            if let Ok(msg) = self.rx.recv_timeout(wait) {
                self.handle(msg);
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
        // What is still queued for a node when the run ends counts as
        // delivered, as what sits in its pipe does.
        for node in 0..self.inputs.len() {
            self.settle(node, u64::MAX);
        }
        let now = self.now();
        self.network.end_of_run(now, self.queue.len() as u64);
        self.network.finish_journal()
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
        // Every process group killed, then each log made whole (with its
        // note of what it left out) before the runner can exit.
        let pids: Vec<u32> = self.children.0.iter().flatten().map(Child::id).collect();
        drop(Children(std::mem::take(&mut self.children.0)));
        if let Some(clocks) = &self.clocks {
            pids.into_iter().for_each(|pid| clocks.reaped(pid));
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        for node in 0..self.stderr_threads.len() {
            self.finish_stderr_by(node, deadline);
        }
    }
}

fn read_stdout(
    node: usize,
    incarnation: u32,
    out: impl Read,
    tx: SyncSender<FromNode>,
    unrouted: Arc<AtomicUsize>,
    closed: Arc<AtomicBool>,
) {
    let send = |output| {
        tx.send(FromNode {
            node,
            incarnation,
            output,
        })
        .is_ok()
    };
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
                    send(Output::TooLong { len: line.len() });
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
                let line = std::mem::take(&mut line);
                if !send(Output::Line { line, at }) {
                    return;
                }
            }
        }
    }
    send(Output::Closed);
}

/// Copies a node's stderr into its log until the log holds
/// [`MAX_LOG_BYTES`] (earlier incarnations' stderr included); the rest is
/// read (so the node never blocks on a full pipe) and counted, and the log
/// ends with a line saying how much was left out.
fn copy_stderr(err: impl Read, log: Option<File>) {
    let mut err = BufReader::new(err);
    let Some(mut file) = log else {
        let _ = std::io::copy(&mut err, &mut std::io::sink());
        return;
    };
    let room = MAX_LOG_BYTES.saturating_sub(file.metadata().map_or(0, |m| m.len()));
    let kept = std::io::copy(&mut (&mut err).take(room), &mut file).unwrap_or(0);
    if kept < room {
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

/// Opens `<node>.log` again for a restarted node's stderr, after a line
/// that says where the killed process's ends.
fn reopen_log(path: &Path, at: Duration) -> std::io::Result<File> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let cut = file.metadata()?.len() > 0 && !file_tail(path, 1).ends_with('\n');
    let newline = if cut { "\n" } else { "" };
    writeln!(
        file,
        "{newline}--- restarted at {:.3} s ---",
        at.as_secs_f64()
    )?;
    Ok(file)
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
