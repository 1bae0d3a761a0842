//! The frame every time chart of a report page shares: the run's span (0 to
//! its end), its partitions as bands, and its phases as thin lines, so a
//! spike in one chart can be read against the faults and against the
//! other charts directly above and below it.

use std::time::Duration;

use crate::report::{FaultAction, FaultEvent, Phases, Report};

/// The run's time axis and what happened along it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeFrame {
    /// The x axis runs from 0 to here, in seconds.
    pub end_s: f64,
    pub faults: Vec<FaultBand>,
    pub phases: Vec<PhaseMark>,
}

/// A time during which a fault was on: the network partitioned, nodes
/// killed, paused or with skewed clocks.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultBand {
    /// What started it: [`FaultAction::Partition`], `Kill`, `Pause`,
    /// `ClockBump` or `ClockStrobe`.
    pub kind: FaultAction,
    pub from: Duration,
    pub to: Duration,
    /// The partition's pattern (`majority`) and groups, or the kill's,
    /// pause's or clock fault's target and nodes, when known.
    pub pattern: Option<String>,
    pub groups: Option<String>,
    /// A clock fault's offsets, node by node (`n1 +512 ms`).
    pub clocks: Vec<String>,
    /// `false`: still on when the run ended (the band runs to the end).
    pub healed: bool,
}

impl FaultBand {
    /// The band's tooltip.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{} {:.3}–{:.3} s",
            self.kind,
            self.from.as_secs_f64(),
            self.to.as_secs_f64()
        );
        if let Some(pattern) = &self.pattern {
            text.push_str(&format!(" ({pattern})"));
        }
        if let Some(groups) = &self.groups {
            text.push_str(&format!(": {groups}"));
        }
        if !self.clocks.is_empty() {
            text.push_str(&format!(", {}", self.clocks.join(", ")));
        }
        if !self.healed {
            text.push_str(match self.kind {
                FaultAction::Kill => "; never restarted before the end of the run",
                FaultAction::Pause => "; never resumed before the end of the run",
                FaultAction::ClockBump | FaultAction::ClockStrobe => {
                    "; never reset before the end of the run"
                }
                _ => "; never healed before the end of the run",
            });
        }
        text
    }
}

/// A phase of the run began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    SetupDone,
    ClientsDone,
    FinalReads,
}

