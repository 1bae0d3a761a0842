//! The simulated network between nodes: latency, loss, duplication and
//! partitions. Clients are not on it: client↔node messages are never
//! delayed or dropped, as in Maelstrom.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

/// How link latency is distributed around its mean, as Maelstrom's
/// `--latency-dist`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LatencyDist {
    /// Always the mean.
    Constant,
    /// Uniform in 0..2×mean.
    Uniform,
    /// Exponential with the given mean (reorders messages).
    Exponential,
}

/// The network's behaviour.
#[derive(Debug, Clone, Serialize)]
pub struct NetConfig {
    pub latency: Duration,
    pub latency_dist: LatencyDist,
    /// Probability that a node-to-node message is lost.
    pub loss: f64,
    /// Probability that a node-to-node message is delivered twice.
    pub duplicate: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency: Duration::ZERO,
            latency_dist: LatencyDist::Constant,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

impl NetConfig {
    /// One latency sample, at microsecond resolution.
    pub fn sample_latency(&self, rng: &mut StdRng) -> Duration {
        let mean = self.latency.as_micros() as f64;
        if mean == 0.0 {
            return Duration::ZERO;
        }
        let micros = match self.latency_dist {
            LatencyDist::Constant => mean,
            LatencyDist::Uniform => rng.random_range(0.0..2.0 * mean),
            LatencyDist::Exponential => {
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                -mean * u.ln()
            }
        };
        Duration::from_micros(micros.round() as u64)
    }
}

/// Maelstrom's partition patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionPattern {
    /// One node cut off from all others.
    One,
    /// A third of the nodes (at least one) cut off from the rest.
    MinorityThird,
    /// A clean split into a majority and a minority.
    Majority,
    /// Nodes on a ring, each seeing only its nearest neighbours: every node
    /// sees a majority, but no two see the same one.
    MajoritiesRing,
}

impl PartitionPattern {
    pub const ALL: [PartitionPattern; 4] = [
        PartitionPattern::One,
        PartitionPattern::MinorityThird,
        PartitionPattern::Majority,
        PartitionPattern::MajoritiesRing,
    ];
}

impl fmt::Display for PartitionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PartitionPattern::One => "one",
            PartitionPattern::MinorityThird => "minority-third",
            PartitionPattern::Majority => "majority",
            PartitionPattern::MajoritiesRing => "majorities-ring",
        })
    }
}

/// Which node pairs can talk: a symmetric matrix over node indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    n: usize,
    connected: Vec<bool>,
    /// A readable description: the groups, or the ring order.
    pub description: String,
}

