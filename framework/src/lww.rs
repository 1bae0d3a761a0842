//! A last-writer-wins timestamp, as key-value stores and the lab's kv
//! checker share it: a store's nodes stamp writes with it, and the lab reads
//! a replica's versions through [`crate::KeyVersions`] in the same type, so
//! both order writes alike. And the clock a writer stamps them with
//! ([`WriteClock`]), by wall time or as a hybrid logical clock
//! ([`Timestamps`]).

use std::cmp::Ordering;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// A write's timestamp: seconds since the Unix epoch, a JSON number with a
/// fractional part (`1704067200.123`).
///
/// Kept exactly as received, as an `f64`: a peer's timestamp may carry more
/// precision than a microsecond and is never rounded. Our own are
/// `micros / 1e6`, the nearest `f64`, which keeps distinct microseconds
/// distinct until the year 2242 (where `f64` spacing passes 1 µs; the
/// tie-break below still orders such writes deterministically). Ordered by
/// [`f64::total_cmp`]. Never NaN or infinite: such a `ts` is refused when
/// parsed (error 12). `-0` is read as `0`, so that the two zeros are one
/// timestamp.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(transparent)]
pub struct Ts(f64);

impl Ts {
    /// A timestamp from seconds; `None` unless finite.
    pub fn from_secs(secs: f64) -> Option<Ts> {
        // `secs == 0.0` also holds for -0.0: both become +0.
        secs.is_finite()
            .then_some(Ts(if secs == 0.0 { 0.0 } else { secs }))
    }

    /// Our own timestamps: microseconds since the epoch, as seconds.
    pub fn from_micros(micros: u64) -> Ts {
        Ts(micros as f64 / 1e6)
    }

    pub fn secs(self) -> f64 {
        self.0
    }
}

impl PartialEq for Ts {
    fn eq(&self, other: &Ts) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ts {}

impl PartialOrd for Ts {
    fn partial_cmp(&self, other: &Ts) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ts {
    fn cmp(&self, other: &Ts) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ts, D::Error> {
        let secs = f64::deserialize(d)?;
        Ts::from_secs(secs).ok_or_else(|| D::Error::custom("ts must be a finite number"))
    }
}

/// How a writer stamps its writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Timestamps {
    /// `max(now, last own + 1 µs)`: never backwards, never repeated, but
    /// only our own writes count as "last". A node whose clock is behind
    /// another's stamps a write it makes after seeing the other's newer
    /// write with an older timestamp, and the newer write loses.
    #[default]
    Wall,
    /// A hybrid logical clock: `max(now, last seen + 1 µs)`, where "seen"
    /// is every timestamp the node stamped or merged. A write made after
    /// the node saw another write (from any clock, however far ahead) wins
    /// over it. The price: one entry from the far future drags every later
    /// write there too.
    Hlc,
}

/// A writer's clock, in microseconds since the epoch.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteClock {
    mode: Timestamps,
    /// The largest timestamp that counts as "last" ([`Timestamps`]).
    last: Option<u64>,
}

impl WriteClock {
    pub fn new(mode: Timestamps) -> WriteClock {
        WriteClock { mode, last: None }
    }

    pub fn mode(&self) -> Timestamps {
        self.mode
    }

    /// The timestamp of a write made at wall time `now_micros`; it counts
    /// as "last" from now on.
    pub fn stamp(&mut self, now_micros: u64) -> Ts {
        // Saturates only in the year 586,000.
        let micros = match self.last {
            Some(last) => now_micros.max(last.saturating_add(1)),
            None => now_micros,
        };
        self.last = Some(micros);
        Ts::from_micros(micros)
    }

    /// One of our own earlier writes (recovered after a restart): later
    /// ones are stamped after it, whatever the mode.
    pub fn own(&mut self, ts: Ts) {
        let micros = floor_micros(ts);
        self.last = Some(self.last.map_or(micros, |last| last.max(micros)));
    }

    /// A timestamp the node merged from elsewhere: under [`Timestamps::Hlc`]
    /// later writes are stamped after it (`floor(µs) + 1` exceeds it even
    /// with a fraction of a microsecond); under `wall` it changes nothing.
    pub fn seen(&mut self, ts: Ts) {
        if self.mode == Timestamps::Hlc {
            self.own(ts);
        }
    }
}

/// `ts` in whole microseconds, rounded down, within `0..=u64::MAX`.
fn floor_micros(ts: Ts) -> u64 {
    // `as` saturates: negative times become 0, beyond u64 its maximum.
    (ts.secs() * 1e6).floor() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_stamps_only_follow_our_own_hlc_stamps_follow_everything_seen() {
        let ahead = Ts::from_secs(100.000_000_5).unwrap();
        let mut wall = WriteClock::new(Timestamps::Wall);
        wall.seen(ahead);
        assert_eq!(wall.stamp(50_000_000), Ts::from_micros(50_000_000));
        // Never backwards, never repeated.
        assert_eq!(wall.stamp(40_000_000), Ts::from_micros(50_000_001));
        let mut hlc = WriteClock::new(Timestamps::Hlc);
        hlc.seen(ahead);
        let ts = hlc.stamp(50_000_000);
        assert!(ts > ahead, "{ts:?}");
        assert_eq!(ts, Ts::from_micros(100_000_001));
        // Its own recovered writes count for both.
        wall.own(Ts::from_micros(70_000_000));
        assert_eq!(wall.stamp(0), Ts::from_micros(70_000_001));
        // Out of range both ways: clamped, no panic.
        hlc.seen(Ts::from_secs(-5.0).unwrap());
        hlc.seen(Ts::from_secs(1e300).unwrap());
        assert_eq!(hlc.stamp(0), Ts::from_micros(u64::MAX));
    }

    #[test]
    fn only_finite_timestamps_exist_and_the_zeros_are_one() {
        assert!(Ts::from_secs(f64::NAN).is_none());
        assert!(Ts::from_secs(f64::INFINITY).is_none());
        assert_eq!(Ts::from_secs(-0.0).unwrap(), Ts::from_secs(0.0).unwrap());
        assert!(serde_json::from_str::<Ts>("\"1\"").is_err());
        assert!(serde_json::from_str::<Ts>("1e400").is_err());
        assert_eq!(serde_json::from_str::<Ts>("7").unwrap().secs(), 7.0);
        // Microsecond timestamps of today stay distinct and ordered.
        let base = 1_704_067_200_000_000;
        assert!(Ts::from_micros(base) < Ts::from_micros(base + 1));
        assert_eq!(
            serde_json::to_string(&Ts::from_micros(base + 123_000)).unwrap(),
            "1704067200.123"
        );
    }
}
