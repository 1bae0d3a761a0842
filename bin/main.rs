//! `maelstrom-node`: one binary for every workload.
//!
//! - `maelstrom-node --workload NAME [workload flags]` runs one node on
//!   stdin/stdout, as Maelstrom's `--bin` (it passes the flags after `--`).
//! - `maelstrom-node --list` lists the registered workloads.
//! - `maelstrom-node sim --workload NAME [flags]` runs a simulated cluster
//!   test and prints its report (exit status 1 when the check fails).
//! - `maelstrom-node golden [--bin CMD] FIXTURES...` checks a node (this
//!   binary, or any program) against fixture cases.
//!
//! This file only parses flags and wires crates together.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use maelstrom_framework::{Registration, registry, stdio};
use maelstrom_lab::golden::{self, NodeCommand};
use maelstrom_lab::{self as sim, LabFactory, SimConfig, Summary, sweep};

// `inventory` only registers workloads from crates the binary links.
use broadcast_fanout as _;
use echo as _;
use gossip_tuning as _;
use kv_bench as _;
use maelstrom_specs as _;
use pn_counter_gossip as _;

#[derive(Debug, Parser)]
#[command(
    name = "maelstrom-node",
    version,
    about = "Maelstrom nodes for gossip workloads, one binary for all of them",
    after_help = "Run a node under Maelstrom:\n  maelstrom test -w echo --bin target/release/maelstrom-node -- --workload echo\n\nUse --workload NAME --help to see a workload's own flags."
)]
struct Cli {
    /// The workload (see --list): a spec as Maelstrom names it
    /// (`broadcast`, `pn-counter`, …) or one of our nodes (`counter`,
    /// `tuning`, …). On stdin/stdout it runs our node for it.
    #[arg(long, short = 'w', value_name = "NAME", global = true)]
    workload: Option<String>,

    /// Which of our nodes runs the workload (default: ours of its name, or
    /// the first that implements it): `--workload broadcast --node tuning`.
    #[arg(long, value_name = "NODE", global = true)]
    node: Option<String>,

    /// List the registered workloads and exit.
    #[arg(long)]
    list: bool,

    /// Seed of the node's random number generator (default: from entropy).
    #[arg(long)]
    seed: Option<u64>,

    /// Input lines longer than this are dropped (with a log line).
    #[arg(long, value_name = "BYTES", default_value_t = stdio::DEFAULT_MAX_LINE_BYTES)]
    max_line_bytes: usize,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
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
}

