//! `maelstrom-node`: one binary for every workload.
//!
//! - `maelstrom-node --workload NAME [node flags]` runs one of our nodes on
//!   stdin/stdout, as Maelstrom's `--bin` (it passes the flags after `--`).
//! - `maelstrom-node --list` lists the workloads and our nodes.
//! - `maelstrom-node sim|cluster --workload NAME [flags]` runs a test on the
//!   simulator or on real processes and prints its report (exit status 0
//!   valid, 1 invalid, 2 unknown, as Maelstrom's).
//! - `maelstrom-node merge SHARD.json... [--json]` merges the shard files
//!   of a campaign split with `--shard K/N` into the unsplit campaign's
//!   output and exit status.
//! - `maelstrom-node golden [--bin CMD] FIXTURES...` checks a node (this
//!   binary, or any program) against fixture cases.
//! - `maelstrom-node test -w W --bin BIN [opts] [-- args]` is Maelstrom's
//!   command line, mapped onto `cluster` (`maelstrom_cli.rs`).
//!
//! This file maps flags onto the lab and dispatches; `flags.rs` holds the
//! flags. Everything that runs lives in the library crates.

mod flags;
mod maelstrom_cli;

use std::process::ExitCode;

use clap::FromArgMatches;
use flags::{CampaignFlags, Cli, ClusterArgs, Command, GoldenArgs, MergeArgs, SimArgs};
use maelstrom_framework::{Registration, stdio};
use maelstrom_lab::campaign::{self, Campaign, Outcome, Runner, Sweep, SweepError, SweepSetting};
use maelstrom_lab::golden;
use maelstrom_lab::registry::Choice;
use maelstrom_lab::{self as lab, LabFactory, SimConfig, SpecRegistration, sweep};

// `inventory` only registers what the binary links: the catalog links every
// workload spec and every node of ours.
use maelstrom_catalog as _;

/// The workload a command line names: the name as given (reports and
/// results folders use it), the spec that judges it and our node for it
/// (none when no node of ours implements the spec: `cluster --bin` only).
struct Selected {
    name: String,
    spec: &'static SpecRegistration,
    node: Option<&'static Registration>,
}

impl Selected {
    fn choice(&self) -> Choice {
        Choice {
            spec: self.spec,
            node: self.node,
        }
    }
}

fn main() -> ExitCode {
    let mut argv: Vec<String> = std::env::args().collect();
    // Maelstrom's `test` is `cluster` under Maelstrom's flags and store.
    let mut store = None;
    if argv.get(1).map(String::as_str) == Some("test") {
        match maelstrom_cli::translate(&argv[0], &argv[2..]) {
            Ok(t) => {
                argv = t.argv;
                store = Some(t.results);
            }
            Err(why) => return usage(&why),
        }
    }
    let code = dispatch(&argv);
    if let Some(results) = store {
        maelstrom_cli::link_latest(&results);
    }
    code
}

/// Runs what the command line `argv` asks for.
fn dispatch(argv: &[String]) -> ExitCode {
    let workload = match flags::flag_value(argv, "--workload", Some("-w")) {
        None => None,
        Some(name) => {
            match lab::registry::choose(&name, flags::flag_value(argv, "--node", None).as_deref()) {
                Ok(Choice { spec, node }) => Some(Selected { name, spec, node }),
                Err(why) => {
                    return usage(&format!("{why}; known ones:\n{}", lab::registry::listing()));
                }
            }
        }
    };
    let command = flags::command(workload.as_ref().map(Selected::choice));
    let matches = command.clone().get_matches_from(argv);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if cli.list {
        print!("{}", lab::registry::listing());
        return ExitCode::SUCCESS;
    }
    match (&cli.command, matches.subcommand(), &workload) {
        // `golden` finds the workload in each fixture's folder.
        (Some(Command::Golden(args)), _, w) => golden_run(args, w.as_ref()),
        // The shard files name their workload.
        (Some(Command::Merge(args)), _, _) => merge(args),
        (_, _, None) => usage(&format!(
            "--workload NAME is required; known ones:\n{}",
            lab::registry::listing()
        )),
        (Some(Command::Sim(args)), _, Some(w)) if !args.sweep.is_empty() => {
            sim_sweep(w, args, &command, argv)
        }
        (Some(Command::Sim(args)), Some((_, m)), Some(w)) => sim(w, args, m),
        (Some(Command::Cluster(args)), Some((_, m)), Some(w)) => cluster(w, args, m),
        (_, _, Some(w)) => {
            let node = match w.choice().our_node() {
                Ok(node) => node,
                Err(why) => return usage(&why),
            };
            let factory = (node.build)(&matches).unwrap_or_else(|e| e.exit());
            let mut node = factory(cli.seed.unwrap_or_else(rand_seed));
            if let Some(dir) = &cli.data_dir {
                match maelstrom_framework::storage::FileDisk::open(dir) {
                    Ok(disk) => node.attach_disk(Box::new(disk)),
                    Err(e) => return fail(&format!("--data-dir {}: {e}", dir.display())),
                }
            }
            match stdio::run(node.as_mut(), cli.max_line_bytes) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e.to_string()),
            }
        }
    }
}

