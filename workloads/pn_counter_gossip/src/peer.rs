//! What a node knows of one peer under delta-push: a lower bound of its
//! state, the pushes it has not acknowledged, what is owed to it.

use std::collections::VecDeque;
use std::time::Duration;

use crate::crdt::{NodeCounts, PnCounter};

/// What this node knows of one peer (an id from `init` other than its own).
#[derive(Debug, Default)]
pub(crate) struct Peer {
    /// A lower bound of the peer's state: entries it sent us, entries it
    /// acked, `everyone_has` notices.
    pub(crate) known: PnCounter,
    /// Our replicates with entries it has not acked: (msg_id, when sent,
    /// the entries), oldest first.
    pub(crate) unacked: VecDeque<(u64, Duration, PnCounter)>,
    /// Our own entries as last pushed to it.
    pub(crate) pushed: NodeCounts,
    /// When we last sent it entries (a push or a repair).
    pub(crate) last_entries_sent: Option<Duration>,
    /// Since when `known` has not covered our state; `None` while it does.
    pub(crate) behind_since: Option<Duration>,
    /// The msg_id of its latest replicate that wants an ack we have not sent.
    pub(crate) ack_owed: Option<u64>,
    /// What we last told it everyone holds of our own entries.
    pub(crate) told_everyone_has: NodeCounts,
}

impl Peer {
    /// An ack of our replicate `msg_id`: the peer holds what it carried.
    /// Older replicates are forgotten (what they carried is either implied
    /// or will be repaired). Returns when the acked one was sent.
    pub(crate) fn acked(&mut self, msg_id: u64) -> Option<Duration> {
        while let Some((id, sent, entries)) = self.unacked.pop_front() {
            if id == msg_id {
                self.known.merge(&entries);
                return Some(sent);
            }
            if id > msg_id {
                // An ack older than anything pending (late or duplicated).
                self.unacked.push_front((id, sent, entries));
                return None;
            }
        }
        None
    }
}
