//! Real node processes under a simulated network, in real time: a JVM-free
//! Maelstrom for any node that speaks the protocol on stdin/stdout.
//!
//! Each node is a child process. A thread per child reads its stdout and
//! timestamps every line into a bounded queue (a runner that falls behind
//! makes the nodes wait on their stdout); the runner (the caller's thread) routes lines:
//! to clients at once, to nodes after a latency sample, unless a partition
//! or loss drops them — the same network model as the simulator. A thread
//! per child writes its stdin from a bounded queue: when a node falls
//! behind, the runner waits for it (back-pressure, visible as scheduling
//! lag) instead of buffering without limit, and a node that leaves its input
//! unread for longer than the stall limit fails the run. Each child runs in
//! its own process group, killed (with anything it started) when the
//! cluster is dropped, whatever the reason: end of run, error, panic,
//! Ctrl-C or SIGTERM through [`INTERRUPTED`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::protocol::{self, NodeId};
use crate::sim::cluster::{Backend, ClientDelivery, NetStats, Observer};
use crate::sim::lab::{Metric, quantile};
use crate::sim::network::{Fate, NetConfig, Network, Partition, TimedQueue};

/// Set by a Ctrl-C handler: the run stops, children are killed.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Lines longer than this from a node are a protocol problem.
const MAX_NODE_LINE: usize = 16 << 20;

/// Lines queued for one node's stdin before the runner waits for it (on
/// top of the pipe's own buffer). Seconds of input at thousands of
/// messages per second: a healthy node never fills it.
const STDIN_QUEUE_LINES: usize = 4096;

/// Lines read from all nodes and not yet routed. When the runner falls
/// this far behind, the reader threads wait, so nodes block on their
/// stdout: back-pressure on the producers rather than unbounded memory.
const FROM_NODES_QUEUE_LINES: usize = 65_536;

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
    from: usize,
    to: usize,
    line: Vec<u8>,
}

/// A cluster of node processes.
pub struct ProcessCluster {
    start: Instant,
    node_ids: Vec<NodeId>,
    index: HashMap<NodeId, usize>,
    stdin: Vec<SyncSender<Vec<u8>>>,
    /// How long a node may leave a full input queue unread.
    stall_limit: Duration,
    rx: Receiver<FromNode>,
    queue: TimedQueue<Delivery>,
    network: Network,
    inbox: Vec<ClientDelivery>,
    problems: Vec<String>,
    fatal: Option<String>,
    /// Delivery time minus due time, in ms, one sample per delivery.
    lag_ms: Vec<f64>,
    message_log: Option<BufWriter<File>>,
    events: u64,
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
            kill_group(child);
            let _ = child.wait();
        }
    }
}

