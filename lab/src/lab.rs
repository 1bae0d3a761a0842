//! What a workload brings to the simulator: its clients' operations and its
//! checker. Each workload crate has a small `lab` module implementing
//! [`Lab`] next to its handler, and registers it with
//! [`crate::SpecRegistration`].

use std::time::Duration;

use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::Value;

use crate::network::NetStats;
use maelstrom_framework::View;
use maelstrom_framework::error::Error;
use maelstrom_framework::protocol::NodeId;

/// What a lab knows of the cluster it is built for.
#[derive(Debug, Clone)]
pub struct LabSetup {
    pub node_ids: Vec<NodeId>,
}

/// The client thread an operation is for: Jepsen's worker thread (bound
/// to one node for the run) and the process now running on it (a new
/// client id after an indeterminate operation).
#[derive(Debug, Clone, Copy)]
pub struct ClientThread<'a> {
    /// The thread's number, 0-based, as in Jepsen (thread i works node
    /// i mod the node count).
    pub thread: usize,
    /// How many threads the run has (`--concurrency`).
    pub threads: usize,
    /// The client id it sends as now (`c7`).
    pub client: &'a str,
}

/// A workload's clients and checker, for one run.
pub trait Lab {
    /// A message to send each node right after `init` (Maelstrom sends
    /// broadcast's `topology`), or `None`.
    fn setup_message(&mut self, _node: &str, _node_ids: &[NodeId]) -> Option<Value> {
        None
    }

    /// The body of the next client operation (`{"type": "add", "delta": 3}`),
    /// or `None` when the lab's clients are done.
    fn next_op(&mut self, rng: &mut StdRng) -> Option<Value>;

    /// The next operation for a given client thread, which the driver
    /// asks: a lab whose operations depend on the thread (Maelstrom's
    /// lin-kv gives each group of threads a key, and half of a group only
    /// reads) or on the client process (`client.client`: a client whose
    /// operation timed out is closed, and its thread goes on under a new
    /// id; kafka's clients keep their assigned keys and poll positions)
    /// overrides it; the others get [`Lab::next_op`].
    fn next_op_for(&mut self, _client: ClientThread<'_>, rng: &mut StdRng) -> Option<Value> {
        self.next_op(rng)
    }

    /// A client operation completed (ok, failed or indeterminate, final
    /// reads included): a lab whose clients act on what they were told
    /// (kafka's polls advance its positions) learns it here.
    fn completed(&mut self, _op: &Op) {}

    /// How many operations the clients will issue in all, when the lab
    /// has a fixed amount of work (the counter's `--adds N`); `None` when
    /// they go on until the time limit.
    fn op_budget(&self) -> Option<u64> {
        None
    }

    /// The bodies of the final reads sent to every node after healing and
    /// settling, one after the other (kv reads every key).
    fn final_reads(&self) -> Vec<Value>;

    /// A final read that succeeded (`op`), and the read its client sends
    /// next in the same round, if any: kafka polls on from where a page
    /// ended until it has what was acknowledged, as Maelstrom's final
    /// polls do. The round's deadline still bounds them all.
    fn final_read_after(&self, _op: &Op) -> Option<Value> {
        None
    }

    /// Called after every step of a node with what it shows of its state
    /// (none for a node without [`maelstrom_framework::Handler::view`]), so
    /// the lab can record what only the simulator can see: when a value
    /// first reached a node, when all nodes first agreed.
    fn observe(&mut self, _now: Duration, _node: usize, _view: Option<View<'_>>) {}

    /// `node` was restarted at `now` (`--nemesis kill`): a fresh process,
    /// which holds only what it recovers or hears from now on. A lab that
    /// tracks what each node holds starts that node over.
    fn restarted(&mut self, _now: Duration, _node: usize) {}

    /// The read the runner's next probe sends to `node`, when the nodes
    /// are real processes whose handlers cannot be observed (`None`: this
    /// lab does not probe). Probes are client messages, not operations; a
    /// lab may pick what is most worth asking that node (kv: a key it is
    /// not yet known to hold).
    fn probe(&mut self, _node: usize) -> Option<Value> {
        None
    }

    /// With real processes: a reply from `node` at `now` to `request` — a
    /// probe's, or any client operation's that succeeded — as a sample of
    /// the node's state. The driver has judged it first: it is the
    /// request's `_ok` type and passed [`Lab::validate_reply`]. Returns
    /// whether it sampled the node's whole state (a read of everything),
    /// for the report's sampling resolution.
    fn on_sample(
        &mut self,
        _now: Duration,
        _node: usize,
        _request: &Value,
        _reply: &Value,
    ) -> bool {
        false
    }

    /// Whether [`Lab::on_delivery`] should see node-to-node messages.
    fn watches_deliveries(&self) -> bool {
        false
    }

    /// With real processes, when [`Lab::watches_deliveries`]: a message
    /// body handed to node `to` at `now`. A lab whose task fixes the
    /// replication message (kv's `kv_merge` entries) learns from it what the
    /// node holds, without asking.
    fn on_delivery(&mut self, _now: Duration, _to: usize, _body: &Value) {}

    /// Checks the fields of an `_ok` reply to a `kind` request, beyond its
    /// type (which the driver checks): Maelstrom validates replies against
    /// closed schemas ([`closed_schema`]), and a reply that fails its
    /// schema completes its operation as indeterminate. `Err` says what is
    /// wrong, in words.
    fn validate_reply(&self, _kind: &str, _reply: &Value) -> Result<(), String> {
        Ok(())
    }

    /// Judges the run from its history (and what `observe` recorded);
    /// `net` has the node-to-node traffic, for per-operation costs.
    fn check(&mut self, history: &History, net: &NetStats) -> Verdict;
}

/// The JSON type a reply field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Any,
    /// An integer that fits i64 or u64.
    Integer,
    /// Any JSON number.
    Number,
    Array,
    Object,
    String,
}

