//! Golden cases: a node program is fed a fixture's input lines on stdin
//! and its stdout is checked against the fixture's expected messages. The
//! `golden` command runs them against any node; `tests/golden.rs` runs
//! every `fixtures/<workload>/<case>.json` against maelstrom-node.
//!
//! A fixture:
//! ```json
//! {
//!   "name": "what it shows",
//!   "timeout_ms": 5000,
//!   "args": ["--fanout", "3"],          // optional: flags of maelstrom-node's workload
//!   "hold_open_ms": 0,                  // optional: keep stdin open this long
//!   "input": [ {...message...}, "raw line", {"$hex": "ff0a"},
//!              {"$long": {"prefix": "{\"a\":\"", "fill": "x", "bytes": 10485760, "suffix": "\"}"}} ],
//!   "expected": [ {...message...} ],     // must appear in this order
//!   "exact": false,                      // true: the output is exactly `expected`
//!   "unexpected": [ {...} ],             // optional: none of these may appear
//!   "stderr": ["substring"]              // optional: stderr must contain these
//! }
//! ```
//! - `input`: a JSON value is written as one compact line; a string as it
//!   is (it need not be JSON); `$hex` gives exact bytes, newline included
//!   if wanted (cut lines, invalid UTF-8); `$long` a generated line of
//!   `bytes` bytes: `prefix`, `fill` (default `x`) repeated, `suffix`.
//! - `expected`: messages are compared as parsed JSON (key order and
//!   spacing are free); the string `"<any>"` in an expected message matches
//!   any value; numbers compare by value and type. Other lines may come
//!   between and after them unless `exact`.
//! - Every stdout line must be a JSON object, and the node must exit with
//!   status 0 before `timeout_ms` (default 5000) plus `hold_open_ms`.
//! - `stderr` substrings and `args` are maelstrom-node's own: another
//!   node's stderr is not checked, and a case with `args` is skipped for it.
//!
//! - [`fixture`]: the file format, reading and finding fixture files.
//! - [`node_run`]: one bounded run of a node process.
//! - [`verdict`]: a run judged against its fixture, and the explanation.

pub mod fixture;
pub mod node_run;
pub mod verdict;

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;

pub use fixture::{Fixture, FixtureError, FixtureSpec, find_fixtures, load_fixtures};
use verdict::StderrExpectations;

/// The node that runs the cases.
#[derive(Debug, Clone)]
pub enum NodeCommand {
    /// maelstrom-node at `program`, run as `program --workload W <args>`:
    /// W is `workload`, or else the fixture's folder name.
    Ours {
        program: PathBuf,
        workload: Option<String>,
    },
    /// Any node program (program, then arguments), run as it is.
    Foreign { argv: Vec<String> },
}

impl NodeCommand {
    /// The node the `golden` command checks: `--bin` (split as a shell
    /// would), or else this binary running `workload` (or each fixture's
    /// folder's). `Err` says why the command line cannot run.
    pub fn from_flags(bin: Option<&str>, workload: Option<&str>) -> Result<NodeCommand, String> {
        match (bin, workload) {
            (Some(_), Some(w)) => Err(format!(
                "--workload {w} picks which of maelstrom-node's workloads runs the cases; \
                 with --bin the node is yours: leave it out"
            )),
            (Some(line), None) => {
                crate::config::split_command(line).map(|argv| NodeCommand::Foreign { argv })
            }
            (None, workload) => match std::env::current_exe() {
                Ok(program) => Ok(NodeCommand::Ours {
                    program,
                    workload: workload.map(str::to_string),
                }),
                Err(e) => Err(format!("cannot find this binary: {e}")),
            },
        }
    }

    /// The command line that runs `fixture`, or why this node cannot run
    /// it (then the case is skipped, never passed).
    fn argv_for(&self, fixture: &Fixture) -> Result<Vec<OsString>, String> {
        match self {
            NodeCommand::Ours { program, workload } => {
                let workload = workload.as_deref().unwrap_or(&fixture.folder);
                let mut argv = vec![program.into(), "--workload".into(), workload.into()];
                argv.extend(fixture.spec.args.iter().map(OsString::from));
                Ok(argv)
            }
            NodeCommand::Foreign { argv } if fixture.spec.args.is_empty() => {
                Ok(argv.iter().map(OsString::from).collect())
            }
            NodeCommand::Foreign { .. } => Err(format!(
                "needs maelstrom-node flags: {}",
                fixture.spec.args.join(" ")
            )),
        }
    }

    fn stderr_expectations(&self) -> StderrExpectations {
        match self {
            NodeCommand::Ours { .. } => StderrExpectations::Check,
            NodeCommand::Foreign { .. } => StderrExpectations::Ignore,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// How a case went.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub outcome: Outcome,
    /// A failure: what the fixture shows, the problems, the expected and
    /// actual messages side by side, the node's stderr. A skip: the reason.
    /// A pass: what was not checked, if anything (else empty).
    pub explanation: String,
}

/// Runs one case on `node`.
pub fn run_case(fixture: &Fixture, node: &NodeCommand) -> CaseResult {
    let argv = match node.argv_for(fixture) {
        Ok(argv) => argv,
        Err(reason) => {
            return CaseResult {
                outcome: Outcome::Skip,
                explanation: reason,
            };
        }
    };
    let spec = &fixture.spec;
    let run = match node_run::run_node(&argv, spec.input_bytes(), spec.hold_open(), spec.deadline())
    {
        Ok(run) => run,
        Err(e) => {
            let program = argv
                .first()
                .map(|p| p.to_string_lossy())
                .unwrap_or_default();
            return CaseResult {
                outcome: Outcome::Fail,
                explanation: format!("{}\n- cannot run `{program}`: {e}", spec.about),
            };
        }
    };
    let stderr_expectations = node.stderr_expectations();
    let verdict = verdict::judge(spec, &run, stderr_expectations);
    if !verdict.problems.is_empty() {
        return CaseResult {
            outcome: Outcome::Fail,
            explanation: verdict.explanation(&spec.about),
        };
    }
    let explanation =
        if stderr_expectations == StderrExpectations::Ignore && !spec.stderr.is_empty() {
            "stderr not checked: maelstrom-node's log wording".to_string()
        } else {
            String::new()
        };
    CaseResult {
        outcome: Outcome::Pass,
        explanation,
    }
}

/// Cases counted by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Runs every case one after the other and writes one line per case to
/// `out` as it ends (`PASS echo/echo`, `FAIL …` with its explanation
/// indented below, `SKIP …: reason`), then the tally.
pub fn run_fixtures(
    fixtures: &[Fixture],
    node: &NodeCommand,
    out: &mut dyn Write,
) -> std::io::Result<Tally> {
    let mut tally = Tally::default();
    for fixture in fixtures {
        let result = run_case(fixture, node);
        let name = &fixture.name;
        match result.outcome {
            Outcome::Pass if result.explanation.is_empty() => {
                writeln!(out, "PASS {name}")?;
            }
            Outcome::Pass => writeln!(out, "PASS {name} ({})", result.explanation)?,
            Outcome::Skip => writeln!(out, "SKIP {name}: {}", result.explanation)?,
            Outcome::Fail => {
                writeln!(out, "FAIL {name}")?;
                for line in result.explanation.lines() {
                    writeln!(out, "    {line}")?;
                }
            }
        }
        match result.outcome {
            Outcome::Pass => tally.passed += 1,
            Outcome::Fail => tally.failed += 1,
            Outcome::Skip => tally.skipped += 1,
        }
        out.flush()?;
    }
    writeln!(out, "{tally}")?;
    Ok(tally)
}