/// Kills the child and whatever it started (`--bin` may be a wrapper
/// script or `go run`, whose real node is a grandchild).
fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) takes plain integers and touches no memory; the
        // group is the child's own (process_group(0) at spawn) and the
        // child is not reaped yet, so its id cannot have been reused.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.kill();
}
impl ProcessCluster {
    /// Starts one process per node id, node `i` with `commands[i]`
    /// (program, then arguments). Each node's stderr goes to
    /// `<logs>/<node>.log` and node-to-node messages are logged to
    /// `<logs>/messages.jsonl` when `logs` is given. A node whose input
    /// queue stays full for `stall_limit` fails the run.
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
        let mut children = Children(Vec::new());
        let mut stdin = Vec::new();
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
            #[cfg(unix)]
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            let mut child = cmd
                .spawn()
                .map_err(|e| std::io::Error::other(format!("cannot start {program}: {e}")))?;
            let out = child.stdout.take().expect("piped");
            let err = child.stderr.take().expect("piped");
            let input = child.stdin.take().expect("piped");
            children.0.push(child);
            let tx = tx.clone();
            std::thread::spawn(move || read_stdout(i, out, tx));
            let log = match logs {
                Some(dir) => Some(File::create(dir.join(format!("{id}.log")))?),
                None => None,
            };
            std::thread::spawn(move || copy_stderr(err, log));
            let (line_tx, line_rx) = sync_channel::<Vec<u8>>(STDIN_QUEUE_LINES);
            std::thread::spawn(move || write_stdin(input, line_rx));
            stdin.push(line_tx);
        }
        let message_log = match logs {
            Some(dir) => Some(BufWriter::new(File::create(dir.join("messages.jsonl"))?)),
            None => None,
        };
        let network = Network::new(net, seed, node_ids.len());
        Ok(ProcessCluster {
            start: Instant::now(),
            index: node_ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect(),
            node_ids,
            stdin,
            stall_limit,
            rx,
            queue: TimedQueue::default(),
            network,
            inbox: Vec::new(),
            problems: Vec::new(),
            fatal: None,
            lag_ms: Vec::new(),
            message_log,
            events: 0,
            children,
        })
    }

    /// Queues a line for a node's stdin. When the queue is full the runner
    /// waits for the node to read (deliveries to the others wait too, and
    /// the wait shows as scheduling lag); a node that reads nothing for the
    /// stall limit fails the run.
    fn send_to_node(&mut self, node: usize, line: Vec<u8>) {
        let mut line = match self.stdin[node].try_send(line) {
            Ok(()) => return,
            // Its writer ended: the node closed its input or exited, which
            // its reader reports.
            Err(TrySendError::Disconnected(_)) => return,
            Err(TrySendError::Full(line)) => line,
        };
        if self.fatal.is_some() {
            return; // the run is ending anyway
        }
        let since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(1));
            // Keep routing what nodes write (routing never writes to a
            // stdin), so no node, this one included, blocks on its stdout
            // behind us: waiting here cannot deadlock.
            while let Ok(msg) = self.rx.try_recv() {
                self.handle(msg);
            }
            line = match self.stdin[node].try_send(line) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(line)) => line,
            };
            if INTERRUPTED.load(Ordering::Relaxed) || self.fatal.is_some() {
                return; // the run is ending: stop waiting
            }
            if since.elapsed() >= self.stall_limit {
                return self.fail(format!(
                    "{} has not read its input for {:.1} s ({STDIN_QUEUE_LINES} lines waiting)",
                    self.node_ids[node],
                    self.stall_limit.as_secs_f64()
                ));
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

    fn handle(&mut self, msg: FromNode) {
        match msg {
            FromNode::Line { node, line, at } => {
                let at = self.since_start(at);
                self.route(node, line, at);
            }
            FromNode::TooLong { node, len } => self.fail(format!(
                "{} wrote a line of more than {MAX_NODE_LINE} bytes ({len} read)",
                self.node_ids[node]
            )),
            FromNode::Closed { node } => {
                let status = self.children.0[node]
                    .try_wait()
                    .ok()
                    .flatten()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "closed its stdout".into());
                self.fail(format!(
                    "{} exited or closed stdout during the run ({status}); see its log",
                    self.node_ids[node]
                ));
            }
        }
    }

    fn deliver_due(&mut self) {
        let now = self.since_start(Instant::now());
        while let Some((due, d)) = self.queue.pop_due(now) {
            self.events += 1;
            if !self.network.arrives(d.from, d.to) {
                continue;
            }
            self.lag_ms.push((now - due).as_secs_f64() * 1000.0);
            self.send_to_node(d.to, d.line);
        }
    }

    fn route(&mut self, from: usize, line: Vec<u8>, at: Duration) {
        let parsed = crate::sim::cluster::parse_output(&line)
            .map(|(dest, kind, body)| (dest.into_owned(), kind, body.get().to_string()));
        let Some((dest, kind, body)) = parsed else {
            let shown = String::from_utf8_lossy(&line[..line.len().min(300)]).into_owned();
            return self.fail(format!(
                "{} wrote a line that is not a Maelstrom message: {shown}",
                self.node_ids[from]
            ));
        };
        if protocol::is_client(&dest) {
            self.network.stats_mut().client_replies += 1;
            self.inbox.push(ClientDelivery {
                at,
                client: dest,
                node: from,
                body: serde_json::from_str(&body).unwrap_or(Value::Null),
            });
            return;
        }
        let Some(&to) = self.index.get(&dest) else {
            let shown = String::from_utf8_lossy(&line[..line.len().min(300)]).into_owned();
            return self.fail(format!(
                "{} sent to unknown destination {dest}: {shown}",
                self.node_ids[from]
            ));
        };
        let bytes = line.len() as u64 + 1;
        let fate = self.network.send(at, from, to, &kind, bytes);
        if let Some(log) = &mut self.message_log {
            let entry = serde_json::json!({
                "at_ms": at.as_secs_f64() * 1000.0,
                "from": self.node_ids[from],
                "to": dest,
                "type": kind,
                "bytes": bytes,
                "fate": match &fate {
                    Fate::Partitioned => "partition",
                    Fate::Lost => "lost",
                    Fate::Arrives(times) if times.len() > 1 => "duplicated",
                    Fate::Arrives(_) => "sent",
                },
            });
            let _ = writeln!(log, "{entry}");
        }
        if let Fate::Arrives(times) = fate {
            let mut line = line;
            line.push(b'\n');
            for due in times {
                let line = line.clone();
                self.queue.push(due, Delivery { from, to, line });
            }
        }
    }
}