#[derive(Debug, clap::Args)]
struct GoldenArgs {
    /// Fixture files or folders: a folder gives every `*.json` in it and
    /// in its subfolders, sorted (`fixtures/` gives every workload's).
    #[arg(value_name = "FIXTURES", required = true)]
    fixtures: Vec<std::path::PathBuf>,
    /// The node to check: one command line, split into words as a POSIX
    /// shell does (quotes and backslashes work, nothing is expanded), and
    /// run with no flags added. Default: this binary, as `--workload W`
    /// and the fixture's `args`, W being --workload or else the fixture's
    /// folder name.
    #[arg(long = "bin", value_name = "COMMAND")]
    bin: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ClusterArgs {
    #[command(flatten)]
    config: SimConfig,
    /// The node command (default: this binary with --workload NAME and
    /// the workload flags given here). It is split into words as a POSIX
    /// shell splits them, quotes and backslashes included, and run as
    /// those words without a shell: `--bin "python3 my node.py"` is two
    /// arguments, `--bin "sh -c 'exec python3 node.py'"` runs a shell.
    #[arg(long = "bin", value_name = "COMMAND")]
    bin: Option<String>,
    /// Folder for the results (default: results/<workload>-<time>-seed<N>).
    #[arg(long, value_name = "DIR")]
    results: Option<std::path::PathBuf>,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Run once per seed of a range or list, one after the other, and
    /// print the distribution of each metric.
    #[arg(long, value_name = "RANGE")]
    seeds: Option<String>,
    /// Run twice, without and with --nemesis partition, and print the
    /// metrics side by side.
    #[arg(long, conflicts_with_all = ["seeds", "nemesis"])]
    versus_partition: bool,
}

#[derive(Debug, clap::Args)]
struct SimArgs {
    #[command(flatten)]
    config: SimConfig,
    /// Run every seed of a range (`1..200`, inclusive) or list (`1,5,9`) and
    /// print the distribution of each metric and the failing seeds.
    #[arg(long, value_name = "RANGE")]
    seeds: Option<String>,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write the run's results folder here, as `cluster` does:
    /// report.txt/json/html (with the message diagram), history.jsonl and
    /// messages.jsonl, the journal of every message.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["seeds", "versus_partition", "sweep"])]
    results: Option<std::path::PathBuf>,
    /// Run twice, without and with --nemesis partition, and print the
    /// metrics side by side.
    #[arg(long, conflicts_with_all = ["seeds", "nemesis"])]
    versus_partition: bool,
    /// Threads for --seeds.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Run the test for every combination of flag values and print one row
    /// per setting (repeatable): `--sweep fanout=1,2,4 --sweep
    /// gossip-interval-ms=50,100,200`. Any valued flag of the workload, its
    /// lab or `sim` itself can be swept; each setting runs every seed of
    /// --seeds (default: --seed).
    #[arg(
        long,
        value_name = "FLAG=V1,V2,..",
        conflicts_with = "versus_partition"
    )]
    sweep: Vec<String>,
    /// A column of the sweep table (repeatable; default: msgs-per-op and
    /// every latency median and maximum the checker reports).
    #[arg(long, value_name = "METRIC", requires = "sweep")]
    sweep_metric: Vec<String>,
    /// Also write the sweep's table and trade-off charts to this HTML file.
    #[arg(long, value_name = "FILE", requires = "sweep")]
    sweep_html: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let workload = match workload_named(&argv) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let mut command = Cli::command();
    if let Some(w) = &workload {
        let with_lab = |sub: clap::Command| (w.spec.augment_args)((w.node.augment_args)(sub));
        command = (w.node.augment_args)(command)
            .mut_subcommand("sim", with_lab)
            .mut_subcommand("cluster", with_lab);
    }
    let matches = command.clone().get_matches_from(&argv);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());

    if cli.list {
        print!("{}", list_text());
        return ExitCode::SUCCESS;
    }
    // `golden` finds the workload in each fixture's folder.
    if let Some(Command::Golden(args)) = &cli.command {
        return run_golden(args, workload.as_ref());
    }
    let Some(workload) = &workload else {
        eprintln!(
            "maelstrom-node: --workload NAME is required; known workloads:\n{}",
            list_text()
        );
        return ExitCode::from(2);
    };
    if let (Some(Command::Sim(args)), Some(("sim", sim_matches))) =
        (&cli.command, matches.subcommand())
    {
        if !args.sweep.is_empty() {
            return run_sweep(workload, args, &command, &argv);
        }
        return run_sim(workload, args, sim_matches);
    }
    if let (Some(Command::Cluster(args)), Some(("cluster", cluster_matches))) =
        (&cli.command, matches.subcommand())
    {
        return run_cluster(workload, args, cluster_matches);
    }
    let factory = (workload.node.build)(&matches).unwrap_or_else(|e| e.exit());
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

