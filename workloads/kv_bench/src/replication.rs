//! Replication between our kv nodes: one-way `kv_merge` pushes numbered
//! per peer over the framework's acknowledged link (acks on later
//! traffic or alone after a delay, adaptive loss detection, backoff for a
//! silent peer), and anti-entropy for peers that may lack keys.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use maelstrom_framework::replication::{BatchLimit, Link, PeerIncarnation, Timing};
use maelstrom_framework::{Ctx, Error, Request};
use serde::Serialize;

use crate::store;
use crate::{
    Entry, Gossip, KvNode, MAX_BACKOFF_DOUBLINGS, MAX_MERGE_BYTES, MAX_MERGE_ENTRIES,
    MAX_PENDING_SEQS, Outcome, Reply, Timer, Ts, Version,
};

/// What one `kv_merge` carries at most.
const MERGE_LIMIT: BatchLimit = BatchLimit {
    max_items: MAX_MERGE_ENTRIES,
    max_bytes: MAX_MERGE_BYTES,
};

/// What this node knows of one peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) id: String,
    /// Keys whose current entry the peer is not known to hold: `None` while
    /// due to be sent, else the seq of the `kv_merge` that carries it.
    pub(crate) unsynced: BTreeMap<String, Option<u64>>,
    /// The last key sent: the next batch starts after it, so that a peer
    /// with more due keys than fit in one batch gets all of them in turn.
    pub(crate) cursor: String,
    pub(crate) last_seq: u64,
    /// Our `kv_merge`s in flight to the peer (numbered by seq) and the
    /// peer's seqs we owe an ack.
    pub(crate) link: Link<Batch>,
    /// A `kv_merge` to the peer was presumed lost and nothing came from it
    /// since: pushes skip it, and anti-entropy retries its due keys,
    /// backing off ([`Link::retried`]).
    pub(crate) silent: bool,
    /// Its incarnation, and whether it has shown it heard of our restart.
    pub(crate) incarnation: PeerIncarnation,
    /// When we last announced our restart to it.
    pub(crate) announced_at: Option<Duration>,
}

impl Peer {
    pub(crate) fn new(id: String) -> Peer {
        Peer {
            id,
            unsynced: BTreeMap::new(),
            cursor: String::new(),
            last_seq: 0,
            link: Link::default(),
            silent: false,
            incarnation: PeerIncarnation::default(),
            announced_at: None,
        }
    }

    pub(crate) fn has_due(&self) -> bool {
        self.unsynced.values().any(Option::is_none)
    }

    /// Our `kv_merge` `batch` was presumed lost: what it carried is due
    /// again, unless a later one carries it.
    pub(crate) fn forget(&mut self, batch: Batch) {
        for sent in batch.keys {
            if let Some(in_flight) = self.unsynced.get_mut(&sent.key) {
                if *in_flight == Some(batch.seq) {
                    *in_flight = None;
                }
            }
        }
    }

    /// Forgets these batches; returns how many there were.
    fn forget_all(&mut self, batches: Vec<Batch>) -> usize {
        let n = batches.len();
        for batch in batches {
            self.forget(batch);
        }
        n
    }
}

/// What only a `kv_merge` between our nodes carries (all absent from a
/// client's).
#[derive(Debug, Default)]
pub(crate) struct BetweenNodes {
    pub(crate) seq: Option<u64>,
    pub(crate) acks: Option<Vec<u64>>,
    pub(crate) incarnation: Option<u64>,
    pub(crate) your_incarnation: Option<u64>,
}

/// One `kv_merge` of ours waiting for its acknowledgement.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) seq: u64,
    pub(crate) keys: Vec<Sent>,
}

/// A key as sent in a `kv_merge`, for when its acknowledgement comes.
#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) key: String,
    pub(crate) rev: u64,
    pub(crate) ts: Ts,
    pub(crate) node: Option<String>,
}

