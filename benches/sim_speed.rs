//! Speed of the simulator: wall time of simulated runs, as a multiple of
//! the simulated time, for the settings the issues name.
//!
//! `cargo bench --bench sim_speed`

use std::time::Instant;

use maelstrom_lab::{self as sim, Nemesis, SimConfig};

// Link the workload crates so inventory registers them.
use maelstrom_catalog as _;

fn main() {
    let cases: Vec<(&str, SimConfig)> = vec![
        (
            "broadcast",
            SimConfig {
                nodes: 25,
                latency: 100.0,
                rate: 100.0,
                time_limit: 20.0,
                ..SimConfig::default()
            },
        ),
        (
            "broadcast",
            SimConfig {
                nodes: 25,
                latency: 100.0,
                rate: 100.0,
                time_limit: 20.0,
                nemesis: Nemesis::Partition.into(),
                ..SimConfig::default()
            },
        ),
        (
            "counter",
            SimConfig {
                nodes: 5,
                rate: 100.0,
                time_limit: 10.0,
                ..SimConfig::default()
            },
        ),
        (
            "kv",
            SimConfig {
                nodes: 5,
                latency: 20.0,
                rate: 200.0,
                time_limit: 20.0,
                ..SimConfig::default()
            },
        ),
    ];
    for (name, cfg) in cases {
        let Ok(choice) = sim::registry::choose(name, None) else {
            println!("{name}: not registered");
            continue;
        };
        let (nodes, lab) = choice.build_from(&[]).expect("default options");
        let rounds = 5;
        let mut best = f64::MAX;
        let mut report = None;
        for _ in 0..rounds {
            let started = Instant::now();
            let r = sim::run_one(name, &nodes, &lab, &cfg);
            best = best.min(started.elapsed().as_secs_f64());
            report = Some(r);
        }
        let r = report.expect("ran");
        println!(
            "{name:<10} nodes {:>2} latency {:>3} ms rate {:>3}/s time {:>2} s{}: best of {rounds} {:>7.1} ms wall for {:.0} s simulated = {:>6.0}x real time ({} events, {} msgs, valid {})",
            cfg.nodes,
            cfg.latency,
            cfg.rate,
            cfg.time_limit,
            if !cfg.nemesis.is_empty() {
                " partitions"
            } else {
                ""
            },
            best * 1000.0,
            r.simulated_s,
            r.simulated_s / best,
            r.events,
            r.net.sent,
            r.valid
        );
    }
}
