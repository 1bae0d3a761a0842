//! The command line: every flag, its help, and how the run's settings map
//! onto the lab's plain [`SimConfig`].

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use maelstrom_framework::{Registration, stdio};
use maelstrom_lab::campaign::{self, Plan, ShardPlan};
use maelstrom_lab::network::{LatencyDist, PartitionPattern};
use maelstrom_lab::shard::Part;
use maelstrom_lab::{Availability, Faults, Nemesis, ProbeSetting, SimConfig, registry};

#[derive(Debug, Parser)]
#[command(
    name = "maelstrom-node",
    version,
    about = "Maelstrom nodes for gossip workloads, one binary for all of them"
)]
pub struct Cli {
    /// The workload (see --list): a spec as Maelstrom names it
    /// (`broadcast`, `pn-counter`, …) or one of our nodes (`counter`,
    /// `tuning`, …). On stdin/stdout it runs our node for it.
    #[arg(long, short = 'w', value_name = "NAME", global = true)]
    pub workload: Option<String>,

    /// Which of our nodes runs the workload (default: ours of its name, or
    /// the first that implements it): `--workload broadcast --node tuning`.
    #[arg(long, value_name = "NODE", global = true)]
    pub node: Option<String>,

    /// List the workloads and our nodes, and exit.
    #[arg(long)]
    pub list: bool,

    /// Seed of the node's random number generator (default: from entropy).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Keep the node's durable state in this directory (created if
    /// missing), so it survives a crash and restart; without it, durable
    /// state lives in memory and dies with the process.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Input lines longer than this are dropped (with a log line).
    #[arg(long, value_name = "BYTES", default_value_t = stdio::DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workload's test on a simulated cluster (virtual time,
    /// deterministic) and print the report.
    #[command(
        after_help = "Example:\n  maelstrom-node sim --workload broadcast --nodes 25 --latency 100 --rate 100 --time-limit 20 --nemesis partition"
    )]
    Sim(SimArgs),
    /// Run the same test on real node processes in real time, through an
    /// in-process network (a JVM-free Maelstrom), and write the results.
    #[command(
        after_help = "Examples:\n  maelstrom-node cluster --workload counter --nodes 5 --adds 1000 --rate 100 --time-limit 12 --seeds 1..10\n  maelstrom-node cluster --workload kv --versus-partition\n  maelstrom-node cluster --workload echo --bin \"python3 my_node.py\"\n\nOperations stop at --time-limit: give --rate and --time-limit room for --adds."
    )]
    Cluster(ClusterArgs),
    /// Check a node against fixture cases (input lines, expected output
    /// lines): PASS, FAIL (with expected and actual side by side) or SKIP
    /// per case, then a tally. Exit status 1 if any case failed, 2 if a
    /// fixture cannot be read.
    #[command(
        after_help = "Examples:\n  maelstrom-node golden fixtures/\n  maelstrom-node golden --bin \"python3 echo.py\" fixtures/echo/echo.json\n  maelstrom-node golden --bin \"sh -c 'exec python3 node.py'\" fixtures/broadcast\n\nWith --bin, cases with `args` (maelstrom-node's flags) are skipped, and `stderr`\nexpectations (maelstrom-node's log wording) are not checked. The fixture format:\nthe docs of maelstrom_lab::golden (cargo doc --open)."
    )]
    Golden(GoldenArgs),
    /// Merge the shard files of a campaign split with --shard K/N into the
    /// output the unsplit campaign prints (its summary, text or --json),
    /// with its exit status. Exit status 2 if the files are not the N
    /// shards of one campaign, each once.
    #[command(
        after_help = "Example:\n  for k in 1 2 3 4; do maelstrom-node sim --workload broadcast --seeds 1..100 --shard $k/4 > shard-$k.json; done\n  maelstrom-node merge shard-*.json"
    )]
    Merge(MergeArgs),
}