impl Partition {
    /// Nodes in the same group can talk; nodes in different groups cannot.
    pub fn groups(n: usize, groups: &[Vec<usize>]) -> Partition {
        let mut group_of = vec![usize::MAX; n];
        for (g, members) in groups.iter().enumerate() {
            for &m in members {
                group_of[m] = g;
            }
        }
        let mut connected = vec![false; n * n];
        for a in 0..n {
            for b in 0..n {
                connected[a * n + b] = a == b || group_of[a] == group_of[b];
            }
        }
        Partition {
            n,
            connected,
            description: groups
                .iter()
                .map(|g| names(g))
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }

    /// Everyone can talk except the pairs in `cut`, in both directions:
    /// `Partition::cut(3, &[(0, 1)])` is a bridge, n0 and n1 reaching each
    /// other only through n2.
    pub fn cut(n: usize, cut: &[(usize, usize)]) -> Partition {
        let mut connected = vec![true; n * n];
        for &(a, b) in cut {
            assert!(a != b, "a node always reaches itself");
            connected[a * n + b] = false;
            connected[b * n + a] = false;
        }
        let pairs: Vec<String> = cut.iter().map(|&(a, b)| format!("n{a}-n{b}")).collect();
        Partition {
            n,
            connected,
            description: format!("cut {}", pairs.join(" ")),
        }
    }

    /// A random instance of `pattern` over `n` nodes.
    pub fn random(pattern: PartitionPattern, n: usize, rng: &mut StdRng) -> Partition {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        match pattern {
            PartitionPattern::One => split(n, &order, 1),
            PartitionPattern::MinorityThird => split(n, &order, (n / 3).max(1)),
            PartitionPattern::Majority => split(n, &order, n / 2),
            PartitionPattern::MajoritiesRing => ring(n, &order),
        }
    }

    pub fn can_talk(&self, a: usize, b: usize) -> bool {
        self.connected[a * self.n + b]
    }
}

/// Simulated nodes are named after their index: n0, n1, …
fn names(nodes: &[usize]) -> String {
    let names: Vec<String> = nodes.iter().map(|i| format!("n{i}")).collect();
    format!("[{}]", names.join(" "))
}

fn split(n: usize, order: &[usize], minority: usize) -> Partition {
    let mut small: Vec<usize> = order[..minority.min(n)].to_vec();
    let mut large: Vec<usize> = order[minority.min(n)..].to_vec();
    small.sort_unstable();
    large.sort_unstable();
    Partition::groups(n, &[small, large])
}

fn ring(n: usize, order: &[usize]) -> Partition {
    // Each node sees itself and `reach` neighbours on each side: with
    // 2·reach + 1 ≥ a majority, every node sees a majority of the cluster.
    let majority = n / 2 + 1;
    let reach = majority / 2;
    let mut connected = vec![false; n * n];
    for (i, &a) in order.iter().enumerate() {
        for d in 0..=reach {
            let b1 = order[(i + d) % n];
            let b2 = order[(i + n - d % n) % n];
            for b in [b1, b2] {
                connected[a * n + b] = true;
                connected[b * n + a] = true;
            }
        }
    }
    Partition {
        n,
        connected,
        description: format!(
            "ring {}, each sees {reach} neighbour(s) per side",
            names(order)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn patterns_cut_the_right_sizes() {
        let mut rng = StdRng::seed_from_u64(1);
        for n in [3, 5, 25] {
            let p = Partition::random(PartitionPattern::One, n, &mut rng);
            let isolated: Vec<usize> = (0..n)
                .filter(|&a| (0..n).all(|b| a == b || !p.can_talk(a, b)))
                .collect();
            assert_eq!(isolated.len(), 1, "n={n}");

            let p = Partition::random(PartitionPattern::Majority, n, &mut rng);
            for a in 0..n {
                let sees = (0..n).filter(|&b| p.can_talk(a, b)).count();
                assert!(sees == n / 2 || sees == n - n / 2, "n={n} sees={sees}");
            }

            let p = Partition::random(PartitionPattern::MajoritiesRing, n, &mut rng);
            for a in 0..n {
                let sees = (0..n).filter(|&b| p.can_talk(a, b)).count();
                assert!(
                    sees > n / 2,
                    "every node sees a majority: n={n} sees={sees}"
                );
                if n >= 5 {
                    assert!(sees < n, "but not everyone: n={n}");
                }
                for b in 0..n {
                    assert_eq!(p.can_talk(a, b), p.can_talk(b, a));
                }
            }
        }
    }

    #[test]
    fn cut_severs_only_the_given_pairs() {
        let p = Partition::cut(3, &[(1, 0)]);
        assert!(!p.can_talk(0, 1) && !p.can_talk(1, 0));
        for (a, b) in [(0, 2), (2, 0), (1, 2), (2, 1), (0, 0), (1, 1)] {
            assert!(p.can_talk(a, b), "n{a}-n{b}");
        }
        assert_eq!(p.description, "cut n1-n0");
    }

    #[test]
    fn latency_distributions_have_the_mean() {
        let mut rng = StdRng::seed_from_u64(2);
        for dist in [
            LatencyDist::Constant,
            LatencyDist::Uniform,
            LatencyDist::Exponential,
        ] {
            let net = NetConfig {
                latency: Duration::from_millis(100),
                latency_dist: dist,
                ..NetConfig::default()
            };
            let n = 20_000;
            let total: f64 = (0..n)
                .map(|_| net.sample_latency(&mut rng).as_secs_f64())
                .sum();
            let mean = total / n as f64;
            assert!((mean - 0.1).abs() < 0.005, "{dist:?}: mean {mean}");
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Counts of node-to-node traffic.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetStats {
    /// Messages nodes sent to other nodes, and between nodes and services
    /// (Maelstrom's server messages).
    pub sent: u64,
    /// Of `sent`, the messages to and from services (requests and
    /// replies).
    #[serde(skip_serializing_if = "is_zero")]
    pub service_messages: u64,
    pub bytes: u64,
    pub delivered: u64,
    pub dropped_by_partition: u64,
    pub dropped_by_loss: u64,
    pub duplicated: u64,
    /// Messages lost because their receiver was killed (down, or
    /// restarted since they were sent), service replies included.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_by_crash: u64,
    /// Messages the real-process runner could not hand to a node whose
    /// input queue was full (always 0 in the simulator).
    pub dropped_by_overload: u64,
    /// Client requests the real-process runner could not hand to a node
    /// whose input queue was full: their operations time out.
    pub client_dropped_by_overload: u64,
    /// Copies of node-to-node messages still on their way when the run
    /// ended: with `delivered` and the drops they add up to what was sent
    /// (a duplicated message counts twice).
    pub in_flight_at_end: u64,
    /// Messages and bytes by body `type`.
    pub by_type: BTreeMap<String, TypeStats>,
    /// Per node, indexed like the node ids.
    pub per_node: Vec<NodeTraffic>,
    /// Client requests delivered to nodes, and replies back (probes not
    /// included).
    pub client_requests: u64,
    pub client_replies: u64,
    /// The runner's probe reads of node state, and their replies: client
    /// traffic that is no operation, counted apart.
    pub probe_requests: u64,
    pub probe_replies: u64,
    /// Messages sent per second of the run, by type (for plots).
    #[serde(skip)]
    pub per_second: BTreeMap<String, Vec<u64>>,
}

/// The client id of the runner's probe reads (a client id: it starts with
/// `c`). Its traffic is counted apart from the clients'.
pub const PROBE_CLIENT: &str = "cprobe";

impl NetStats {
    /// Counts a request from `client` to a node.
    pub fn count_client_request(&mut self, client: &str) {
        if client == PROBE_CLIENT {
            self.probe_requests += 1;
        } else {
            self.client_requests += 1;
        }
    }

    /// Counts a message from a node to `client`.
    pub fn count_client_reply(&mut self, client: &str) {
        if client == PROBE_CLIENT {
            self.probe_replies += 1;
        } else {
            self.client_replies += 1;
        }
    }

    /// Counts one node-to-node message of `kind` and `bytes` from `from`.
    pub fn count_sent(&mut self, at: Duration, from: usize, kind: &str, bytes: u64) {
        self.count_server_message(at, kind, bytes);
        self.per_node[from].sent += 1;
        self.per_node[from].bytes_sent += bytes;
    }

    /// Counts one server message (Maelstrom's `:servers`: node to node,
    /// or between a node and a service) by type and by second.
    fn count_server_message(&mut self, at: Duration, kind: &str, bytes: u64) {
        self.sent += 1;
        self.bytes += bytes;
        let per_type = match self.by_type.get_mut(kind) {
            Some(t) => t,
            None => self.by_type.entry(kind.to_string()).or_default(),
        };
        per_type.messages += 1;
        per_type.bytes += bytes;
        let second = at.as_secs() as usize;
        let series = match self.per_second.get_mut(kind) {
            Some(s) => s,
            None => self.per_second.entry(kind.to_string()).or_default(),
        };
        if series.len() <= second {
            series.resize(second + 1, 0);
        }
        series[second] += 1;
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TypeStats {
    pub messages: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeTraffic {
    pub sent: u64,
    pub received: u64,
    pub bytes_sent: u64,
}

/// The fate of a node-to-node message, decided when it is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// Cut off by a partition.
    Partitioned,
    /// Lost (`--loss`).
    Lost,
    /// Delivered at these times: one, or two when duplicated.
    Arrives(Vec<Duration>),
}

/// Why a message never reached its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    /// A partition cut it, when it was sent or while it was in flight.
    Partition,
    /// Random loss (`--loss`).
    Loss,
    /// The runner's queue towards the destination was full (a node that
    /// reads slower than it is written to, as a real network drops).
    Overload,
    /// Still on its way when the run ended.
    InFlightAtEnd,
    /// The receiver was killed (`--nemesis kill`): down, or restarted
    /// since the message was sent.
    Crash,
}

impl fmt::Display for DropReason {
    /// What happened to the copy, for a reader (a diagram's tooltip).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::Partition => "cut by a partition",
            DropReason::Loss => "lost (random loss)",
            DropReason::Overload => "dropped: the receiver's queue was full",
            DropReason::InFlightAtEnd => "still in flight when the run ended",
            DropReason::Crash => "lost: the receiver was killed",
        })
    }
}

/// What became of one message: the network's journal entry, written once
/// every copy of it has arrived or been dropped. The report's counts come
/// from the same calls, so the journal and the report agree.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageRecord {
    /// Dense, from 1, in order of sending (Maelstrom's journal ids).
    pub id: u64,
    pub src: String,
    pub dest: String,
    /// The body's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The whole line, newline included.
    pub bytes: u64,
    /// Whether a client is one end: not a server message.
    pub client: bool,
    #[serde(rename = "sent_ms", serialize_with = "as_ms")]
    pub sent: Duration,
    /// When each copy reached the destination's input (two when
    /// duplicated).
    #[serde(rename = "delivered_ms", serialize_with = "all_as_ms")]
    pub delivered: Vec<Duration>,
    /// Copies that never arrived: when and why.
    pub dropped: Vec<Dropped>,
}

/// A copy of a message that never arrived.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Dropped {
    #[serde(rename = "at_ms", serialize_with = "as_ms")]
    pub at: Duration,
    pub reason: DropReason,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ms(*d))
}

fn all_as_ms<S: serde::Serializer>(ds: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(ds.iter().map(|d| ms(*d)))
}

/// Where finished journal entries go (a `messages.jsonl` writer, a test's
/// vector).
pub type JournalSink = Box<dyn FnMut(&MessageRecord) + Send>;

/// The journal: entries still open (copies in flight) until their last
/// copy is resolved, then handed to the sink.
struct Journal {
    open: foldhash::HashMap<u64, (MessageRecord, u8)>,
    sink: JournalSink,
}

/// The network both runners share: counts node-to-node traffic, cuts it by
/// partitions, loses, duplicates and delays it, with its own seeded RNG.
/// Every message gets an id; with a journal on, what became of each one is
/// recorded from the same calls that count it.
pub struct Network {
    config: NetConfig,
    rng: StdRng,
    partition: Option<Partition>,
    stats: NetStats,
    names: Vec<String>,
    next_id: u64,
    journal: Option<Journal>,
    /// The file the journal writes to, when it is one ([`Self::keep_journal`]).
    journal_file: Option<SharedJournal>,
}

impl Network {
    /// A network between the nodes `names` (indexed as the runners index
    /// them).
    pub fn new(config: NetConfig, seed: u64, names: Vec<String>) -> Network {
        Network {
            config,
            rng: <StdRng as rand::SeedableRng>::seed_from_u64(seed),
            partition: None,
            stats: NetStats {
                per_node: vec![Default::default(); names.len()],
                ..Default::default()
            },
            names,
            next_id: 0,
            journal: None,
            journal_file: None,
        }
    }

