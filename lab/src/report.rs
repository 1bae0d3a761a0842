//! What a run reports: a readable table, one JSON document, and for many
//! seeds the distribution of every metric with the seeds that failed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::config::SimConfig;
use crate::figure::Plot;
use crate::lab::{History, Metric, quantile};
use crate::network::NetStats;
use crate::network::{Partition, PartitionPattern};

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e6)
}

/// What a fault event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultAction {
    Partition,
    Heal,
}

impl std::fmt::Display for FaultAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FaultAction::Partition => "partition",
            FaultAction::Heal => "heal",
        })
    }
}

/// A partition started or healed.
#[derive(Debug, Clone, Serialize)]
pub struct FaultEvent {
    #[serde(serialize_with = "secs")]
    pub at: Duration,
    pub action: FaultAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
}

impl FaultEvent {
    pub fn partition(at: Duration, pattern: PartitionPattern, p: &Partition) -> FaultEvent {
        FaultEvent {
            at,
            action: FaultAction::Partition,
            pattern: Some(pattern.to_string()),
            groups: Some(p.description.clone()),
        }
    }

    pub fn heal(at: Duration) -> FaultEvent {
        FaultEvent {
            at,
            action: FaultAction::Heal,
            pattern: None,
            groups: None,
        }
    }
}

/// When the phases of a run began, in run time (seconds in JSON).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases {
    /// Every node answered `init` (and the lab's setup message): the
    /// clients start, and the time limit counts from here.
    #[serde(serialize_with = "secs")]
    pub setup_done: Duration,
    /// The clients stopped issuing operations (time limit, or their work
    /// done), and the final heal came.
    #[serde(serialize_with = "secs")]
    pub clients_done: Duration,
    /// The settle ended and the final reads began.
    #[serde(serialize_with = "secs")]
    pub final_reads: Duration,
    /// The run ended.
    #[serde(serialize_with = "secs")]
    pub end: Duration,
}

/// Client operations by outcome and by type.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpCounts {
    pub total: u64,
    pub ok: u64,
    pub fail: u64,
    /// Indeterminate: timed out or failed with an indefinite error.
    pub info: u64,
    pub by_kind: BTreeMap<String, u64>,
}

impl OpCounts {
    pub fn of(history: &History) -> OpCounts {
        let mut counts = OpCounts::default();
        for op in &history.ops {
            counts.total += 1;
            match op.outcome {
                crate::lab::Outcome::Ok { .. } => counts.ok += 1,
                crate::lab::Outcome::Fail { .. } => counts.fail += 1,
                crate::lab::Outcome::Info { .. } => counts.info += 1,
            }
            *counts.by_kind.entry(op.kind.clone()).or_default() += 1;
        }
        counts
    }
}

/// A run's verdict, as Maelstrom's: valid, invalid, or unknown (the
/// checkers could not tell: no operation of some kind succeeded, no value
/// became stable). Exit statuses 0, 1 and 2, as Maelstrom's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    Valid,
    Invalid,
    Unknown,
}

impl Validity {
    /// Invalid unless `valid`; unknown if valid but some checker could not
    /// tell.
    pub fn of(valid: bool, unknown: &[String]) -> Validity {
        match (valid, unknown.is_empty()) {
            (false, _) => Validity::Invalid,
            (true, false) => Validity::Unknown,
            (true, true) => Validity::Valid,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Validity::Valid => "VALID",
            Validity::Invalid => "INVALID",
            Validity::Unknown => "UNKNOWN",
        }
    }

    /// The process exit status: 0, 1, 2, as Maelstrom's.
    pub fn exit_code(self) -> u8 {
        match self {
            Validity::Valid => 0,
            Validity::Invalid => 1,
            Validity::Unknown => 2,
        }
    }

    /// The worst of several runs' verdicts (invalid over unknown over valid).
    pub fn worst(all: impl IntoIterator<Item = Validity>) -> Validity {
        all.into_iter().fold(Validity::Valid, |a, b| match (a, b) {
            (Validity::Invalid, _) | (_, Validity::Invalid) => Validity::Invalid,
            (Validity::Unknown, _) | (_, Validity::Unknown) => Validity::Unknown,
            _ => Validity::Valid,
        })
    }
}

