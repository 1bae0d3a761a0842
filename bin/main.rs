//! `maelstrom-node`: one binary for every workload.
//!
//! - `maelstrom-node --workload NAME [workload flags]` runs one node on
//!   stdin/stdout, as Maelstrom's `--bin` (it passes the flags after `--`).
//! - `maelstrom-node --list` lists the registered workloads.
//!
//! This file only parses flags and wires crates together.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use maelstrom_framework::{Registration, registry, stdio};

// `inventory` only registers workloads from crates the binary links.
use echo as _;

#[derive(Debug, Parser)]
#[command(
    name = "maelstrom-node",
    version,
    about = "Maelstrom nodes for gossip workloads, one binary for all of them",
    after_help = "Run a node under Maelstrom:\n  maelstrom test -w echo --bin target/release/maelstrom-node -- --workload echo\n\nUse --workload NAME --help to see a workload's own flags."
)]
struct Cli {
    /// The workload to run (see --list).
    #[arg(long, short = 'w', value_name = "NAME")]
    workload: Option<String>,

    /// List the registered workloads and exit.
    #[arg(long)]
    list: bool,

    /// Seed of the node's random number generator (default: from entropy).
    #[arg(long)]
    seed: Option<u64>,

    /// Input lines longer than this are dropped (with a log line).
    #[arg(long, value_name = "BYTES", default_value_t = stdio::DEFAULT_MAX_LINE_BYTES)]
    max_line_bytes: usize,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let workload = match workload_named(&args) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let mut command = Cli::command();
    if let Some(w) = workload {
        command = (w.augment_args)(command);
    }
    let matches = command.get_matches_from(&args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());

    if cli.list {
        print!("{}", list_text());
        return ExitCode::SUCCESS;
    }
    let Some(workload) = workload else {
        eprintln!(
            "maelstrom-node: --workload NAME is required; known workloads:\n{}",
            list_text()
        );
        return ExitCode::from(2);
    };
    let factory = (workload.build)(&matches).unwrap_or_else(|e| e.exit());
    let seed = cli.seed.unwrap_or_else(rand_seed);
    let mut node = factory(seed);
    match stdio::run(node.as_mut(), cli.max_line_bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("maelstrom-node: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Finds the `--workload` value before the full parse, because the
/// workload's own flags are part of the command line. Unknown names exit 2.
fn workload_named(args: &[String]) -> Result<Option<&'static Registration>, ExitCode> {
    let mut name = None;
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        if arg == "--workload" || arg == "-w" {
            name = iter.next().cloned();
        } else if let Some(v) = arg.strip_prefix("--workload=") {
            name = Some(v.to_string());
        }
    }
    let Some(name) = name else { return Ok(None) };
    match registry::find(&name) {
        Some(w) => Ok(Some(w)),
        None => {
            eprintln!(
                "maelstrom-node: unknown workload `{name}`; known workloads:\n{}",
                list_text()
            );
            Err(ExitCode::from(2))
        }
    }
}

fn list_text() -> String {
    registry::workloads()
        .iter()
        .map(|w| format!("{:<10} {}\n", w.name, w.about))
        .collect()
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    // std's RandomState is seeded from the OS; no extra crate needed here.
    RandomState::new().hash_one(std::time::SystemTime::now())
}
