//! What a run measured: the report as one JSON document, and for many seeds
//! the distribution of every metric with the seeds that failed. Its readable
//! text is drawn in `table`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

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
    Kill,
    Restart,
    Pause,
    Resume,
    /// Nodes' wall clocks jump by an offset each (Jepsen's bump).
    #[serde(rename = "clock-bump")]
    ClockBump,
    /// Nodes' wall clocks flip between an offset and none (Jepsen's strobe).
    #[serde(rename = "clock-strobe")]
    ClockStrobe,
    /// The skewed clocks are on time again (Jepsen's reset).
    #[serde(rename = "clock-reset")]
    ClockReset,
}

impl FaultAction {
    /// Whether it ends a fault.
    pub fn is_recovery(self) -> bool {
        matches!(
            self,
            FaultAction::Heal
                | FaultAction::Restart
                | FaultAction::Resume
                | FaultAction::ClockReset
        )
    }
}

impl std::fmt::Display for FaultAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FaultAction::Partition => "partition",
            FaultAction::Heal => "heal",
            FaultAction::Kill => "kill",
            FaultAction::Restart => "restart",
            FaultAction::Pause => "pause",
            FaultAction::Resume => "resume",
            FaultAction::ClockBump => "clock-bump",
            FaultAction::ClockStrobe => "clock-strobe",
            FaultAction::ClockReset => "clock-reset",
        })
    }
}

/// What a clock bump or strobe did to one node's wall clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockChange {
    pub node: String,
    /// A bump's offset; a strobe's, which it takes every other period.
    pub offset_ms: i64,
    /// A strobe's period: how long each of its two states lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_ms: Option<u64>,
}

impl std::fmt::Display for ClockChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:+} ms", self.node, self.offset_ms)?;
        if let Some(period) = self.period_ms {
            write!(f, " on and off every {period} ms")?;
        }
        Ok(())
    }
}

/// A fault started or ended: a partition or heal, nodes killed, restarted,
/// paused or resumed, clocks skewed or reset.
#[derive(Debug, Clone, Serialize)]
pub struct FaultEvent {
    #[serde(serialize_with = "secs")]
    pub at: Duration,
    pub action: FaultAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
    /// A clock bump's or strobe's offsets, node by node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clocks: Vec<ClockChange>,
}

impl FaultEvent {
    pub fn partition(at: Duration, pattern: PartitionPattern, p: &Partition) -> FaultEvent {
        FaultEvent {
            at,
            action: FaultAction::Partition,
            pattern: Some(pattern.to_string()),
            groups: Some(p.description.clone()),
            clocks: Vec::new(),
        }
    }

    /// A kill, restart, pause, resume or clock reset of `nodes` (indices
    /// into `names`); a kill or pause names the target that chose them
    /// (`minority`).
    pub fn on_nodes(
        at: Duration,
        action: FaultAction,
        target: Option<&str>,
        nodes: &[usize],
        names: &[String],
    ) -> FaultEvent {
        let names: Vec<&str> = nodes.iter().map(|&n| names[n].as_str()).collect();
        FaultEvent {
            at,
            action,
            pattern: target.map(str::to_string),
            groups: Some(format!("[{}]", names.join(" "))),
            clocks: Vec::new(),
        }
    }

    /// A clock bump or strobe of `nodes`, chosen by `target`, with what it
    /// did to each node's clock.
    pub fn clocks(
        at: Duration,
        action: FaultAction,
        target: &str,
        nodes: &[usize],
        names: &[String],
        clocks: Vec<ClockChange>,
    ) -> FaultEvent {
        FaultEvent {
            clocks,
            ..FaultEvent::on_nodes(at, action, Some(target), nodes, names)
        }
    }