fn run_sim(workload: &Selected, args: &SimArgs, matches: &clap::ArgMatches) -> ExitCode {
    let (lab, config) = match lab_and_config(workload, args.config.clone(), matches, "sim") {
        Ok(both) => both,
        Err(code) => return code,
    };
    let nodes = (workload.node.build)(matches).unwrap_or_else(|e| e.exit());
    let print = |text: String| {
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
    };
    if args.versus_partition {
        let normal = sim::run_one(&workload.name, &nodes, &lab, &config);
        let cut = SimConfig {
            nemesis: Some(sim::Nemesis::Partition),
            ..config.clone()
        };
        let partitioned = sim::run_one(&workload.name, &nodes, &lab, &cut);
        if args.json {
            let both = serde_json::json!({"normal": normal, "partitioned": partitioned});
            print(serde_json::to_string_pretty(&both).expect("reports serialise"));
        } else {
            print(sim::report::side_by_side(&normal, &partitioned));
        }
        return exit_status([&normal, &partitioned]);
    }
    match &args.seeds {
        None => {
            let report = match &args.results {
                None => sim::run_one(&workload.name, &nodes, &lab, &config),
                Some(dir) => match sim::run_one_into(&workload.name, &nodes, &lab, &config, dir) {
                    Ok(report) => {
                        eprintln!("results in {}", dir.display());
                        report
                    }
                    Err(e) => {
                        eprintln!("maelstrom-node sim: {}: {e}", dir.display());
                        return ExitCode::FAILURE;
                    }
                },
            };
            if args.json {
                print(serde_json::to_string_pretty(&report).expect("reports serialise"));
            } else {
                print(report.table());
            }
            exit_status([&report])
        }
        Some(range) => {
            let seeds = match parse_seeds(range) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("maelstrom-node sim: --seeds {range}: {e}");
                    return ExitCode::from(2);
                }
            };
            let total = seeds.len();
            let on_done = |report: &sim::Report, done: usize| {
                if !report.valid {
                    eprintln!(
                        "seed {} FAILED: {}",
                        report.config.seed,
                        report.failures.join("; ")
                    );
                }
                if done % 10 == 0 || done == total {
                    eprintln!("{done}/{total} seeds done");
                }
            };
            let reports = sim::run_seeds(
                &workload.name,
                &nodes,
                &lab,
                &config,
                &seeds,
                args.threads,
                &on_done,
            );
            let summary = Summary::new(&reports);
            if args.json {
                print(serde_json::to_string_pretty(&summary).expect("summaries serialise"));
            } else {
                print(summary.table());
            }
            exit_status(&reports)
        }
    }
}

