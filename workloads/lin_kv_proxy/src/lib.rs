//! Workload `lin-kv-proxy`: Maelstrom's lin-kv served by the `lin-kv`
//! service itself, as Maelstrom's demo `lin_kv_proxy.rb` does. The node
//! keeps nothing: each client `read`, `write` and `cas` goes to the
//! service as it came (keys and values any JSON), and the service's
//! answer comes back to the client — `read_ok {value}`, `write_ok`,
//! `cas_ok`, or its error with its code (20, 22, and 0 when the service
//! did not answer in time: the client cannot tell whether it happened).
//! Linearizable because the service is, and each operation takes effect
//! inside the client's request: after it arrived, before its reply.

use maelstrom_framework::services::{Kv, KvError};
use maelstrom_framework::{Ctx, Error, Handler, NoOptions, Registration, Request, Workload};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const STORE: Kv = Kv::lin();

/// What the node accepts.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Read { key: Value },
    Write { key: Value, value: Value },
    Cas { key: Value, from: Value, to: Value },
}

/// What the node answers.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    ReadOk { value: Value },
    WriteOk,
    CasOk,
}

/// The proxy holds no state.
#[derive(Debug, Default)]
pub struct LinKvProxy;

/// Relays the service's answer to `req`: `ok` on success, its error
/// otherwise.
fn relay<T>(
    req: Request,
    ok: impl FnOnce(T) -> Reply + 'static,
) -> impl FnOnce(&mut LinKvProxy, &mut Ctx<LinKvProxy>, Result<T, KvError>) -> anyhow::Result<()> {
    move |_, ctx, result| {
        match result {
            Ok(value) => ctx.reply(&req, &ok(value)),
            Err(e) => ctx.reply_error(&req, &Error::from(e)),
        }
        Ok(())
    }
}

impl Handler for LinKvProxy {
    type Message = Message;
    type Timer = ();

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Message) -> anyhow::Result<()> {
        let req = req.clone();
        // The KV client refuses only what does not serialise, which JSON
        // values always do.
        let sent = match msg {
            Message::Read { key } => {
                STORE.read(ctx, key, relay(req, |value| Reply::ReadOk { value }))
            }
            Message::Write { key, value } => {
                STORE.write(ctx, key, value, relay(req, |()| Reply::WriteOk))
            }
            Message::Cas { key, from, to } => {
                STORE.cas(ctx, key, from, to, false, relay(req, |()| Reply::CasOk))
            }
        };
        sent?;
        Ok(())
    }
}

impl Workload for LinKvProxy {
    type Options = NoOptions;

    fn new(_: &NoOptions) -> Self {
        LinKvProxy
    }
}

maelstrom_framework::inventory::submit!(
    Registration::new::<LinKvProxy>(
        "lin-kv-proxy",
        "lin-kv served by forwarding every read, write and cas to Maelstrom's lin-kv service"
    )
    .implements(&["lin-kv"])
);