    pub fn heal(at: Duration) -> FaultEvent {
        FaultEvent {
            at,
            action: FaultAction::Heal,
            pattern: None,
            groups: None,
            clocks: Vec::new(),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// workload's schema: the operation is indeterminate (a probe's reply:
    /// no sample of the node).
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
    /// What the run could not do as asked, without making it invalid (a
    /// foreign node whose clock the runner cannot skew).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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
    /// The checker's pictures of why it failed
    /// ([`Verdict::windows`](crate::Verdict)).
    #[serde(skip)]
    pub windows: Vec<crate::figure::OpsWindow>,
}

impl Report {
    /// Why the run is not valid, in one line: its verdict and its first
    /// failure, or (unknown) the first reason the checkers could not tell
    /// — `INVALID: …`, `UNKNOWN: …`; `None` when valid.
    pub fn why(&self) -> Option<String> {
        if self.valid {
            return None;
        }
        let why = self.failures.first().or(self.unknown.first());
        let why = why.map_or("", String::as_str);
        Some(format!("{}: {why}", self.validity.word()))
    }

    /// How many fault events of `action` the run had.
    pub fn fault_count(&self, action: FaultAction) -> usize {
        self.faults.iter().filter(|f| f.action == action).count()
    }

    /// The clock faults (bumps and strobes) the run had.
    pub fn clock_faults(&self) -> usize {
        self.fault_count(FaultAction::ClockBump) + self.fault_count(FaultAction::ClockStrobe)
    }

    /// The largest clock offset any node had, in absolute milliseconds (0
    /// without clock faults): the run's skew.
    pub fn max_clock_skew_ms(&self) -> u64 {
        self.faults
            .iter()
            .flat_map(|f| &f.clocks)
            .map(|c| c.offset_ms.unsigned_abs())
            .max()
            .unwrap_or(0)
    }

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
                self.fault_count(FaultAction::Partition) as f64,
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
        // Kills and pauses only where the run asked for them, so tables of
        // partition-only campaigns stay as they were.
        if self.config.nemesis.has(crate::config::Nemesis::Kill) {
            let kills = self.fault_count(FaultAction::Kill) as f64;
            m.push(Metric::new("kills", kills, ""));
            m.push(Metric::new(
                "messages lost to kills",
                self.net.dropped_by_crash as f64,
                "",
            ));
        }
        if self.config.nemesis.has(crate::config::Nemesis::Pause) {
            let pauses = self.fault_count(FaultAction::Pause) as f64;
            m.push(Metric::new("pauses", pauses, ""));
        }
        if self.config.nemesis.has(crate::config::Nemesis::Clock) {
            m.push(Metric::new("clock faults", self.clock_faults() as f64, ""));
            let skew = self.max_clock_skew_ms() as f64;
            m.push(Metric::new("max clock skew", skew, "ms"));
        }
        m.extend(self.checker.iter().cloned());
        m.extend(self.runner.iter().cloned());
        m
    }
}

/// Distribution of one metric over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    pub name: String,
    pub unit: String,
    pub runs: usize,
    pub min: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// What a campaign over seeds keeps of one seed's run: all its summary
/// needs (the verdict, why it failed, every metric), and all a shard file
/// carries of the run (`shard`), so a merged campaign is summarised from
/// the same values as an unsplit one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub validity: Validity,
    /// [`Report::why`]: set when the run is not valid.
    pub why: Option<String>,
    pub metrics: Vec<SeedMetric>,
}

/// One of a run's [`Report::metrics`], with its unit owned (it is read
/// back from shard files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedMetric {
    pub name: String,
    #[serde(with = "exact_f64")]
    pub value: f64,
    pub unit: String,
}

impl SeedResult {
    pub fn of(report: &Report) -> SeedResult {
        SeedResult {
            seed: report.config.seed,
            validity: report.validity,
            why: report.why(),
            metrics: report
                .metrics()
                .into_iter()
                .map(|m| SeedMetric {
                    name: m.name,
                    value: m.value,
                    unit: m.unit.to_string(),
                })
                .collect(),
        }
    }
}

/// A metric's value written so that reading it back gives the same bits:
/// finite values as JSON numbers (serde_json writes the shortest text that
/// parses back to them), read from their text with Rust's correctly
/// rounded parser (serde_json's default one may be one bit off), and the
/// values JSON has no number for as the strings `NaN`, `inf` and `-inf`.
mod exact_f64 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use serde_json::value::RawValue;

    pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            s.serialize_f64(*value)
        } else {
            s.serialize_str(&value.to_string())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let raw = <Box<RawValue>>::deserialize(d)?;
        let text = raw.get();
        let text = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(word @ ("NaN" | "inf" | "-inf")) => word,
            Some(other) => return Err(D::Error::custom(format!("not a number: {other:?}"))),
            None => text,
        };
        text.parse()
            .map_err(|_| D::Error::custom(format!("not a number: {text}")))
    }
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
    /// The summary of whole reports (see [`Summary::of`]).
    pub fn new(reports: &[Report]) -> Summary {
        let results: Vec<SeedResult> = reports.iter().map(SeedResult::of).collect();
        let workload = reports.first().map_or("", |r| r.workload.as_str());
        Summary::of(workload, &results)
    }

    /// The summary of a campaign of `workload` from its seeds' results, in
    /// the order of its seed list (means add up in that order): each
    /// metric's distribution over the seeds, and the failing seeds. The
    /// one summary of campaigns, sweeps and merged shards.
    pub fn of(workload: &str, results: &[SeedResult]) -> Summary {
        let mut by_name: Vec<(&str, &str, Vec<f64>)> = Vec::new();
        for r in results {
            for m in &r.metrics {
                match by_name.iter_mut().find(|(n, _, _)| *n == m.name) {
                    Some((_, _, v)) => v.push(m.value),
                    None => by_name.push((&m.name, &m.unit, vec![m.value])),
                }
            }
        }
        let metrics = by_name
            .into_iter()
            .map(|(name, unit, mut values)| {
                values.sort_by(f64::total_cmp);
                Spread {
                    name: name.to_string(),
                    unit: unit.to_string(),
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
            workload: workload.to_string(),
            seeds: results.iter().map(|r| r.seed).collect(),
            failing_seeds: results
                .iter()
                .filter_map(|r| Some((r.seed, r.why.clone()?)))
                .collect(),
            metrics,
        }
    }
}