/// The load the runner's probe reads put on the nodes (real processes).
#[derive(Debug, Clone, Serialize)]
pub struct ProbeLoad {
    /// `--probe-ms` as given: `auto`, `off`, or milliseconds.
    pub setting: String,
    /// How often each node was probed (none when off).
    pub every_node_ms: Option<f64>,
    pub requests: u64,
    /// Probe requests per second between setup and the final reads.
    pub per_second: f64,
    /// Probe requests per client request.
    pub share_of_client_requests: f64,
    /// How often, on average, each node's state was sampled, by probes and
    /// by the clients' own reads: the resolution of every convergence and
    /// delivery time of the run (they are upper bounds, late by up to
    /// about this much per node).
    pub sampled_every_ms: Option<f64>,
}

/// Replies that completed no operation, by why.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplyProblems {
    /// To an operation that had timed out (its client was closed): normal
    /// under faults.
    pub late: u64,
    /// A second reply to an operation already answered (ignored, as
    /// Maelstrom's client does).
    pub duplicate: u64,
    /// To a request its client never sent, to a client that never
    /// existed, or without `in_reply_to`: a protocol error.
    pub stray: u64,
    /// Not the request's `_ok` type nor an error, or outside the
    /// workload's schema: the operation is indeterminate.
    pub malformed: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stray_examples: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub malformed_examples: Vec<String>,
}

impl ReplyProblems {
    /// The failure lines stray and malformed replies give a run.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        let more = |n: u64, shown: usize| {
            if n as usize > shown {
                format!(" (and {} more like it)", n as usize - shown)
            } else {
                String::new()
            }
        };
        for (i, e) in self.stray_examples.iter().enumerate() {
            let tail = if i + 1 == self.stray_examples.len() {
                more(self.stray, self.stray_examples.len())
            } else {
                String::new()
            };
            out.push(format!("reply to no request: {e}{tail}"));
        }
        for (i, e) in self.malformed_examples.iter().enumerate() {
            let tail = if i + 1 == self.malformed_examples.len() {
                more(self.malformed, self.malformed_examples.len())
            } else {
                String::new()
            };
            out.push(format!("malformed reply: {e}{tail}"));
        }
        out
    }
}

/// The result of one simulated run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub workload: String,
    pub config: SimConfig,
    /// The tool and the node program this run tested.
    pub tested: crate::config::Tested,
    /// Valid: the checker's verdict, no handler panicked, every message
    /// went to a known destination, every reply answered a request; and
    /// every kind of operation succeeded at least once.
    pub validity: Validity,
    /// `validity == Valid`.
    pub valid: bool,
    pub failures: Vec<String>,
    /// Why the verdict is unknown (empty otherwise).
    pub unknown: Vec<String>,
    pub ops: OpCounts,
    /// Maelstrom's definition: node-to-node messages / all client
    /// operations (reads and final reads included).
    pub msgs_per_op: f64,
    pub bytes_per_op: f64,
    pub net: NetStats,
    pub faults: Vec<FaultEvent>,
    /// The workload checker's measurements.
    pub checker: Vec<Metric>,
    /// The runner's own measurements (real processes: scheduling lag).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runner: Vec<Metric>,
    /// The probe reads' load (real processes; none in the simulator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<ProbeLoad>,
    pub panics: u64,
    /// Replies that completed no operation.
    pub replies: ReplyProblems,
    /// Simulator events processed.
    pub events: u64,
    pub simulated_s: f64,
    pub phases: Phases,
    /// What the message journal wrote (runs with a results folder), and
    /// the messages kept for the diagram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal: Option<crate::network::JournalSummary>,
    #[serde(skip)]
    pub history: History,
    /// The checker's charts ([`Verdict::plots`](crate::Verdict));
    /// the page draws the run's own ([`Report::run_plots`]) beside them.
    #[serde(skip)]
    pub plots: Vec<Plot>,
}

