//! The framework's line handling end to end: the stdin/stdout runtime (line
//! cutting, the over-long line limit, batching) and the node core (parse,
//! salvage, nesting limits, init, error replies) on an echo node. The first
//! byte picks the line limit and whether an `init` comes first.

#![no_main]

use std::io::Cursor;

use maelstrom_framework::testing::wire_messages;
use maelstrom_framework::{Level, Node, log, stdio};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    log::set_level(Level::Off);
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut input = Vec::new();
    if first & 1 == 1 {
        input.extend_from_slice(
            br#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2"]}}"#,
        );
        input.push(b'\n');
    }
    input.extend_from_slice(rest);
    let max_line = 16 + (first as usize >> 1) * 8;
    let mut node = Node::new(echo::Echo, 1);
    let mut output = Vec::new();
    stdio::run_with(&mut node, Cursor::new(input), &mut output, max_line).unwrap();
    if let Err(e) = wire_messages(&output) {
        panic!("{e}");
    }
});
