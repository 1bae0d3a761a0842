//! Workload `echo`: Maelstrom's echo, `echo {echo}` → `echo_ok {echo}`.
//!
//! The smallest complete workload; copy this crate to start a new one. It
//! reads top to bottom as: messages, state, handler, registration. The
//! workload it implements (clients and checker) is `specs/src/echo.rs`.

use maelstrom_framework::{Ctx, Handler, NoOptions, Registration, Request, Workload};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the node accepts.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    Echo { echo: Value },
}

/// What the node answers.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    EchoOk { echo: Value },
}

/// Echo keeps no state.
#[derive(Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    type Message = Message;
    type Timer = ();

    fn handle(&mut self, ctx: &mut Ctx<Self>, req: &Request, msg: Message) -> anyhow::Result<()> {
        match msg {
            Message::Echo { echo } => ctx.reply(req, &Reply::EchoOk { echo }),
        }
        Ok(())
    }
}

impl Workload for Echo {
    type Options = NoOptions;

    fn new(_: &NoOptions) -> Self {
        Echo
    }
}

maelstrom_framework::inventory::submit!(
    Registration::new::<Echo>("echo", "Maelstrom's echo: echo {echo} -> echo_ok {echo}")
        .implements(&["echo"])
);