#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shard files, one per shard, in any order.
    #[arg(value_name = "SHARD.json", required = true)]
    pub shards: Vec<PathBuf>,
    /// Print the summary as JSON, as the campaign's --json does.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct GoldenArgs {
    /// Fixture files or folders: a folder gives every `*.json` in it and
    /// in its subfolders, sorted (`fixtures/` gives every workload's).
    #[arg(value_name = "FIXTURES", required = true)]
    pub fixtures: Vec<PathBuf>,
    /// The node to check: one command line, split into words as a POSIX
    /// shell does (quotes and backslashes work, nothing is expanded), and
    /// run with no flags added. Default: this binary, as `--workload W`
    /// and the fixture's `args`, W being --workload or else the fixture's
    /// folder name.
    #[arg(long = "bin", value_name = "COMMAND")]
    pub bin: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub run: RunFlags,
    /// The node command (default: this binary with --workload NAME and
    /// the workload flags given here). It is split into words as a POSIX
    /// shell splits them, quotes and backslashes included, and run as
    /// those words without a shell: `--bin "python3 my node.py"` is two
    /// arguments, `--bin "sh -c 'exec python3 node.py'"` runs a shell.
    #[arg(long = "bin", value_name = "COMMAND")]
    pub bin: Option<String>,
    /// Folder for the results (default: results/<workload>-<time>-seed<N>).
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
    #[command(flatten)]
    pub campaign: CampaignFlags,
}

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    #[command(flatten)]
    pub run: RunFlags,
    #[command(flatten)]
    pub campaign: CampaignFlags,
    /// Also write the run's results folder here, as `cluster` does:
    /// report.txt/json/html (with the message diagram), history.jsonl and
    /// messages.jsonl, the journal of every message.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["seeds", "versus_partition", "sweep"])]
    pub results: Option<PathBuf>,
    /// Threads for --seeds.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Run the test for every combination of flag values and print one row
    /// per setting (repeatable): `--sweep fanout=1,2,4 --sweep
    /// gossip-interval-ms=50,100,200`. Any valued flag of the workload, its
    /// lab or `sim` itself can be swept; each setting runs every seed of
    /// --seeds (default: --seed).
    #[arg(
        long,
        value_name = "FLAG=V1,V2,..",
        conflicts_with_all = ["versus_partition", "shard"]
    )]
    pub sweep: Vec<String>,
    /// A column of the sweep table (repeatable; default: msgs-per-op and
    /// every latency median and maximum the checker reports).
    #[arg(long, value_name = "METRIC", requires = "sweep")]
    pub sweep_metric: Vec<String>,
    /// Also write the sweep's table and trade-off charts to this HTML file.
    #[arg(long, value_name = "FILE", requires = "sweep")]
    pub sweep_html: Option<PathBuf>,
}

/// Which runs `sim` and `cluster` make, and how they print them.
#[derive(Debug, clap::Args)]
pub struct CampaignFlags {
    /// Run every seed of a range (`1..200`, inclusive) or list (`1,5,9`)
    /// and print the distribution of each metric and the failing seeds
    /// (`sim` on --threads threads, `cluster` one run after the other).
    #[arg(long, value_name = "RANGE")]
    pub seeds: Option<String>,
    /// Run twice, without and with --nemesis partition, and print the
    /// metrics side by side.
    #[arg(long, conflicts_with_all = ["seeds", "nemesis"])]
    pub versus_partition: bool,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Run only shard K of N of --seeds (the seeds at positions K, K+N,
    /// K+2N, … of the list, counted from 1) and print its shard file, a
    /// JSON document, instead of the summary; `maelstrom-node merge` makes
    /// the N shard files the unsplit campaign's output.
    #[arg(
        long,
        value_name = "K/N",
        requires = "seeds",
        conflicts_with = "versus_partition"
    )]
    pub shard: Option<Part>,
}

