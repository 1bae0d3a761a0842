//! Workload `kafka-log`: Maelstrom's kafka kept in the `lin-kv` service,
//! as Gossip Glomers challenge 5 asks; the nodes hold no state of their
//! own, so any node answers for every key.
//!
//! Layout in lin-kv: `log-K` holds key K's log, the list of its messages
//! (offset = position in the list); `committed-K` its committed offset.
//!
//! - `send {key, msg}` → `send_ok {offset}`: read `log-K`, then `cas` it
//!   from what was read to that list plus `msg` (creating it if missing);
//!   the offset is the old length. The cas is the offset's allocation and
//!   the message's store at once: a separate counter key would leave an
//!   offset allocated and never filled when its sender cannot tell whether
//!   the counter's cas applied (a timeout) or stops between the two steps,
//!   and polls, which return contiguous messages, would stall at that hole
//!   for good. A cas that loses a race (error 22, or 20: another node
//!   created the log first) starts over, up to [`MAX_ATTEMPTS`] times,
//!   then the send is refused with error 11 (it did not happen). A timeout
//!   is passed on as error 0 (it may have happened). Cost: a send moves the
//!   key's whole log twice, fine for the workload's hundreds of messages
//!   per key, not the point of challenge 5's efficiency parts.
//! - `poll {offsets}` → `poll_ok {msgs}`: each key's log read in turn, every
//!   message from the asked offset on; keys without messages there are
//!   left out.
//! - `commit_offsets {offsets}` → `commit_offsets_ok`: each `committed-K`
//!   written in turn. Last writer wins: two clients committing one key may
//!   move it back, which only makes a later client poll some messages again.
//! - `list_committed_offsets {keys}` → `list_committed_offsets_ok
//!   {offsets}`: each `committed-K` read in turn; keys never committed are
//!   left out.
//!
//! Offsets are integers ≥ 0; a request with a negative one is refused as
//! malformed (error 12) by the framework.

use std::collections::BTreeMap;

use maelstrom_framework::services::{Kv, KvError};
use maelstrom_framework::{
    Ctx, Error, ErrorCode, Handler, NoOptions, Registration, Request, Workload,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many times a send tries its read-and-cas before giving up.
pub const MAX_ATTEMPTS: u32 = 100;

const STORE: Kv = Kv::lin();

/// What the node accepts.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Send { key: String, msg: Value },
    Poll { offsets: BTreeMap<String, u64> },
    CommitOffsets { offsets: BTreeMap<String, u64> },
    ListCommittedOffsets { keys: Vec<String> },
}

/// What the node answers.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    SendOk {
        offset: u64,
    },
    PollOk {
        msgs: BTreeMap<String, Vec<(u64, Value)>>,
    },
    CommitOffsetsOk,
    ListCommittedOffsetsOk {
        offsets: BTreeMap<String, u64>,
    },
}

fn log_key(key: &str) -> String {
    format!("log-{key}")
}

fn committed_key(key: &str) -> String {
    format!("committed-{key}")
}

/// The node: everything is in lin-kv.
#[derive(Debug, Default)]
pub struct KafkaLog;

type NodeCtx = Ctx<KafkaLog>;

/// Appends `msg` to `key`'s log: read it, cas it one longer; on a lost
/// race, again.
fn send(
    ctx: &mut NodeCtx,
    req: Request,
    key: String,
    msg: Value,
    attempt: u32,
) -> anyhow::Result<()> {
    if attempt > MAX_ATTEMPTS {
        let why = format!("send to {key}: its log kept changing under {MAX_ATTEMPTS} attempts");
        ctx.reply_error(&req, &Error::new(ErrorCode::TemporarilyUnavailable, why));
        return Ok(());
    }
    STORE.read(
        ctx,
        log_key(&key),
        move |_, ctx, read: Result<Vec<Value>, KvError>| {
            let (log, create) = match read {
                Ok(log) => (log, false),
                Err(KvError::KeyDoesNotExist(_)) => (Vec::new(), true),
                Err(e) => {
                    ctx.reply_error(&req, &Error::from(e));
                    return Ok(());
                }
            };
            let offset = log.len() as u64;
            let mut longer = log.clone();
            longer.push(msg.clone());
            STORE.cas(
                ctx,
                log_key(&key),
                log,
                longer,
                create,
                move |_, ctx, cas| match cas {
                    Ok(()) => {
                        ctx.reply(&req, &Reply::SendOk { offset });
                        Ok(())
                    }
                    Err(KvError::PreconditionFailed(_) | KvError::KeyDoesNotExist(_)) => {
                        send(ctx, req, key, msg, attempt + 1)
                    }
                    Err(e) => {
                        ctx.reply_error(&req, &Error::from(e));
                        Ok(())
                    }
                },
            )?;
            Ok(())
        },
    )?;
    Ok(())
}

