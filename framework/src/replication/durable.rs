//! [`DurableUpdates`]: updates to a [`Crdt`] made durable before they are
//! acknowledged, and recovered after a crash.
//!
//! What a node must not lose is what it acknowledged and nobody else is
//! bound to bring back. With the replicator that is its own updates until
//! every peer holds them (everything else comes back by gossip): the node
//! logs each local update (a delta) and syncs it before replying; after a
//! restart, the join of the logged deltas is exactly its own contribution,
//! merged back before it takes any new update. A PN-counter thus never
//! counts its entry from zero again, and a g-set never forgets an element
//! it acknowledged. A node whose acknowledgements to peers end their
//! re-sends (gossip_set's batches) logs what it receives as well.
//!
//! The log is a [`DurableLog`] of deltas; every [`COMPACT_EVERY`] updates
//! it is replaced by a snapshot of their join, so it stays small.
//!
//! ```text
//! init:  let mine = durable.recover(ctx)?;  replicator.start(ctx);  replicator.update(ctx, mine);
//! add:   durable.persist(ctx, &delta)?;  ctx.reply(…);  replicator.update(ctx, delta);
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::node::{Ctx, Handler};
use crate::replication::Crdt;
use crate::storage::{DurableLog, RecoveryError};

/// Updates logged between two snapshots.
pub const COMPACT_EVERY: usize = 1000;

/// The log's name on the node's disk.
const LOG: &str = "own-updates";

/// A node's own updates to a `C`, on its disk.
pub struct DurableUpdates<C> {
    log: Option<DurableLog<C>>,
    /// The join of every update made durable: what a snapshot holds.
    own: C,
    since_snapshot: usize,
}

impl<C> Default for DurableUpdates<C>
where
    C: Crdt,
{
    fn default() -> Self {
        DurableUpdates {
            log: None,
            own: C::default(),
            since_snapshot: 0,
        }
    }
}

impl<C> std::fmt::Debug for DurableUpdates<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableUpdates")
            .field("since_snapshot", &self.since_snapshot)
            .finish()
    }
}

impl<C: Crdt + Serialize + DeserializeOwned> DurableUpdates<C> {
    /// Opens the log on `ctx`'s disk and returns the join of every update
    /// this node made durable before (the bottom on a first start). A
    /// corrupt log is an error: the node must not start with less than it
    /// acknowledged. A write the crash cut short is dropped, with a line
    /// on stderr.
    pub fn recover<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> Result<C, RecoveryError> {
        let (log, recovered) = DurableLog::open::<C>(ctx.disk(), LOG)?;
        let mut own = recovered.snapshot.unwrap_or_default();
        for delta in &recovered.entries {
            own.merge(delta);
        }
        if recovered.torn_tail_bytes > 0 {
            ctx.log(
                crate::log::Level::Info,
                format_args!(
                    "recovery: dropped {} bytes of a write a crash cut short (never \
                     acknowledged)",
                    recovered.torn_tail_bytes
                ),
            );
        }
        self.log = Some(log);
        self.since_snapshot = recovered.entries.len();
        self.own = own.clone();
        Ok(own)
    }

