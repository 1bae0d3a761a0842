//! The settings of a run (the `sim` and `cluster` commands' flags) and
//! the seeds derived from them.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use crate::network::{LatencyDist, NetConfig, PartitionPattern};

/// The longest time any setting in seconds may be (a day).
pub const MAX_SECONDS: f64 = 86_400.0;

/// Faults the nemesis can inject (a `clap::ValueEnum`, for command lines).
/// Each kind starts and stops on its own schedule, every ~interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Nemesis {
    /// Maelstrom's partitions: start or stop one.
    Partition,
    /// Kill nodes (one, a minority, a majority or all), later restart
    /// them with their memory wiped and `init` sent again (Maelstrom's
    /// `kill`); messages in flight to a killed node are lost.
    Kill,
    /// Pause nodes (SIGSTOP), later resume them (SIGCONT): a paused node
    /// handles nothing while messages queue for it (Maelstrom's `pause`).
    Pause,
    /// Skew nodes' wall clocks (Jepsen's clock nemesis): bump them by an
    /// offset each, or strobe them between an offset and none, later
    /// reset them. Only `unix_micros` moves; timers keep time.
    Clock,
}

impl Nemesis {
    pub fn name(self) -> &'static str {
        match self {
            Nemesis::Partition => "partition",
            Nemesis::Kill => "kill",
            Nemesis::Pause => "pause",
            Nemesis::Clock => "clock",
        }
    }
}

/// The faults of a run (`--nemesis partition,kill,pause,clock`), each once, in
/// [`Nemesis`] order. Serialized as the flag's text (`"partition,kill"`),
/// or null for none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(Vec<Nemesis>);

impl Faults {
    pub fn none() -> Faults {
        Faults(Vec::new())
    }

    pub fn of(kinds: &[Nemesis]) -> Faults {
        let mut kinds = kinds.to_vec();
        kinds.sort();
        kinds.dedup();
        Faults(kinds)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has(&self, kind: Nemesis) -> bool {
        self.0.contains(&kind)
    }

    pub fn kinds(&self) -> &[Nemesis] {
        &self.0
    }
}

impl From<Nemesis> for Faults {
    fn from(kind: Nemesis) -> Faults {
        Faults(vec![kind])
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|k| k.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl Serialize for Faults {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            s.serialize_none()
        } else {
            s.serialize_str(&self.to_string())
        }
    }
}

/// The settings of a run (the `sim` and `cluster` commands' flags map
/// onto it; the defaults are Maelstrom's where it has one).
#[derive(Debug, Clone, Serialize)]
pub struct SimConfig {
    /// Number of nodes, named n0, n1, … as Maelstrom's `--node-count`.
    pub nodes: usize,
    /// Mean node-to-node latency, in milliseconds.
    pub latency: f64,
    pub latency_dist: LatencyDist,
    /// Probability that a node-to-node message is lost.
    pub loss: f64,
    /// Probability that a node-to-node message is delivered twice.
    pub duplicate: f64,
    /// Client operations per second, all clients together.
    pub rate: f64,
    /// Seconds during which clients issue operations, from the end of
    /// setup.
    pub time_limit: f64,
    /// Stop issuing operations after this many (the time limit still
    /// holds).
    pub ops: Option<u64>,
    /// Clients, each with one operation in flight (`None`: one per node).
    pub concurrency: Option<usize>,
    /// Seconds before an operation without a reply counts as
    /// indeterminate.
    pub op_timeout: f64,
    pub nemesis: Faults,
    /// Mean seconds between the nemesis starting and stopping a fault.
    pub nemesis_interval: f64,
    /// Only this partition pattern (`None`: a random one each time).
    pub partition_pattern: Option<PartitionPattern>,
    /// Seconds between the final heal and the final reads.
    pub settle: f64,
    /// With real processes: how often the runner reads node state.
    pub probe_ms: ProbeSetting,
    /// The seed that decides everything random in the run.
    pub seed: u64,
    /// Maelstrom's `--availability`: the share of client operations that
    /// must succeed (`None`: no bound, Maelstrom's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability: Option<Availability>,
    /// What runs as the nodes: reports name it.
    #[serde(skip)]
    pub tested: Tested,
}

/// Maelstrom's `--availability EXPECTED`: `total` (every client
/// operation succeeds) or a lower bound in 0..=1 on the fraction that do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Availability {
    Total,
    AtLeast(f64),
}