impl Field {
    fn accepts(self, v: &Value) -> bool {
        match self {
            Field::Any => true,
            Field::Integer => v.is_i64() || v.is_u64(),
            Field::Number => v.is_number(),
            Field::Array => v.is_array(),
            Field::Object => v.is_object(),
            Field::String => v.is_string(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Field::Any => "any value",
            Field::Integer => "an integer",
            Field::Number => "a number",
            Field::Array => "a list",
            Field::Object => "an object",
            Field::String => "a string",
        }
    }
}

/// Checks `reply` against a closed schema, as Maelstrom's clients do: the
/// `fields` with their types, `type`, `in_reply_to`, an optional integer
/// `msg_id`, and nothing else (Maelstrom fails an operation whose reply
/// has an extra field).
pub fn closed_schema(reply: &Value, fields: &[(&str, Field)]) -> Result<(), String> {
    let Some(body) = reply.as_object() else {
        return Err("the body is not an object".into());
    };
    let mut problems = Vec::new();
    for (name, kind) in fields {
        match body.get(*name) {
            None => problems.push(format!("`{name}` is missing")),
            Some(v) if !kind.accepts(v) => {
                problems.push(format!("`{name}` is {v}, not {}", kind.name()))
            }
            Some(_) => {}
        }
    }
    if body
        .get("msg_id")
        .is_some_and(|v| !Field::Integer.accepts(v))
    {
        problems.push("`msg_id` is not an integer".into());
    }
    for key in body.keys() {
        let known = matches!(key.as_str(), "type" | "in_reply_to" | "msg_id")
            || fields.iter().any(|(name, _)| name == key);
        if !known {
            problems.push(format!(
                "extra field `{key}` (replies have a closed schema)"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join(", "))
    }
}

/// A lab's type, with its own flags (`--keys`, `--adds`…) on the
/// `sim` command.
pub trait LabSpec: Lab + Sized + 'static {
    type Options: clap::Args + clap::FromArgMatches + Clone + 'static;

    fn new(options: &Self::Options, setup: &LabSetup) -> Self;
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The node replied with its `_ok` body.
    Ok { body: Value },
    /// The node replied with a definite error: the operation did not happen.
    Fail { code: u32, text: String },
    /// It may or may not have happened, and why we cannot tell.
    Info {
        #[serde(serialize_with = "as_words")]
        reason: Indeterminate,
    },
}

/// Why an operation's outcome is unknown (Maelstrom's `:info`).
#[derive(Debug, Clone, PartialEq)]
pub enum Indeterminate {
    /// Invoked, no reply yet (only while the run goes on).
    Pending,
    /// No reply within the operation's timeout.
    TimedOut { after: Duration },
    /// The run stopped (a fatal problem, an interrupt) before any reply.
    Stopped,
    /// An indefinite error (timeout, crash, an application code).
    Error(Error),
    /// A reply that is not the request's `_ok` type nor an error, or that
    /// breaks the workload's schema: what is wrong with it.
    Malformed(String),
}

impl std::fmt::Display for Indeterminate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Indeterminate::Pending => f.write_str("no reply yet"),
            Indeterminate::TimedOut { after } => {
                // To the millisecond: a deadline cut to the phase's end is
                // a hair under the configured timeout.
                let secs = (after.as_secs_f64() * 1000.0).round() / 1000.0;
                write!(f, "no reply within {secs} s")
            }
            Indeterminate::Stopped => f.write_str("no reply before the run stopped"),
            Indeterminate::Error(e) => write!(f, "indeterminate {e}"),
            Indeterminate::Malformed(why) => write!(f, "malformed reply: {why}"),
        }
    }
}

