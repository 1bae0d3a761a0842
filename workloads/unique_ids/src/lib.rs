//! Workload `unique-ids`: Maelstrom's unique-ids (Gossip Glomers
//! challenge 2), `generate` → `generate_ok {id}`.
//!
//! No coordination: an id is this node's id and a count of the ids it has
//! handed out (`"n1-7"`). Node ids are unique in the cluster and the count
//! only grows, so no two replies carry the same id, whatever the network
//! does — partitions and lost messages included, since nodes never talk.
//! The count is a u64: it would take 2^64 requests to a node to wrap, and
//! it saturates rather than wraps (a node that has handed out that many
//! answers error 13 from then on, never a repeat).
//!
//! Across crashes: the node reserves counts in blocks of [`BLOCK`], each
//! reservation durable before the first id of the block goes out, and a
//! restarted node starts after the last block it reserved. Ids stay
//! unique across kills at one sync per block; a crash skips the rest of
//! its block.

use maelstrom_framework::replication::{DurableUpdates, MaxRegister};
use maelstrom_framework::{
    Ctx, Error, ErrorCode, Handler, NoOptions, Registration, Request, Workload,
};
use serde::{Deserialize, Serialize};

/// Counts reserved by one durable write.
pub const BLOCK: u64 = 1000;

/// What the node accepts.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Generate,
}

/// What the node answers.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    GenerateOk { id: String },
}

/// The last count handed out, and the end of the reserved block.
#[derive(Debug, Default)]
pub struct UniqueIds {
    issued: u64,
    reserved: u64,
    durable: DurableUpdates<MaxRegister>,
}

impl Handler for UniqueIds {
    type Message = Message;
    type Timer = ();

    /// Starts after every block reserved before a crash.
    fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
        let reserved = self.durable.recover(ctx)?.value;
        self.issued = reserved;
        self.reserved = reserved;
        Ok(())
    }

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Message) -> anyhow::Result<()> {
        match msg {
            Message::Generate => {
                let Some(next) = self.issued.checked_add(1) else {
                    return Err(Error::new(ErrorCode::Crash, "this node has no ids left").into());
                };
                if next > self.reserved {
                    let block = MaxRegister {
                        value: self.reserved.saturating_add(BLOCK),
                    };
                    self.durable.persist(ctx, &block)?;
                    self.reserved = block.value;
                }
                self.issued = next;
                let id = format!("{}-{next}", ctx.id());
                ctx.reply(req, &Reply::GenerateOk { id });
            }
        }
        Ok(())
    }
}

impl Workload for UniqueIds {
    type Options = NoOptions;

    fn new(_: &NoOptions) -> Self {
        UniqueIds::default()
    }
}

maelstrom_framework::inventory::submit!(
    Registration::new::<UniqueIds>(
        "unique-ids",
        "Maelstrom's unique-ids: node id and a count, no coordination"
    )
    .implements(&["unique-ids"])
);
