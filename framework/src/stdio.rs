//! The runtime that drives one node on stdin/stdout in real time.
//!
//! stdin is read on its own thread, which cuts it into lines (refusing any
//! longer than the limit without holding it in memory) and hands batches of
//! whole lines to the event loop. The loop owns the node: it handles the
//! lines, fires due timers between batches, and writes the node's output
//! when it has nothing more to do right now (or when a lot has piled up).
//! At end of input it stops: no more timers, output flushed, `Ok(())`.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::clock_offset::OffsetFile;
use crate::log::Level;
use crate::node::{Now, Process};

/// The default longest input line: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// Output is written once this much has piled up, even while input keeps
/// coming, so a busy node neither stalls its peers nor grows its buffer.
const FLUSH_AT_BYTES: usize = 64 * 1024;

/// How much of an over-long line is kept for the log.
const TOO_LONG_HEAD_BYTES: usize = 200;

/// How much stdin is read at a time.
const READ_BYTES: usize = 64 * 1024;

/// About how much input may wait between the reader and the event loop. A
/// batch holds what one read completed plus the line it finished, so up to
/// `max_line_bytes + READ_BYTES`; the queue holds as many batches as fit
/// in this, and at least two, so that reading and handling overlap.
const QUEUE_BYTES: usize = 4 << 20;

/// The reader's queue, bounded in bytes rather than in batches: a count
/// alone would let 256 batches of a maximal line each (256 MiB at the
/// default limit) pile up behind a slow node.
fn input_queue(max_line_bytes: usize) -> (SyncSender<Input>, Receiver<Input>) {
    let batch = max_line_bytes.saturating_add(READ_BYTES);
    sync_channel((QUEUE_BYTES / batch).max(2))
}

enum Input {
    /// Whole lines, each ended by `\n`.
    Lines(Vec<u8>),
    /// A line longer than the limit, dropped; its length and first bytes.
    TooLong {
        len: usize,
        limit: usize,
        head: Vec<u8>,
    },
    Failed(io::Error),
}

/// Runs `node` on this process's stdin and stdout until stdin ends.
pub fn run(node: &mut dyn Process, max_line_bytes: usize) -> io::Result<()> {
    run_with(node, io::stdin(), io::stdout().lock(), max_line_bytes)
}

/// Runs `node` on the given input and output until the input ends.
pub fn run_with(
    node: &mut dyn Process,
    input: impl Read + Send + 'static,
    mut output: impl Write,
    max_line_bytes: usize,
) -> io::Result<()> {
    let (tx, rx) = input_queue(max_line_bytes);
    let reader = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || LineReader::new(tx, max_line_bytes).run(input))?;
    let mut clock = Clock::new();
    let result = event_loop(node, &rx, &mut output, &mut clock);
    let flushed = write_out(node, &mut output).and_then(|()| output.flush());
    // At the end of input the reader has finished, or is about to: wait for
    // it, so that no thread outlives the run (the fuzzer found one still
    // exiting). After an output error it may be blocked reading; dropping
    // the queue stops it at its next send.
    drop(rx);
    if result.is_ok() {
        let _ = reader.join();
    }
    result.and(flushed)
}