/// `sim --sweep`: re-parses the command line once per setting of the grid,
/// with the swept flags replaced, so every flag keeps its own validation.
fn run_sweep(
    workload: &Selected,
    args: &SimArgs,
    command: &clap::Command,
    argv: &[String],
) -> ExitCode {
    let axes: Vec<sweep::Axis> = match args.sweep.iter().map(|a| sweep::Axis::parse(a)).collect() {
        Ok(axes) => axes,
        Err(e) => {
            eprintln!("maelstrom-node sim: --sweep {e}");
            return ExitCode::from(2);
        }
    };
    let seeds = match &args.seeds {
        Some(range) => match parse_seeds(range) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("maelstrom-node sim: --seeds {range}: {e}");
                return ExitCode::from(2);
            }
        },
        None => vec![args.config.seed],
    };
    let swept: Vec<&str> = axes.iter().map(|a| a.flag.as_str()).collect();
    let base = without_flags(argv, &swept);
    let grid = sweep::grid(&axes);
    let mut points = Vec::new();
    for (i, settings) in grid.iter().enumerate() {
        let mut argv = base.clone();
        for (flag, value) in settings {
            argv.push(format!("--{flag}"));
            argv.push(value.clone());
        }
        let matches = match command.clone().try_get_matches_from(&argv) {
            Ok(m) => m,
            Err(e) => e.exit(),
        };
        let Some(("sim", sim_matches)) = matches.subcommand() else {
            unreachable!("the sweep re-parses a sim command line");
        };
        let config = SimConfig::from_arg_matches(sim_matches).unwrap_or_else(|e| e.exit());
        let (lab, config) = match lab_and_config(workload, config, sim_matches, "sim") {
            Ok(both) => both,
            Err(code) => return code,
        };
        let nodes = (workload.node.build)(sim_matches).unwrap_or_else(|e| e.exit());
        let reports = sim::run_seeds(
            &workload.name,
            &nodes,
            &lab,
            &config,
            &seeds,
            args.threads,
            &|_, _| {},
        );
        let settings_text: Vec<String> = settings.iter().map(|(f, v)| format!("{f}={v}")).collect();
        eprintln!("{}/{} {} done", i + 1, grid.len(), settings_text.join(" "));
        points.push(sweep::SweepPoint {
            settings: settings.clone(),
            summary: Summary::new(&reports),
        });
    }
    let columns = if args.sweep_metric.is_empty() {
        sweep::default_columns(&points)
    } else {
        args.sweep_metric.clone()
    };
    let table = sweep::table(&points, &columns);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&points).expect("summaries serialise")
        );
    } else {
        print!("{table}");
    }
    if let Some(path) = &args.sweep_html {
        let page = sim::plots::html(
            &format!("{} sweep", workload.name),
            &table,
            &sweep::plots(&points, &columns),
        );
        if let Err(e) = std::fs::write(path, page) {
            eprintln!("maelstrom-node sim: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("charts in {}", path.display());
    }
    if points.iter().all(|p| p.summary.failing_seeds.is_empty()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The workload's lab built from its flags, and the run's settings with
/// the time limit fitted to the lab's budget and validated; exit status 2
/// (after saying why on stderr) when the workload has no lab or a setting
/// is invalid. `command` names the subcommand in the message.
fn lab_and_config(
    workload: &Selected,
    mut config: SimConfig,
    matches: &clap::ArgMatches,
    command: &str,
) -> Result<(LabFactory, SimConfig), ExitCode> {
    let lab = (workload.spec.build)(matches).unwrap_or_else(|e| e.exit());
    let mut node = vec![
        "maelstrom-node".to_string(),
        "--workload".into(),
        workload.node.name.into(),
    ];
    node.extend(workload_flags(workload.node, matches));
    config.tested = sim::Tested {
        tool: tool_version(),
        node: sim::config::shell_line(&node),
        ours: true,
        files: Vec::new(),
    };
    fit_time_limit(&mut config, matches, &lab);
    if let Err(e) = config.validate() {
        eprintln!("maelstrom-node {command}: {e}");
        return Err(ExitCode::from(2));
    }
    Ok((lab, config))
}

/// With an operation budget (`--ops N`, a lab's `--adds N`) and no
/// `--time-limit` on the command line, the time limit makes room for every
/// operation at `--rate`, instead of cutting them off at the default; the
/// main phase ends once they are done anyway.
fn fit_time_limit(config: &mut SimConfig, matches: &clap::ArgMatches, lab: &LabFactory) {
    if matches.value_source("time_limit") == Some(clap::parser::ValueSource::CommandLine) {
        return;
    }
    let lab_budget = lab(&sim::LabSetup {
        node_ids: config.node_ids(),
    })
    .op_budget();
    let Some(budget) = config.ops.into_iter().chain(lab_budget).min() else {
        return;
    };
    if config.rate.is_nan() || config.rate <= 0.0 {
        return; // validate() explains
    }
    let room = budget as f64 / config.rate * 1.5 + 10.0;
    config.time_limit = config.time_limit.max(room.min(sim::run::MAX_SECONDS));
}

/// `argv` without `--sweep*` flags and without the swept flags (in either
/// `--flag value` or `--flag=value` form), so they can be set anew.
fn without_flags(argv: &[String], swept: &[&str]) -> Vec<String> {
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

fn run_cluster(workload: &Selected, args: &ClusterArgs, matches: &clap::ArgMatches) -> ExitCode {
    let (lab, config) = match lab_and_config(workload, args.config.clone(), matches, "cluster") {
        Ok(both) => both,
        Err(code) => return code,
    };
    let program = match &args.bin {
        Some(bin) => match shell_words::split(bin) {
            Ok(words) => sim::NodeProgram::Foreign(words),
            Err(e) => {
                eprintln!(
                    "maelstrom-node cluster: --bin {bin:?}: {e} (it is split as a shell would)"
                );
                return ExitCode::from(2);
            }
        },
        None => {
            let exe = match std::env::current_exe() {
                Ok(exe) => exe.to_string_lossy().into_owned(),
                Err(e) => {
                    eprintln!("maelstrom-node cluster: cannot find this binary: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut c = vec![
                exe,
                "--workload".to_string(),
                workload.node.name.to_string(),
            ];
            c.extend(workload_flags(workload.node, matches));
            sim::NodeProgram::Ours(c)
        }
    };
    if matches!(&program, sim::NodeProgram::Foreign(c) if c.is_empty()) {
        eprintln!("maelstrom-node cluster: --bin is empty");
        return ExitCode::from(2);
    }
    let mut config = config;
    if let sim::NodeProgram::Foreign(words) = &program {
        config.tested = sim::Tested::foreign(tool_version(), words);
    }
    // Ctrl-C (or SIGTERM) stops the run; dropping the cluster kills every
    // node.
    let _ = ctrlc::set_handler(|| {
        sim::processes::INTERRUPTED.store(true, std::sync::atomic::Ordering::Relaxed)
    });
    let seeds = match &args.seeds {
        Some(range) => match parse_seeds(range) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("maelstrom-node cluster: --seeds {range}: {e}");
                return ExitCode::from(2);
            }
        },
        None => vec![config.seed],
    };
    if args.versus_partition {
        let base = args
            .results
            .clone()
            .unwrap_or_else(|| default_results_dir(&workload.name, config.seed));
        let mut both = Vec::new();
        for (label, nemesis) in [
            ("normal", None),
            ("partitioned", Some(sim::Nemesis::Partition)),
        ] {
            let cfg = SimConfig {
                nemesis,
                ..config.clone()
            };
            let dir = base.join(label);
            match sim::run_processes(&workload.name, &program, &lab, &cfg, &dir) {
                Ok(report) => both.push(report),
                Err(e) => {
                    eprintln!("maelstrom-node cluster: {e}");
                    return ExitCode::FAILURE;
                }
            }
            if sim::processes::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
                eprintln!(
                    "maelstrom-node cluster: interrupted; results in {}",
                    base.display()
                );
                print!("{}", both[0].table());
                return ExitCode::FAILURE;
            }
        }
        let text = sim::report::side_by_side(&both[0], &both[1]);
        let _ = std::fs::write(base.join("versus-partition.txt"), &text);
        if args.json {
            let json = serde_json::json!({"normal": both[0], "partitioned": both[1]});
            println!(
                "{}",
                serde_json::to_string_pretty(&json).expect("serialises")
            );
        } else {
            print!("{text}");
        }
        eprintln!("results in {}", base.display());
        return exit_status(&both);
    }
    let mut reports = Vec::new();
    for seed in seeds {
        let cfg = SimConfig {
            seed,
            ..config.clone()
        };
        let dir = args.results.clone().map_or_else(
            || default_results_dir(&workload.name, seed),
            |d| {
                if args.seeds.is_some() {
                    d.join(format!("seed{seed}"))
                } else {
                    d
                }
            },
        );
        match sim::run_processes(&workload.name, &program, &lab, &cfg, &dir) {
            Ok(report) => {
                if args.seeds.is_none() {
                    if args.json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&report).expect("serialises")
                        );
                    } else {
                        print!("{}", report.table());
                    }
                }
                eprintln!("results in {}", dir.display());
                reports.push(report);
            }
            Err(e) => {
                eprintln!("maelstrom-node cluster: {e}");
                return ExitCode::FAILURE;
            }
        }
        if sim::processes::INTERRUPTED.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
    }
    if args.seeds.is_some() {
        let summary = Summary::new(&reports);
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).expect("serialises")
            );
        } else {
            print!("{}", summary.table());
        }
    }
    exit_status(&reports)
}