fn as_words<S: serde::Serializer>(r: &Indeterminate, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(r)
}

impl std::fmt::Display for Outcome {
    /// In words, for failure lines: "ok", "error 20 (key-does-not-exist):
    /// not found", "no reply within 5 s".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ok { .. } => f.write_str("ok"),
            Outcome::Fail { code, text } => {
                let name = maelstrom_framework::ErrorCode::from_code(*code).name();
                write!(f, "error {code} ({name}): {text}")
            }
            Outcome::Info { reason } => write!(f, "{reason}"),
        }
    }
}

impl Outcome {
    pub fn from_error(error: &Error) -> Outcome {
        if error.is_definite() {
            Outcome::Fail {
                code: error.code.code(),
                text: error.text.clone(),
            }
        } else {
            Outcome::Info {
                reason: Indeterminate::Error(error.clone()),
            }
        }
    }
}

/// One client operation, from invocation to completion.
#[derive(Debug, Clone, Serialize)]
pub struct Op {
    pub client: String,
    pub node: usize,
    /// The request's `type`.
    pub kind: String,
    pub request: Value,
    /// Milliseconds since the run started, in JSON.
    #[serde(serialize_with = "as_millis")]
    pub invoke: Duration,
    /// When the reply arrived (or the operation timed out).
    #[serde(serialize_with = "as_millis")]
    pub complete: Duration,
    pub outcome: Outcome,
    /// One of the reads sent to every node at the end.
    pub final_read: bool,
    /// Positions of the invocation and the completion in the history's
    /// one order of events (Jepsen's history index): checkers that ask
    /// "did this read begin after that add completed" compare these, as
    /// many events share a virtual instant.
    #[serde(skip)]
    pub invoke_index: u64,
    #[serde(skip)]
    pub complete_index: u64,
}

impl Op {
    pub fn ok_body(&self) -> Option<&Value> {
        match &self.outcome {
            Outcome::Ok { body } => Some(body),
            _ => None,
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok { .. })
    }

    /// Certainly did not happen.
    pub fn is_fail(&self) -> bool {
        matches!(self.outcome, Outcome::Fail { .. })
    }
}

/// Every client operation of a run, in order of invocation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct History {
    pub ops: Vec<Op>,
    /// Node ids, indexed like [`Op::node`].
    pub node_ids: Vec<NodeId>,
    /// When the last partition healed (the end of faults), if any.
    #[serde(skip)]
    pub healed_at: Option<Duration>,
}

impl History {
    pub fn final_reads(&self) -> impl Iterator<Item = &Op> {
        self.ops.iter().filter(|op| op.final_read)
    }
}

/// Maelstrom's `:stats` checker, which every Maelstrom test composes with
/// its workload's: every kind of operation must have succeeded at least
/// once (Jepsen's stats fold: `:valid? (pos? oks)`), else the run is
/// invalid — a run where nothing of a kind succeeded shows nothing of it.
/// A run without any operation fails too.
pub fn stats_failures(history: &History) -> Vec<String> {
    let mut by_kind: std::collections::BTreeMap<&str, [u64; 3]> = Default::default();
    for op in &history.ops {
        let tally = by_kind.entry(op.kind.as_str()).or_default();
        match op.outcome {
            Outcome::Ok { .. } => tally[0] += 1,
            Outcome::Fail { .. } => tally[1] += 1,
            Outcome::Info { .. } => tally[2] += 1,
        }
    }
    if history.ops.is_empty() {
        return vec!["no operation was invoked".into()];
    }
    by_kind
        .into_iter()
        .filter(|(_, [ok, _, _])| *ok == 0)
        .map(|(kind, [_, fail, info])| {
            format!(
                "no `{kind}` operation succeeded ({} invoked: {fail} failed, {info} \
                 indeterminate); Maelstrom's stats checker fails such a run",
                fail + info
            )
        })
        .collect()
}