fn sim(w: &Selected, args: &SimArgs, m: &clap::ArgMatches) -> ExitCode {
    let node = match w.choice().our_node() {
        Ok(node) => node,
        Err(why) => return usage(&why),
    };
    let nodes = (node.build)(m).unwrap_or_else(|e| e.exit());
    let runner = Runner::Simulator {
        nodes: &nodes,
        threads: args.threads,
    };
    test(
        w,
        &args.run,
        &args.campaign,
        args.results.clone(),
        m,
        runner,
    )
}

fn cluster(w: &Selected, args: &ClusterArgs, m: &clap::ArgMatches) -> ExitCode {
    let program = match &args.bin {
        Some(line) => match lab::config::split_command(line) {
            Ok(words) => lab::NodeProgram::Foreign(words),
            Err(why) => return usage(&why),
        },
        None => {
            let node = match w.choice().our_node() {
                Ok(node) => node,
                Err(why) => return usage(&why),
            };
            match std::env::current_exe() {
                Ok(exe) => lab::NodeProgram::Ours(flags::node_command(
                    exe.to_string_lossy().into(),
                    node,
                    m,
                )),
                Err(e) => return fail(&format!("cannot find this binary: {e}")),
            }
        }
    };
    // Ctrl-C (or SIGTERM) stops the run; dropping the cluster kills every
    // node.
    let _ = ctrlc::set_handler(|| {
        lab::processes::INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed)
    });
    let runner = Runner::Processes(program);
    test(
        w,
        &args.run,
        &args.campaign,
        args.results.clone(),
        m,
        runner,
    )
}

/// Runs the campaign a command line describes, prints its output, exits
/// with its verdict.
fn test(
    w: &Selected,
    run: &flags::RunFlags,
    flags: &CampaignFlags,
    results: Option<std::path::PathBuf>,
    m: &clap::ArgMatches,
    runner: Runner,
) -> ExitCode {
    let Ok((lab, mut config)) = test_of(w, run, m) else {
        return ExitCode::from(2);
    };
    if let Runner::Processes(lab::NodeProgram::Foreign(words)) = &runner {
        config.tested = lab::Tested::foreign(tool_version(), words);
    }
    let plan = match flags.plan(flags::workload_flags(w.choice(), m)) {
        Ok(plan) => plan,
        Err(why) => return usage(&why),
    };
    let campaign = Campaign {
        workload: &w.name,
        lab: &lab,
        config,
        runner,
        plan,
        results,
        json: flags.json,
    };
    match campaign.run(&mut |line| eprintln!("{line}")) {
        Ok(outcome) => print(&outcome),
        Err(e) => fail(&e.to_string()),
    }
}

