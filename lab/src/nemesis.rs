//! The nemesis: when each fault of `--nemesis` starts and stops, on which
//! nodes, and the record of it for the report.
//!
//! Each kind flips between on and off on its own schedule, a gap of 0.5 to
//! 1.5 × `--nemesis-interval` each time, so kinds overlap freely (a node
//! can be killed during a partition):
//! - `partition`: one of Maelstrom's patterns (or `--partition-pattern`),
//!   then a heal. Its draws come from the driver's random stream, where
//!   they always were, so partition-only runs replay as before.
//! - `kill`: nodes picked by a target (one, a minority, a majority, all:
//!   Jepsen's), killed, and later restarted; the driver sends them `init`
//!   again.
//! - `pause`: nodes picked the same way, paused, and later resumed.
//!
//! Kills and pauses draw from a random stream of their own, so a run
//! without them draws exactly what it drew before they existed. (With
//! them, clients wait on killed and paused nodes, and the driver's later
//! draws, partitions included, follow a different course.)

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::cluster::Backend;
use crate::config::{Nemesis, SimConfig, sub_seed};
use crate::network::{Partition, PartitionPattern};
use crate::report::{FaultAction, FaultEvent};

/// How many nodes a kill or a pause hits (Jepsen's node targets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    One,
    /// Fewer than half: at least one.
    Minority,
    /// More than half.
    Majority,
    All,
}

impl Target {
    pub const ALL: [Target; 4] = [Target::One, Target::Minority, Target::Majority, Target::All];

    pub fn name(self) -> &'static str {
        match self {
            Target::One => "one",
            Target::Minority => "minority",
            Target::Majority => "majority",
            Target::All => "all",
        }
    }

    /// How many of `n` nodes it hits.
    pub fn size(self, n: usize) -> usize {
        match self {
            Target::One => 1,
            Target::Minority => (n.saturating_sub(1) / 2).max(1),
            Target::Majority => n / 2 + 1,
            Target::All => n,
        }
        .min(n)
    }
}

/// One fault kind's schedule, and what it holds now.
struct Schedule {
    kind: Nemesis,
    next: Duration,
    /// The nodes it has killed or paused (kill, pause), if on.
    hit: Vec<usize>,
}

/// The run's faults: their schedules, and every start and stop so far.
pub struct FaultSchedule {
    schedules: Vec<Schedule>,
    interval: f64,
    nodes: usize,
    partition_pattern: Option<PartitionPattern>,
    /// Kills' and pauses' random stream.
    rng: StdRng,
    events: Vec<FaultEvent>,
}

impl FaultSchedule {
    /// The faults of `cfg`, not started yet.
    pub fn new(cfg: &SimConfig) -> FaultSchedule {
        let schedules = cfg
            .nemesis
            .kinds()
            .iter()
            .map(|&kind| Schedule {
                kind,
                next: Duration::MAX,
                hit: Vec::new(),
            })
            .collect();
        FaultSchedule {
            schedules,
            interval: cfg.nemesis_interval,
            nodes: cfg.nodes,
            partition_pattern: cfg.partition_pattern,
            rng: StdRng::seed_from_u64(sub_seed(cfg.seed, 3)),
            events: Vec::new(),
        }
    }

    /// Sets each kind's first start, a gap after `start`.
    pub fn start(&mut self, start: Duration, driver_rng: &mut StdRng) {
        for i in 0..self.schedules.len() {
            let gap = self.gap(self.schedules[i].kind, driver_rng);
            self.schedules[i].next = start + gap;
        }
    }

    fn gap(&mut self, kind: Nemesis, driver_rng: &mut StdRng) -> Duration {
        let mean = self.interval;
        let rng = match kind {
            Nemesis::Partition => driver_rng,
            Nemesis::Kill | Nemesis::Pause => &mut self.rng,
        };
        Duration::from_secs_f64(rng.random_range(0.5 * mean..1.5 * mean))
    }

    /// When the next fault starts or stops.
    pub fn next_due(&self) -> Option<Duration> {
        self.schedules.iter().map(|s| s.next).min()
    }

    /// Starts or stops every fault due by now, and schedules its next
    /// flip. Returns the nodes restarted, which need `init` again.
    pub fn flip_due<B: Backend>(&mut self, cluster: &mut B, driver_rng: &mut StdRng) -> Vec<usize> {
        let now = cluster.now();
        let mut restarted = Vec::new();
        for i in 0..self.schedules.len() {
            if self.schedules[i].next > now {
                continue;
            }
            let kind = self.schedules[i].kind;
            match kind {
                Nemesis::Partition => self.flip_partition(cluster, driver_rng),
                Nemesis::Kill | Nemesis::Pause => {
                    restarted.extend(self.flip_nodes(i, cluster));
                }
            }
            let gap = self.gap(kind, driver_rng);
            self.schedules[i].next = cluster.now() + gap;
        }
        restarted
    }

