//! Incarnations: telling a restarted process from the one before it.
//!
//! A killed node comes back as a fresh process that holds only what it
//! recovered. Its msg_ids are in a range of their own
//! ([`crate::Ctx::incarnation`]), but a workload's own numbering (kv's
//! per-peer `seq`) starts from 1 again. Its peers must therefore (1)
//! forget what they believed it held, and (2) not take an ack meant for
//! the previous process as one for the new process's message of the same
//! number. So every replication message carries the sender's
//! `incarnation` (how often it started before, from its disk:
//! [`crate::Ctx::incarnation`]) and
//! `your_incarnation` (the receiver's, as the sender last heard it); both
//! are 0, and left off the wire ([`is_zero`]), until a first restart, so
//! runs without kills send the same bytes as before.
//!
//! [`PeerIncarnation`] keeps, for one peer, its incarnation and whether it
//! has shown it heard ours; [`PeerIncarnation::heard`] reads a message's
//! two numbers and says what they mean:
//! - from an older incarnation than one already heard: a process since
//!   killed; its state may be merged, nothing else ([`None`]);
//! - from a newer one: the peer restarted, so reset the books about it
//!   ([`Heard::restarted`]);
//! - its acks count only when it names our current incarnation
//!   ([`Heard::acks_count`]).
//!
//! A restarted node announces itself to every peer and repeats that until
//! each peer shows it heard ([`PeerIncarnation::unheard`]): the first
//! announcement may be lost.

/// What one peer's message says about incarnations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    /// The peer is a new process: forget what it held, what it acked and
    /// its numbering.
    pub restarted: bool,
    /// Its acks name messages of our current process.
    pub acks_count: bool,
}

/// One peer's incarnation as its messages said, and whether it has shown
/// it knows ours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerIncarnation {
    theirs: u64,
    heard_us: bool,
}

impl PeerIncarnation {
    /// The peer's incarnation, as its messages last said: what our
    /// messages to it carry as `your_incarnation`.
    pub fn theirs(&self) -> u64 {
        self.theirs
    }

    /// A message from the peer saying it is incarnation `theirs` and that
    /// we are `yours`, while we are `ours`. `None` when it comes from a
    /// process older than one already heard (killed since).
    pub fn heard(&mut self, ours: u64, theirs: u64, yours: u64) -> Option<Heard> {
        if theirs < self.theirs {
            return None;
        }
        let restarted = theirs > self.theirs;
        if restarted {
            *self = PeerIncarnation {
                theirs,
                heard_us: false,
            };
        }
        if ours > 0 && yours == ours {
            self.heard_us = true;
        }
        Some(Heard {
            restarted,
            acks_count: yours == ours,
        })
    }

    /// Whether we restarted and this peer has not yet shown it knows: it
    /// is owed our announcement (again).
    pub fn unheard(&self, ours: u64) -> bool {
        ours > 0 && !self.heard_us
    }
}

/// For `skip_serializing_if`: an incarnation is left off until the first
/// restart, so the wire is the same for nodes never killed.
pub fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_incarnation_restarts_an_older_one_is_ignored() {
        let mut peer = PeerIncarnation::default();
        let same = Heard {
            restarted: false,
            acks_count: true,
        };
        assert_eq!(peer.heard(0, 0, 0), Some(same));
        let restarted = peer.heard(0, 2, 0).unwrap();
        assert!(restarted.restarted && restarted.acks_count);
        assert_eq!(peer.theirs(), 2);
        // A message the killed process sent before it died.
        assert_eq!(peer.heard(0, 1, 0), None);
        assert_eq!(peer.heard(0, 2, 0), Some(same));
    }

    #[test]
    fn acks_count_only_for_our_current_incarnation_and_show_it_heard() {
        let mut peer = PeerIncarnation::default();
        assert!(peer.unheard(3));
        // Sent before it heard of our restart: about the previous process.
        let old = peer.heard(3, 0, 2).unwrap();
        assert!(!old.acks_count && !old.restarted);
        assert!(peer.unheard(3));
        assert!(peer.heard(3, 0, 3).unwrap().acks_count);
        assert!(!peer.unheard(3));
        // Its own restart: it must hear of ours again.
        peer.heard(3, 1, 0);
        assert!(peer.unheard(3));
        // Never restarted: nothing to announce.
        assert!(!PeerIncarnation::default().unheard(0));
    }
}
