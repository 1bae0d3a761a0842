//! `maelstrom-node`: one binary for every workload.
//!
//! - `maelstrom-node --workload NAME [node flags]` runs one of our nodes on
//!   stdin/stdout, as Maelstrom's `--bin` (it passes the flags after `--`).
//! - `maelstrom-node --list` lists the workloads and our nodes.
//! - `maelstrom-node sim|cluster --workload NAME [flags]` runs a test on the
//!   simulator or on real processes and prints its report (exit status 0
//!   valid, 1 invalid, 2 unknown, as Maelstrom's).
//! - `maelstrom-node golden [--bin CMD] FIXTURES...` checks a node (this
//!   binary, or any program) against fixture cases.
//!
//! This file maps flags onto the lab and dispatches; `flags.rs` holds the
//! flags. Everything that runs lives in the library crates.

mod flags;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use flags::{Cli, ClusterArgs, Command, GoldenArgs, SimArgs};
use maelstrom_framework::{NodeFactory, Registration, stdio};
use maelstrom_lab::campaign::{self, Campaign, Plan, Runner, SweepSetting};
use maelstrom_lab::golden;
use maelstrom_lab::{self as lab, LabFactory, SimConfig, SpecRegistration, sweep};

// `inventory` only registers what the binary links: the catalog links every
// workload spec and every node of ours.
use maelstrom_catalog as _;

/// The workload a command line names: the name as given (reports and
/// results folders use it), the spec that judges it and our node for it.
struct Selected {
    name: String,
    spec: &'static SpecRegistration,
    node: &'static Registration,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let workload = match flags::flag_value(&argv, "--workload", Some("-w")) {
        None => None,
        Some(name) => {
            let node = flags::flag_value(&argv, "--node", None);
            match lab::registry::choose(&name, node.as_deref()) {
                Ok(c) => Some(Selected {
                    name,
                    spec: c.spec,
                    node: c.node,
                }),
                Err(why) => return usage(&format!("{why}; known ones:\n{}", list_text())),
            }
        }
    };
    let mut command = Cli::command().after_help(format!(
        "Run a node under Maelstrom:\n  maelstrom test -w echo --bin target/release/maelstrom-node -- --workload echo\n\n\
         Use --workload NAME --help to see a workload's own flags.\n\n{}",
        list_text()
    ));
    if let Some(w) = &workload {
        let both = |sub: clap::Command| (w.spec.augment_args)((w.node.augment_args)(sub));
        command = (w.node.augment_args)(command)
            .mut_subcommand("sim", both)
            .mut_subcommand("cluster", both);
    }
    let matches = command.clone().get_matches_from(&argv);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if cli.list {
        print!("{}", list_text());
        return ExitCode::SUCCESS;
    }
    match (&cli.command, matches.subcommand(), &workload) {
        // `golden` finds the workload in each fixture's folder.
        (Some(Command::Golden(args)), _, w) => golden_run(args, w.as_ref()),
        (_, _, None) => usage(&format!(
            "--workload NAME is required; known ones:\n{}",
            list_text()
        )),
        (Some(Command::Sim(args)), _, Some(w)) if !args.sweep.is_empty() => {
            sim_sweep(w, args, &command, &argv)
        }
        (Some(Command::Sim(args)), Some((_, m)), Some(w)) => sim(w, args, m),
        (Some(Command::Cluster(args)), Some((_, m)), Some(w)) => cluster(w, args, m),
        (_, _, Some(w)) => {
            let factory = (w.node.build)(&matches).unwrap_or_else(|e| e.exit());
            let mut node = factory(cli.seed.unwrap_or_else(rand_seed));
            match stdio::run(node.as_mut(), cli.max_line_bytes) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e.to_string()),
            }
        }
    }
}

fn sim(w: &Selected, args: &SimArgs, m: &clap::ArgMatches) -> ExitCode {
    let Ok((nodes, lab, config)) = test_of(w, &args.run, m) else {
        return ExitCode::from(2);
    };
    let plan = match plan(&args.seeds, args.versus_partition) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    let runner = Runner::Simulator {
        threads: args.threads,
    };
    run(campaign(
        w,
        &nodes,
        &lab,
        config,
        runner,
        plan,
        args.results.clone(),
        args.json,
    ))
}

fn cluster(w: &Selected, args: &ClusterArgs, m: &clap::ArgMatches) -> ExitCode {
    let Ok((nodes, lab, mut config)) = test_of(w, &args.run, m) else {
        return ExitCode::from(2);
    };
    let program = match &args.bin {
        Some(bin) => match shell_words::split(bin) {
            Ok(words) if words.is_empty() => return usage("--bin is empty"),
            Ok(words) => {
                config.tested = lab::Tested::foreign(tool_version(), &words);
                lab::NodeProgram::Foreign(words)
            }
            Err(e) => {
                return usage(&format!(
                    "--bin {bin:?}: {e} (it is split as a shell would)"
                ));
            }
        },
        None => match std::env::current_exe() {
            Ok(exe) => lab::NodeProgram::Ours(node_command(exe.to_string_lossy().into(), w, m)),
            Err(e) => return fail(&format!("cannot find this binary: {e}")),
        },
    };
    let plan = match plan(&args.seeds, args.versus_partition) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    // Ctrl-C (or SIGTERM) stops the run; dropping the cluster kills every
    // node.
    let _ = ctrlc::set_handler(|| {
        lab::processes::INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed)
    });
    let runner = Runner::Processes(program);
    run(campaign(
        w,
        &nodes,
        &lab,
        config,
        runner,
        plan,
        args.results.clone(),
        args.json,
    ))
}

