//! The workloads a test runs, registered through `inventory`: a spec is
//! what Maelstrom calls a workload — its clients, final reads, checker and
//! metrics — named as Maelstrom names it (`echo`, `broadcast`,
//! `pn-counter`, …), and it judges any node through its messages. Nodes
//! (ours) are registered apart, in `maelstrom_framework::registry`, each
//! saying which specs it implements.
//!
//! ```ignore
//! inventory::submit!(maelstrom_lab::SpecRegistration::new::<EchoLab>("echo", "…"));
//! ```

use maelstrom_framework::Registration;
use maelstrom_framework::registry as nodes;

use crate::{Lab, LabSetup, LabSpec};

/// Builds a workload's lab (clients and checker) for one run.
pub type LabFactory = Box<dyn Fn(&LabSetup) -> Box<dyn Lab> + Send + Sync>;

/// One registered spec: its name, what it is, its flags and how to build
/// it.
pub struct SpecRegistration {
    pub name: &'static str,
    pub about: &'static str,
    pub augment_args: fn(clap::Command) -> clap::Command,
    pub build: fn(&clap::ArgMatches) -> Result<LabFactory, clap::Error>,
}

impl SpecRegistration {
    pub const fn new<L: LabSpec>(name: &'static str, about: &'static str) -> SpecRegistration
    where
        L::Options: Send + Sync,
    {
        SpecRegistration {
            name,
            about,
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

inventory::collect!(SpecRegistration);

/// Every registered spec, sorted by name.
pub fn specs() -> Vec<&'static SpecRegistration> {
    let mut all: Vec<_> = inventory::iter::<SpecRegistration>.into_iter().collect();
    all.sort_by_key(|r| r.name);
    all
}

/// The spec called `name`.
pub fn find(name: &str) -> Option<&'static SpecRegistration> {
    inventory::iter::<SpecRegistration>
        .into_iter()
        .find(|r| r.name == name)
}

/// Our nodes that implement `spec`, the default first: the one named
/// like it, else the first by name.
pub fn nodes_for(spec: &str) -> Vec<&'static Registration> {
    let mut found: Vec<_> = nodes::workloads()
        .into_iter()
        .filter(|n| n.specs.contains(&spec))
        .collect();
    found.sort_by_key(|n| (n.name != spec, n.name));
    found
}

/// A test to run: the spec that judges it and our node that runs it (the
/// default for the spec unless another was named; with `--bin` a foreign
/// program runs instead). `node` is `None` for a spec no node of ours
/// implements: only a foreign program can then be tested.
#[derive(Clone, Copy)]
pub struct Choice {
    pub spec: &'static SpecRegistration,
    pub node: Option<&'static Registration>,
}

impl Choice {
    /// `command` with the node's flags and the spec's.
    pub fn augment(&self, command: clap::Command) -> clap::Command {
        let command = match self.node {
            Some(node) => (node.augment_args)(command),
            None => command,
        };
        (self.spec.augment_args)(command)
    }

    /// The node factory and the lab factory, from flags parsed by a command
    /// [`Choice::augment`] made.
    pub fn build(
        &self,
        matches: &clap::ArgMatches,
    ) -> Result<(maelstrom_framework::NodeFactory, LabFactory), clap::Error> {
        let node = self.our_node().map_err(|why| {
            clap::Error::raw(clap::error::ErrorKind::MissingRequiredArgument, why)
        })?;
        Ok(((node.build)(matches)?, self.lab(matches)?))
    }

    /// The lab factory alone, for a foreign program under the spec.
    pub fn lab(&self, matches: &clap::ArgMatches) -> Result<LabFactory, clap::Error> {
        (self.spec.build)(matches)
    }

    /// Our node, or why there is none.
    pub fn our_node(&self) -> Result<&'static Registration, String> {
        self.node.ok_or_else(|| {
            format!(
                "no node of ours implements `{}`: test your own with `cluster --bin COMMAND`",
                self.spec.name
            )
        })
    }

    /// The same from a list of flags (`["--strategy", "hub"]`), for tests
    /// and benches.
    pub fn build_from(
        &self,
        flags: &[&str],
    ) -> Result<(maelstrom_framework::NodeFactory, LabFactory), clap::Error> {
        let name = self.spec.name;
        let matches = self
            .augment(clap::Command::new(name))
            .try_get_matches_from(std::iter::once(&name).chain(flags))?;
        self.build(&matches)
    }
}

/// What `--workload NAME` (and `--node NODE`) mean: NAME is a spec, or one
/// of our nodes (which then runs under its first spec, as long as it
/// implements one); NODE picks another of our nodes for the spec.
pub fn choose(workload: &str, node: Option<&str>) -> Result<Choice, String> {
    let (spec, default_node) = match (find(workload), nodes::find(workload)) {
        (Some(spec), _) => (spec, nodes_for(spec.name).first().copied()),
        (None, Some(node)) => {
            let spec = node
                .specs
                .first()
                .and_then(|s| find(s))
                .ok_or_else(|| format!("node `{workload}` implements no workload"))?;
            (spec, Some(node))
        }
        (None, None) => return Err(format!("unknown workload `{workload}`")),
    };
    let node = match node {
        None => default_node,
        Some(name) => {
            let node = nodes::find(name).ok_or_else(|| format!("unknown node `{name}`"))?;
            if !node.specs.contains(&spec.name) {
                return Err(format!(
                    "node `{name}` does not implement `{}` (it implements: {})",
                    spec.name,
                    node.specs.join(", ")
                ));
            }
            Some(node)
        }
    };
    Ok(Choice { spec, node })
}

/// The workloads (specs) and our nodes, apart, for `--list`.
pub fn listing() -> String {
    let mut out = String::from("workloads (--workload; as Maelstrom names them):\n");
    for spec in specs() {
        let nodes: Vec<&str> = nodes_for(spec.name).iter().map(|n| n.name).collect();
        let nodes = if nodes.is_empty() {
            "none".to_string()
        } else {
            nodes.join(", ")
        };
        let (name, about) = (spec.name, spec.about);
        out.push_str(&format!("  {name:<11} {about} [our nodes: {nodes}]\n"));
    }
    out.push_str("nodes (ours; --node, or --workload on stdin/stdout):\n");
    for n in nodes::workloads() {
        let (name, about, specs) = (n.name, n.about, n.specs.join(", "));
        out.push_str(&format!("  {name:<11} {about} [implements: {specs}]\n"));
    }
    out
}
