//! Settings every gossip workload shares: how many peers a round talks to
//! and how often rounds happen, as flags and as a validated `configure`.

use std::time::Duration;

use crate::error::Error;

/// The longest gossip interval accepted: one hour. Longer ones are almost
/// certainly a mistake, and bounding it keeps timer arithmetic far from
/// overflow.
pub const MAX_INTERVAL_MS: u64 = 3_600_000;

/// `--fanout` and `--gossip-interval-ms`, and the same through `configure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct GossipSettings {
    /// Peers contacted per gossip round (more than the peers means all).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub fanout: u64,
    /// Milliseconds between gossip rounds.
    #[arg(long = "gossip-interval-ms", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=MAX_INTERVAL_MS))]
    pub gossip_interval_ms: u64,
}

impl Default for GossipSettings {
    fn default() -> Self {
        GossipSettings {
            fanout: 2,
            gossip_interval_ms: 100,
        }
    }
}

impl GossipSettings {
    /// Fanout as a peer count for [`crate::Ctx::sample_peers`].
    pub fn fanout(&self) -> usize {
        usize::try_from(self.fanout).unwrap_or(usize::MAX)
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.gossip_interval_ms)
    }

    /// Applies a `configure` request: each field is optional, and either
    /// both given values are valid and applied, or neither is (error 12).
    /// Fanout must be ≥ 1; the interval must be 1..=3,600,000 ms.
    pub fn configure(
        &mut self,
        fanout: Option<u64>,
        interval_ms: Option<u64>,
    ) -> Result<(), Error> {
        if fanout == Some(0) {
            return Err(Error::malformed("fanout must be an integer >= 1"));
        }
        if let Some(ms) = interval_ms {
            if !(1..=MAX_INTERVAL_MS).contains(&ms) {
                return Err(Error::malformed(format!(
                    "gossip_interval_ms must be an integer from 1 to {MAX_INTERVAL_MS}"
                )));
            }
        }
        if let Some(f) = fanout {
            self.fanout = f;
        }
        if let Some(ms) = interval_ms {
            self.gossip_interval_ms = ms;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configure_validates_before_applying() {
        let mut s = GossipSettings::default();
        assert!(s.configure(Some(0), Some(50)).is_err());
        assert_eq!(s, GossipSettings::default());
        assert!(s.configure(Some(3), Some(0)).is_err());
        assert!(s.configure(Some(3), Some(MAX_INTERVAL_MS + 1)).is_err());
        assert_eq!(s, GossipSettings::default());
        s.configure(Some(3), None).unwrap();
        assert_eq!(s.fanout, 3);
        assert_eq!(s.gossip_interval_ms, 100);
        s.configure(None, Some(250)).unwrap();
        assert_eq!(s.interval(), Duration::from_millis(250));
        s.configure(Some(u64::MAX), None).unwrap();
        assert!(s.fanout() >= 1);
    }
}