    fn flip_partition<B: Backend>(&mut self, cluster: &mut B, rng: &mut StdRng) {
        let now = cluster.now();
        if cluster.is_partitioned() {
            cluster.heal();
            self.events.push(FaultEvent::heal(now));
        } else {
            let pattern = self.partition_pattern.unwrap_or_else(|| {
                PartitionPattern::ALL[rng.random_range(0..PartitionPattern::ALL.len())]
            });
            let partition = Partition::random(pattern, self.nodes, rng);
            self.events
                .push(FaultEvent::partition(now, pattern, &partition));
            cluster.partition(partition);
        }
    }

    /// Kills or pauses nodes (schedule `i`), or restarts or resumes the
    /// ones it hit. Returns the nodes restarted.
    fn flip_nodes<B: Backend>(&mut self, i: usize, cluster: &mut B) -> Vec<usize> {
        let now = cluster.now();
        let kind = self.schedules[i].kind;
        if !self.schedules[i].hit.is_empty() {
            return self.end(i, cluster);
        }
        let target = Target::ALL[self.rng.random_range(0..Target::ALL.len())];
        let mut hit: Vec<usize> =
            rand::seq::index::sample(&mut self.rng, self.nodes, target.size(self.nodes)).into_vec();
        hit.sort_unstable();
        let kill = kind == Nemesis::Kill;
        for &node in &hit {
            if kill {
                cluster.kill(node)
            } else {
                cluster.pause(node)
            }
        }
        let action = if kill {
            FaultAction::Kill
        } else {
            FaultAction::Pause
        };
        let names = cluster.node_ids();
        self.events.push(FaultEvent::on_nodes(
            now,
            action,
            Some(target.name()),
            &hit,
            &names,
        ));
        self.schedules[i].hit = hit;
        Vec::new()
    }

    /// Ends schedule `i`'s fault, if on: restarts or resumes its nodes.
    /// Returns the nodes restarted.
    fn end<B: Backend>(&mut self, i: usize, cluster: &mut B) -> Vec<usize> {
        let hit = std::mem::take(&mut self.schedules[i].hit);
        if hit.is_empty() {
            return hit;
        }
        let kill = self.schedules[i].kind == Nemesis::Kill;
        for &node in &hit {
            if kill {
                cluster.restart(node)
            } else {
                cluster.resume(node)
            }
        }
        let action = if kill {
            FaultAction::Restart
        } else {
            FaultAction::Resume
        };
        let names = cluster.node_ids();
        self.events.push(FaultEvent::on_nodes(
            cluster.now(),
            action,
            None,
            &hit,
            &names,
        ));
        if kill { hit } else { Vec::new() }
    }

    /// Ends every fault (the final heal, restarts and resumes) and stops
    /// the schedules. Returns the nodes restarted.
    pub fn end_all<B: Backend>(&mut self, cluster: &mut B) -> Vec<usize> {
        if cluster.is_partitioned() {
            cluster.heal();
            self.events.push(FaultEvent::heal(cluster.now()));
        }
        let mut restarted = Vec::new();
        for i in 0..self.schedules.len() {
            restarted.extend(self.end(i, cluster));
            self.schedules[i].next = Duration::MAX;
        }
        restarted
    }

    /// The nodes killed and not restarted yet.
    pub fn down(&self) -> impl Iterator<Item = usize> + '_ {
        self.schedules
            .iter()
            .filter(|s| s.kind == Nemesis::Kill)
            .flat_map(|s| s.hit.iter().copied())
    }

    /// When the last fault ended (a heal, restart or resume), if any did.
    pub fn last_recovery(&self) -> Option<Duration> {
        self.events
            .iter()
            .rev()
            .find(|f| f.action.is_recovery())
            .map(|f| f.at)
    }

    /// Every start and stop so far, for the report.
    pub fn take_events(&mut self) -> Vec<FaultEvent> {
        std::mem::take(&mut self.events)
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn targets_hit_one_a_minority_a_majority_or_all() {
        let sizes = |n| Target::ALL.map(|t| t.size(n));
        assert_eq!(sizes(5), [1, 2, 3, 5]);
        assert_eq!(sizes(3), [1, 1, 2, 3]);
        assert_eq!(sizes(1), [1, 1, 1, 1]);
        assert_eq!(sizes(2), [1, 1, 2, 2]);
    }
}
