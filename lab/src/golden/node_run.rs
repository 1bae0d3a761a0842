//! One run of a node program on a fixture's input, bounded in time and in
//! what is kept of its output, whatever the program does.

use crate::process_group;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What is kept of each of stdout and stderr; the rest is read and
/// counted, so a flooding node neither blocks nor grows our memory.
pub const KEPT_BYTES: usize = 16 << 20;

/// How long the output may stay open after the node and its process group
/// are gone: long enough for a busy machine to let the readers drain the
/// pipes; only a process that left the group holds them open longer.
pub const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// How often the node is checked for an exit.
const POLL: Duration = Duration::from_millis(2);

/// How a run ended.
#[derive(Debug)]
pub enum RunEnd {
    Exited(ExitStatus),
    /// Still running at the deadline: its process group was killed.
    TimedOut,
}

/// What was read from one of the node's output streams.
#[derive(Debug, Default)]
pub struct Captured {
    /// The first [`KEPT_BYTES`] bytes.
    pub kept: Vec<u8>,
    /// Everything the node wrote, kept or not.
    pub total: u64,
    /// The stream was still open [`CLOSE_GRACE`] after the node and its
    /// group were gone; `kept` is what had come by then.
    pub left_open: bool,
}

impl Captured {
    pub fn was_cut(&self) -> bool {
        self.total > self.kept.len() as u64
    }
}

#[derive(Debug)]
pub struct NodeRun {
    pub end: RunEnd,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// Starts `argv` (program, then arguments) in its own process group,
/// writes `input` to its stdin, keeps stdin open `hold_open` longer, and
/// waits for it to exit until `deadline` after the start. An `Err` is the
/// OS's reason the program could not be started (or, never seen, watched).
pub fn run_node(
    argv: &[OsString],
    input: Vec<u8>,
    hold_open: Duration,
    deadline: Duration,
) -> std::io::Result<NodeRun> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty node command"))?;
    let mut command = Command::new(program);
    command
        .args(args)
        // A fixture's `stderr` lines are maelstrom-node's warnings: they
        // must be written whatever the caller's own setting is.
        .env("MAELSTROM_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own group, so a wrapper (`sh -c`, `go run`) and everything it
    // started are killed together.
    process_group::own_group(&mut command);
    let mut child = command.spawn()?;
    let started = Instant::now();

    let mut stdin = child.stdin.take().expect("piped");
    // Not joined: a node that never reads would hold it in `write_all`
    // until the node dies; it ends by itself once the pipe is closed.
    std::thread::spawn(move || {
        // A node may stop reading early (after an over-long line it
        // refused, or by exiting): a broken pipe is not its failure.
        let _ = stdin.write_all(&input);
        let _ = stdin.flush();
        std::thread::sleep(hold_open);
    });
    let stdout = Capture::spawn(child.stdout.take().expect("piped"));
    let stderr = Capture::spawn(child.stderr.take().expect("piped"));

    let timed_out = loop {
        match has_exited(&mut child) {
            Ok(true) => break false,
            Ok(false) if started.elapsed() >= deadline => break true,
            Ok(false) => std::thread::sleep(POLL),
            Err(e) => {
                process_group::kill_group(&mut child);
                let _ = child.wait();
                return Err(e);
            }
        }
    };
    // Also after an exit: what the node left running in its group goes
    // with it (and stops holding its output open).
    if timed_out || cfg!(target_os = "linux") {
        process_group::kill_group(&mut child);
    }
    let status = child.wait()?;
    let end = if timed_out {
        RunEnd::TimedOut
    } else {
        RunEnd::Exited(status)
    };
    let closing = Instant::now() + CLOSE_GRACE;
    let (stdout, stderr) = (stdout.finish(closing), stderr.finish(closing));
    Ok(NodeRun {
        end,
        stdout,
        stderr,
    })
}

/// Whether the node has exited, seen without reaping it on Linux.
fn has_exited(child: &mut Child) -> std::io::Result<bool> {
    process_group::exit(child).map(|e| e.is_some())
}

/// A thread reading one output stream into a bounded buffer.
struct Capture {
    shared: Arc<Mutex<CaptureState>>,
    done: Receiver<()>,
}

#[derive(Default)]
struct CaptureState {
    captured: Captured,
    /// Set when the runner stops waiting: the thread keeps nothing more
    /// and stops at its next read.
    abandoned: bool,
}

impl Capture {
    fn spawn(mut stream: impl Read + Send + 'static) -> Capture {
        let shared = Arc::new(Mutex::new(CaptureState::default()));
        let (done_tx, done) = sync_channel(1);
        let state = shared.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut state = state.lock().expect("no panics while holding it");
                if state.abandoned {
                    break;
                }
                let captured = &mut state.captured;
                captured.total += n as u64;
                let room = KEPT_BYTES.saturating_sub(captured.kept.len());
                captured.kept.extend_from_slice(&buf[..n.min(room)]);
            }
            let _ = done_tx.send(());
        });
        Capture { shared, done }
    }

    /// What was read once the stream closed, or by `by` if it is still open.
    fn finish(self, by: Instant) -> Captured {
        let timeout = by.saturating_duration_since(Instant::now());
        let left_open = matches!(
            self.done.recv_timeout(timeout),
            Err(RecvTimeoutError::Timeout)
        );
        let mut state = self.shared.lock().expect("no panics while holding it");
        state.abandoned = true;
        let mut captured = std::mem::take(&mut state.captured);
        captured.left_open = left_open;
        captured
    }
}
