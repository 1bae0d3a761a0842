//! A test as a user asks for it: one run, one per seed, or a run without
//! and one with partitions side by side — on the simulator or on real
//! processes — with its results folders and its output; and sweeps of a
//! test over a grid of settings. One implementation for `sim` and
//! `cluster`: the binary only maps its flags onto a [`Campaign`].

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use maelstrom_framework::NodeFactory;

use crate::config::{Faults, MAX_SECONDS, Nemesis, SimConfig};
use crate::processes::INTERRUPTED;
use crate::report::{Report, SeedResult, Summary, Validity};
use crate::shard::{Parameters, Part, RunnerKind, ShardError, ShardFile};
use crate::sweep::{self, Axis, SweepPoint};
use crate::table::side_by_side;
use crate::{LabFactory, LabSetup, NodeProgram};

/// Where the nodes run.
pub enum Runner<'a> {
    /// Our nodes, made by `nodes`, in the simulator, on `threads` threads
    /// across seeds.
    Simulator {
        nodes: &'a NodeFactory,
        threads: usize,
    },
    /// Real processes (ours or a foreign program), one run after the other.
    Processes(NodeProgram),
}

/// Which runs a campaign makes.
pub enum Plan {
    /// One run with the configured seed.
    One,
    /// One run per seed, summarised: each metric's distribution and the
    /// failing seeds.
    Seeds(Vec<u64>),
    /// The configured run without and with `--nemesis partition`, side by
    /// side.
    VersusPartition,
    /// Part of a campaign over seeds (`--shard K/N`), for another machine
    /// to merge: its shard file instead of the summary.
    Shard(ShardPlan),
}

/// One shard of a campaign over `seeds`.
pub struct ShardPlan {
    /// The whole campaign's seeds; the shard runs its part of them.
    pub seeds: Vec<u64>,
    pub part: Part,
    /// Every flag of the workload's spec and node with its value, for the
    /// shard file's parameters (see [`Parameters::workload_flags`]).
    pub workload_flags: Vec<String>,
}

/// A test to run and how.
pub struct Campaign<'a> {
    /// The workload's name as the user gave it (reports and folders).
    pub workload: &'a str,
    pub lab: &'a LabFactory,
    pub config: SimConfig,
    pub runner: Runner<'a>,
    pub plan: Plan,
    /// The results folder: a run's files, or per seed `seed<N>/`, or
    /// `normal/` and `partitioned/`. Real processes always write one
    /// (default `results/<workload>-<time>-seed<N>`); the simulator only
    /// when asked, and then only for one run.
    pub results: Option<PathBuf>,
    /// JSON instead of the readable table.
    pub json: bool,
}

/// What a campaign produced.
pub struct Outcome {
    /// For stdout: the report, the side-by-side table or the summary (or
    /// their JSON).
    pub output: String,
    /// The worst verdict of its runs (an interrupted campaign is invalid).
    pub validity: Validity,
}