impl Report {
    /// Every numeric measure, for distributions over seeds.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut m = vec![
            Metric::new("msgs-per-op", self.msgs_per_op, ""),
            Metric::new("bytes-per-op", self.bytes_per_op, "B"),
            Metric::new("ops", self.ops.total as f64, ""),
            Metric::new("ops indeterminate", self.ops.info as f64, ""),
            Metric::new("server messages", self.net.sent as f64, ""),
            Metric::new(
                "partitions",
                self.faults
                    .iter()
                    .filter(|f| f.action == FaultAction::Partition)
                    .count() as f64,
                "",
            ),
            Metric::new("messages lost", self.net.dropped_by_loss as f64, ""),
            Metric::new(
                "messages cut by partitions",
                self.net.dropped_by_partition as f64,
                "",
            ),
            Metric::new("messages duplicated", self.net.duplicated as f64, ""),
        ];
        m.extend(self.checker.iter().cloned());
        m.extend(self.runner.iter().cloned());
        m
    }

    /// The readable report.
    pub fn table(&self) -> String {
        let c = &self.config;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "workload {}  nodes {}  seed {}  latency {} ms ({})  rate {}/s  time {} s{}{}{}",
            self.workload,
            c.nodes,
            c.seed,
            c.latency,
            format!("{:?}", c.latency_dist).to_lowercase(),
            c.rate,
            c.time_limit,
            c.nemesis
                .map(|_| format!("  nemesis partition every ~{} s", c.nemesis_interval))
                .unwrap_or_default(),
            if c.loss > 0.0 {
                format!("  loss {}", c.loss)
            } else {
                String::new()
            },
            if c.duplicate > 0.0 {
                format!("  duplicate {}", c.duplicate)
            } else {
                String::new()
            },
        );
        let t = &self.tested;
        let _ = writeln!(out, "node          {}", t.node);
        for f in &t.files {
            let _ = writeln!(
                out,
                "              {}: {} bytes, fnv64 {}",
                f.path, f.bytes, f.fnv64
            );
        }
        let _ = writeln!(out, "tool          {}", t.tool);
        let _ = writeln!(
            out,
            "settings      settle {} s, op timeout {} s, concurrency {}{}{}{}",
            c.settle,
            c.op_timeout,
            c.concurrency.unwrap_or(c.nodes),
            c.ops
                .map(|n| format!(", at most {n} ops"))
                .unwrap_or_default(),
            c.partition_pattern
                .map(|p| format!(", partitions only {p}"))
                .unwrap_or_default(),
            // The simulator sees every step and never probes.
            if self.probes.is_some() {
                format!(", probes {}", c.probe_ms)
            } else {
                String::new()
            },
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "operations    {} ({} ok, {} failed, {} indeterminate)  {}",
            self.ops.total,
            self.ops.ok,
            self.ops.fail,
            self.ops.info,
            self.ops
                .by_kind
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            out,
            "messages      {} between nodes, {:.2} msgs-per-op, {:.0} bytes-per-op",
            self.net.sent, self.msgs_per_op, self.bytes_per_op
        );
        let _ = writeln!(
            out,
            "network       {} delivered, {} dropped by partitions, {} lost, {} duplicated{}{}",
            self.net.delivered,
            self.net.dropped_by_partition,
            self.net.dropped_by_loss,
            self.net.duplicated,
            match self.net.in_flight_at_end {
                0 => String::new(),
                n => format!(", {n} in flight at the end"),
            },
            match self.net.dropped_by_overload {
                0 => String::new(),
                n => format!(", {n} dropped by overload (a node read slower than it was sent to)"),
            }
        );
        for (kind, t) in &self.net.by_type {
            let _ = writeln!(
                out,
                "  {:<18} {:>9} msgs {:>12} bytes",
                kind, t.messages, t.bytes
            );
        }
        let busiest = self
            .net
            .per_node
            .iter()
            .enumerate()
            .max_by_key(|(_, t)| t.sent);
        if let Some((i, t)) = busiest {
            let _ = writeln!(
                out,
                "  busiest node       n{i}: {} sent, {} received",
                t.sent, t.received
            );
        }
        if !self.faults.is_empty() {
            let parts = self
                .faults
                .iter()
                .filter(|f| f.action == FaultAction::Partition)
                .count();
            let _ = writeln!(out, "faults        {parts} partition(s):");
            for f in &self.faults {
                let _ = writeln!(
                    out,
                    "  {:>8.3} s  {} {}",
                    f.at.as_secs_f64(),
                    f.action,
                    f.pattern
                        .as_deref()
                        .map(|p| format!("{p} {}", f.groups.as_deref().unwrap_or("")))
                        .unwrap_or_default()
                );
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "checker");
        for m in &self.checker {
            let _ = writeln!(
                out,
                "  {:<34} {:>12} {}",
                m.name,
                format_value(m.value),
                m.unit
            );
        }
        let reply_counts = [
            ("late replies (to closed clients)", self.replies.late),
            ("duplicate replies (ignored)", self.replies.duplicate),
            ("replies to no request", self.replies.stray),
            ("malformed replies", self.replies.malformed),
            (
                "client requests dropped by overload",
                self.net.client_dropped_by_overload,
            ),
        ];
        let any_count = reply_counts.iter().any(|(_, n)| *n > 0);
        if !self.runner.is_empty() || self.probes.is_some() || any_count {
            let _ = writeln!(out, "runner");
            for m in &self.runner {
                let _ = writeln!(
                    out,
                    "  {:<34} {:>12} {}",
                    m.name,
                    format_value(m.value),
                    m.unit
                );
            }
        }
        if let Some(p) = &self.probes {
            let every = p
                .every_node_ms
                .map(|ms| format!(", each node every {}", format_ms(ms)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<34} {:>12} ({:.1}/s, {:.0}% of client requests{every})",
                format!("probe reads (--probe-ms {})", p.setting),
                p.requests,
                p.per_second,
                p.share_of_client_requests * 100.0
            );
            if let Some(ms) = p.sampled_every_ms {
                let _ = writeln!(
                    out,
                    "  {:<34} {:>12} ms (probes and client reads: times the checker saw are late by up to ~this)",
                    "node state sampled every",
                    format_value(ms.round())
                );
            }
        }
        for (what, n) in reply_counts {
            if n > 0 {
                let _ = writeln!(out, "  {what:<34} {n:>12}");
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", self.validity.word());
        let reasons: Vec<&String> = match self.validity {
            Validity::Valid => Vec::new(),
            Validity::Invalid => self.failures.iter().collect(),
            Validity::Unknown => self.unknown.iter().collect(),
        };
        for f in reasons.iter().take(20) {
            let _ = writeln!(out, "  - {f}");
        }
        if reasons.len() > 20 {
            let _ = writeln!(out, "  … and {} more (see report.json)", reasons.len() - 20);
        }
        out
    }
}

/// Milliseconds as a person reads them: "250 ms", "2.5 s".
fn format_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", format_value((ms / 100.0).round() / 10.0))
    } else {
        format!("{} ms", format_value(ms.round()))
    }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// Two runs of the same settings, without and with partitions, as one
