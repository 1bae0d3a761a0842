//! What every workload target does: node `n1` of `n1..n3`, initialised,
//! gets the input's lines one by one; a line starting with `@` is not
//! delivered but lets time pass (its length in 10 ms steps) and wakes the
//! node. Every output line must be a protocol message, and no handler may
//! panic (the framework catches panics and answers error 13: a panic is a
//! bug all the same).

use std::sync::OnceLock;
use std::time::Duration;

use maelstrom_framework::testing::{at, default_factory, init, wire_messages};
use maelstrom_framework::{Level, NodeFactory, log, registry};

// `inventory` only registers what the target links: the catalog links
// every node of ours.
use maelstrom_catalog as _;

pub fn drive(workload: &str, data: &[u8]) {
    // One workload per target: its flags are parsed once, not per input.
    static FACTORY: OnceLock<NodeFactory> = OnceLock::new();
    let factory = FACTORY.get_or_init(|| {
        log::set_level(Level::Off);
        default_factory(registry::find(workload).expect("a registered workload"))
    });
    let mut node = factory(1);
    init(node.as_mut(), "n1", &["n1", "n2", "n3"]);
    let mut t = Duration::ZERO;
    for line in data.split(|&b| b == b'\n') {
        t += Duration::from_millis(1);
        if line.first() == Some(&b'@') {
            t += Duration::from_millis(10 * line.len() as u64);
            node.on_wake(at(t));
        } else {
            node.on_line(at(t), line);
        }
        let out = std::mem::take(node.output());
        if let Err(e) = wire_messages(&out) {
            panic!("{e}");
        }
    }
    assert_eq!(node.panics(), 0, "a handler panicked");
}