impl CampaignFlags {
    /// The plan of these flags; a shard records `workload_flags` (see
    /// [`workload_flags`]).
    pub fn plan(&self, workload_flags: Vec<String>) -> Result<Plan, String> {
        match (&self.seeds, self.versus_partition, self.shard) {
            (_, true, _) => Ok(Plan::VersusPartition),
            (None, false, _) => Ok(Plan::One),
            (Some(range), false, None) => parse_seeds(range).map(Plan::Seeds),
            (Some(range), false, Some(part)) => Ok(Plan::Shard(ShardPlan {
                seeds: parse_seeds(range)?,
                part,
                workload_flags,
            })),
        }
    }

    /// The seeds of --seeds, or `seed` alone.
    pub fn seeds_or(&self, seed: u64) -> Result<Vec<u64>, String> {
        self.seeds.as_deref().map_or(Ok(vec![seed]), parse_seeds)
    }
}

fn parse_seeds(range: &str) -> Result<Vec<u64>, String> {
    campaign::parse_seeds(range).map_err(|e| format!("--seeds {range}: {e}"))
}

/// The settings of a run, as flags of `sim` and `cluster`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunFlags {
    /// Number of nodes (named n0, n1, … as Maelstrom's --node-count).
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Mean node-to-node latency, in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    pub latency: f64,
    #[arg(long, value_enum, default_value_t = LatencyDist::Constant)]
    pub latency_dist: LatencyDist,
    /// Probability that a node-to-node message is lost.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Probability that a node-to-node message is delivered twice.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate: f64,
    /// Client operations per second, all clients together.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    /// Seconds during which clients issue operations, counted from the end
    /// of setup (every node answered init and the workload's setup).
    #[arg(long, default_value_t = 10.0)]
    pub time_limit: f64,
    /// Stop issuing operations after this many (the time limit still holds).
    #[arg(long)]
    pub ops: Option<u64>,
    /// Clients, each with one operation in flight (default: one per node).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Seconds before an operation without a reply counts as indeterminate.
    #[arg(long, default_value_t = 5.0)]
    pub op_timeout: f64,
    /// Faults to inject, comma-separated: `partition`, `kill`, `pause`,
    /// `clock` (`--nemesis partition,kill,pause,clock`); each starts and
    /// stops on its own schedule.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub nemesis: Vec<Nemesis>,
    /// Mean seconds between the nemesis starting and stopping a fault.
    #[arg(long, default_value_t = 10.0)]
    pub nemesis_interval: f64,
    /// Only this partition pattern (default: a random one each time).
    #[arg(long, value_enum)]
    pub partition_pattern: Option<PartitionPattern>,
    /// Seconds between the final heal and the final reads.
    #[arg(long, default_value_t = 10.0)]
    pub settle: f64,
    /// With real processes: how often the runner reads each node's state
    /// between operations, for convergence and delivery times. `auto`
    /// keeps probe reads to a tenth of the client rate (they load the
    /// nodes, and a loaded node batches differently); `N` probes every
    /// node every N ms; `off` never probes (convergence is then sampled by
    /// the clients' own reads alone).
    #[arg(long, value_name = "auto|off|MS", default_value = "auto")]
    pub probe_ms: ProbeSetting,
    /// The seed that decides everything random in the run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Maelstrom's availability check: `total` (every client operation
    /// must succeed) or the least fraction of them that must (0..1).
    /// Default: no bound.
    #[arg(long, value_name = "total|FRACTION")]
    pub availability: Option<Availability>,
}

impl RunFlags {
    pub fn config(&self) -> SimConfig {
        SimConfig {
            nodes: self.nodes,
            latency: self.latency,
            latency_dist: self.latency_dist,
            loss: self.loss,
            duplicate: self.duplicate,
            rate: self.rate,
            time_limit: self.time_limit,
            ops: self.ops,
            concurrency: self.concurrency,
            op_timeout: self.op_timeout,
            nemesis: Faults::of(&self.nemesis),
            nemesis_interval: self.nemesis_interval,
            partition_pattern: self.partition_pattern,
            settle: self.settle,
            probe_ms: self.probe_ms,
            seed: self.seed,
            availability: self.availability,
            tested: Default::default(),
        }
    }
}