impl Campaign<'_> {
    /// Runs the campaign; `say` gets the lines for stderr (progress,
    /// failing seeds, where results went).
    pub fn run(&self, say: &mut (dyn FnMut(&str) + Send)) -> std::io::Result<Outcome> {
        match &self.plan {
            Plan::VersusPartition => self.versus_partition(say),
            Plan::One => {
                let report = self.one(self.config.seed, self.results.clone(), say)?;
                let output = if self.json {
                    pretty(&report)
                } else {
                    report.table()
                };
                Ok(Outcome {
                    output,
                    validity: report.validity,
                })
            }
            Plan::Seeds(seeds) => {
                let reports = self.seed_reports(seeds, say)?;
                let results: Vec<SeedResult> = reports.iter().map(SeedResult::of).collect();
                let validity = Validity::worst(reports.iter().map(|r| r.validity));
                Ok(summary_outcome(
                    &Summary::of(self.workload, &results),
                    validity,
                    self.json,
                ))
            }
            Plan::Shard(plan) => self.shard(plan, say),
        }
    }

    /// Runs this shard's part of the seeds; its output is the shard file,
    /// also written into the results folder when there is one.
    fn shard(
        &self,
        plan: &ShardPlan,
        say: &mut (dyn FnMut(&str) + Send),
    ) -> std::io::Result<Outcome> {
        let seeds = plan.part.seeds(&plan.seeds);
        let reports = self.seed_reports(&seeds, say)?;
        let file = ShardFile::new(
            self.parameters(&plan.workload_flags),
            plan.seeds.clone(),
            plan.part,
            reports.iter().map(SeedResult::of).collect(),
        );
        let output = file.to_json();
        if let Some(dir) = &self.results {
            let (k, n) = (plan.part.index, plan.part.count);
            let path = dir.join(format!("shard-{k}-of-{n}.json"));
            std::fs::create_dir_all(dir)?;
            std::fs::write(&path, format!("{output}\n"))?;
            say(&format!("shard file in {}", path.display()));
        }
        Ok(Outcome {
            output,
            validity: Validity::worst(reports.iter().map(|r| r.validity)),
        })
    }

    /// What decides this campaign's results apart from its seeds.
    fn parameters(&self, workload_flags: &[String]) -> Parameters {
        let mut settings = serde_json::to_value(&self.config).expect("settings serialise");
        if let Some(fields) = settings.as_object_mut() {
            fields.remove("seed");
        }
        Parameters {
            workload: self.workload.to_string(),
            runner: match self.runner {
                Runner::Simulator { .. } => RunnerKind::Simulator,
                Runner::Processes(_) => RunnerKind::Processes,
            },
            tested: self.config.tested.clone(),
            settings,
            workload_flags: workload_flags.to_vec(),
        }
    }

    /// One run with `seed`, into `dir` when given (real processes: always).
    fn one(
        &self,
        seed: u64,
        dir: Option<PathBuf>,
        say: &mut dyn FnMut(&str),
    ) -> std::io::Result<Report> {
        let cfg = SimConfig {
            seed,
            ..self.config.clone()
        };
        let report = match (&self.runner, dir) {
            (Runner::Simulator { nodes, .. }, None) => {
                return Ok(crate::run_one(self.workload, nodes, self.lab, &cfg));
            }
            (Runner::Simulator { nodes, .. }, Some(dir)) => {
                let report = crate::run_one_into(self.workload, nodes, self.lab, &cfg, &dir)?;
                say(&format!("results in {}", dir.display()));
                report
            }
            (Runner::Processes(program), dir) => {
                let dir = dir.unwrap_or_else(|| default_results_dir(self.workload, seed));
                let mut progress = Progress::new();
                let report = crate::run_processes(
                    self.workload,
                    program,
                    self.lab,
                    &cfg,
                    &dir,
                    &mut |now, end| progress.at(now, end, say),
                )?;
                say(&format!("results in {}", dir.display()));
                // What the runner could not do (skew a foreign node's
                // clock without libfaketime), in so many words.
                for note in &report.notes {
                    say(&format!("note: {note}"));
                }
                report
            }
        };
        Ok(report)
    }

    /// One run per seed, in seed order (real processes: fewer when
    /// interrupted).
    fn seed_reports(
        &self,
        seeds: &[u64],
        say: &mut (dyn FnMut(&str) + Send),
    ) -> std::io::Result<Vec<Report>> {
        Ok(match &self.runner {
            Runner::Simulator { nodes, threads } => {
                let total = seeds.len();
                let say = std::sync::Mutex::new(say);
                let on_done = |report: &Report, done: usize| {
                    let mut say = say.lock().expect("no panics while holding it");
                    if let Some(why) = report.why() {
                        say(&format!("seed {} {why}", report.config.seed));
                    }
                    if done % 10 == 0 || done == total {
                        say(&format!("{done}/{total} seeds done"));
                    }
                };
                crate::run_seeds(
                    self.workload,
                    nodes,
                    self.lab,
                    &self.config,
                    seeds,
                    *threads,
                    &on_done,
                )
            }
            Runner::Processes(_) => {
                let mut reports = Vec::new();
                for &seed in seeds {
                    let dir = self.results.as_ref().map(|d| d.join(format!("seed{seed}")));
                    reports.push(self.one(seed, dir, say)?);
                    if INTERRUPTED.load(Ordering::Relaxed) {
                        break;
                    }
                }
                reports
            }
        })
    }

    fn versus_partition(&self, say: &mut dyn FnMut(&str)) -> std::io::Result<Outcome> {
        let base = match &self.runner {
            Runner::Simulator { .. } => self.results.clone(),
            Runner::Processes(_) => Some(
                self.results
                    .clone()
                    .unwrap_or_else(|| default_results_dir(self.workload, self.config.seed)),
            ),
        };
        let mut both = Vec::new();
        for (label, nemesis) in [
            ("normal", Faults::none()),
            ("partitioned", Nemesis::Partition.into()),
        ] {
            let run = Campaign {
                config: SimConfig {
                    nemesis,
                    ..self.config.clone()
                },
                plan: Plan::One,
                ..self.same()
            };
            let dir = base.as_ref().map(|b| b.join(label));
            both.push(run.one(self.config.seed, dir, say)?);
            if INTERRUPTED.load(Ordering::Relaxed) {
                if let Some(base) = &base {
                    say(&format!("interrupted; results in {}", base.display()));
                }
                return Ok(Outcome {
                    output: both[0].table(),
                    validity: Validity::Invalid,
                });
            }
        }
        let text = side_by_side(&both[0], &both[1]);
        if let Some(base) = &base {
            std::fs::write(base.join("versus-partition.txt"), &text)?;
            say(&format!("results in {}", base.display()));
        }
        let output = if self.json {
            pretty(&serde_json::json!({"normal": both[0], "partitioned": both[1]}))
        } else {
            text
        };
        Ok(Outcome {
            output,
            validity: Validity::worst(both.iter().map(|r| r.validity)),
        })
    }

    /// This campaign's test and runner, for a derived campaign.
    fn same(&self) -> Campaign<'_> {
        Campaign {
            workload: self.workload,
            lab: self.lab,
            config: self.config.clone(),
            runner: match &self.runner {
                Runner::Simulator { nodes, threads } => Runner::Simulator {
                    nodes,
                    threads: *threads,
                },
                Runner::Processes(p) => Runner::Processes(p.clone()),
            },
            plan: Plan::One,
            results: self.results.clone(),
            json: self.json,
        }
    }
}