/// table: every metric side by side, then each run's verdict.
pub fn side_by_side(normal: &Report, partitioned: &Report) -> String {
    let mut out = String::new();
    let c = &normal.config;
    let _ = writeln!(
        out,
        "workload {}  nodes {}  seed {}  latency {} ms  rate {}/s  time {} s  (partitions every ~{} s on the right)\n",
        normal.workload,
        c.nodes,
        c.seed,
        c.latency,
        c.rate,
        c.time_limit,
        partitioned.config.nemesis_interval
    );
    let _ = writeln!(
        out,
        "  {:<46} {:>14} {:>14}",
        "metric", "normal", "partitioned"
    );
    let right = partitioned.metrics();
    for m in normal.metrics() {
        let other = right
            .iter()
            .find(|r| r.name == m.name)
            .map_or("-".to_string(), |r| format_value(r.value));
        let _ = writeln!(
            out,
            "  {:<46} {:>14} {:>14} {}",
            m.name,
            format_value(m.value),
            other,
            m.unit
        );
    }
    for r in right
        .iter()
        .filter(|r| !normal.metrics().iter().any(|m| m.name == r.name))
    {
        let _ = writeln!(
            out,
            "  {:<46} {:>14} {:>14} {}",
            r.name,
            "-",
            format_value(r.value),
            r.unit
        );
    }
    let parts = partitioned
        .faults
        .iter()
        .filter(|f| f.action == FaultAction::Partition)
        .count();
    let _ = writeln!(out, "  {:<46} {:>14} {:>14}", "partitions", 0, parts);
    for (label, r) in [("normal", normal), ("partitioned", partitioned)] {
        let _ = writeln!(out, "\n{label}: {}", r.validity.word());
        for f in r.failures.iter().chain(&r.unknown).take(10) {
            let _ = writeln!(out, "  - {f}");
        }
    }
    out
}