    /// Makes `delta` durable: when this returns `Ok`, a crash cannot lose
    /// it, and the update may be acknowledged.
    pub fn persist<H: Handler>(&mut self, ctx: &mut Ctx<H>, delta: &C) -> std::io::Result<()> {
        let Some(log) = &mut self.log else {
            return Err(std::io::Error::other(
                "DurableUpdates::persist before recover (call it in init)",
            ));
        };
        if self.since_snapshot + 1 >= COMPACT_EVERY {
            let mut own = self.own.clone();
            own.merge(delta);
            log.compact(ctx.disk(), &own)?;
            self.own = own;
            self.since_snapshot = 0;
        } else {
            log.append(ctx.disk(), delta)?;
            log.sync(ctx.disk())?;
            // Only what is durable: an update whose write failed was
            // answered with an error, and no snapshot may include it.
            self.own.merge(delta);
            self.since_snapshot += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Node, Process, Request};
    use crate::replication::GSet;
    use crate::storage::SimDisk;
    use crate::testing::{deliver, init};
    use serde::Deserialize;
    use serde_json::json;

    /// A node whose `add {element}` is acknowledged once durable.
    #[derive(Default)]
    struct Adds {
        set: GSet<u64>,
        durable: DurableUpdates<GSet<u64>>,
    }

    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Msg {
        Add { element: u64 },
        Read,
    }

    impl Handler for Adds {
        type Message = Msg;
        type Timer = ();

        fn init(&mut self, ctx: &mut Ctx<Self>) -> anyhow::Result<()> {
            let mine = self.durable.recover(ctx)?;
            self.set.merge(&mine);
            Ok(())
        }

        fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Msg) -> anyhow::Result<()> {
            match msg {
                Msg::Add { element } => {
                    let mut delta = GSet::default();
                    delta.insert(element);
                    self.durable.persist(ctx, &delta)?;
                    self.set.merge(&delta);
                    ctx.reply(req, &json!({"type": "add_ok"}));
                }
                Msg::Read => {
                    let value: Vec<u64> = self.set.iter().copied().collect();
                    ctx.reply(req, &json!({"type": "read_ok", "value": value}));
                }
            }
            Ok(())
        }
    }

    fn started(disk: &SimDisk) -> Node<Adds> {
        let mut node = Node::new(Adds::default(), 1);
        node.attach_disk(Box::new(disk.clone()));
        init(&mut node, "n1", &["n1", "n2"]);
        node
    }

    #[test]
    fn every_acknowledged_update_survives_a_crash_across_compactions() {
        let disk = SimDisk::new();
        let mut node = started(&disk);
        let total = COMPACT_EVERY as u64 * 2 + 7;
        let t = std::time::Duration::ZERO;
        for v in 0..total {
            let out = deliver(
                &mut node,
                t,
                "c1",
                json!({"type": "add", "element": v, "msg_id": v}),
            );
            assert_eq!(out[0]["body"]["type"], "add_ok");
        }
        // A crash keeps what was synced, and every add was synced before
        // its add_ok.
        disk.crash(&mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3));
        let mut node = started(&disk);
        let out = deliver(&mut node, t, "c1", json!({"type": "read", "msg_id": 1}));
        let want: Vec<u64> = (0..total).collect();
        assert_eq!(out[0]["body"]["value"], json!(want));
        // The log stays small: a snapshot and the updates since.
        let log = disk.contents("own-updates.log").unwrap_or_default();
        assert!(log.len() < 10 * 40, "{} bytes", log.len());
    }

    #[test]
    fn a_corrupt_log_refuses_init_with_a_clear_error() {
        let disk = SimDisk::new();
        let mut node = started(&disk);
        let t = std::time::Duration::ZERO;
        for v in 0..3 {
            deliver(
                &mut node,
                t,
                "c1",
                json!({"type": "add", "element": v, "msg_id": v}),
            );
        }
        let mut bytes = disk.contents("own-updates.log").unwrap();
        bytes[10] ^= 0xff;
        let mut d = disk.clone();
        crate::storage::Disk::replace(&mut d, "own-updates.log", &bytes).unwrap();
        let mut node = Node::new(Adds::default(), 1);
        node.attach_disk(Box::new(disk.clone()));
        let out = deliver(
            &mut node,
            t,
            "c0",
            json!({"type": "init", "node_id": "n1", "node_ids": ["n1"], "msg_id": 1}),
        );
        assert_eq!(out[0]["body"]["type"], "error", "{out:?}");
        let text = out[0]["body"]["text"].as_str().unwrap();
        assert!(
            text.contains("own-updates.log is corrupt at byte"),
            "{text}"
        );
    }
}