    /// Keeps the journal in `file` from now on (every message's fate, for
    /// `messages.jsonl` and the report's message diagram).
    pub fn keep_journal(&mut self, file: JournalFile) {
        let shared: SharedJournal = std::sync::Arc::new(std::sync::Mutex::new(file));
        self.record_journal(journal_sink(&shared));
        self.journal_file = Some(shared);
    }

    /// Closes the journal file [`Self::keep_journal`] opened: what it
    /// wrote (`None` without one).
    pub fn finish_journal(&mut self) -> Option<JournalSummary> {
        let file = self.journal_file.take()?;
        let mut file = file.lock().ok()?;
        Some(file.finish())
    }

    /// Turns the journal on: from now on every message's fate goes to
    /// `sink` once it is settled.
    pub fn record_journal(&mut self, sink: JournalSink) {
        self.journal = Some(Journal {
            open: Default::default(),
            sink,
        });
    }

    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// For the runners' client counters, which share the stats.
    pub fn stats_mut(&mut self) -> &mut NetStats {
        &mut self.stats
    }

    pub fn partition(&mut self, partition: Partition) {
        self.partition = Some(partition);
    }

    pub fn heal(&mut self) {
        self.partition = None;
    }

    pub fn is_partitioned(&self) -> bool {
        self.partition.is_some()
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        self.partition.as_ref().is_none_or(|p| p.can_talk(a, b))
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Settles one copy of message `id`: delivered at `at`, or dropped.
    fn journal_settle(&mut self, id: u64, at: Duration, dropped: Option<DropReason>) {
        let Some(journal) = &mut self.journal else {
            return;
        };
        let Some((record, copies)) = journal.open.get_mut(&id) else {
            return;
        };
        match dropped {
            None => record.delivered.push(at),
            Some(reason) => record.dropped.push(Dropped { at, reason }),
        }
        *copies -= 1;
        if *copies == 0 {
            let (record, _) = journal.open.remove(&id).expect("present");
            (journal.sink)(&record);
        }
    }

    /// Counts a message of `kind` and `bytes` sent by `from` to `to` at
    /// `at`, gives it an id, and decides what becomes of it.
    pub fn send(
        &mut self,
        at: Duration,
        from: usize,
        to: usize,
        kind: &str,
        bytes: u64,
    ) -> (u64, Fate) {
        let id = self.new_id();
        self.stats.count_sent(at, from, kind, bytes);
        let fate = if !self.connected(from, to) {
            self.stats.dropped_by_partition += 1;
            Fate::Partitioned
        } else if self.config.loss > 0.0 && self.rng.random_bool(self.config.loss.min(1.0)) {
            self.stats.dropped_by_loss += 1;
            Fate::Lost
        } else {
            let duplicated =
                self.config.duplicate > 0.0 && self.rng.random_bool(self.config.duplicate.min(1.0));
            if duplicated {
                self.stats.duplicated += 1;
            }
            let copies = if duplicated { 2 } else { 1 };
            Fate::Arrives(
                (0..copies)
                    .map(|_| at + self.config.sample_latency(&mut self.rng))
                    .collect(),
            )
        };
        if let Some(journal) = &mut self.journal {
            let (copies, dropped) = match &fate {
                Fate::Partitioned => (0, Some(DropReason::Partition)),
                Fate::Lost => (0, Some(DropReason::Loss)),
                Fate::Arrives(times) => (times.len() as u8, None),
            };
            let record = MessageRecord {
                id,
                src: self.names[from].clone(),
                dest: self.names[to].clone(),
                kind: kind.to_string(),
                bytes,
                client: false,
                sent: at,
                delivered: Vec::new(),
                dropped: dropped
                    .map(|reason| Dropped { at, reason })
                    .into_iter()
                    .collect(),
            };
            if copies == 0 {
                (journal.sink)(&record);
            } else {
                journal.open.insert(id, (record, copies));
            }
        }
        (id, fate)
    }

    /// Whether copy of message `id` in flight from `from` arrives at `to`
    /// at `at`: one that a partition cut while in flight is dropped, as in
    /// Maelstrom.
    pub fn arrives(&mut self, id: u64, from: usize, to: usize, at: Duration) -> bool {
        if self.cut(id, from, to, at) {
            return false;
        }
        self.delivered(id, to, at);
        true
    }

    /// Whether a partition cuts copy of message `id`, due at `to` at `at`;
    /// if so it is dropped. The first half of [`Network::arrives`], for a
    /// runner that counts the copy delivered later ([`Network::delivered`]).
    pub fn cut(&mut self, id: u64, from: usize, to: usize, at: Duration) -> bool {
        if self.connected(from, to) {
            return false;
        }
        self.stats.dropped_by_partition += 1;
        self.journal_settle(id, at, Some(DropReason::Partition));
        true
    }

    /// Copy of message `id` reached `to` at `at`.
    pub fn delivered(&mut self, id: u64, to: usize, at: Duration) {
        self.stats.delivered += 1;
        self.stats.per_node[to].received += 1;
        self.journal_settle(id, at, None);
    }

    /// A copy of message `id` due at `at` at a node that was killed (down,
    /// or restarted since it was sent), or still waiting for the node's
    /// stdin when its process was killed: lost.
    pub fn lost_to_crash(&mut self, id: u64, at: Duration) {
        self.stats.dropped_by_crash += 1;
        self.journal_settle(id, at, Some(DropReason::Crash));
    }

    /// Service reply `id` due at a node that was killed since the request
    /// (or waiting for its stdin at the kill).
    pub fn service_reply_lost_to_crash(&mut self, id: u64, at: Duration) {
        self.stats.dropped_by_crash += 1;
        self.journal_settle(id, at, Some(DropReason::Crash));
    }

    /// Service reply `id`, due at `at`, that the runner cannot hand over
    /// (the node's queue is full).
    pub fn service_reply_overloaded(&mut self, id: u64, at: Duration) {
        self.stats.dropped_by_overload += 1;
        self.journal_settle(id, at, Some(DropReason::Overload));
    }

    /// A copy of message `id` that is due at `to` at `at` but that the
    /// runner cannot hand over (its queue towards `to` is full): dropped by
    /// overload, unless a partition would have cut it anyway.
    pub fn overloaded(&mut self, id: u64, from: usize, to: usize, at: Duration) {
        if self.cut(id, from, to, at) {
            return;
        }
        self.stats.dropped_by_overload += 1;
        self.journal_settle(id, at, Some(DropReason::Overload));
    }

    /// A message between node `node` and a service (`to_service`: the
    /// node's request, else the service's reply), sent at `at` and due at
    /// `due`: server traffic, never partitioned, lost or duplicated. A
    /// request is delivered at once (the service handles it as it is
    /// sent), and journaled as delivered at `due`; a reply is settled when
    /// the runner hands it over or loses it
    /// ([`Network::service_reply_delivered`] and the like, with the id this
    /// returns).
    #[allow(clippy::too_many_arguments)]
    pub fn service_message(
        &mut self,
        at: Duration,
        node: usize,
        service: &str,
        to_service: bool,
        kind: &str,
        bytes: u64,
        due: Duration,
    ) -> u64 {
        let id = self.new_id();
        self.stats.count_server_message(at, kind, bytes);
        self.stats.service_messages += 1;
        if to_service {
            self.stats.per_node[node].sent += 1;
            self.stats.per_node[node].bytes_sent += bytes;
            self.stats.delivered += 1;
        }
        if let Some(journal) = &mut self.journal {
            let (src, dest) = if to_service {
                (self.names[node].clone(), service.to_string())
            } else {
                (service.to_string(), self.names[node].clone())
            };
            let mut record = MessageRecord {
                id,
                src,
                dest,
                kind: kind.to_string(),
                bytes,
                client: false,
                sent: at,
                delivered: Vec::new(),
                dropped: Vec::new(),
            };
            if to_service {
                record.delivered.push(due);
                (journal.sink)(&record);
            } else {
                journal.open.insert(id, (record, 1));
            }
        }
        id
    }

    /// Service reply `id` reached node `to` at `at`.
    pub fn service_reply_delivered(&mut self, id: u64, to: usize, at: Duration) {
        self.stats.delivered += 1;
        self.stats.per_node[to].received += 1;
        self.journal_settle(id, at, None);
    }

    /// One link latency, drawn as a node-to-node message's is.
    pub fn sample_latency(&mut self) -> Duration {
        self.config.sample_latency(&mut self.rng)
    }

    /// Journals a message between a client and a node (never delayed or
    /// partitioned): `dropped` says why, when the runner had to drop it
    /// (overload, a killed node). Returns its id.
    pub fn client_message(
        &mut self,
        at: Duration,
        src: &str,
        dest: &str,
        kind: &str,
        bytes: u64,
        dropped: Option<DropReason>,
    ) -> u64 {
        let id = self.new_id();
        if let Some(journal) = &mut self.journal {
            let record = MessageRecord {
                id,
                src: src.to_string(),
                dest: dest.to_string(),
                kind: kind.to_string(),
                bytes,
                client: true,
                sent: at,
                // Client traffic is never delayed.
                delivered: if dropped.is_none() {
                    vec![at]
                } else {
                    Vec::new()
                },
                dropped: dropped
                    .map(|reason| vec![Dropped { at, reason }])
                    .unwrap_or_default(),
            };
            (journal.sink)(&record);
        }
        id
    }

    /// The run ended at `at` with `in_flight` copies of messages still on
    /// their way: counts them, and ends the journal, recording those
    /// messages as in flight, in id order.
    pub fn end_of_run(&mut self, at: Duration, in_flight: u64) {
        self.stats.in_flight_at_end = in_flight;
        let Some(mut journal) = self.journal.take() else {
            return;
        };
        let mut open: Vec<(MessageRecord, u8)> = journal.open.drain().map(|(_, v)| v).collect();
        open.sort_by_key(|(r, _)| r.id);
        for (mut record, copies) in open {
            for _ in 0..copies {
                record.dropped.push(Dropped {
                    at,
                    reason: DropReason::InFlightAtEnd,
                });
            }
            (journal.sink)(&record);
        }
    }
}

/// Items due at times, taken in order of time, then of scheduling.
pub struct TimedQueue<T> {
    heap: std::collections::BinaryHeap<std::cmp::Reverse<Timed<T>>>,
    seq: u64,
}

struct Timed<T> {
    at: Duration,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Timed<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Timed<T> {}
impl<T> PartialOrd for Timed<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Timed<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl<T> Default for TimedQueue<T> {
    fn default() -> Self {
        TimedQueue {
            heap: std::collections::BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> TimedQueue<T> {
    pub fn push(&mut self, at: Duration, item: T) {
        self.seq += 1;
        self.heap.push(std::cmp::Reverse(Timed {
            at,
            seq: self.seq,
            item,
        }));
    }

    /// Items queued.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Every item queued, in no particular order.
    pub fn items(&self) -> impl Iterator<Item = &T> {
        self.heap.iter().map(|std::cmp::Reverse(t)| &t.item)
    }

    /// When the next item is due.
    pub fn next_at(&self) -> Option<Duration> {
        self.heap.peek().map(|std::cmp::Reverse(t)| t.at)
    }

    /// The next item due at or before `until`, with its time.
    pub fn pop_due(&mut self, until: Duration) -> Option<(Duration, T)> {
        if self.next_at()? > until {
            return None;
        }
        let std::cmp::Reverse(t) = self.heap.pop().expect("peeked");
        Some((t.at, t.item))
    }
}

/// How many journal entries a run keeps in memory for its message diagram
/// (Maelstrom's `messages.svg` draws at most 10,000 journal events).
pub const DIAGRAM_MESSAGES: usize = 10_000;

/// How many journal entries `messages.jsonl` takes before it stops (a
/// flooding node must not fill the disk): about 200 MB.
pub const JOURNAL_FILE_LIMIT: u64 = 1_000_000;

/// A journal's destination in a results folder: `messages.jsonl`, one
/// entry a line in the order messages were settled, up to
/// [`JOURNAL_FILE_LIMIT`] lines; and for the message diagram the
/// [`DIAGRAM_MESSAGES`] first messages *sent* at or after `diagram_from`
/// (by id, whenever each was settled: a message sent in the window and
/// delivered late is not lost to one settled earlier).
pub struct JournalFile {
    out: Option<std::io::BufWriter<std::fs::File>>,
    diagram_from: Duration,
    written: u64,
    skipped: u64,
    /// The kept entries, the highest id on top, to give way to lower ids.
    sample: std::collections::BinaryHeap<ById>,
}

/// A journal entry ordered by its id.
struct ById(MessageRecord);

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}
impl Eq for ById {}
impl PartialOrd for ById {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ById {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.id.cmp(&other.0.id)
    }
}

/// What a journal wrote, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JournalSummary {
    /// Entries written to `messages.jsonl`.
    pub written: u64,
    /// Entries not written because the file reached its limit.
    pub skipped: u64,
    /// The entries kept for the message diagram, in id order.
    #[serde(skip)]
    pub sample: Vec<MessageRecord>,
}

impl JournalFile {
    /// A journal writing to `path` (none: only the diagram's sample).
    pub fn create(
        path: Option<&std::path::Path>,
        diagram_from: Duration,
    ) -> std::io::Result<JournalFile> {
        let out = match path {
            Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
            None => None,
        };
        Ok(JournalFile {
            out,
            diagram_from,
            written: 0,
            skipped: 0,
            sample: std::collections::BinaryHeap::new(),
        })
    }