impl Availability {
    /// Whether `ok` successes out of `invoked` client operations meet the
    /// bound; no operation at all is a fraction of 1, as Maelstrom's.
    pub fn met_by(self, ok: u64, invoked: u64) -> bool {
        match self {
            Availability::Total => ok == invoked,
            Availability::AtLeast(bound) => Self::fraction(ok, invoked) >= bound,
        }
    }

    pub fn fraction(ok: u64, invoked: u64) -> f64 {
        if invoked == 0 {
            1.0
        } else {
            ok as f64 / invoked as f64
        }
    }
}

impl FromStr for Availability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "total" => Ok(Availability::Total),
            n => match n.parse::<f64>() {
                Ok(bound) if (0.0..=1.0).contains(&bound) => Ok(Availability::AtLeast(bound)),
                _ => Err(format!(
                    "`{n}`: give `total` or a fraction of operations in 0..1"
                )),
            },
        }
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Availability::Total => f.write_str("total"),
            Availability::AtLeast(bound) => write!(f, "{bound}"),
        }
    }
}

impl Serialize for Availability {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Availability::Total => s.serialize_str("total"),
            Availability::AtLeast(bound) => s.serialize_f64(*bound),
        }
    }
}

/// The share of the client rate that `--probe-ms auto` spends on probe
/// reads. On Maelstrom's Python broadcast demo at 25 nodes, probing every
/// node every 10 ms cost a core and moved msgs-per-op by 8–10 %; a tenth of
/// the client rate stays within the seed-to-seed spread (README).
pub const AUTO_PROBE_SHARE: f64 = 0.1;

/// How often the real-process runner probes node state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeSetting {
    /// [`AUTO_PROBE_SHARE`] of the client rate, spread over the nodes.
    Auto,
    /// No probes.
    Off,
    /// Every node every this many milliseconds.
    EveryMs(u64),
}

impl ProbeSetting {
    /// The time between two probes (each reads one node, in turn), for a
    /// run of `nodes` nodes at `rate` operations per second; `None` when
    /// off.
    pub fn gap(self, nodes: usize, rate: f64) -> Option<Duration> {
        match self {
            ProbeSetting::Off => None,
            ProbeSetting::Auto => Some(Duration::from_secs_f64(
                (1.0 / (AUTO_PROBE_SHARE * rate)).min(MAX_SECONDS),
            )),
            ProbeSetting::EveryMs(ms) => Some(Duration::from_secs_f64(
                ms as f64 / 1000.0 / nodes.max(1) as f64,
            )),
        }
    }
}

impl FromStr for ProbeSetting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(ProbeSetting::Auto),
            "off" => Ok(ProbeSetting::Off),
            ms => match ms.parse::<u64>() {
                Ok(0) | Err(_) => Err(format!(
                    "`{ms}`: give `auto`, `off`, or milliseconds between probes of a node (>= 1)"
                )),
                Ok(ms) if ms as f64 > MAX_SECONDS * 1000.0 => {
                    Err("at most a day between probes".into())
                }
                Ok(ms) => Ok(ProbeSetting::EveryMs(ms)),
            },
        }
    }
}

impl fmt::Display for ProbeSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeSetting::Auto => f.write_str("auto"),
            ProbeSetting::Off => f.write_str("off"),
            ProbeSetting::EveryMs(ms) => write!(f, "{ms}"),
        }
    }
}

