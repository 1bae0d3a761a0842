//! The lab: everything that drives and judges a cluster of Maelstrom nodes.
//! The deterministic simulator runs N nodes of a registered workload in one
//! process, driven by a virtual clock and one event queue, through the very
//! same [`maelstrom_framework::Handler`] code as the stdin/stdout runtime;
//! the real-process runner drives any node program through the same
//! network model, clients and checkers.
//!
//! One seed decides everything random: message order, latency samples,
//! losses, partitions and the clients' choices. The same seed and settings
//! give a byte-identical report; a failing seed replays exactly.
//!
//! - [`cluster`]: the engine — nodes, event queue, routing, `partition` / `heal`.
//! - [`clock`]: what the clock nemesis makes of a node's wall clock.
//! - [`network`]: latency distributions, loss, duplication, partition patterns.
//! - [`services`]: Maelstrom's `lin-kv`, `seq-kv`, `lww-kv` and `lin-tso`,
//!   which both runners serve.
//! - [`lab`]: what a workload brings: its clients' operations and its checker.
//! - [`run`]: one Maelstrom-style test (clients, nemesis, heal, settle,
//!   final reads, check) — the `sim` command.
//! - [`processes`]: the same tests on real node processes in real time;
//!   [`node_clocks`]: how it skews their wall clocks.
//! - [`plots`]: charts of a run as one self-contained HTML page.
//! - [`report`]: the table, the JSON document, distributions over seeds.
//! - [`sweep`]: one test over a grid of settings, as a trade-off table and chart.
//! - [`campaign`]: a test as a user asks for it (one run, seeds, versus
//!   partition, sweeps), on either runner, with its results folders.
//! - [`shard`]: a campaign's seeds split across machines: shard files,
//!   written, read, checked and merged into the unsplit campaign's output.
//! - [`golden`]: fixture cases (input lines, expected messages) run against
//!   any node program — the `golden` command and `tests/golden.rs`.
//! - [`registry`]: the workload specs, and which of our nodes runs each.
//! - [`testing`]: helpers for tests on a simulated cluster.

pub mod campaign;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod figure;
pub mod golden;
pub mod lab;
pub mod nemesis;
pub mod network;
pub mod node_clocks;
pub mod plots;
pub mod process_group;
pub mod processes;
pub mod registry;
pub mod report;
pub mod results;
pub mod run;
pub mod services;
pub mod set_full;
pub mod shard;
pub mod sweep;
pub mod table;
pub mod testing;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use cluster::{Backend, Cluster, SentMessage};
pub use config::{Availability, Faults, Nemesis, ProbeSetting, SimConfig, Tested};
pub use lab::{ClientThread, History, Lab, LabSetup, LabSpec, Metric, Op, Outcome, Verdict};
pub use network::{LatencyDist, NetConfig, NetStats, Partition, PartitionPattern};
pub use report::{Report, SeedResult, Summary, Validity};

pub use registry::{Choice, LabFactory, SpecRegistration};

// Spec crates register through it.
pub use inventory;

use maelstrom_framework::NodeFactory;

/// Runs one test with `cfg`.
pub fn run_one(workload: &str, nodes: &NodeFactory, lab: &LabFactory, cfg: &SimConfig) -> Report {
    let setup = LabSetup {
        node_ids: cfg.node_ids(),
    };
    run::run(workload, nodes, lab(&setup), cfg)
}

/// Runs one simulated test with `cfg` and writes its results folder into
/// `dir` as `cluster` does (report, history, the message journal and the
/// page with its message diagram). The report is the one [`run_one`]
/// gives: journaling changes nothing of the run.
pub fn run_one_into(
    workload: &str,
    nodes: &NodeFactory,
    lab: &LabFactory,
    cfg: &SimConfig,
    dir: &std::path::Path,
) -> std::io::Result<Report> {
    std::fs::create_dir_all(dir)?;
    let mut cluster = run::sim_cluster(nodes, cfg);
    let journal = network::JournalFile::create(Some(&dir.join("messages.jsonl")), Duration::ZERO)?;
    cluster.record_journal(journal);
    let setup = LabSetup {
        node_ids: cfg.node_ids(),
    };
    let report = run::run_on(workload, cluster, lab(&setup), cfg);
    report.write_results(dir)?;
    Ok(report)
}

/// What runs as a node process.
#[derive(Debug, Clone)]
pub enum NodeProgram {
    /// This binary with a workload (program, then arguments): each node
    /// also gets `--seed N`, the seed its simulated twin would have, so
    /// real-process runs are as reproducible as real time allows.
    Ours(Vec<String>),
    /// A node that is not ours (`--bin`): started exactly as given.
    Foreign(Vec<String>),
}