/// Reads `keys` from lin-kv one after the other (`None`: missing), then
/// calls `done` with them all, or with the first error.
fn read_each<F>(
    ctx: &mut NodeCtx,
    keys: Vec<String>,
    mut got: Vec<Option<Value>>,
    done: F,
) -> anyhow::Result<()>
where
    F: FnOnce(&mut NodeCtx, Result<Vec<Option<Value>>, KvError>) -> anyhow::Result<()> + 'static,
{
    if got.len() == keys.len() {
        return done(ctx, Ok(got));
    }
    let next = keys[got.len()].clone();
    STORE.read(ctx, next, move |_, ctx, read: Result<Value, KvError>| {
        match read {
            Ok(v) => got.push(Some(v)),
            Err(KvError::KeyDoesNotExist(_)) => got.push(None),
            Err(e) => return done(ctx, Err(e)),
        }
        read_each(ctx, keys, got, done)
    })?;
    Ok(())
}

/// Writes `entries` to lin-kv one after the other, then calls `done`.
fn write_each<F>(ctx: &mut NodeCtx, mut entries: Vec<(String, u64)>, done: F) -> anyhow::Result<()>
where
    F: FnOnce(&mut NodeCtx, Result<(), KvError>) -> anyhow::Result<()> + 'static,
{
    let Some((key, value)) = entries.pop() else {
        return done(ctx, Ok(()));
    };
    STORE.write(ctx, key, value, move |_, ctx, wrote| match wrote {
        Ok(()) => write_each(ctx, entries, done),
        Err(e) => done(ctx, Err(e)),
    })?;
    Ok(())
}

impl Handler for KafkaLog {
    type Message = Message;
    type Timer = ();

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Message) -> anyhow::Result<()> {
        let req = req.clone();
        match msg {
            Message::Send { key, msg } => send(ctx, req, key, msg, 1)?,
            Message::Poll { offsets } => {
                let (keys, from): (Vec<String>, Vec<u64>) = offsets.into_iter().unzip();
                let kv_keys = keys.iter().map(|k| log_key(k)).collect();
                read_each(ctx, kv_keys, Vec::new(), move |ctx, logs| {
                    let logs = match logs {
                        Ok(logs) => logs,
                        Err(e) => {
                            ctx.reply_error(&req, &Error::from(e));
                            return Ok(());
                        }
                    };
                    let mut msgs = BTreeMap::new();
                    for ((key, from), log) in keys.into_iter().zip(from).zip(logs) {
                        let Some(Value::Array(log)) = log else {
                            continue;
                        };
                        // Every message from `from` on, with its offset.
                        let pairs: Vec<(u64, Value)> = log
                            .into_iter()
                            .enumerate()
                            .skip(usize::try_from(from).unwrap_or(usize::MAX))
                            .map(|(offset, m)| (offset as u64, m))
                            .collect();
                        if !pairs.is_empty() {
                            msgs.insert(key, pairs);
                        }
                    }
                    ctx.reply(&req, &Reply::PollOk { msgs });
                    Ok(())
                })?;
            }
            Message::CommitOffsets { offsets } => {
                let entries = offsets
                    .into_iter()
                    .map(|(k, o)| (committed_key(&k), o))
                    .collect();
                write_each(ctx, entries, move |ctx, wrote| {
                    match wrote {
                        Ok(()) => ctx.reply(&req, &Reply::CommitOffsetsOk),
                        Err(e) => ctx.reply_error(&req, &Error::from(e)),
                    }
                    Ok(())
                })?;
            }
            Message::ListCommittedOffsets { keys } => {
                let kv_keys = keys.iter().map(|k| committed_key(k)).collect();
                read_each(ctx, kv_keys, Vec::new(), move |ctx, read| {
                    match read {
                        Ok(values) => {
                            let offsets = keys
                                .into_iter()
                                .zip(values)
                                .filter_map(|(k, v)| Some((k, v?.as_u64()?)))
                                .collect();
                            ctx.reply(&req, &Reply::ListCommittedOffsetsOk { offsets });
                        }
                        Err(e) => ctx.reply_error(&req, &Error::from(e)),
                    }
                    Ok(())
                })?;
            }
        }
        Ok(())
    }
}

impl Workload for KafkaLog {
    type Options = NoOptions;

    fn new(_: &NoOptions) -> Self {
        KafkaLog
    }
}

maelstrom_framework::inventory::submit!(
    Registration::new::<KafkaLog>(
        "kafka-log",
        "Maelstrom's kafka on lin-kv: one cas appends a message to its key's log and allocates its offset (Gossip Glomers challenge 5)"
    )
    .implements(&["kafka"])
);
