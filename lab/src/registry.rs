//! The labs (a workload's clients and checker) linked into the binary,
//! registered through `inventory` next to the node they were written for,
//! and found by that workload's name.
//!
//! ```ignore
//! inventory::submit!(maelstrom_lab::LabRegistration::new::<EchoLab>("echo"));
//! ```

use crate::{Lab, LabSetup, LabSpec};

/// Builds a workload's lab (clients and checker) for one run.
pub type LabFactory = Box<dyn Fn(&LabSetup) -> Box<dyn Lab> + Send + Sync>;

/// One registered lab: the workload it tests, its flags and how to build
/// it.
pub struct LabRegistration {
    pub workload: &'static str,
    pub augment_args: fn(clap::Command) -> clap::Command,
    pub build: fn(&clap::ArgMatches) -> Result<LabFactory, clap::Error>,
}

impl LabRegistration {
    pub const fn new<L: LabSpec>(workload: &'static str) -> LabRegistration
    where
        L::Options: Send + Sync,
    {
        LabRegistration {
            workload,
            augment_args: <L::Options as clap::Args>::augment_args,
            build: build_lab::<L>,
        }
    }
}

fn build_lab<L: LabSpec>(matches: &clap::ArgMatches) -> Result<LabFactory, clap::Error>
where
    L::Options: Send + Sync,
{
    let options = <L::Options as clap::FromArgMatches>::from_arg_matches(matches)?;
    Ok(Box::new(move |setup| {
        Box::new(L::new(&options, setup)) as Box<dyn Lab>
    }))
}

inventory::collect!(LabRegistration);

/// The lab of the workload called `workload`.
pub fn find(workload: &str) -> Option<&'static LabRegistration> {
    inventory::iter::<LabRegistration>
        .into_iter()
        .find(|r| r.workload == workload)
}
