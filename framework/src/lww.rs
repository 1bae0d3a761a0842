//! A last-writer-wins timestamp, as key-value stores and the lab's kv
//! checker share it: a store's nodes stamp writes with it, and the lab reads
//! a replica's versions through [`crate::KeyVersions`] in the same type, so
//! both order writes alike.

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

#[cfg(test)]
mod tests {
    use super::*;

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
