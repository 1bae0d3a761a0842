//! Throughput of one node: pipes N echo requests (default 1,000,000)
//! through the release `maelstrom-node --workload echo` and reports
//! messages per second, end to end (write, parse, reply, read back).
//!
//! Its floor, measured in the same run, in alternating rounds so that both
//! see the same machine: this bench's own binary as a bare typed
//! serde_json echo loop (the smallest Rust node a user would write: a
//! `#[serde(tag = "type")]` body, `BufReader` lines in, `BufWriter` out,
//! flushed whenever no more input is buffered, as our runtime flushes when
//! it has nothing more to do). The ratio is ours over the floor.
//!
//! `cargo bench --bench throughput` (set `THROUGHPUT_MESSAGES` to change N,
//! `THROUGHPUT_ROUNDS` the rounds of each).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Set in the child: run as the bare loop instead of the bench.
const FLOOR_ENV: &str = "THROUGHPUT_BARE_ECHO_LOOP";

fn main() {
    if std::env::var_os(FLOOR_ENV).is_some() {
        bare_echo_loop();
        return;
    }
    let n: usize = env_number("THROUGHPUT_MESSAGES", 1_000_000);
    let rounds: usize = env_number("THROUGHPUT_ROUNDS", 5).max(1);
    let input = requests(n);
    println!(
        "{n} echo requests ({:.1} MB in) per round",
        input.len() as f64 / 1e6
    );

    let ours = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_maelstrom-node"));
        c.args(["--workload", "echo"]);
        c
    };
    let floor = || {
        let mut c = Command::new(std::env::current_exe().expect("own path"));
        c.env(FLOOR_ENV, "1");
        c
    };
    let (mut ours_rates, mut floor_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let a = pipe_through(ours(), &input, n);
        let b = pipe_through(floor(), &input, n);
        println!(
            "round {round}: maelstrom-node {a:.2} M messages/s, bare serde_json loop {b:.2} M/s, ratio {:.2}",
            a / b
        );
        ours_rates.push(a);
        floor_rates.push(b);
    }
    // Both: pipes on 2 shared cores make single rounds swing widely.
    let best = |rates: &[f64]| rates.iter().copied().fold(0f64, f64::max);
    let (ours_best, floor_best) = (best(&ours_rates), best(&floor_rates));
    let (ours_median, floor_median) = (median(&mut ours_rates), median(&mut floor_rates));
    println!(
        "median: maelstrom-node {ours_median:.2} M messages/s, bare loop {floor_median:.2} M/s, ratio {:.2}",
        ours_median / floor_median
    );
    println!(
        "best:   maelstrom-node {ours_best:.2} M messages/s, bare loop {floor_best:.2} M/s, ratio {:.2}",
        ours_best / floor_best
    );
}

/// Sorts `rates` and returns the middle one.
fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `init`, then `n` echo requests, one per line.
fn requests(n: usize) -> Vec<u8> {
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
    input
}

/// Pipes `input` through the node `command` starts; M messages per second.
fn pipe_through(mut command: Command, input: &[u8], n: usize) -> f64 {
    let data = input.to_vec(); // the writer thread's own copy, not timed
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the node");
    let mut stdin = child.stdin.take().unwrap();
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
    n as f64 / secs / 1e6
}

#[derive(Deserialize)]
struct Message {
    src: String,
    dest: String,
    body: Body,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Body {
    Init {
        msg_id: u64,
        #[allow(dead_code)]
        node_id: String,
    },
    Echo {
        msg_id: u64,
        echo: String,
    },
}

#[derive(Serialize)]
struct Reply<'a, B> {
    src: &'a str,
    dest: &'a str,
    body: B,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ReplyBody<'a> {
    InitOk {
        msg_id: u64,
        in_reply_to: u64,
    },
    EchoOk {
        msg_id: u64,
        in_reply_to: u64,
        echo: &'a str,
    },
}

/// The floor: the smallest typed echo node, without our runtime.
fn bare_echo_loop() {
    let stdin = std::io::stdin();
    let mut input = BufReader::with_capacity(64 * 1024, stdin.lock());
    let mut output = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut line = Vec::new();
    let mut next_id = 0u64;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).unwrap() == 0 {
            break;
        }
        let Ok(message) = serde_json::from_slice::<Message>(&line) else {
            continue;
        };
        next_id += 1;
        let body = match &message.body {
            Body::Init { msg_id, .. } => ReplyBody::InitOk {
                msg_id: next_id,
                in_reply_to: *msg_id,
            },
            Body::Echo { msg_id, echo } => ReplyBody::EchoOk {
                msg_id: next_id,
                in_reply_to: *msg_id,
                echo,
            },
        };
        let reply = Reply {
            src: &message.dest,
            dest: &message.src,
            body,
        };
        serde_json::to_writer(&mut output, &reply).unwrap();
        output.write_all(b"\n").unwrap();
        if input.buffer().is_empty() {
            output.flush().unwrap();
        }
    }
    output.flush().unwrap();
}
