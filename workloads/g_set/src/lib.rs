//! Workload `g-set`: Maelstrom's grow-only set, replicated by the
//! framework's [`Replicator`] of a [`GSet`]. The whole task's own idea is
//! "a set whose merge is union"; how it spreads is the framework's.
//!
//! - `add {element}` → `add_ok`: any JSON value (Maelstrom sends unique
//!   integers). Equal values are one element whatever their object key
//!   order ([`OrdJson`]).
//! - `read` → `read_ok {value: [...]}`: every element held, in
//!   [`OrdJson`] order (integers ascending first).
//! - Between nodes: `replicate {elements, wants_ack?, acks?,
//!   everyone_has?}`, the replicator's [`Tagged`] message (see
//!   [`maelstrom_framework::replication::replicator`]).
//!
//! Flags: `--strategy full-state|delta-push` (default full-state),
//! `--fanout`, `--gossip-interval-ms`, `--push-delay-ms`.

use maelstrom_framework::replication::{
    DurableUpdates, GSet, Gossip, OrdJson, ReplicationOptions, ReplicationTimer, Replicator, Tagged,
};
use maelstrom_framework::{Ctx, Handler, Registration, Request, View, Workload};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the node accepts.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Add { element: Value },
    Read,
    Replicate(Gossip<GSet<OrdJson>>),
}

/// What the node answers.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply<'a> {
    AddOk,
    ReadOk { value: Vec<&'a Value> },
}

/// One node: the replicated set, and its elements in order of receipt
/// (what a simulator watches to time each element's arrival).
#[derive(Debug)]
pub struct GSetNode {
    set: Replicator<GSet<OrdJson>, Tagged>,
    received: Vec<Value>,
    /// The elements added here, durable before `add_ok`.
    durable: DurableUpdates<GSet<OrdJson>>,
}

impl GSetNode {
    pub fn new(options: &ReplicationOptions) -> GSetNode {
        GSetNode {
            set: Replicator::new(Tagged("replicate"), *options),
            received: Vec::new(),
            durable: DurableUpdates::default(),
        }
    }

    pub fn replicator(&self) -> &Replicator<GSet<OrdJson>, Tagged> {
        &self.set
    }
}

impl Handler for GSetNode {
    type Message = Message;
    type Timer = ReplicationTimer;

    fn view(&self) -> Option<View<'_>> {
        Some(View::Values(&self.received))
    }

    /// Recovers the elements added here before a crash, and gossips them
    /// again.
    fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
        let mine = self.durable.recover(ctx)?;
        self.set.start(ctx);
        self.received.extend(mine.iter().map(|e| e.value().clone()));
        self.set.restarted(ctx, mine);
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Message) -> anyhow::Result<()> {
        match msg {
            Message::Add { element } => {
                let mut added = GSet::default();
                added.insert(OrdJson::new(element.clone()));
                // Durable before it is acknowledged (a repeat is already).
                if !self.set.state().contains(&OrdJson::new(element.clone())) {
                    self.durable.persist(ctx, &added)?;
                }
                if self.set.update(ctx, added) {
                    self.received.push(element);
                }
                ctx.reply(req, &Reply::AddOk);
            }
            Message::Read => {
                let value = self.set.state().iter().map(OrdJson::value).collect();
                ctx.reply(req, &Reply::ReadOk { value });
            }
            Message::Replicate(gossip) => {
                let new = self.set.on_message(ctx, req, gossip.into());
                self.received.extend(new.iter().map(|e| e.value().clone()));
            }
        }
        Ok(())
    }

    fn on_timer(&mut self, ctx: &mut Ctx<Self>, timer: ReplicationTimer) -> anyhow::Result<()> {
        self.set.on_timer(ctx, timer);
        Ok(())
    }
}

impl Workload for GSetNode {
    type Options = ReplicationOptions;

    fn new(options: &ReplicationOptions) -> Self {
        GSetNode::new(options)
    }
}

maelstrom_framework::inventory::submit!(
    Registration::new::<GSetNode>(
        "g-set",
        "Maelstrom's g-set: a grow-only set replicated by full-state gossip or delta-push"
    )
    .implements(&["g-set"])
);