impl KvNode {
    /// A `kv_merge`: with `seq`, replication from a peer (one-way);
    /// without, from a client or a peer that wants `kv_merge_ok`.
    pub(crate) fn on_merge(
        &mut self,
        ctx: &mut Ctx<Self>,
        req: &Request,
        entries: BTreeMap<String, Entry>,
        between: BetweenNodes,
    ) -> anyhow::Result<()> {
        let from = self.peer_index(&req.src);
        let BetweenNodes {
            seq,
            acks,
            incarnation,
            your_incarnation,
        } = between;
        let Some(seq) = seq else {
            if acks.is_some() || incarnation.is_some() || your_incarnation.is_some() {
                return Err(Error::malformed("acks and incarnations come only with a seq").into());
            }
            if from.is_none() && !entries.is_empty() {
                // A client's entries are acknowledged by kv_merge_ok: durable
                // first, as a write is.
                self.persist(ctx, entries.iter().map(|(k, e)| (k.as_str(), e)))?;
            }
            let updated = self.apply(ctx, from, &req.src, entries);
            let reply = Reply::KvMergeOk { updated };
            ctx.reply(req, &reply);
            if from.is_some() && req.msg_id.is_some() {
                self.count_gossip(&reply);
            }
            return Ok(());
        };
        let Some(i) = from else {
            return Err(Error::malformed("seq and acks are for kv_merges between nodes").into());
        };
        let (theirs, yours) = (incarnation.unwrap_or(0), your_incarnation.unwrap_or(0));
        let acks = acks.unwrap_or_default();
        let Some(heard) = self.peers[i]
            .incarnation
            .heard(self.incarnation, theirs, yours)
        else {
            // From a process since killed: its entries count as state
            // alone (the new process may lack them: they go to it too).
            self.apply(ctx, None, &req.src, entries);
            return Ok(());
        };
        if heard.restarted {
            self.peer_restarted(ctx, i);
        }
        // A restarted node's announcement carries neither entries nor acks
        // (an ack-only kv_merge always has acks): it is acknowledged, so
        // that the announcer hears that we heard.
        let announcement = theirs > 0 && entries.is_empty() && acks.is_empty();
        // Acks name seqs of the process that the peer has heard of: our
        // previous process numbered from 1 too.
        let acks = if heard.acks_count { acks } else { Vec::new() };
        // Any message is a sign of life: pushes to the peer resume.
        let (now, timing) = (ctx.now(), self.timing());
        let peer = &mut self.peers[i];
        peer.silent = false;
        let settled = peer.link.acknowledged(&acks, now, &timing);
        let mut lost = peer.forget_all(settled.lost);
        for (batch, _) in settled.acked {
            self.acknowledged(ctx, i, batch);
        }
        let peer = &mut self.peers[i];
        let heard = peer.link.heard_from(now, &timing);
        lost += peer.forget_all(heard.lost);
        self.presumed_lost = self.presumed_lost.saturating_add(count(lost));
        if !entries.is_empty() || announcement {
            let peer = &mut self.peers[i];
            // A duplicate is owed one ack; past MAX_PENDING_SEQS the
            // oldest is forgotten (the peer will send it again).
            if !peer.link.owes(seq) {
                peer.link.owe_ack(seq, now);
            }
            if !self.ack_armed {
                self.ack_armed = true;
                ctx.set_timer(self.options.ack_delay(), Timer::Ack);
            }
        }
        self.apply(ctx, Some(i), &req.src, entries);
        if self.peers[i].has_due() {
            self.arm_push(ctx);
        }
        Ok(())
    }
    /// Peer `i` is a new process: it holds only what it recovered, and
    /// what we sent the previous one, acknowledged or not, died with it.
    /// Every key is due to it again, until it shows it holds it.
    fn peer_restarted(&mut self, ctx: &mut Ctx<Self>, i: usize) {
        let peer = &mut self.peers[i];
        let mut fresh = Peer::new(std::mem::take(&mut peer.id));
        fresh.incarnation = peer.incarnation;
        // Our numbering goes on: the new process accepts any seq.
        fresh.last_seq = peer.last_seq;
        fresh.unsynced = self
            .store
            .iter()
            .map(|(k, _)| (k.to_owned(), None))
            .collect();
        *peer = fresh;
        self.arm_push(ctx);
    }

    /// Tells peer `i` that we restarted: a `kv_merge` with no entries and
    /// no acks, which it acknowledges. Repeated by anti-entropy until the
    /// peer names our incarnation.
    pub(crate) fn announce(&mut self, ctx: &mut Ctx<Self>, i: usize) {
        let peer = &mut self.peers[i];
        peer.last_seq = peer.last_seq.saturating_add(1);
        peer.announced_at = Some(ctx.now());
        let body = Gossip::KvMerge {
            entries: BTreeMap::new(),
            seq: peer.last_seq,
            acks: Vec::new(),
            incarnation: self.incarnation,
            your_incarnation: peer.incarnation.theirs(),
        };
        ctx.send(&peer.id, &body);
        self.count_gossip(&body);
    }