/// A line every 2 s of real time on how far a real-process run has come.
struct Progress {
    started: std::time::Instant,
    last: std::time::Instant,
}

impl Progress {
    fn new() -> Progress {
        let now = std::time::Instant::now();
        Progress {
            started: now,
            last: now,
        }
    }

    fn at(
        &mut self,
        now: std::time::Duration,
        end: std::time::Duration,
        say: &mut dyn FnMut(&str),
    ) {
        if self.last.elapsed() >= std::time::Duration::from_secs(2) {
            self.last = std::time::Instant::now();
            say(&format!(
                "cluster: {:.1} of {:.1} s of the run ({:.0} s real)",
                now.as_secs_f64(),
                end.as_secs_f64(),
                self.started.elapsed().as_secs_f64()
            ));
        }
    }
}

/// A campaign over seeds' output: its summary as the table, or as JSON
/// with `json`, and the worst verdict of its seeds (`validity`). The
/// unsplit campaign's and merged shards'.
pub fn summary_outcome(summary: &Summary, validity: Validity, json: bool) -> Outcome {
    Outcome {
        output: if json {
            pretty(summary)
        } else {
            summary.table()
        },
        validity,
    }
}

/// The output of the campaign whose shard files are at `paths`, as the
/// unsplit campaign prints it (`json`: as with `--json`).
pub fn merge_shards(paths: &[PathBuf], json: bool) -> Result<Outcome, ShardError> {
    let (workload, results) = crate::shard::merge_files(paths)?;
    let validity = Validity::worst(results.iter().map(|r| r.validity));
    Ok(summary_outcome(
        &Summary::of(&workload, &results),
        validity,
        json,
    ))
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("reports serialise")
}

/// `results/<workload>-<unix seconds>-seed<N>`.
pub fn default_results_dir(workload: &str, seed: u64) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Path::new("results").join(format!("{workload}-{secs}-seed{seed}"))
}

/// `1..200` (inclusive), `1..=200`, or `1,5,9`.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
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

