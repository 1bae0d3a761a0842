//! Throughput of one node: pipes N echo requests (default 1,000,000)
//! through the release `maelstrom-node --workload echo` and reports
//! messages per second, end to end (write, parse, reply, read back).
//!
//! `cargo bench --bench throughput` (set `THROUGHPUT_MESSAGES` to change N).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let n: usize = std::env::var("THROUGHPUT_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut input = Vec::with_capacity(n * 80);
    input.extend_from_slice(
        br#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":0,"node_id":"n1","node_ids":["n1"]}}"#,
    );
    input.push(b'\n');
    for i in 1..=n {
        writeln!(
            input,
            r#"{{"src":"c1","dest":"n1","body":{{"type":"echo","msg_id":{i},"echo":"hello {i}"}}}}"#
        )
        .unwrap();
    }
    let bytes_in = input.len();

    for round in 1..=3 {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_maelstrom-node"))
            .args(["--workload", "echo"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn maelstrom-node");
        let mut stdin = child.stdin.take().unwrap();
        let data = input.clone();
        let writer = std::thread::spawn(move || {
            stdin.write_all(&data).unwrap();
        });
        let mut lines = 0usize;
        let mut reader = BufReader::with_capacity(1 << 20, child.stdout.take().unwrap());
        let mut buf = Vec::new();
        while reader.read_until(b'\n', &mut buf).unwrap() > 0 {
            lines += 1;
            buf.clear();
        }
        writer.join().unwrap();
        let status = child.wait().unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert!(status.success());
        assert_eq!(lines, n + 1, "one reply per request, plus init_ok");
        println!(
            "round {round}: {n} echo requests ({:.1} MB in) in {secs:.3} s = {:.2} M messages/s",
            bytes_in as f64 / 1e6,
            n as f64 / secs / 1e6
        );
    }
}