    /// Merges `entries` from `src` (peer `from`, if it is one); returns how
    /// many won.
    pub(crate) fn apply(
        &mut self,
        ctx: &mut Ctx<Self>,
        from: Option<usize>,
        src: &str,
        entries: BTreeMap<String, Entry>,
    ) -> u64 {
        self.reads.check(&entries);
        let mut updated = 0u64;
        for (key, entry) in entries {
            self.clock.seen(entry.ts);
            let from_writer = from.is_some() && entry.node.as_deref() == Some(src);
            match self.store.merge(&key, entry) {
                Outcome::Changed => {
                    updated = updated.saturating_add(1);
                    if let Some(i) = from {
                        self.peer_holds_current(ctx, i, &key);
                    }
                    // Its writer keeps it queued for every peer until
                    // acknowledged: relaying it would only duplicate that.
                    if !from_writer {
                        self.queue_for_peers(ctx, &key, from);
                    }
                }
                Outcome::Same => {
                    if let Some(i) = from {
                        self.peer_holds_current(ctx, i, &key);
                    }
                }
                Outcome::Older(entry) => {
                    if let Some(i) = from {
                        self.convergence
                            .peer_holds(i, &key, entry.version(), ctx.now());
                        self.peers[i].unsynced.insert(key, None);
                        self.arm_push(ctx);
                    }
                }
            }
        }
        updated
    }
    /// Peer `i` acknowledged our `kv_merge` `batch`: it holds what that
    /// carried. (The link ignores unknown seqs: duplicates, forgotten
    /// ones.)
    pub(crate) fn acknowledged(&mut self, ctx: &Ctx<Self>, i: usize, batch: Batch) {
        let seq = batch.seq;
        let peer = &mut self.peers[i];
        for s in batch.keys {
            if self.store.stored(&s.key).is_some_and(|st| st.rev == s.rev) {
                peer.unsynced.remove(&s.key);
            } else if peer.unsynced.get(&s.key) == Some(&Some(seq)) {
                // Replaced since, and not queued anew: by an entry straight
                // from its writer, who sends it to this peer too.
                peer.unsynced.remove(&s.key);
            }
            let held = Version {
                ts: s.ts,
                node: s.node.as_deref(),
            };
            self.convergence.peer_holds(i, &s.key, held, ctx.now());
        }
    }
    /// Peer `i` holds our current entry of `key`.
    pub(crate) fn peer_holds_current(&mut self, ctx: &Ctx<Self>, i: usize, key: &str) {
        self.peers[i].unsynced.remove(key);
        if let Some(entry) = self.store.get(key) {
            self.convergence
                .peer_holds(i, key, entry.version(), ctx.now());
        }
    }
    /// Queues `key` for every peer but `except`, and arms the push.
    pub(crate) fn queue_for_peers(
        &mut self,
        ctx: &mut Ctx<Self>,
        key: &str,
        except: Option<usize>,
    ) {
        for (i, peer) in self.peers.iter_mut().enumerate() {
            if Some(i) != except {
                peer.unsynced.insert(key.to_owned(), None);
            }
        }
        self.arm_push(ctx);
    }
    pub(crate) fn arm_push(&mut self, ctx: &mut Ctx<Self>) {
        if !self.push_armed && !self.peers.is_empty() {
            self.push_armed = true;
            ctx.set_timer(self.options.push_delay(), Timer::Push);
        }
    }
    /// Sends peer `i` one `kv_merge`: its due keys from the cursor on (as
    /// many as fit) and every acknowledgement we owe it. Sends nothing
    /// when there is neither.
    pub(crate) fn send_merge(&mut self, ctx: &mut Ctx<Self>, i: usize) {
        let peer = &mut self.peers[i];
        let cursor = peer.cursor.as_str();
        let after = peer
            .unsynced
            .range::<str, _>((Bound::Excluded(cursor), Bound::Unbounded));
        let up_to = peer
            .unsynced
            .range::<str, _>((Bound::Unbounded, Bound::Included(cursor)));
        let mut entries = BTreeMap::new();
        let mut sent = Vec::new();
        let mut fill = MERGE_LIMIT.start();
        for (key, _) in after.chain(up_to).filter(|(_, seq)| seq.is_none()) {
            // Unsynced keys are always stored: the store never forgets one.
            let Some(stored) = self.store.stored(key) else {
                continue;
            };
            if !fill.admit(stored.wire_bytes) {
                break;
            }
            entries.insert(key.as_str(), &stored.entry);
            sent.push(Sent {
                key: key.clone(),
                rev: stored.rev,
                ts: stored.entry.ts,
                node: stored.entry.node.clone(),
            });
        }
        if sent.is_empty() && peer.link.owed_len() == 0 {
            return;
        }
        peer.last_seq = peer.last_seq.saturating_add(1);
        let seq = peer.last_seq;
        let mut acks = peer.link.take_owed_acks();
        acks.sort_unstable();
        let body = Gossip::KvMerge {
            entries,
            seq,
            acks,
            incarnation: self.incarnation,
            your_incarnation: peer.incarnation.theirs(),
        };
        let body_bytes = store::json_len(&body);
        ctx.send(&peer.id, &body);
        if let Some(last) = sent.last() {
            peer.cursor.clone_from(&last.key);
            for s in &sent {
                peer.unsynced.insert(s.key.clone(), Some(seq));
            }
            peer.link
                .sent(seq, Batch { seq, keys: sent }, ctx.now(), false);
            if peer.link.in_flight_len() > MAX_PENDING_SEQS {
                if let Some(oldest) = peer.link.give_up_oldest() {
                    peer.forget(oldest);
                }
            }
        }
        self.gossip_msgs = self.gossip_msgs.saturating_add(1);
        self.gossip_bytes = self.gossip_bytes.saturating_add(count(body_bytes));
    }
    /// Acknowledgements no push carried within the ack delay go alone, one
    /// `kv_merge` per peer; the timer then waits for the next oldest.
    pub(crate) fn send_owed_acks(&mut self, ctx: &mut Ctx<Self>) {
        self.ack_armed = false;
        let delay = self.options.ack_delay();
        let now = ctx.now();
        let mut next: Option<Duration> = None;
        for i in 0..self.peers.len() {
            let Some(due) = self.peers[i].link.acks_due_at(delay) else {
                continue;
            };
            if due <= now {
                self.send_merge(ctx, i);
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        if let Some(due) = next {
            self.ack_armed = true;
            ctx.set_timer(due.saturating_sub(now), Timer::Ack);
        }
    }
    pub(crate) fn count_gossip(&mut self, body: &impl Serialize) {
        self.gossip_msgs = self.gossip_msgs.saturating_add(1);
        let bytes = count(store::json_len(body));
        self.gossip_bytes = self.gossip_bytes.saturating_add(bytes);
    }
    /// The anti-entropy round: `kv_merge`s the link presumes lost
    /// (unacknowledged for its resend time, at most the merge timeout) are
    /// given up, their entries due again and the peer marked silent; then
    /// up to `fanout` silent peers whose backoff has passed get their due
    /// keys.
    pub(crate) fn anti_entropy(&mut self, ctx: &mut Ctx<Self>) {
        let (now, timing) = (ctx.now(), self.timing());
        for peer in &mut self.peers {
            let expired = peer.link.expired(now, &timing);
            if expired.is_empty() {
                continue;
            }
            let n = peer.forget_all(expired);
            self.presumed_lost = self.presumed_lost.saturating_add(count(n));
            peer.silent = true;
        }
        // A restart not yet heard of is told again, every two merge
        // timeouts (the announcement or its ack may have been lost).
        let again = timing.resend_after.saturating_mul(2);
        for i in 0..self.peers.len() {
            let peer = &self.peers[i];
            let due = peer
                .announced_at
                .is_none_or(|at| now.saturating_sub(at) >= again);
            if peer.incarnation.unheard(self.incarnation) && due {
                self.announce(ctx, i);
            }
        }
        let waiting: Vec<&str> = self
            .peers
            .iter()
            .filter(|p| !p.silent || !p.link.retry_due(now) || !p.has_due())
            .map(|p| p.id.as_str())
            .collect();
        if waiting.len() == self.peers.len() {
            return;
        }
        for id in ctx.sample_peers(self.options.gossip.fanout(), &waiting) {
            let Some(i) = self.peer_index(&id) else {
                continue;
            };
            self.send_merge(ctx, i);
            let link = &mut self.peers[i].link;
            link.retried(now, timing.resend_after, MAX_BACKOFF_DOUBLINGS);
        }
    }

    /// The link's timing: acks wait `--ack-delay-ms`; a `kv_merge` is
    /// presumed lost after at most `--merge-timeout-ms` (less once the
    /// peer's acks are known to come sooner), and a peer silent for a merge
    /// timeout was cut off; half an interval of slack.
    pub(crate) fn timing(&self) -> Timing {
        let timeout = self.options.merge_timeout();
        Timing {
            ack_delay: self.options.ack_delay(),
            resend_after: timeout,
            silence: timeout,
            slack: self.options.gossip.interval() / 2,
        }
    }

    pub(crate) fn start_anti_entropy(&mut self, ctx: &mut Ctx<Self>) {
        if let Some(id) = self.anti_entropy.take() {
            ctx.cancel_timer(id);
        }
        if !self.peers.is_empty() {
            let interval = self.options.gossip.interval();
            let id = ctx.every(interval, interval / 10, Timer::AntiEntropy);
            self.anti_entropy = Some(id);
        }
    }
}

pub(crate) fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
