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
//! - `clock`: nodes picked the same way get their wall clocks skewed
//!   (Jepsen's clock nemesis, `jepsen.nemesis.time`), later reset to the
//!   true time. Half the time a bump: each node's clock jumps by its own
//!   offset, forward or back, of 2^(2..13) ms, log-uniform (4 ms to 8.2 s;
//!   Jepsen bumps up to 2^18 ms, 262 s, longer than our runs of 10–60 s).
//!   Otherwise a strobe: each node's clock flips between an offset ahead
//!   of the same range and none, every period of 2^(3..10) ms (8 ms to
//!   1 s; Jepsen's is 1 ms to 1 s, but a real runner cannot flip a file
//!   every millisecond on time), until the reset. Only the wall clock
//!   (`ctx.unix_micros()`) moves; timers keep time ([`crate::clock`]).
//!
//! Kills and pauses draw from a random stream of their own, and clock
//! faults from another, so a run without them draws exactly what it drew
//! before they existed. (With kills or pauses, clients wait on killed and
//! paused nodes, and the driver's later draws, partitions included, follow
//! a different course; clock faults move the driver's steps too.)

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::clock::ClockSkew;
use crate::cluster::Backend;
use crate::config::{Nemesis, SimConfig, sub_seed};
use crate::network::{Partition, PartitionPattern};
use crate::report::{ClockChange, FaultAction, FaultEvent};

/// A clock offset's size, as a power of two of milliseconds (see above).
const SKEW_LOG2_MS: std::ops::Range<f64> = 2.0..13.0;

/// A strobe's period, as a power of two of milliseconds.
const STROBE_PERIOD_LOG2_MS: std::ops::Range<f64> = 3.0..10.0;

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

    /// A random target and the nodes of `n` it hits, in order.
    fn pick(rng: &mut StdRng, n: usize) -> (Target, Vec<usize>) {
        let target = Target::ALL[rng.random_range(0..Target::ALL.len())];
        let mut hit: Vec<usize> = rand::seq::index::sample(rng, n, target.size(n)).into_vec();
        hit.sort_unstable();
        (target, hit)
    }
}

/// Whole milliseconds, 2^x for x uniform in `log2` (at least 1).
fn log_uniform_ms(rng: &mut StdRng, log2: std::ops::Range<f64>) -> u64 {
    (rng.random_range(log2).exp2().round() as u64).max(1)
}

/// One fault kind's schedule, and what it holds now.
struct Schedule {
    kind: Nemesis,
    next: Duration,
    /// The nodes it has killed, paused or skewed, if on.
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
    /// Clock faults' random stream.
    clock_rng: StdRng,
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
            clock_rng: StdRng::seed_from_u64(sub_seed(cfg.seed, 4)),
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
            Nemesis::Clock => &mut self.clock_rng,
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
                Nemesis::Clock => self.flip_clocks(i, cluster),
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
        let (target, hit) = Target::pick(&mut self.rng, self.nodes);
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

    /// Skews the clocks of nodes (schedule `i`): a bump or a strobe, each
    /// node its own offset; or resets the ones it skewed.
    fn flip_clocks<B: Backend>(&mut self, i: usize, cluster: &mut B) {
        if !self.schedules[i].hit.is_empty() {
            self.end(i, cluster);
            return;
        }
        let now = cluster.now();
        let rng = &mut self.clock_rng;
        let (target, hit) = Target::pick(rng, self.nodes);
        let strobe = rng.random_bool(0.5);
        let names = cluster.node_ids();
        let mut changes = Vec::with_capacity(hit.len());
        for &node in &hit {
            let size_ms = log_uniform_ms(rng, SKEW_LOG2_MS) as i64;
            let (skew, offset_ms, period_ms) = if strobe {
                let period_ms = log_uniform_ms(rng, STROBE_PERIOD_LOG2_MS);
                let skew = ClockSkew::Strobe {
                    micros: size_ms * 1000,
                    period: Duration::from_millis(period_ms),
                    since: now,
                };
                (skew, size_ms, Some(period_ms))
            } else {
                let offset_ms = if rng.random_bool(0.5) {
                    size_ms
                } else {
                    -size_ms
                };
                let skew = ClockSkew::Offset {
                    micros: offset_ms * 1000,
                };
                (skew, offset_ms, None)
            };
            cluster.set_clock(node, skew);
            changes.push(ClockChange {
                node: names[node].clone(),
                offset_ms,
                period_ms,
            });
        }
        let action = if strobe {
            FaultAction::ClockStrobe
        } else {
            FaultAction::ClockBump
        };
        self.events.push(FaultEvent::clocks(
            now,
            action,
            target.name(),
            &hit,
            &names,
            changes,
        ));
        self.schedules[i].hit = hit;
    }

    /// Ends schedule `i`'s fault, if on: restarts, resumes or resets its
    /// nodes. Returns the nodes restarted.
    fn end<B: Backend>(&mut self, i: usize, cluster: &mut B) -> Vec<usize> {
        let hit = std::mem::take(&mut self.schedules[i].hit);
        if hit.is_empty() {
            return hit;
        }
        let kind = self.schedules[i].kind;
        for &node in &hit {
            match kind {
                Nemesis::Kill => cluster.restart(node),
                Nemesis::Pause => cluster.resume(node),
                Nemesis::Clock => cluster.set_clock(node, ClockSkew::OnTime),
                Nemesis::Partition => {}
            }
        }
        let action = match kind {
            Nemesis::Kill => FaultAction::Restart,
            Nemesis::Clock => FaultAction::ClockReset,
            _ => FaultAction::Resume,
        };
        let names = cluster.node_ids();
        self.events.push(FaultEvent::on_nodes(
            cluster.now(),
            action,
            None,
            &hit,
            &names,
        ));
        if kind == Nemesis::Kill {
            hit
        } else {
            Vec::new()
        }
    }

    /// Ends every fault (the final heal, restarts, resumes and clock
    /// resets) and stops
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

    /// When the last fault ended (a heal, restart, resume or clock reset),
    /// if any did.
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