#[allow(clippy::too_many_arguments)]
fn campaign<'a>(
    w: &'a Selected,
    nodes: &'a NodeFactory,
    lab: &'a LabFactory,
    config: SimConfig,
    runner: Runner,
    plan: Plan,
    results: Option<std::path::PathBuf>,
    json: bool,
) -> Campaign<'a> {
    let workload = &w.name;
    Campaign {
        workload,
        nodes,
        lab,
        config,
        runner,
        plan,
        results,
        json,
    }
}

/// Runs a campaign, prints its output, exits with its verdict.
fn run(campaign: Campaign) -> ExitCode {
    match campaign.run(&mut |line| eprintln!("{line}")) {
        Ok(outcome) => {
            print(&outcome.output);
            ExitCode::from(outcome.validity.exit_code())
        }
        Err(e) => fail(&e.to_string()),
    }
}

/// `sim --sweep`: re-parses the command line once per setting of the grid,
/// with the swept flags replaced, so every flag keeps its own validation.
fn sim_sweep(w: &Selected, args: &SimArgs, command: &clap::Command, argv: &[String]) -> ExitCode {
    let axes: Vec<sweep::Axis> = match args.sweep.iter().map(|a| sweep::Axis::parse(a)).collect() {
        Ok(axes) => axes,
        Err(e) => return usage(&format!("--sweep {e}")),
    };
    let seeds = match &args.seeds {
        Some(range) => match campaign::parse_seeds(range) {
            Ok(s) => s,
            Err(e) => return usage(&format!("--seeds {range}: {e}")),
        },
        None => vec![args.run.seed],
    };
    let swept: Vec<&str> = axes.iter().map(|a| a.flag.as_str()).collect();
    let base = flags::without_flags(argv, &swept);
    let mut setting = |settings: &[(String, String)]| {
        let mut argv = base.clone();
        for (flag, value) in settings {
            argv.extend([format!("--{flag}"), value.clone()]);
        }
        let matches = command
            .clone()
            .try_get_matches_from(&argv)
            .unwrap_or_else(|e| e.exit());
        let Some(("sim", m)) = matches.subcommand() else {
            unreachable!("the sweep re-parses a sim command line");
        };
        let run = flags::RunFlags::from_arg_matches(m).unwrap_or_else(|e| e.exit());
        let (nodes, lab, config) =
            test_of(w, &run, m).map_err(|()| "invalid setting".to_string())?;
        Ok(SweepSetting { nodes, lab, config })
    };
    let say = &mut |line: &str| eprintln!("{line}");
    let points = match campaign::sweep(&w.name, &axes, &seeds, args.threads, &mut setting, say) {
        Ok(points) => points,
        Err(_) => return ExitCode::from(2),
    };
    let columns = if args.sweep_metric.is_empty() {
        sweep::default_columns(&points)
    } else {
        args.sweep_metric.clone()
    };
    let html = args.sweep_html.as_deref();
    match campaign::sweep_output(&w.name, &points, &columns, args.json, html) {
        Ok(output) => print(&output),
        Err(e) => return fail(&format!("--sweep-html: {e}")),
    }
    if let Some(path) = html {
        eprintln!("charts in {}", path.display());
    }
    let all_valid = points.iter().all(|p| p.summary.failing_seeds.is_empty());
    ExitCode::from(u8::from(!all_valid))
}

/// The test a command line describes: our node's factory, the spec's lab
/// and the run's settings (named, validated, the time limit fitted to the
/// lab's work). `Err` after saying why.
fn test_of(
    w: &Selected,
    run: &flags::RunFlags,
    m: &clap::ArgMatches,
) -> Result<(NodeFactory, LabFactory, SimConfig), ()> {
    let nodes = (w.node.build)(m).unwrap_or_else(|e| e.exit());
    let lab = (w.spec.build)(m).unwrap_or_else(|e| e.exit());
    let mut config = run.config();
    config.tested = lab::Tested {
        tool: tool_version(),
        node: lab::config::shell_line(&node_command("maelstrom-node".into(), w, m)),
        ours: true,
        files: Vec::new(),
    };
    let given = m.value_source("time_limit") == Some(clap::parser::ValueSource::CommandLine);
    campaign::fit_time_limit(&mut config, &lab, given);
    config.validate().map_err(|e| {
        eprintln!("maelstrom-node: {e}");
    })?;
    Ok((nodes, lab, config))
}

/// `PROGRAM --workload NODE` and the node flags given here.
fn node_command(program: String, w: &Selected, m: &clap::ArgMatches) -> Vec<String> {
    let mut command = vec![program, "--workload".into(), w.node.name.into()];
    command.extend(flags::given_flags(
        (w.node.augment_args)(clap::Command::new("flags")),
        m,
    ));
    command
}

fn plan(seeds: &Option<String>, versus_partition: bool) -> Result<Plan, ExitCode> {
    match (seeds, versus_partition) {
        (_, true) => Ok(Plan::VersusPartition),
        (None, false) => Ok(Plan::One),
        (Some(range), false) => match campaign::parse_seeds(range) {
            Ok(seeds) => Ok(Plan::Seeds(seeds)),
            Err(e) => Err(usage(&format!("--seeds {range}: {e}"))),
        },
    }
}

fn golden_run(args: &GoldenArgs, w: Option<&Selected>) -> ExitCode {
    let workload = w.map(|w| w.node.name);
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

fn list_text() -> String {
    lab::registry::listing()
}

fn print(text: &str) {
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
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