/// Distribution of one metric over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    pub name: String,
    pub unit: &'static str,
    pub runs: usize,
    pub min: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Many seeds of the same settings.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub workload: String,
    pub seeds: Vec<u64>,
    pub failing_seeds: Vec<(u64, String)>,
    pub metrics: Vec<Spread>,
}

impl Summary {
    pub fn new(reports: &[Report]) -> Summary {
        let mut by_name: Vec<(String, &'static str, Vec<f64>)> = Vec::new();
        for r in reports {
            for m in r.metrics() {
                match by_name.iter_mut().find(|(n, _, _)| *n == m.name) {
                    Some((_, _, v)) => v.push(m.value),
                    None => by_name.push((m.name, m.unit, vec![m.value])),
                }
            }
        }
        let metrics = by_name
            .into_iter()
            .map(|(name, unit, mut values)| {
                values.sort_by(f64::total_cmp);
                Spread {
                    name,
                    unit,
                    runs: values.len(),
                    min: values[0],
                    p50: quantile(&values, 0.5),
                    p99: quantile(&values, 0.99),
                    max: values[values.len() - 1],
                    mean: values.iter().sum::<f64>() / values.len() as f64,
                }
            })
            .collect();
        Summary {
            workload: reports
                .first()
                .map(|r| r.workload.clone())
                .unwrap_or_default(),
            seeds: reports.iter().map(|r| r.config.seed).collect(),
            failing_seeds: reports
                .iter()
                .filter(|r| !r.valid)
                .map(|r| {
                    let why = r.failures.first().or(r.unknown.first());
                    let why = why.cloned().unwrap_or_default();
                    (r.config.seed, format!("{}: {why}", r.validity.word()))
                })
                .collect(),
            metrics,
        }
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "workload {}: {} seeds ({}..{}), {} failed",
            self.workload,
            self.seeds.len(),
            self.seeds.first().copied().unwrap_or(0),
            self.seeds.last().copied().unwrap_or(0),
            self.failing_seeds.len()
        );
        let _ = writeln!(
            out,
            "  {:<34} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "metric", "min", "p50", "p99", "max", "mean"
        );
        for m in &self.metrics {
            let _ = writeln!(
                out,
                "  {:<34} {:>10} {:>10} {:>10} {:>10} {:>10} {}",
                m.name,
                format_value(m.min),
                format_value(m.p50),
                format_value(m.p99),
                format_value(m.max),
                format!("{:.2}", m.mean),
                m.unit
            );
        }
        if self.failing_seeds.is_empty() {
            let _ = writeln!(out, "\nALL VALID");
        } else {
            let _ = writeln!(out, "\nFAILING SEEDS (replay with --seed N):");
            for (seed, why) in &self.failing_seeds {
                let _ = writeln!(out, "  {seed}: {why}");
            }
        }
        out
    }
}