/// `sim --sweep`: re-parses the command line once per setting of the grid,
/// with the swept flags replaced, so every flag keeps its own validation.
fn sim_sweep(w: &Selected, args: &SimArgs, command: &clap::Command, argv: &[String]) -> ExitCode {
    let node = match w.choice().our_node() {
        Ok(node) => node,
        Err(why) => return usage(&why),
    };
    let axes: Vec<sweep::Axis> = match args.sweep.iter().map(|a| sweep::Axis::parse(a)).collect() {
        Ok(axes) => axes,
        Err(e) => return usage(&format!("--sweep {e}")),
    };
    let seeds = match args.campaign.seeds_or(args.run.seed) {
        Ok(seeds) => seeds,
        Err(why) => return usage(&why),
    };
    let swept: Vec<&str> = axes.iter().map(|a| a.flag.as_str()).collect();
    let base = flags::without_flags(argv, &swept);
    let mut setting = |settings: &[(String, String)]| {
        let mut argv = base.clone();
        for (flag, value) in settings {
            argv.extend([format!("--{flag}"), value.clone()]);
        }
        let matches = command.clone().get_matches_from(&argv);
        let Some(("sim", m)) = matches.subcommand() else {
            unreachable!("the sweep re-parses a sim command line");
        };
        let run = flags::RunFlags::from_arg_matches(m).unwrap_or_else(|e| e.exit());
        let nodes = (node.build)(m).unwrap_or_else(|e| e.exit());
        let (lab, config) = test_of(w, &run, m).map_err(|()| "invalid setting".to_string())?;
        Ok(SweepSetting { nodes, lab, config })
    };
    let sweep = Sweep {
        workload: &w.name,
        axes,
        seeds,
        threads: args.threads,
        columns: args.sweep_metric.clone(),
        json: args.campaign.json,
        html: args.sweep_html.clone(),
    };
    match sweep.run(&mut setting, &mut |line| eprintln!("{line}")) {
        Ok(outcome) => print(&outcome),
        // The setting's builder said why.
        Err(SweepError::Setting(_)) => ExitCode::from(2),
        Err(e) => fail(&e.to_string()),
    }
}

/// The test a command line describes: the spec's lab and the run's
/// settings (named, validated, the time limit fitted to the lab's work).
/// `Err` after saying why.
fn test_of(
    w: &Selected,
    run: &flags::RunFlags,
    m: &clap::ArgMatches,
) -> Result<(LabFactory, SimConfig), ()> {
    let lab = w.choice().lab(m).unwrap_or_else(|e| e.exit());
    let mut config = run.config();
    // A foreign program's run names its command instead (see `test`).
    if let Some(node) = w.node {
        config.tested = lab::Tested::ours(
            tool_version(),
            &flags::node_command("maelstrom-node".into(), node, m),
        );
    }
    let given = m.value_source("time_limit") == Some(clap::parser::ValueSource::CommandLine);
    campaign::fit_time_limit(&mut config, &lab, given);
    config.validate().map_err(|e| {
        eprintln!("maelstrom-node: {e}");
    })?;
    Ok((lab, config))
}

fn merge(args: &MergeArgs) -> ExitCode {
    match campaign::merge_shards(&args.shards, args.json) {
        Ok(outcome) => print(&outcome),
        Err(why) => usage(&why.to_string()),
    }
}

fn golden_run(args: &GoldenArgs, w: Option<&Selected>) -> ExitCode {
    let workload = w.and_then(|w| w.node).map(|node| node.name);
    let node = match golden::NodeCommand::from_flags(args.bin.as_deref(), workload) {
        Ok(node) => node,
        Err(why) => return usage(&why),
    };
    let fixtures = match golden::load_fixtures(&args.fixtures) {
        Ok(fixtures) => fixtures,
        Err(errors) => {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return usage(&lines.join("\nmaelstrom-node: "));
        }
    };
    match golden::run_fixtures(&fixtures, &node, &mut std::io::stdout().lock()) {
        Ok(tally) => ExitCode::from(u8::from(tally.failed > 0)),
        Err(e) => fail(&format!("writing the results: {e}")),
    }
}

/// Prints a campaign's output and exits with its verdict.
fn print(outcome: &Outcome) -> ExitCode {
    print!("{}", outcome.output);
    if !outcome.output.ends_with('\n') {
        println!();
    }
    ExitCode::from(outcome.validity.exit_code())
}

/// Exit status 2 for a command line that cannot run, after saying why.
fn usage(why: &str) -> ExitCode {
    eprintln!("maelstrom-node: {why}");
    ExitCode::from(2)
}

fn fail(why: &str) -> ExitCode {
    eprintln!("maelstrom-node: {why}");
    ExitCode::FAILURE
}

/// This binary's version and the commit it was built from.
fn tool_version() -> String {
    format!(
        "maelstrom-node {} ({})",
        env!("CARGO_PKG_VERSION"),
        env!("MAELSTROM_NODE_COMMIT")
    )
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    // std's RandomState is seeded from the OS; no extra crate needed here.
    RandomState::new().hash_one(std::time::SystemTime::now())
}