/// With an operation budget (`--ops N`, a lab's `--adds N`) and no time
/// limit given, the time limit makes room for every operation at the rate,
/// instead of cutting them off at the default; the main phase ends once
/// they are done anyway.
pub fn fit_time_limit(config: &mut SimConfig, lab: &LabFactory, time_limit_given: bool) {
    if time_limit_given {
        return;
    }
    let lab_budget = lab(&LabSetup {
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
    config.time_limit = config.time_limit.max(room.min(MAX_SECONDS));
}

/// One setting of a sweep, built by the caller from the swept flags'
/// values (the binary re-parses its command line, so every flag keeps its
/// own validation).
pub struct SweepSetting {
    pub nodes: NodeFactory,
    pub lab: LabFactory,
    pub config: SimConfig,
}

/// Builds the test of one setting of a sweep from its flags' values.
pub type SettingBuilder<'a> = dyn FnMut(&[(String, String)]) -> Result<SweepSetting, String> + 'a;

/// A sweep on the simulator: one test over every combination of the axes'
/// values, each combination over every seed.
pub struct Sweep<'a> {
    /// The workload's name as the user gave it.
    pub workload: &'a str,
    pub axes: Vec<Axis>,
    pub seeds: Vec<u64>,
    pub threads: usize,
    /// The table's columns (empty: msgs-per-op and every latency median and
    /// maximum the checker reports).
    pub columns: Vec<String>,
    /// The points as JSON instead of the table.
    pub json: bool,
    /// Also write the table and its trade-off charts to this page.
    pub html: Option<PathBuf>,
}

/// Why a sweep stopped.
#[derive(Debug)]
pub enum SweepError {
    /// A combination's test could not be built (the builder said why).
    Setting(String),
    /// The page could not be written.
    Page(std::io::Error),
}

impl std::fmt::Display for SweepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SweepError::Setting(why) => write!(f, "{why}"),
            SweepError::Page(e) => write!(f, "writing the sweep's page: {e}"),
        }
    }
}

impl Sweep<'_> {
    /// Runs every combination (`setting` builds its test), `say` hears of
    /// each one done; the outcome's verdict is the worst of every seed's of
    /// every combination.
    pub fn run(
        &self,
        setting: &mut SettingBuilder<'_>,
        say: &mut dyn FnMut(&str),
    ) -> Result<Outcome, SweepError> {
        let grid = sweep::grid(&self.axes);
        let mut points = Vec::new();
        let mut validity = Validity::Valid;
        for (i, settings) in grid.iter().enumerate() {
            let test = setting(settings).map_err(SweepError::Setting)?;
            let reports = crate::run_seeds(
                self.workload,
                &test.nodes,
                &test.lab,
                &test.config,
                &self.seeds,
                self.threads,
                &|_, _| {},
            );
            let text: Vec<String> = settings.iter().map(|(f, v)| format!("{f}={v}")).collect();
            validity = Validity::worst(
                std::iter::once(validity).chain(reports.iter().map(|r| r.validity)),
            );
            say(&format!("{}/{} {} done", i + 1, grid.len(), text.join(" ")));
            points.push(SweepPoint {
                settings: settings.clone(),
                summary: Summary::new(&reports),
            });
        }
        let columns = if self.columns.is_empty() {
            sweep::default_columns(&points)
        } else {
            self.columns.clone()
        };
        let table = sweep::table(&points, &columns);
        if let Some(path) = &self.html {
            let page = crate::plots::html(
                &format!("{} sweep", self.workload),
                &table,
                &sweep::plots(&points, &columns),
            );
            std::fs::write(path, page).map_err(SweepError::Page)?;
            say(&format!("charts in {}", path.display()));
        }
        Ok(Outcome {
            output: if self.json { pretty(&points) } else { table },
            validity,
        })
    }
}