impl Serialize for ProbeSetting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ProbeSetting::EveryMs(ms) => s.serialize_u64(*ms),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

/// What a run tested, for its report: the tool, the node program, and the
/// files that program names (so two reports say whether they tested the
/// same node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tested {
    /// This tool's version, and the commit it was built from when known.
    pub tool: String,
    /// The node program as a command line: `maelstrom-node --workload
    /// counter --strategy delta-push`, or the `--bin` command.
    pub node: String,
    /// Whether the node is one of this binary's workloads.
    pub ours: bool,
    /// Files named on a `--bin` command line, with size and content hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileStamp>,
}

impl Default for Tested {
    fn default() -> Self {
        Tested {
            tool: format!("maelstrom-node {}", env!("CARGO_PKG_VERSION")),
            node: "(in-process handlers)".into(),
            ours: true,
            files: Vec::new(),
        }
    }
}

/// A file a node command names: enough to tell two versions apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileStamp {
    pub path: String,
    pub bytes: u64,
    /// FNV-1a 64 of the contents, in hex.
    pub fnv64: String,
}

impl FileStamp {
    /// The stamp of `path` if it is a readable regular file (of at most
    /// 1 GiB: hashing is for telling versions apart, not for proof).
    pub fn of(path: &str) -> Option<FileStamp> {
        use std::io::Read;
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() || meta.len() > 1 << 30 {
            return None;
        }
        let mut file = std::fs::File::open(path).ok()?;
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Some(FileStamp {
            path: path.to_string(),
            bytes: meta.len(),
            fnv64: format!("{hash:016x}"),
        })
    }
}

impl Tested {
    /// One of our nodes, run as `command`.
    pub fn ours(tool: String, command: &[String]) -> Tested {
        Tested {
            tool,
            node: shell_line(command),
            ours: true,
            files: Vec::new(),
        }
    }

    /// A node command that is not ours: its words, and a stamp of each
    /// one that names a file.
    pub fn foreign(tool: String, command: &[String]) -> Tested {
        Tested {
            tool,
            node: shell_line(command),
            ours: false,
            files: command.iter().filter_map(|w| FileStamp::of(w)).collect(),
        }
    }
}

/// `--bin`'s command line as words, split as a POSIX shell splits them
/// (quotes and backslashes included); it runs without a shell.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    match shell_words::split(line) {
        Ok(words) if words.is_empty() => Err("--bin is empty".into()),
        Ok(words) => Ok(words),
        Err(e) => Err(format!(
            "--bin {line:?}: {e} (it is split as a shell would)"
        )),
    }
}

/// `words` as a command line a shell would split back into them.
pub fn shell_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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
            nemesis: Faults::none(),
            nemesis_interval: 10.0,
            partition_pattern: None,
            settle: 10.0,
            probe_ms: ProbeSetting::Auto,
            seed: 1,
            availability: None,
            tested: Tested::default(),
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

#[cfg(test)]
mod tests {
    use super::Availability;

    #[test]
    fn availability_is_total_or_a_fraction_and_bounds_as_maelstroms() {
        assert_eq!("total".parse(), Ok(Availability::Total));
        assert_eq!("0.9".parse(), Ok(Availability::AtLeast(0.9)));
        for bad in ["1.01", "-0.1", "most", "NaN", ""] {
            assert!(bad.parse::<Availability>().is_err(), "{bad}");
        }
        assert!(Availability::Total.met_by(10, 10));
        assert!(!Availability::Total.met_by(9, 10));
        assert!(Availability::AtLeast(0.9).met_by(9, 10));
        assert!(!Availability::AtLeast(0.91).met_by(9, 10));
        // No operation at all: a fraction of 1, as Maelstrom's.
        assert!(Availability::Total.met_by(0, 0));
        assert_eq!(Availability::Total.to_string(), "total");
        assert_eq!(Availability::AtLeast(0.5).to_string(), "0.5");
    }
}