    pub fn record(&mut self, record: &MessageRecord) {
        use std::io::Write;
        if let Some(out) = &mut self.out {
            if self.written < JOURNAL_FILE_LIMIT {
                if serde_json::to_writer(&mut *out, record).is_ok() {
                    let _ = out.write_all(b"\n");
                }
                self.written += 1;
            } else {
                self.skipped += 1;
            }
        }
        if record.sent < self.diagram_from {
            return;
        }
        if self.sample.len() < DIAGRAM_MESSAGES {
            self.sample.push(ById(record.clone()));
        } else if self.sample.peek().is_some_and(|top| record.id < top.0.id) {
            self.sample.pop();
            self.sample.push(ById(record.clone()));
        }
    }

    /// Flushes the file and hands back what was written.
    pub fn finish(&mut self) -> JournalSummary {
        use std::io::Write;
        if let Some(out) = &mut self.out {
            let _ = out.flush();
        }
        let sample: Vec<MessageRecord> = std::mem::take(&mut self.sample)
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.0)
            .collect();
        JournalSummary {
            written: self.written,
            skipped: self.skipped,
            sample,
        }
    }
}

/// A journal file shared between the network (which writes it) and the
/// runner (which finishes it at the end of the run).
pub type SharedJournal = std::sync::Arc<std::sync::Mutex<JournalFile>>;

/// The sink that writes into a shared journal file.
pub fn journal_sink(file: &SharedJournal) -> JournalSink {
    let file = file.clone();
    Box::new(move |record| {
        if let Ok(mut f) = file.lock() {
            f.record(record);
        }
    })
}

#[cfg(test)]
mod journal_tests {
    use super::*;