/// The command line's flags, with those of the workload's spec and node
/// when one is named.
pub fn command(workload: Option<registry::Choice>) -> clap::Command {
    let command = Cli::command().after_help(format!(
        "Run a node under Maelstrom:\n  maelstrom test -w echo --bin target/release/maelstrom-node -- --workload echo\n\n\
         Use --workload NAME --help to see a workload's own flags.\n\n{}",
        registry::listing()
    ));
    let Some(choice) = workload else {
        return command;
    };
    let both = |sub: clap::Command| choice.augment(sub);
    // Our node's flags also at the top, for running it on stdin/stdout.
    let command = match choice.node {
        Some(node) => (node.augment_args)(command),
        None => command,
    };
    command
        .mut_subcommand("sim", both)
        .mut_subcommand("cluster", both)
}

/// `PROGRAM --workload NODE` and the node's flags given on this command
/// line, to start one of our node processes.
pub fn node_command(program: String, node: &Registration, m: &clap::ArgMatches) -> Vec<String> {
    let mut command = vec![program, "--workload".into(), node.name.into()];
    command.extend(given_flags(
        (node.augment_args)(clap::Command::new("flags")),
        m,
    ));
    command
}

/// Every flag of the workload's spec and node with its value, defaults
/// included, as a command line: what decides a shard's runs besides the
/// run's settings (`--keys 20 --strategy full-state`).
pub fn workload_flags(choice: registry::Choice, m: &clap::ArgMatches) -> Vec<String> {
    flags_of(choice.augment(clap::Command::new("flags")), m, true)
}

/// `argv` without `--sweep*` flags and without the swept flags (in either
/// `--flag value` or `--flag=value` form), so they can be set anew.
pub fn without_flags(argv: &[String], swept: &[&str]) -> Vec<String> {
    let removed = |name: &str| name.starts_with("sweep") || swept.contains(&name);
    let mut out = Vec::new();
    let mut iter = argv.iter();
    while let Some(arg) = iter.next() {
        match arg.strip_prefix("--") {
            Some(rest) if rest.contains('=') => {
                let name = rest.split('=').next().unwrap_or_default();
                if !removed(name) {
                    out.push(arg.clone());
                }
            }
            Some(name) if removed(name) => {
                iter.next();
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

/// The value of `--flag` on the command line (also `--flag=V`), before the
/// full parse: the workload's own flags are part of the command line.
pub fn flag_value(args: &[String], long: &str, short: Option<&str>) -> Option<String> {
    let mut value = None;
    let mut iter = args.iter().skip(1);
    let eq = format!("{long}=");
    while let Some(arg) = iter.next() {
        if arg == long || Some(arg.as_str()) == short {
            value = iter.next().cloned();
        } else if let Some(v) = arg.strip_prefix(&eq) {
            value = Some(v.to_string());
        }
    }
    value
}

/// The flags of `declared` given on this command line, as they were given,
/// to pass on to our node processes.
fn given_flags(declared: clap::Command, matches: &clap::ArgMatches) -> Vec<String> {
    flags_of(declared, matches, false)
}

/// The flags of `declared` on this command line, as they were given, and
/// with `defaults` also the valued ones left at their defaults.
fn flags_of(declared: clap::Command, matches: &clap::ArgMatches, defaults: bool) -> Vec<String> {
    use clap::parser::ValueSource;
    let mut flags = Vec::new();
    for arg in declared.get_arguments() {
        let id = arg.get_id().as_str();
        let (Some(long), Some(source)) = (arg.get_long(), matches.value_source(id)) else {
            continue;
        };
        let valued = arg.get_action().takes_values();
        // A switch's default is its absence: only a given one is a flag.
        if source != ValueSource::CommandLine && !(defaults && valued) {
            continue;
        }
        if valued {
            for value in matches.get_raw(id).into_iter().flatten() {
                flags.push(format!("--{long}"));
                flags.push(value.to_string_lossy().into_owned());
            }
        } else {
            flags.push(format!("--{long}"));
        }
    }
    flags
}
