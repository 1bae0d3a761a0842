//! Golden-file tests: every `fixtures/<workload>/<case>.json` runs the real
//! `maelstrom-node` binary as `--workload <workload>`, one trial per
//! fixture, named `workload/case`. The fixture format, loading, matching
//! and running live in `maelstrom_lab::golden` (its docs have
//! the format), shared with the `golden` command.

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use maelstrom_lab::golden::{self, Fixture, NodeCommand, Outcome};

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let node = NodeCommand::Ours {
        program: PathBuf::from(env!("CARGO_BIN_EXE_maelstrom-node")),
        workload: None,
    };
    let files = golden::find_fixtures(&[root]).expect("fixtures/ holds fixtures");
    let trials = files
        .into_iter()
        .map(|path| {
            let node = node.clone();
            // Named before loading, so a malformed file is a failing trial.
            let workload = path.parent().and_then(Path::file_name).unwrap_or_default();
            let case = path.file_stem().unwrap_or_default();
            let name = format!("{}/{}", workload.to_string_lossy(), case.to_string_lossy());
            Trial::test(name, move || run(&path, &node))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn run(path: &Path, node: &NodeCommand) -> Result<(), Failed> {
    let fixture = Fixture::load(path)?;
    let result = golden::run_case(&fixture, node);
    match result.outcome {
        Outcome::Pass => Ok(()),
        // maelstrom-node takes every fixture's flags: a skip is a bug.
        Outcome::Skip => Err(format!("skipped: {}", result.explanation).into()),
        Outcome::Fail => Err(result.explanation.into()),
    }
}