/// Maelstrom's `:availability` checker: with `--availability`, the
/// fraction of client operations (final reads included) that succeeded
/// must meet the bound. Maelstrom counts every invocation of the history;
/// here only clients' (the nemesis is no client).
pub fn availability_failure(
    history: &History,
    bound: Option<crate::config::Availability>,
) -> Option<String> {
    let bound = bound?;
    let invoked = history.ops.len() as u64;
    let ok = history.ops.iter().filter(|op| op.is_ok()).count() as u64;
    (!bound.met_by(ok, invoked)).then(|| {
        let fraction = crate::config::Availability::fraction(ok, invoked);
        let wanted = match bound {
            crate::config::Availability::Total => "all of them (--availability total)".into(),
            crate::config::Availability::AtLeast(b) => format!("at least {b} (--availability)"),
        };
        format!(
            "availability: {ok} of {invoked} client operations succeeded, a fraction of \
             {fraction:.4}; the run asks for {wanted}"
        )
    })
}

/// One measured quantity of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
}

impl Metric {
    pub fn new(name: impl Into<String>, value: f64, unit: &'static str) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit,
        }
    }
}

/// A checker's judgement: valid or not, why not, and what it measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub valid: bool,
    /// What went wrong, one line each (empty when valid).
    pub failures: Vec<String>,
    /// Why the checker could not tell (Maelstrom's `:unknown`: e.g. no
    /// value ever became stable); a valid verdict with reasons here is
    /// unknown.
    pub unknown: Vec<String>,
    pub metrics: Vec<Metric>,
    /// Charts of what the checker saw (convergence over time, latencies).
    #[serde(skip)]
    pub plots: Vec<crate::figure::Plot>,
    /// Windows of the history that show why it failed, drawn on the
    /// report page.
    #[serde(skip)]
    pub windows: Vec<crate::figure::OpsWindow>,
}

impl Verdict {
    pub fn new() -> Verdict {
        Verdict {
            valid: true,
            ..Verdict::default()
        }
    }

    pub fn fail(&mut self, why: impl Into<String>) {
        self.valid = false;
        self.failures.push(why.into());
    }

    /// The checker cannot tell, and says why (the run is not valid).
    pub fn cannot_tell(&mut self, why: impl Into<String>) {
        self.unknown.push(why.into());
    }

    pub fn metric(&mut self, name: impl Into<String>, value: f64, unit: &'static str) {
        self.metrics.push(Metric::new(name, value, unit));
    }

    /// Adds p50/p95/p99/max of `samples` (ms) under `name` with Jepsen's
    /// quantiles ([`jepsen_quantile`]), for the figures Maelstrom reports
    /// (stable and lost latency); nothing when there are none.
    pub fn jepsen_quantiles_ms(&mut self, name: &str, samples: &mut [f64]) {
        if samples.is_empty() {
            return;
        }
        samples.sort_by(f64::total_cmp);
        for (label, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)] {
            self.metric(format!("{name} {label}"), jepsen_quantile(samples, q), "ms");
        }
    }

    /// Adds p50/p95/p99/max of `samples` (in milliseconds) under `name`, or
    /// nothing when there are none.
    pub fn quantiles_ms(&mut self, name: &str, samples: &mut [f64]) {
        if samples.is_empty() {
            return;
        }
        samples.sort_by(f64::total_cmp);
        for (label, q) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
            self.metric(format!("{name} {label}"), quantile(samples, q), "ms");
        }
        self.metric(format!("{name} max"), samples[samples.len() - 1], "ms");
    }
}

/// The `q` quantile of sorted `samples` as Jepsen's
/// `frequency-distribution` takes it — the sample at index
/// `min(n − 1, ⌊n·q⌋)` — which Maelstrom's stable and lost latencies use.
/// (It differs from nearest rank, [`quantile`], by at most one rank.)
pub fn jepsen_quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let n = sorted.len();
    sorted[((n as f64 * q).floor() as usize).min(n - 1)]
}

/// The `q` quantile of sorted `samples` (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(millis(*d))
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jepsen_quantiles_take_the_floor_index() {
        // Jepsen: (nth sorted (min (dec n) (floor (* n p)))).
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(jepsen_quantile(&s, 0.5), 51.0);
        assert_eq!(jepsen_quantile(&s, 0.99), 100.0);
        assert_eq!(jepsen_quantile(&s, 1.0), 100.0);
        assert_eq!(jepsen_quantile(&[3.0, 9.0], 0.5), 9.0, "the upper of two");
        assert_eq!(jepsen_quantile(&[7.0], 0.0), 7.0);
    }

    #[test]
    fn nearest_rank_quantiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&s, 0.5), 50.0);
        assert_eq!(quantile(&s, 0.99), 99.0);
        assert_eq!(quantile(&s, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.5), 7.0);
    }
}
