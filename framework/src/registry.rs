//! Our nodes linked into the binary, registered through `inventory`.
//!
//! A node crate implements [`Workload`] for its handler and submits one
//! [`Registration`], saying which workloads (specs, as Maelstrom names
//! them) the node implements:
//!
//! ```ignore
//! inventory::submit!(Registration::new::<Echo>("echo", "Maelstrom's echo").implements(&["echo"]));
//! ```
//!
//! `inventory` only sees crates the binary links, so the binary names each
//! workload crate (`use echo as _;`).

use crate::node::{Handler, Node, Process};

/// A handler that can be built from command-line options.
pub trait Workload: Handler {
    /// The workload's own flags (`--fanout`, …), parsed with clap.
    type Options: clap::Args + clap::FromArgMatches + Clone + Send + Sync + 'static;

    fn new(options: &Self::Options) -> Self;
}

/// A workload (or lab) without options. It makes no argument group, so a
/// command can hold it twice.
#[derive(Debug, Clone, Default, clap::Args)]
#[group(skip)]
pub struct NoOptions {}

/// Builds one node of a workload from its seed.
/// Shared (an `Arc`): a simulated cluster keeps it to rebuild killed nodes.
pub type NodeFactory = std::sync::Arc<dyn Fn(u64) -> Box<dyn Process> + Send + Sync>;

/// One registered workload.
pub struct Registration {
    pub name: &'static str,
    pub about: &'static str,
    /// Adds the workload's flags to a command.
    pub augment_args: fn(clap::Command) -> clap::Command,
    /// Reads the workload's flags and returns a node factory.
    pub build: fn(&clap::ArgMatches) -> Result<NodeFactory, clap::Error>,
    /// The workloads (Maelstrom's names: `broadcast`, `pn-counter`, …)
    /// this node implements, the first its own.
    pub specs: &'static [&'static str],
}

impl Registration {
    pub const fn new<W: Workload>(name: &'static str, about: &'static str) -> Registration {
        Registration {
            name,
            about,
            augment_args: <W::Options as clap::Args>::augment_args,
            build: build::<W>,
            specs: &[],
        }
    }

    /// The workloads this node implements, its own first.
    pub const fn implements(self, specs: &'static [&'static str]) -> Registration {
        Registration { specs, ..self }
    }
}

fn build<W: Workload>(matches: &clap::ArgMatches) -> Result<NodeFactory, clap::Error> {
    let options = <W::Options as clap::FromArgMatches>::from_arg_matches(matches)?;
    Ok(std::sync::Arc::new(move |seed| {
        Box::new(Node::new(W::new(&options), seed)) as Box<dyn Process>
    }))
}

inventory::collect!(Registration);

/// Every registered workload, sorted by name.
pub fn workloads() -> Vec<&'static Registration> {
    let mut all: Vec<_> = inventory::iter::<Registration>.into_iter().collect();
    all.sort_by_key(|r| r.name);
    all
}

/// The workload called `name`.
pub fn find(name: &str) -> Option<&'static Registration> {
    inventory::iter::<Registration>
        .into_iter()
        .find(|r| r.name == name)
}