fn event_loop(
    node: &mut dyn Process,
    rx: &Receiver<Input>,
    output: &mut impl Write,
    clock: &mut Clock,
) -> io::Result<()> {
    loop {
        if node
            .next_deadline()
            .is_some_and(|d| d <= clock.now().elapsed)
        {
            node.on_wake(clock.now());
        }
        if node.output().len() >= FLUSH_AT_BYTES {
            write_out(node, output)?;
        }
        let input = match rx.try_recv() {
            Ok(input) => input,
            Err(TryRecvError::Disconnected) => return Ok(()),
            Err(TryRecvError::Empty) => {
                // Nothing more to do right now: let the output go.
                write_out(node, output)?;
                output.flush()?;
                let received = match node.next_deadline() {
                    Some(deadline) => {
                        let wait = deadline.saturating_sub(clock.now().elapsed);
                        rx.recv_timeout(wait)
                    }
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match received {
                    Ok(input) => input,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return Ok(()),
                }
            }
        };
        match input {
            Input::Lines(lines) => {
                let now = clock.now();
                let mut start = 0;
                for end in memchr::memchr_iter(b'\n', &lines) {
                    node.on_line(now, &lines[start..end]);
                    start = end + 1;
                }
            }
            Input::TooLong { len, limit, head } => crate::log!(
                Level::Warn,
                node.node_id().unwrap_or("node"),
                "dropped an input line of {len} bytes (limit {limit}, see --max-line-bytes); it began: {}",
                String::from_utf8_lossy(&head)
            ),
            Input::Failed(e) => {
                crate::log!(
                    Level::Error,
                    node.node_id().unwrap_or("node"),
                    "reading stdin failed: {e}"
                );
                return Ok(());
            }
        }
    }
}

fn write_out(node: &mut dyn Process, output: &mut impl Write) -> io::Result<()> {
    let out = node.output();
    if !out.is_empty() {
        output.write_all(out)?;
        out.clear();
    }
    Ok(())
}

/// The node's clocks: monotonic since the start, and the wall clock plus
/// the offset a runner imposes, if it names an offset file
/// ([`crate::clock_offset`]).
struct Clock {
    start: Instant,
    offset: Option<OffsetFile>,
}

impl Clock {
    fn new() -> Self {
        Clock {
            start: Instant::now(),
            offset: OffsetFile::from_env(),
        }
    }

    fn now(&mut self) -> Now {
        let monotonic = Instant::now();
        let mut unix_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        if let Some(offset) = &mut self.offset {
            unix_micros = unix_micros.saturating_add_signed(offset.offset_micros(monotonic));
        }
        Now {
            elapsed: monotonic.saturating_duration_since(self.start),
            unix_micros,
        }
    }
}

/// Cuts input into lines of at most `max` bytes and sends them in batches.
struct LineReader {
    tx: SyncSender<Input>,
    max: usize,
    /// The start of a line whose end has not been read yet.
    partial: Vec<u8>,
    /// Set while skipping the rest of an over-long line: its length so far
    /// and its first bytes.
    skipping: Option<(usize, Vec<u8>)>,
    batch: Vec<u8>,
}

impl LineReader {
    fn new(tx: SyncSender<Input>, max: usize) -> Self {
        LineReader {
            tx,
            max,
            partial: Vec::new(),
            skipping: None,
            batch: Vec::new(),
        }
    }

    fn run(mut self, mut input: impl Read) {
        let mut buf = vec![0u8; READ_BYTES];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.send_batch();
                    let _ = self.tx.send(Input::Failed(e));
                    return;
                }
            };
            self.feed(&buf[..n]);
            if !self.send_batch() {
                return; // the event loop has gone
            }
        }
        // A last line without a newline still counts.
        self.end_line(&[]);
        self.send_batch();
    }

    fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(pos) = memchr::memchr(b'\n', chunk) {
            self.end_line(&chunk[..pos]);
            chunk = &chunk[pos + 1..];
        }
        self.continue_line(chunk);
    }

    fn continue_line(&mut self, part: &[u8]) {
        if let Some((len, _)) = &mut self.skipping {
            *len += part.len();
        } else if self.partial.len() + part.len() > self.max {
            let len = self.partial.len() + part.len();
            let mut head = std::mem::take(&mut self.partial);
            head.extend_from_slice(&part[..part.len().min(TOO_LONG_HEAD_BYTES)]);
            head.truncate(TOO_LONG_HEAD_BYTES);
            self.skipping = Some((len, head));
        } else {
            self.partial.extend_from_slice(part);
        }
    }

    fn end_line(&mut self, tail: &[u8]) {
        // The common case, a whole line within one read: straight into the
        // batch, without passing through `partial`.
        if self.partial.is_empty() && self.skipping.is_none() && tail.len() <= self.max {
            if !tail.is_empty() {
                self.batch.extend_from_slice(tail);
                self.batch.push(b'\n');
            }
            return;
        }
        self.continue_line(tail);
        if let Some((len, head)) = self.skipping.take() {
            self.send_batch();
            let limit = self.max;
            let _ = self.tx.send(Input::TooLong { len, limit, head });
        } else if !self.partial.is_empty() {
            self.batch.extend_from_slice(&self.partial);
            self.batch.push(b'\n');
            self.partial.clear();
        }
    }

    /// Sends the lines gathered so far; false once the receiver is gone.
    fn send_batch(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::take(&mut self.batch);
        self.tx.send(Input::Lines(batch)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// However reads split the input, the reader hands on exactly its
        /// non-empty lines within the limit, in order, and reports each
        /// longer one with its length.
        #[test]
        fn lines_are_cut_the_same_whatever_the_reads(
            lines in proptest::collection::vec(
                proptest::collection::vec(b'a'..=b'z', 0..40),
                0..12,
            ),
            reads in proptest::collection::vec(1usize..50, 1..20),
            ended in proptest::bool::ANY,
        ) {
            let max = 16;
            let mut input = lines.join(&b'\n');
            if ended {
                input.push(b'\n');
            }
            /// Hands out the input in reads of the given sizes, cycling.
            struct Reads { data: Vec<u8>, at: usize, sizes: Vec<usize>, next: usize }
            impl Read for Reads {
                fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                    let size = self.sizes[self.next % self.sizes.len()].min(buf.len());
                    self.next += 1;
                    let n = size.min(self.data.len() - self.at);
                    buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
                    self.at += n;
                    Ok(n)
                }
            }
            let (tx, rx) = input_queue(max);
            let reads = Reads { data: input, at: 0, sizes: reads, next: 0 };
            let reader = std::thread::spawn(move || LineReader::new(tx, max).run(reads));
            let mut got = Vec::new();
            for item in rx {
                match item {
                    Input::Lines(batch) => {
                        for line in batch.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                            got.push(Ok(line.to_vec()));
                        }
                    }
                    Input::TooLong { len, .. } => got.push(Err(len)),
                    Input::Failed(e) => panic!("{e}"),
                }
            }
            reader.join().unwrap();
            let want: Vec<_> = lines
                .iter()
                .filter(|l| !l.is_empty())
                .map(|l| if l.len() > max { Err(l.len()) } else { Ok(l.clone()) })
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn queued_input_is_bounded_in_bytes() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        /// Endless lines just under the limit, counting what was read.
        struct Lines {
            max: usize,
            at: usize,
            read: Arc<AtomicUsize>,
        }
        impl Read for Lines {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                for b in buf.iter_mut() {
                    self.at = (self.at + 1) % self.max;
                    *b = if self.at == 0 { b'\n' } else { b'x' };
                }
                self.read.fetch_add(buf.len(), Ordering::Relaxed);
                Ok(buf.len())
            }
        }

        // Nobody handles the lines: the reader must stop reading once the
        // queue is full, not pile up batches of maximal lines.
        let max = 1 << 20;
        let read = Arc::new(AtomicUsize::new(0));
        let input = Lines {
            max,
            at: 0,
            read: read.clone(),
        };
        let (tx, rx) = input_queue(max);
        let reader = std::thread::spawn(move || LineReader::new(tx, max).run(input));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let read = read.load(Ordering::Relaxed);
        // The queue, plus the line being cut and one read buffer.
        let bound = QUEUE_BYTES.max(2 * (max + READ_BYTES)) + max + READ_BYTES;
        assert!(read > max && read <= bound, "{read} bytes read");
        drop(rx);
        reader.join().unwrap();
    }
}