#[cfg(test)]
mod tests {
    use maelstrom_framework::{Ctx, Handler, Node, Process, Request};
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};

    use super::*;
    use crate::{History, Lab, NetStats, Verdict};

    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Poke {
        Poke,
    }

    #[derive(Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum PokeOut {
        PokeOk,
    }

    /// Answers every poke.
    struct Poked;

    impl Handler for Poked {
        type Message = Poke;
        type Timer = ();

        fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, _: Poke) -> anyhow::Result<()> {
            ctx.reply(req, &PokeOut::PokeOk);
            Ok(())
        }
    }

    /// Pokes, and gives the verdict it is told to: `valid`, `unknown`
    /// (set-full's "nothing became stable") or `invalid`.
    struct Told(String);

    impl Lab for Told {
        fn next_op(&mut self, _: &mut rand::rngs::StdRng) -> Option<Value> {
            Some(json!({"type": "poke"}))
        }

        fn final_reads(&self) -> Vec<Value> {
            Vec::new()
        }

        fn check(&mut self, _: &History, _: &NetStats) -> Verdict {
            let mut verdict = Verdict::new();
            match self.0.as_str() {
                "unknown" => verdict.cannot_tell("no value became stable"),
                "invalid" => verdict.fail("a value was lost"),
                _ => {}
            }
            verdict
        }
    }

    fn poked() -> NodeFactory {
        std::sync::Arc::new(|seed| Box::new(Node::new(Poked, seed)) as Box<dyn Process>)
    }

    fn told(verdict: &str) -> LabFactory {
        let verdict = verdict.to_string();
        Box::new(move |_| Box::new(Told(verdict.clone())) as Box<dyn Lab>)
    }

    fn config() -> SimConfig {
        SimConfig {
            nodes: 2,
            rate: 20.0,
            time_limit: 1.0,
            settle: 0.1,
            ..SimConfig::default()
        }
    }

    #[test]
    fn an_unknown_seed_is_reported_unknown_with_its_reason() {
        let (nodes, lab) = (poked(), told("unknown"));
        let campaign = Campaign {
            workload: "poke",
            lab: &lab,
            config: config(),
            runner: Runner::Simulator {
                nodes: &nodes,
                threads: 1,
            },
            plan: Plan::Seeds(vec![1, 2]),
            results: None,
            json: false,
        };
        let lines = std::sync::Mutex::new(Vec::new());
        let outcome = campaign
            .run(&mut |line| lines.lock().unwrap().push(line.to_string()))
            .unwrap();
        let lines = lines.into_inner().unwrap();
        for seed in [1, 2] {
            let line = format!("seed {seed} UNKNOWN: no value became stable");
            assert!(lines.contains(&line), "{line:?} not in {lines:#?}");
        }
        assert!(!lines.iter().any(|l| l.contains("FAILED")), "{lines:#?}");
        assert_eq!(outcome.validity, Validity::Unknown);
        assert_eq!(outcome.validity.exit_code(), 2);
        assert!(
            outcome
                .output
                .contains("  1: UNKNOWN: no value became stable"),
            "{}",
            outcome.output
        );
    }

    #[test]
    fn a_sweeps_verdict_is_the_worst_of_its_seeds() {
        for (verdicts, worst) in [
            ("valid", Validity::Valid),
            ("valid,unknown", Validity::Unknown),
            ("unknown,invalid,valid", Validity::Invalid),
        ] {
            let sweep = Sweep {
                workload: "poke",
                axes: vec![Axis::parse(&format!("verdict={verdicts}")).unwrap()],
                seeds: vec![1, 2],
                threads: 1,
                columns: Vec::new(),
                json: false,
                html: None,
            };
            let mut setting = |settings: &[(String, String)]| {
                Ok(SweepSetting {
                    nodes: poked(),
                    lab: told(&settings[0].1),
                    config: config(),
                })
            };
            let outcome = sweep.run(&mut setting, &mut |_| {}).unwrap();
            assert_eq!(outcome.validity, worst, "{verdicts}: {}", outcome.output);
        }
    }

    #[test]
    fn seeds_are_ranges_or_lists() {
        assert_eq!(parse_seeds("1..3").unwrap(), [1, 2, 3]);
        assert_eq!(parse_seeds("1..=3").unwrap(), [1, 2, 3]);
        assert_eq!(parse_seeds("5, 9").unwrap(), [5, 9]);
        assert!(parse_seeds("3..1").is_err());
        assert!(parse_seeds("0..2000000").is_err());
        assert!(parse_seeds("x").is_err());
    }
}