impl Backend for ProcessCluster {
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
        match protocol::write_line(&mut line, client, &self.node_ids[node], body, msg_id, None) {
            Ok(()) => {
                self.network.stats_mut().client_requests += 1;
                self.send_to_node(node, line);
            }
            Err(e) => self
                .problems
                .push(format!("client body is not a JSON object: {body} ({e})")),
        }
    }

    fn take_client_messages(&mut self) -> Vec<ClientDelivery> {
        std::mem::take(&mut self.inbox)
    }

    fn run_until(&mut self, until: Duration, _observe: &mut Observer<'_>) {
        loop {
            // Route what has already arrived before looking at the clock, so
            // a busy runner never mistakes a received reply for a timeout.
            while let Ok(msg) = self.rx.try_recv() {
                self.handle(msg);
            }
            self.deliver_due();
            if INTERRUPTED.load(Ordering::Relaxed) && self.fatal.is_none() {
                self.fatal = Some("interrupted".into());
            }
            let now = self.now();
            if now >= until || self.fatal.is_some() {
                return;
            }
            let next = self.queue.next_at().map_or(until, |due| due.min(until));
            // Wake at least every 50 ms to notice Ctrl-C.
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
        let mut lag = self.lag_ms.clone();
        if lag.is_empty() {
            return Vec::new();
        }
        lag.sort_by(f64::total_cmp);
        vec![
            Metric::new("scheduling lag p50", quantile(&lag, 0.5), "ms"),
            Metric::new("scheduling lag p99", quantile(&lag, 0.99), "ms"),
            Metric::new("scheduling lag max", lag[lag.len() - 1], "ms"),
        ]
    }
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        if let Some(log) = &mut self.message_log {
            let _ = log.flush();
        }
        // `children` is dropped after this: every process group is killed.
    }
}

fn read_stdout(node: usize, out: impl Read, tx: SyncSender<FromNode>) {
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

fn copy_stderr(err: impl Read, log: Option<File>) {
    let mut err = BufReader::new(err);
    match log {
        Some(mut file) => {
            let _ = std::io::copy(&mut err, &mut file);
        }
        None => {
            let _ = std::io::copy(&mut err, &mut std::io::sink());
        }
    }
}

fn write_stdin(input: ChildStdin, lines: Receiver<Vec<u8>>) {
    let mut input = BufWriter::new(input);
    while let Ok(line) = lines.recv() {
        if input.write_all(&line).is_err() {
            return;
        }
        // Write everything that is queued, then flush once.
        while let Ok(more) = lines.try_recv() {
            if input.write_all(&more).is_err() {
                return;
            }
        }
        if input.flush().is_err() {
            return;
        }
    }
}