impl NodeProgram {
    /// The command line of node `index` in a run seeded with `seed`.
    pub fn command(&self, seed: u64, index: usize) -> Vec<String> {
        match self {
            NodeProgram::Ours(command) => {
                let mut command = command.clone();
                command.push("--seed".into());
                command.push(run::node_seed(seed, index).to_string());
                command
            }
            NodeProgram::Foreign(command) => command.clone(),
        }
    }
}

/// Runs one test on real node processes in real time, and writes its
/// results (node logs, message log, history, report, charts) into `dir`.
pub fn run_processes(
    workload: &str,
    program: &NodeProgram,
    lab: &LabFactory,
    cfg: &SimConfig,
    dir: &std::path::Path,
    progress: &mut run::ProgressFn<'_>,
) -> std::io::Result<Report> {
    std::fs::create_dir_all(dir)?;
    let node_ids = cfg.node_ids();
    // Our nodes keep their durable state in `data/<node>`, which outlives
    // kills and starts empty with each run (a folder reused by an earlier
    // run must not hand its state to this one).
    let data = dir.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    let commands = (0..node_ids.len())
        .map(|i| {
            let mut command = program.command(cfg.seed, i);
            if let NodeProgram::Ours(_) = program {
                let folder = data.join(&node_ids[i]);
                command.extend(["--data-dir".into(), folder.to_string_lossy().into_owned()]);
            }
            command
        })
        .collect();
    // Offset files for the clock nemesis, only in a run that has it.
    let clocks = if cfg.nemesis.has(Nemesis::Clock) {
        let ours = matches!(program, NodeProgram::Ours(_));
        let hook = node_clocks::ClockHook::for_node(ours);
        Some(node_clocks::NodeClocks::new(
            hook,
            &dir.join("clock"),
            &node_ids,
        )?)
    } else {
        None
    };
    let cluster = processes::ProcessCluster::start_with_clocks(
        commands,
        node_ids.clone(),
        cfg.net(),
        run::sub_seed(cfg.seed, 1),
        // A node may leave its input unread, with a full queue, for as
        // long as an operation may take: past that it is stuck.
        Duration::from_secs_f64(cfg.op_timeout),
        Some(dir),
        clocks,
    )?;
    let lab = lab(&LabSetup { node_ids });
    let report = run::run_with_progress(workload, cluster, lab, cfg, progress);
    report.write_results(dir)?;
    Ok(report)
}

/// Runs the same test for every seed in `seeds` on `threads` threads and
/// returns the reports in seed order, without their history and charts
/// (metrics, faults and verdicts stay). `on_done` sees each whole report
/// as it finishes (for progress).
pub fn run_seeds(
    workload: &str,
    nodes: &NodeFactory,
    lab: &LabFactory,
    cfg: &SimConfig,
    seeds: &[u64],
    threads: usize,
    on_done: &(dyn Fn(&Report, usize) + Sync),
) -> Vec<Report> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Report>>> = Mutex::new(vec![None; seeds.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(seeds.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let cfg = SimConfig {
                        seed,
                        ..cfg.clone()
                    };
                    let mut report = run_one(workload, nodes, lab, &cfg);
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    on_done(&report, finished);
                    // Kept reports lose their history and charts: a
                    // campaign of hundreds of 25-node broadcast runs would
                    // otherwise hold every read of every run (~20 MB a
                    // run). `on_done` saw them whole; a seed replays them.
                    report.history = Default::default();
                    report.plots = Vec::new();
                    report.windows = Vec::new();
                    results.lock().expect("no panics while holding it")[i] = Some(report);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("threads joined")
        .into_iter()
        .map(|r| r.expect("every seed ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_nodes_get_their_simulated_twins_seeds_and_foreign_ones_nothing() {
        let base = vec![
            "maelstrom-node".to_string(),
            "--workload".into(),
            "x".into(),
        ];
        let ours = NodeProgram::Ours(base.clone());
        let n2 = ours.command(7, 2);
        assert_eq!(n2[..3], base[..]);
        assert_eq!(
            n2[3..],
            ["--seed".to_string(), run::node_seed(7, 2).to_string()]
        );
        assert_ne!(ours.command(7, 1), n2, "each node its own seed");
        assert_ne!(ours.command(8, 2), n2, "each run its own seeds");
        assert_eq!(NodeProgram::Foreign(base.clone()).command(7, 2), base);
    }
}
