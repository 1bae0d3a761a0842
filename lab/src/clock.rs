//! What the clock nemesis makes of a node's wall clock: an offset that is
//! a function of run time, so the simulator computes it whenever the node
//! steps and the real-process runner writes it out whenever it changes.
//! Only the wall clock (`ctx.unix_micros()`) is skewed; the monotonic clock
//! (`ctx.now()`, timers) runs on, as `CLOCK_MONOTONIC` does on a machine
//! whose clock is stepped.

use std::time::Duration;

/// A node's wall clock against the true time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockSkew {
    /// On time.
    #[default]
    OnTime,
    /// Off by a fixed amount (a bump; negative: behind).
    Offset { micros: i64 },
    /// Off by `micros` for one `period`, on time for the next, and so on,
    /// from `since` (Jepsen's strobe).
    Strobe {
        micros: i64,
        period: Duration,
        since: Duration,
    },
}

impl ClockSkew {
    /// How far the clock is off at run time `t`, in microseconds.
    pub fn offset_at(self, t: Duration) -> i64 {
        match self {
            ClockSkew::OnTime => 0,
            ClockSkew::Offset { micros } => micros,
            ClockSkew::Strobe {
                micros,
                period,
                since,
            } => {
                let periods = t.saturating_sub(since).as_nanos() / period.as_nanos().max(1);
                if periods % 2 == 0 { micros } else { 0 }
            }
        }
    }

    /// When, after `t`, the offset next changes (a strobe's next edge).
    pub fn next_change(self, t: Duration) -> Option<Duration> {
        let ClockSkew::Strobe { period, since, .. } = self else {
            return None;
        };
        let period = period.max(Duration::from_nanos(1));
        let periods = t.saturating_sub(since).as_nanos() / period.as_nanos();
        let edge = since.as_nanos() + (periods + 1) * period.as_nanos();
        Some(Duration::from_nanos(edge.min(u64::MAX as u128) as u64))
    }

    /// The largest offset it ever takes, in absolute microseconds.
    pub fn largest(self) -> u64 {
        match self {
            ClockSkew::OnTime => 0,
            ClockSkew::Offset { micros } | ClockSkew::Strobe { micros, .. } => {
                micros.unsigned_abs()
            }
        }
    }
}

/// `unix_micros` as a clock off by `offset` micros reads it (never below
/// the epoch).
pub fn skewed(unix_micros: u64, offset: i64) -> u64 {
    unix_micros.saturating_add_signed(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_strobe_flips_between_its_offset_and_none_every_period() {
        let s = ClockSkew::Strobe {
            micros: -5_000,
            period: ms(10),
            since: ms(100),
        };
        let at = |t| s.offset_at(ms(t));
        assert_eq!(
            [at(100), at(109), at(110), at(119), at(120), at(135)],
            [-5_000, -5_000, 0, 0, -5_000, 0]
        );
        assert_eq!(s.next_change(ms(100)), Some(ms(110)));
        assert_eq!(s.next_change(ms(115)), Some(ms(120)));
        assert_eq!(s.largest(), 5_000);
        let bump = ClockSkew::Offset { micros: 7 };
        assert_eq!((bump.offset_at(ms(3)), bump.next_change(ms(3))), (7, None));
        assert_eq!(ClockSkew::OnTime.offset_at(ms(3)), 0);
        assert_eq!(skewed(10, -20), 0, "never before the epoch");
        assert_eq!(skewed(10, -4), 6);
    }
}