    fn record(id: u64, sent_ms: u64) -> MessageRecord {
        MessageRecord {
            id,
            src: "n0".into(),
            dest: "n1".into(),
            kind: "gossip".into(),
            bytes: 10,
            client: false,
            sent: Duration::from_millis(sent_ms),
            delivered: Vec::new(),
            dropped: Vec::new(),
        }
    }

    #[test]
    fn the_diagram_keeps_the_first_messages_sent_whenever_they_settle() {
        let mut file = JournalFile::create(None, Duration::from_millis(100)).unwrap();
        // Sent before the window: never kept.
        file.record(&record(1, 50));
        // Later ids settle first and fill the sample...
        for id in (3..3 + DIAGRAM_MESSAGES as u64).rev() {
            file.record(&record(id, 200));
        }
        // ...then message 2, sent early in the window, arrives late.
        file.record(&record(2, 150));
        let sample = file.finish().sample;
        assert_eq!(sample.len(), DIAGRAM_MESSAGES);
        assert_eq!(sample[0].id, 2, "the late one is kept");
        assert!(sample.windows(2).all(|w| w[0].id < w[1].id), "in id order");
        assert_eq!(sample.last().unwrap().id, 1 + DIAGRAM_MESSAGES as u64);
    }

    #[test]
    fn the_network_counts_and_journals_every_copy_once() {
        let sink: std::sync::Arc<std::sync::Mutex<Vec<MessageRecord>>> = Default::default();
        let shared = sink.clone();
        let config = NetConfig {
            duplicate: 1.0,
            ..NetConfig::default()
        };
        let mut net = Network::new(config, 7, vec!["n0".into(), "n1".into()]);
        net.record_journal(Box::new(move |r| shared.lock().unwrap().push(r.clone())));
        let at = Duration::from_millis(1);
        let (id, fate) = net.send(at, 0, 1, "gossip", 10);
        assert_eq!(fate, Fate::Arrives(vec![at, at]), "duplicated");
        assert!(net.arrives(id, 0, 1, at));
        assert!(sink.lock().unwrap().is_empty(), "one copy still on its way");
        net.partition(Partition::cut(2, &[(0, 1)]));
        assert!(!net.arrives(id, 0, 1, at), "cut in flight");
        let (id2, _) = net.send(at, 0, 1, "gossip", 10);
        net.end_of_run(at, 0);
        let records = sink.lock().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].id, id);
        assert_eq!(records[0].delivered, [at]);
        assert_eq!(records[0].dropped[0].reason, DropReason::Partition);
        assert_eq!(records[1].id, id2);
        assert_eq!(records[1].dropped[0].reason, DropReason::Partition);
        let stats = net.stats();
        assert_eq!(
            (stats.sent, stats.delivered, stats.dropped_by_partition),
            (2, 1, 2)
        );
    }
}
