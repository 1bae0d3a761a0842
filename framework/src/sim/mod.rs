//! The deterministic cluster simulator: N nodes of a registered workload in
//! one process, driven by a virtual clock and one event queue, through the
//! very same [`crate::Handler`] code as the stdin/stdout runtime.
//!
//! One seed decides everything random: message order, latency samples,
//! losses, partitions and the clients' choices. The same seed and settings
//! give a byte-identical report; a failing seed replays exactly.
//!
//! - [`cluster`]: the engine — nodes, event queue, routing, `partition` / `heal`.
//! - [`network`]: latency distributions, loss, duplication, partition patterns.
//! - [`lab`]: what a workload brings: its clients' operations and its checker.
//! - [`run`]: one Maelstrom-style test (clients, nemesis, heal, settle,
//!   final reads, check) — the `sim` command.
//! - [`processes`]: the same tests on real node processes in real time.
//! - [`plots`]: charts of a run as one self-contained HTML page.
//! - [`report`]: the table, the JSON document, distributions over seeds.
//! - [`sweep`]: one test over a grid of settings, as a trade-off table and chart.

pub mod cluster;
pub mod lab;
pub mod network;
pub mod plots;
pub mod processes;
pub mod report;
pub mod run;
pub mod sweep;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use cluster::{Backend, Cluster};
pub use lab::{History, Lab, LabSetup, LabSpec, Metric, Op, Outcome, Verdict};
pub use network::{LatencyDist, NetConfig, Partition, PartitionPattern};
pub use report::{Report, Summary};
pub use run::{Nemesis, SimConfig};

use crate::registry::{LabFactory, NodeFactory};

/// Runs one test with `cfg`.
pub fn run_one(workload: &str, nodes: &NodeFactory, lab: &LabFactory, cfg: &SimConfig) -> Report {
    let setup = LabSetup {
        node_ids: cfg.node_ids(),
    };
    run::run(workload, nodes, lab(&setup), cfg)
}

/// Runs one test on real node processes started with `command`, in real
/// time, and writes its results (node logs, message log, history, report,
/// charts) into `dir`.
pub fn run_processes(
    workload: &str,
    command: &[String],
    lab: &LabFactory,
    cfg: &SimConfig,
    dir: &std::path::Path,
) -> std::io::Result<Report> {
    std::fs::create_dir_all(dir)?;
    let node_ids = cfg.node_ids();
    let cluster = processes::ProcessCluster::start(
        command,
        node_ids.clone(),
        cfg.net(),
        run::sub_seed(cfg.seed, 1),
        Some(dir),
    )?;
    let lab = lab(&LabSetup { node_ids });
    let report = run::run_on(workload, cluster, lab, cfg);
    report.write_results(dir)?;
    Ok(report)
}

/// Runs the same test for every seed in `seeds` on `threads` threads and
/// returns the reports in seed order. `on_done` sees each report as it
/// finishes (for progress).
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
                    let report = run_one(workload, nodes, lab, &cfg);
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    on_done(&report, finished);
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