impl Phase {
    /// The marker's short label.
    pub fn label(self) -> &'static str {
        match self {
            Phase::SetupDone => "setup done",
            Phase::ClientsDone => "clients stop",
            Phase::FinalReads => "final reads",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseMark {
    pub phase: Phase,
    pub at: Duration,
}

/// The bands of `faults` over a run that ended at `end`: a partition opens
/// a band and the next heal closes it (a partition that replaces another
/// closes the old band where the new one starts); a kill opens one that
/// the restart closes, a pause one that the resume closes, a clock bump or
/// strobe one that the clock reset closes. Kinds overlap freely; a band
/// still open at the end runs to the end.
pub fn fault_bands(faults: &[FaultEvent], end: Duration) -> Vec<FaultBand> {
    let mut bands = Vec::new();
    // The open band of each kind: partition, kill, pause, clock.
    let mut open: [Option<FaultBand>; 4] = [None, None, None, None];
    let slot = |kind: FaultAction| match kind {
        FaultAction::Partition | FaultAction::Heal => 0,
        FaultAction::Kill | FaultAction::Restart => 1,
        FaultAction::Pause | FaultAction::Resume => 2,
        FaultAction::ClockBump | FaultAction::ClockStrobe | FaultAction::ClockReset => 3,
    };
    for event in faults {
        let i = slot(event.action);
        if let Some(mut band) = open[i].take() {
            band.to = event.at;
            band.healed = true;
            bands.push(band);
        }
        if !event.action.is_recovery() {
            open[i] = Some(FaultBand {
                kind: event.action,
                from: event.at,
                to: end,
                pattern: event.pattern.clone(),
                groups: event.groups.clone(),
                clocks: event.clocks.iter().map(ToString::to_string).collect(),
                healed: false,
            });
        }
    }
    for mut band in open.into_iter().flatten() {
        band.to = end.max(band.from);
        bands.push(band);
    }
    bands.sort_by_key(|b| b.from);
    bands
}

/// The phases that were recorded (a phase at time zero was not).
pub fn phase_marks(phases: &Phases) -> Vec<PhaseMark> {
    [
        (Phase::SetupDone, phases.setup_done),
        (Phase::ClientsDone, phases.clients_done),
        (Phase::FinalReads, phases.final_reads),
    ]
    .into_iter()
    .filter(|(_, at)| !at.is_zero())
    .map(|(phase, at)| PhaseMark { phase, at })
    .collect()
}

impl TimeFrame {
    /// The frame of `report`'s run: 0 to the run's end (`phases.end`: with
    /// real processes the clock goes on while the checker runs, and that
    /// is no part of the run).
    pub fn of(report: &Report) -> TimeFrame {
        let end = report.phases.end;
        TimeFrame {
            end_s: end.as_secs_f64(),
            faults: fault_bands(&report.faults, end),
            phases: phase_marks(&report.phases),
        }
    }

    /// A frame with no faults or phases, for charts of one span.
    pub fn span(end_s: f64) -> TimeFrame {
        TimeFrame {
            end_s,
            faults: Vec::new(),
            phases: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{Partition, PartitionPattern};

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn partition(at: f64) -> FaultEvent {
        FaultEvent::partition(
            s(at),
            PartitionPattern::Majority,
            &Partition::groups(3, &[vec![0], vec![1, 2]]),
        )
    }

    #[test]
    fn partitions_and_heals_pair_into_bands_and_an_open_one_runs_to_the_end() {
        let faults = [
            partition(1.0),
            FaultEvent::heal(s(2.5)),
            // A heal with nothing open changes nothing.
            FaultEvent::heal(s(3.0)),
            partition(4.0),
            // A new partition replaces the open one.
            partition(5.0),
            FaultEvent::heal(s(6.0)),
            partition(8.0),
        ];
        let bands = fault_bands(&faults, s(9.5));
        let spans: Vec<(f64, f64, bool)> = bands
            .iter()
            .map(|b| (b.from.as_secs_f64(), b.to.as_secs_f64(), b.healed))
            .collect();
        assert_eq!(
            spans,
            [
                (1.0, 2.5, true),
                (4.0, 5.0, true),
                (5.0, 6.0, true),
                (8.0, 9.5, false)
            ]
        );
        assert_eq!(bands[0].pattern.as_deref(), Some("majority"));
        let tip = bands[0].describe();
        assert!(
            tip.contains("1.000–2.500 s") && tip.contains("majority"),
            "{tip}"
        );
        assert!(tip.contains("[n0] | [n1 n2]"), "{tip}");
        assert!(bands[3].describe().contains("never healed"));
        assert!(fault_bands(&[], s(3.0)).is_empty());
        assert!(fault_bands(&[FaultEvent::heal(s(1.0))], s(3.0)).is_empty());
    }

    #[test]
    fn kills_and_pauses_make_bands_of_their_own_that_overlap_partitions() {
        let names: Vec<String> = (0..3).map(|i| format!("n{i}")).collect();
        let faults = [
            partition(1.0),
            FaultEvent::on_nodes(s(1.5), FaultAction::Kill, Some("one"), &[2], &names),
            FaultEvent::heal(s(2.0)),
            FaultEvent::on_nodes(s(2.5), FaultAction::Pause, Some("all"), &[0, 1, 2], &names),
            FaultEvent::on_nodes(s(3.0), FaultAction::Restart, None, &[2], &names),
        ];
        let bands = fault_bands(&faults, s(4.0));
        let spans: Vec<(FaultAction, f64, f64, bool)> = bands
            .iter()
            .map(|b| (b.kind, b.from.as_secs_f64(), b.to.as_secs_f64(), b.healed))
            .collect();
        assert_eq!(
            spans,
            [
                (FaultAction::Partition, 1.0, 2.0, true),
                (FaultAction::Kill, 1.5, 3.0, true),
                (FaultAction::Pause, 2.5, 4.0, false),
            ]
        );
        assert!(
            bands[1]
                .describe()
                .starts_with("kill 1.500–3.000 s (one): [n2]"),
            "{}",
            bands[1].describe()
        );
        assert!(
            bands[2]
                .describe()
                .ends_with("never resumed before the end of the run")
        );
    }

    #[test]
    fn clock_faults_make_bands_of_their_own_that_the_reset_closes() {
        use crate::report::ClockChange;
        let names: Vec<String> = (0..3).map(|i| format!("n{i}")).collect();
        let change = |node: &str, offset_ms, period_ms| ClockChange {
            node: node.into(),
            offset_ms,
            period_ms,
        };
        let faults = [
            FaultEvent::clocks(
                s(1.0),
                FaultAction::ClockBump,
                "minority",
                &[1],
                &names,
                vec![change("n1", -250, None)],
            ),
            partition(1.5),
            FaultEvent::on_nodes(s(2.0), FaultAction::ClockReset, None, &[1], &names),
            FaultEvent::clocks(
                s(3.0),
                FaultAction::ClockStrobe,
                "one",
                &[0],
                &names,
                vec![change("n0", 40, Some(16))],
            ),
        ];
        let bands = fault_bands(&faults, s(4.0));
        let spans: Vec<(FaultAction, f64, f64, bool)> = bands
            .iter()
            .map(|b| (b.kind, b.from.as_secs_f64(), b.to.as_secs_f64(), b.healed))
            .collect();
        assert_eq!(
            spans,
            [
                (FaultAction::ClockBump, 1.0, 2.0, true),
                (FaultAction::Partition, 1.5, 4.0, false),
                (FaultAction::ClockStrobe, 3.0, 4.0, false),
            ]
        );
        assert_eq!(
            bands[0].describe(),
            "clock-bump 1.000–2.000 s (minority): [n1], n1 -250 ms"
        );
        assert!(
            bands[2].describe().ends_with(
                "n0 +40 ms on and off every 16 ms; never reset before the end of the run"
            ),
            "{}",
            bands[2].describe()
        );
    }

    #[test]
    fn only_recorded_phases_are_marked() {
        assert!(phase_marks(&Phases::default()).is_empty());
        let marks = phase_marks(&Phases {
            setup_done: s(0.2),
            clients_done: s(5.2),
            final_reads: Duration::ZERO,
            end: s(6.0),
        });
        assert_eq!(
            marks,
            [
                PhaseMark {
                    phase: Phase::SetupDone,
                    at: s(0.2)
                },
                PhaseMark {
                    phase: Phase::ClientsDone,
                    at: s(5.2)
                }
            ]
        );
    }
}
