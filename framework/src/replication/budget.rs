//! delta-push's message budget: no more messages than the seed protocol
//! (full-state gossip) sends.

use std::time::Duration;

use crate::gossip::GossipSettings;

/// A token bucket. It refills at the rate the full-state strategy sends,
/// `min(fanout, peers)` messages per slowest tick (`interval` plus its
/// 10 % jitter), and saves up at most ten ticks' worth (and at least two
/// messages per peer), so that a burst after a quiet spell goes out at
/// once. Every delta-push message spends one.
#[derive(Debug, Default, Clone)]
pub struct Budget {
    /// Credit in millionths of a message.
    credit: u128,
    updated: Duration,
}

impl Budget {
    const MESSAGE: u128 = 1_000_000;

    /// A full bucket at `now`.
    pub fn full(gossip: &GossipSettings, peers: usize, now: Duration) -> Budget {
        Budget {
            credit: Budget::capacity(gossip, peers),
            updated: now,
        }
    }

    fn per_tick(gossip: &GossipSettings, peers: usize) -> u128 {
        u128::from(gossip.fanout).min(peers as u128)
    }

    fn capacity(gossip: &GossipSettings, peers: usize) -> u128 {
        let ten_ticks = Budget::per_tick(gossip, peers).saturating_mul(10);
        let two_per_peer = (peers as u128).saturating_mul(2);
        ten_ticks.max(two_per_peer).max(1) * Budget::MESSAGE
    }

    /// Credit gained per microsecond, in millionths of a message, as a
    /// fraction `(numerator, denominator)`.
    fn rate(gossip: &GossipSettings, peers: usize) -> (u128, u128) {
        let tick = gossip.interval() + gossip.interval() / 10;
        let per_tick = Budget::per_tick(gossip, peers);
        (per_tick * Budget::MESSAGE, tick.as_micros().max(1))
    }

    /// Adds the credit earned up to `now` (at the rate of `gossip`).
    pub fn refill(&mut self, now: Duration, gossip: &GossipSettings, peers: usize) {
        let (num, den) = Budget::rate(gossip, peers);
        let elapsed = now.saturating_sub(self.updated).as_micros();
        let gained = elapsed.saturating_mul(num) / den;
        self.credit = self
            .credit
            .saturating_add(gained)
            .min(Budget::capacity(gossip, peers));
        self.updated = self.updated.max(now);
    }

    /// Whole messages that may be sent now.
    pub fn available(&self) -> u128 {
        self.credit / Budget::MESSAGE
    }

    /// Whole messages that may be sent now while keeping `reserve` for
    /// pushes.
    pub fn spare(&self, reserve: usize) -> usize {
        let spare = self.available().saturating_sub(reserve as u128);
        usize::try_from(spare).unwrap_or(usize::MAX)
    }

    pub fn spend(&mut self) {
        self.credit = self.credit.saturating_sub(Budget::MESSAGE);
    }

    /// How long until one message may be sent.
    pub fn wait_for_one(&self, gossip: &GossipSettings, peers: usize) -> Duration {
        let missing = Budget::MESSAGE.saturating_sub(self.credit);
        let (num, den) = Budget::rate(gossip, peers);
        if missing == 0 || num == 0 {
            return Duration::ZERO;
        }
        let micros = missing.saturating_mul(den).div_ceil(num);
        Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_at_full_states_rate_and_caps_at_ten_ticks() {
        let gossip = GossipSettings::default(); // fanout 2, 100 ms
        let mut b = Budget::full(&gossip, 4, Duration::ZERO);
        assert_eq!(b.available(), 20, "ten ticks of two messages");
        for _ in 0..20 {
            b.spend();
        }
        assert_eq!(b.available(), 0);
        // Two messages per 110 ms: one after 55 ms.
        assert_eq!(b.wait_for_one(&gossip, 4), Duration::from_millis(55));
        b.refill(Duration::from_millis(54), &gossip, 4);
        assert_eq!(b.available(), 0);
        // Refills round down: 54 ms then 1 ms more fall a millionth short.
        b.refill(Duration::from_millis(55), &gossip, 4);
        assert_eq!(b.available(), 0);
        b.refill(Duration::from_millis(56), &gossip, 4);
        assert_eq!(b.available(), 1);
        assert_eq!(b.spare(1), 0);
        b.refill(Duration::from_secs(100), &gossip, 4);
        assert_eq!(b.available(), 20);
        assert_eq!(b.spare(4), 16);
    }
}
