//! The delta-push strategy: a change is pushed at once (after a short
//! coalescing delay) to every peer over a numbered, acknowledged message,
//! and peers found behind are repaired by anti-entropy, within the seed
//! protocol's message budget.

use std::time::Duration;

use maelstrom_framework::{Ctx, NodeId};

use crate::{
    CounterNode, Gossip, MAX_UNACKED, NodeCounts, Peer, PnCounter, Replicate, Strategy, Timer,
};

impl CounterNode {
    /// What all peers are known to hold of our own entries, when there is a
    /// third party to tell (two peers or more) and we are pushing.
    pub(crate) fn everyone_has(&self, me: &str) -> Option<NodeCounts> {
        if self.strategy != Strategy::DeltaPush || self.peers.len() < 2 {
            return None;
        }
        let mine = self.counter.entries_of(me);
        Some(
            self.peers
                .values()
                .map(|p| p.known.entries_of(me))
                .fold(mine, NodeCounts::min),
        )
    }
    /// Whether a push of our own entries is due to `peer`: it is neither
    /// known to hold them nor has been sent them.
    pub(crate) fn push_due(&self, peer: &Peer, me: &str) -> bool {
        let mine = self.counter.entries_of(me);
        self.strategy == Strategy::DeltaPush
            && mine.exceeds(peer.pushed.max(peer.known.entries_of(me)))
    }
    /// Refills the message budget up to now.
    pub(crate) fn refill(&mut self, now: Duration) {
        self.budget.refill(now, &self.gossip, self.peers.len());
    }
    /// delta-push: arms the push timer if a push is due, to fire once the
    /// last push is `push_delay` old and the budget allows a message (at
    /// once if both hold already: the push then goes out right after the
    /// current batch of input).
    pub(crate) fn schedule_push(&mut self, ctx: &mut Ctx<Self>) {
        if self.push_pending {
            return;
        }
        let me = ctx.id();
        if !self.peers.values().any(|peer| self.push_due(peer, me)) {
            return;
        }
        let now = ctx.now();
        self.refill(now);
        let since_last = self
            .last_push
            .map_or(Duration::MAX, |t| now.saturating_sub(t));
        let delay = self
            .push_delay()
            .saturating_sub(since_last)
            .max(self.budget.wait_for_one(&self.gossip, self.peers.len()));
        self.push_pending = true;
        ctx.set_timer(delay, Timer::Push);
    }
    /// Pushes our new own entries to the peers due, as many as the budget
    /// allows, those served longest ago first; each push carries the ack and
    /// news its peer is owed. The rest wait for the next push.
    pub(crate) fn push(&mut self, ctx: &mut Ctx<Self>) {
        self.push_pending = false;
        let now = ctx.now();
        self.refill(now);
        let me = ctx.id().to_string();
        let mine = self.counter.entries_of(&me);
        let everyone_has = self.everyone_has(&me);
        let mut due: Vec<(Option<Duration>, NodeId)> = self
            .peers
            .iter()
            .filter(|(_, peer)| self.push_due(peer, &me))
            .map(|(id, peer)| (peer.last_entries_sent, id.clone()))
            .collect();
        due.sort();
        let allowed = usize::try_from(self.budget.available()).unwrap_or(usize::MAX);
        for (_, id) in due.into_iter().take(allowed) {
            let peer = self.peers.get_mut(&id).expect("id from peers");
            let entries = self.counter.only(&me).missing_from(&peer.known);
            let news = everyone_has.filter(|e| e.exceeds(peer.told_everyone_has));
            peer.pushed = mine;
            self.budget.spend();
            self.stats.pushes_sent = self.stats.pushes_sent.saturating_add(1);
            self.last_push = Some(now);
            send_replicate(ctx, &id, peer, entries, news);
        }
        self.schedule_push(ctx);
    }
    /// delta-push anti-entropy: up to `fanout` random peers that have been
    /// behind, and sent no entries, for `retry_after` get what they may lack.
    pub(crate) fn repair(&mut self, ctx: &mut Ctx<Self>) {
        let now = ctx.now();
        self.refill(now);
        let grace = self.retry_after();
        let waited = |since: Option<Duration>| since.is_none_or(|t| now.saturating_sub(t) >= grace);
        let not_due: Vec<&str> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.behind_since.is_none() || !waited(p.behind_since) || !waited(p.last_entries_sent)
            })
            .map(|(id, _)| id.as_str())
            .collect();
        if not_due.len() == self.peers.len() {
            return;
        }
        let allowed = self.budget.spare(self.peers.len());
        let chosen = ctx.sample_peers(self.gossip.fanout().min(allowed), &not_due);
        let me = ctx.id().to_string();
        let everyone_has = self.everyone_has(&me);
        for id in chosen {
            let peer = self.peers.get_mut(&id).expect("sampled from init peers");
            let entries = self.counter.missing_from(&peer.known);
            let news = everyone_has.filter(|e| e.exceeds(peer.told_everyone_has));
            peer.pushed = peer.pushed.max(entries.entries_of(&me));
            self.budget.spend();
            self.stats.repairs_sent = self.stats.repairs_sent.saturating_add(1);
            send_replicate(ctx, &id, peer, entries, news);
        }
    }
    /// Acks and news that found no push or repair to ride on since the last
    /// tick go out on their own, as far as the budget allows.
    pub(crate) fn send_owed_control(&mut self, ctx: &mut Ctx<Self>) {
        self.refill(ctx.now());
        let me = ctx.id().to_string();
        let everyone_has = self.everyone_has(&me);
        let reserve = self.peers.len();
        for (id, peer) in &mut self.peers {
            let news = everyone_has.filter(|e| e.exceeds(peer.told_everyone_has));
            if peer.ack_owed.is_none() && news.is_none() {
                continue;
            }
            if self.budget.spare(reserve) == 0 {
                break;
            }
            self.budget.spend();
            self.stats.control_sent = self.stats.control_sent.saturating_add(1);
            send_replicate(ctx, id, peer, PnCounter::default(), news);
        }
    }
}

/// Sends `peer` a replicate with `entries` (asking for an ack when there
/// are any), the ack it is owed, and `news` of what everyone has.
pub(crate) fn send_replicate(
    ctx: &mut Ctx<CounterNode>,
    dest: &str,
    peer: &mut Peer,
    entries: PnCounter,
    news: Option<NodeCounts>,
) {
    let msg = Replicate {
        p_counters: entries.p.clone(),
        n_counters: entries.n.clone(),
        wants_ack: !entries.is_empty(),
        ack: peer.ack_owed.take(),
        everyone_has: news,
    };
    let msg_id = ctx.send(dest, &Gossip::Replicate(&msg));
    if let Some(news) = news {
        peer.told_everyone_has = news;
    }
    if !entries.is_empty() {
        peer.last_entries_sent = Some(ctx.now());
        if peer.unacked.len() == MAX_UNACKED {
            peer.unacked.pop_front();
        }
        peer.unacked.push_back((msg_id, ctx.now(), entries));
    }
}
