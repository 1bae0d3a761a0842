//! Workload `seq-kv-counter`: Maelstrom's g-counter (and pn-counter) kept
//! in the `seq-kv` service, as Gossip Glomers challenge 4 asks. The nodes
//! hold no state of their own; the counter is one key, `"counter"`.
//!
//! - `add {delta}` → `add_ok`: read the key, then `cas` it from what was
//!   read to that plus `delta` (creating it at `delta` if it does not
//!   exist). A cas that fails (error 22: another add came first, or the
//!   read was stale; error 20: another node created the key first) starts
//!   over, up to [`MAX_ATTEMPTS`] times; then the add is refused with error
//!   11 (temporarily unavailable: it did not happen). A timeout is passed
//!   on as error 0 (it may or may not have happened).
//! - `read` → `read_ok {value}`: first write a key of this node's own
//!   (`"sync-n1"`), which moves seq-kv's view of this node to its latest
//!   state (a write applies to the latest state, and a node's later reads
//!   never go back), then read the counter: a read after every add was
//!   acknowledged sees them all.
//!
//! Deltas are JSON integers that fit in an i64; the sum saturates rather
//! than wraps.

use maelstrom_framework::services::{Kv, KvError};
use maelstrom_framework::{
    Ctx, Error, ErrorCode, Handler, NoOptions, Registration, Request, Workload,
};
use serde::{Deserialize, Serialize};

/// The key the counter lives under.
const KEY: &str = "counter";

/// How many times an add tries its read-and-cas before giving up.
pub const MAX_ATTEMPTS: u32 = 100;

const STORE: Kv = Kv::seq();

/// What the node accepts.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Add { delta: i64 },
    Read,
}

/// What the node answers.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    AddOk,
    ReadOk { value: i64 },
}

/// A node keeps only how many syncs it has written.
#[derive(Debug, Default)]
pub struct SeqKvCounter {
    syncs: u64,
}

/// Read the counter, then cas it up by `delta`; on a lost race, again.
fn add(ctx: &mut Ctx<SeqKvCounter>, req: Request, delta: i64, attempt: u32) -> anyhow::Result<()> {
    if attempt > MAX_ATTEMPTS {
        let why = format!("add {delta}: seq-kv kept changing under {MAX_ATTEMPTS} attempts");
        ctx.reply_error(&req, &Error::new(ErrorCode::TemporarilyUnavailable, why));
        return Ok(());
    }
    STORE.read(ctx, KEY, move |_, ctx, read: Result<i64, KvError>| {
        let (from, create) = match read {
            Ok(value) => (value, false),
            Err(KvError::KeyDoesNotExist(_)) => (0, true),
            Err(e) => {
                ctx.reply_error(&req, &Error::from(e));
                return Ok(());
            }
        };
        let to = from.saturating_add(delta);
        STORE.cas(ctx, KEY, from, to, create, move |_, ctx, cas| match cas {
            Ok(()) => {
                ctx.reply(&req, &Reply::AddOk);
                Ok(())
            }
            Err(KvError::PreconditionFailed(_) | KvError::KeyDoesNotExist(_)) => {
                add(ctx, req, delta, attempt + 1)
            }
            Err(e) => {
                ctx.reply_error(&req, &Error::from(e));
                Ok(())
            }
        })?;
        Ok(())
    })?;
    Ok(())
}

impl Handler for SeqKvCounter {
    type Message = Message;
    type Timer = ();

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Message) -> anyhow::Result<()> {
        match msg {
            Message::Add { delta } => add(ctx, req.clone(), delta, 1)?,
            Message::Read => {
                self.syncs += 1;
                let (req, sync_key) = (req.clone(), format!("sync-{}", ctx.id()));
                STORE.write(ctx, sync_key, self.syncs, move |_, ctx, synced| {
                    if let Err(e) = synced {
                        ctx.reply_error(&req, &Error::from(e));
                        return Ok(());
                    }
                    STORE.read(ctx, KEY, move |_, ctx, read: Result<i64, KvError>| {
                        match read {
                            Ok(value) => ctx.reply(&req, &Reply::ReadOk { value }),
                            Err(KvError::KeyDoesNotExist(_)) => {
                                ctx.reply(&req, &Reply::ReadOk { value: 0 })
                            }
                            Err(e) => ctx.reply_error(&req, &Error::from(e)),
                        }
                        Ok(())
                    })?;
                    Ok(())
                })?;
            }
        }
        Ok(())
    }
}

impl Workload for SeqKvCounter {
    type Options = NoOptions;

    fn new(_: &NoOptions) -> Self {
        SeqKvCounter::default()
    }
}

maelstrom_framework::inventory::submit!(
    Registration::new::<SeqKvCounter>(
        "seq-kv-counter",
        "g-counter/pn-counter kept in Maelstrom's seq-kv: read-modify-cas with retries (Gossip Glomers challenge 4)"
    )
    .implements(&["g-counter", "pn-counter"])
);