fn run_golden(args: &GoldenArgs, workload: Option<&Selected>) -> ExitCode {
    let usage_error = |text: String| {
        eprintln!("maelstrom-node golden: {text}");
        ExitCode::from(2)
    };
    let node = match (&args.bin, workload) {
        (Some(_), Some(w)) => {
            return usage_error(format!(
                "--workload {} picks which of maelstrom-node's workloads runs the cases; \
                 with --bin the node is yours: leave it out",
                w.name
            ));
        }
        (Some(line), None) => match shell_words::split(line) {
            Ok(argv) if argv.is_empty() => return usage_error("--bin is empty".into()),
            Ok(argv) => NodeCommand::Foreign { argv },
            Err(e) => return usage_error(format!("--bin {line:?}: {e}")),
        },
        (None, workload) => match std::env::current_exe() {
            Ok(program) => NodeCommand::Ours {
                program,
                workload: workload.map(|w| w.node.name.to_string()),
            },
            Err(e) => {
                eprintln!("maelstrom-node golden: cannot find this binary: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let fixtures = match golden::load_fixtures(&args.fixtures) {
        Ok(fixtures) => fixtures,
        Err(errors) => {
            for e in errors {
                eprintln!("maelstrom-node golden: {e}");
            }
            return ExitCode::from(2);
        }
    };
    match golden::run_fixtures(&fixtures, &node, &mut std::io::stdout().lock()) {
        Ok(tally) if tally.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("maelstrom-node golden: writing the results: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workload flags given on this command line, to pass on to the nodes.
fn workload_flags(workload: &Registration, matches: &clap::ArgMatches) -> Vec<String> {
    let declared = (workload.augment_args)(clap::Command::new("flags"));
    let mut flags = Vec::new();
    for arg in declared.get_arguments() {
        let id = arg.get_id().as_str();
        let (Some(long), Some(clap::parser::ValueSource::CommandLine)) =
            (arg.get_long(), matches.value_source(id))
        else {
            continue;
        };
        if arg.get_action().takes_values() {
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

fn default_results_dir(workload: &str, seed: u64) -> std::path::PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    std::path::PathBuf::from("results").join(format!("{workload}-{secs}-seed{seed}"))
}

/// `1..200` (inclusive), `1..=200`, or `1,5,9`.
fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let bad = |e: std::num::ParseIntError| e.to_string();
    if let Some((a, b)) = text.split_once("..") {
        let b = b.strip_prefix('=').unwrap_or(b);
        let (a, b): (u64, u64) = (
            a.trim().parse().map_err(bad)?,
            b.trim().parse().map_err(bad)?,
        );
        if a > b {
            return Err("empty range".into());
        }
        if b - a >= 1_000_000 {
            return Err("at most a million seeds".into());
        }
        Ok((a..=b).collect())
    } else {
        text.split(',')
            .map(|s| s.trim().parse().map_err(bad))
            .collect()
    }
}

/// The workload a command line names: the name as given (reports and
/// results folders use it), the spec that judges it and our node for it.
struct Selected {
    name: String,
    spec: &'static sim::SpecRegistration,
    node: &'static Registration,
}

/// The value of `--flag` on the command line (also `--flag=V`), before the
/// full parse: the workload's own flags are part of the command line.
fn flag_value(args: &[String], long: &str, short: Option<&str>) -> Option<String> {
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

/// Finds the `--workload` (and `--node`) before the full parse. Unknown
/// names exit 2.
fn workload_named(args: &[String]) -> Result<Option<Selected>, ExitCode> {
    let Some(name) = flag_value(args, "--workload", Some("-w")) else {
        return Ok(None);
    };
    let node = flag_value(args, "--node", None);
    match sim::registry::choose(&name, node.as_deref()) {
        Ok(choice) => Ok(Some(Selected {
            name,
            spec: choice.spec,
            node: choice.node,
        })),
        Err(why) => {
            eprintln!(
                "maelstrom-node: {why}; known workloads and nodes:\n{}",
                list_text()
            );
            Err(ExitCode::from(2))
        }
    }
}

/// The workloads (specs) and our nodes, apart.
fn list_text() -> String {
    let mut out = String::from("workloads (--workload; as Maelstrom names them):\n");
    for spec in sim::registry::specs() {
        let nodes: Vec<&str> = sim::registry::nodes_for(spec.name)
            .iter()
            .map(|n| n.name)
            .collect();
        let nodes = if nodes.is_empty() {
            "none".to_string()
        } else {
            nodes.join(", ")
        };
        out.push_str(&format!(
            "  {:<11} {} [our nodes: {nodes}]\n",
            spec.name, spec.about
        ));
    }
    out.push_str("nodes (ours; --node, or --workload on stdin/stdout):\n");
    for node in registry::workloads() {
        out.push_str(&format!(
            "  {:<11} {} [implements: {}]\n",
            node.name,
            node.about,
            node.specs.join(", ")
        ));
    }
    out
}

/// This binary's version and the commit it was built from.
fn tool_version() -> String {
    format!(
        "maelstrom-node {} ({})",
        env!("CARGO_PKG_VERSION"),
        env!("MAELSTROM_NODE_COMMIT")
    )
}

/// The exit status of a set of runs: 0 valid, 1 invalid, 2 unknown, as
/// Maelstrom's.
fn exit_status<'a>(reports: impl IntoIterator<Item = &'a sim::Report>) -> ExitCode {
    let worst = sim::Validity::worst(reports.into_iter().map(|r| r.validity));
    ExitCode::from(worst.exit_code())
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    // std's RandomState is seeded from the OS; no extra crate needed here.
    RandomState::new().hash_one(std::time::SystemTime::now())
}
