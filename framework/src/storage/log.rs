//! [`DurableLog`]: an append-only log of entries with snapshots, on a
//! [`Disk`].
//!
//! Files: `NAME.log` (entries since the snapshot) and `NAME.snap` (the
//! snapshot, replaced atomically). Both hold frames:
//!
//! ```text
//! len: u32 LE | crc32: u32 LE | seq: u64 LE | payload: JSON   (len = 8 + payload)
//! ```
//!
//! The checksum covers `seq` and the payload. Entries are numbered 1, 2,
//! 3, …; a snapshot's `seq` is the last entry it includes, so a crash
//! between writing a snapshot and emptying the log only leaves entries
//! that recovery skips.
//!
//! Recovery returns the snapshot and the entries after it, in order. A
//! frame cut short at the end of the log, or the last frame failing its
//! checksum, is a write the crash interrupted: it is dropped (and cut off
//! the file), and [`Recovered::torn_tail_bytes`] says how much. Anything
//! else that is not a valid frame — a bad checksum with frames after it,
//! a gap in the numbering, a payload that does not parse — is corruption:
//! [`RecoveryError`], never fewer entries in silence.

use std::fmt;
use std::io;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Disk;

/// Header bytes before a frame's body (`len`, `crc32`).
const HEADER: usize = 8;

/// The largest frame body recovery accepts: a longer length field is a
/// torn or corrupt header, not an entry.
const MAX_BODY: usize = 64 << 20;

/// A log of entries of type `T`, with snapshots of some type `S`.
pub struct DurableLog<T> {
    log: String,
    snap: String,
    next_seq: u64,
    _entries: PhantomData<fn(T)>,
}

/// What recovery found.
#[derive(Debug)]
pub struct Recovered<S, T> {
    /// The last snapshot, if one was taken.
    pub snapshot: Option<S>,
    /// The entries after it, in order.
    pub entries: Vec<T>,
    /// Bytes of a write the crash cut short, dropped from the log's end.
    pub torn_tail_bytes: u64,
}

/// A log that cannot be recovered safely.
#[derive(Debug)]
pub struct RecoveryError {
    pub file: String,
    /// Where the trouble starts.
    pub offset: u64,
    pub what: String,
}

impl fmt::Display for RecoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is corrupt at byte {}: {}; refusing to recover fewer entries than were \
             made durable (move the data directory away to start empty)",
            self.file, self.offset, self.what
        )
    }
}

impl std::error::Error for RecoveryError {}

/// One frame read from `bytes` at `at`.
enum Frame<'a> {
    Valid {
        seq: u64,
        payload: &'a [u8],
        end: usize,
    },
    /// Cut short, or the last frame and failing its checksum: a torn write.
    TornTail,
    Corrupt(String),
}

fn read_frame(bytes: &[u8], at: usize) -> Frame<'_> {
    let rest = &bytes[at..];
    if rest.len() < HEADER {
        return Frame::TornTail;
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if !(8..=MAX_BODY).contains(&len) || rest.len() < HEADER + len {
        // A length past the end (or absurd): the header or body was cut.
        return Frame::TornTail;
    }
    let body = &rest[HEADER..HEADER + len];
    let end = at + HEADER + len;
    if crc32fast::hash(body) != crc {
        return if end == bytes.len() {
            Frame::TornTail
        } else {
            Frame::Corrupt(format!(
                "a frame fails its checksum with {} more bytes after it",
                bytes.len() - end
            ))
        };
    }
    let seq = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
    Frame::Valid {
        seq,
        payload: &body[8..],
        end,
    }
}

/// The number of a valid frame that starts after `at` and follows entry
/// `after`, if any (a scan byte by byte: only on the way to declaring a
/// tail torn).
fn valid_frame_after(bytes: &[u8], at: usize, after: u64) -> Option<u64> {
    (at + 1..bytes.len()).find_map(|i| match read_frame(bytes, i) {
        Frame::Valid { seq, .. } if seq > after => Some(seq),
        _ => None,
    })
}

fn frame(seq: u64, payload: &[u8]) -> Vec<u8> {
    // One buffer: the header's place, then the body, then the header.
    let mut out = Vec::with_capacity(HEADER + 8 + payload.len());
    out.extend_from_slice(&[0; HEADER]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
    let len = (out.len() - HEADER) as u32;
    let crc = crc32fast::hash(&out[HEADER..]);
    out[0..4].copy_from_slice(&len.to_le_bytes());
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    out
}

impl<T: Serialize + DeserializeOwned> DurableLog<T> {
    /// Opens log `name` on `disk` and recovers what it holds.
    pub fn open<S: DeserializeOwned>(
        disk: &mut dyn Disk,
        name: &str,
    ) -> Result<(DurableLog<T>, Recovered<S, T>), RecoveryError> {
        let log = format!("{name}.log");
        let snap = format!("{name}.snap");
        let io_error = |file: &str, e: io::Error| RecoveryError {
            file: file.to_string(),
            offset: 0,
            what: format!("cannot read it: {e}"),
        };
        let corrupt = |file: &str, offset: usize, what: String| RecoveryError {
            file: file.to_string(),
            offset: offset as u64,
            what,
        };
        // The snapshot: written whole or not at all, so anything but one
        // valid frame is corruption.
        let mut through = 0;
        let mut snapshot = None;
        if let Some(bytes) = disk.read(&snap).map_err(|e| io_error(&snap, e))? {
            match read_frame(&bytes, 0) {
                Frame::Valid { seq, payload, end } if end == bytes.len() => {
                    let value = serde_json::from_slice(payload).map_err(|e| {
                        corrupt(
                            &snap,
                            HEADER + 8,
                            format!("the snapshot does not parse: {e}"),
                        )
                    })?;
                    through = seq;
                    snapshot = Some(value);
                }
                _ => return Err(corrupt(&snap, 0, "not one whole snapshot frame".into())),
            }
        }
        let bytes = disk
            .read(&log)
            .map_err(|e| io_error(&log, e))?
            .unwrap_or_default();
        let mut entries = Vec::new();
        let mut at = 0;
        let mut last = None;
        while at < bytes.len() {
            match read_frame(&bytes, at) {
                Frame::Valid { seq, payload, end } => {
                    if last.is_some_and(|l: u64| seq != l + 1) {
                        return Err(corrupt(
                            &log,
                            at,
                            format!("entry {seq} follows entry {}", last.unwrap_or(0)),
                        ));
                    }
                    if last.is_none() && seq > through + 1 {
                        return Err(corrupt(
                            &log,
                            at,
                            format!(
                                "the log starts at entry {seq}, the snapshot ends at {through}"
                            ),
                        ));
                    }
                    if seq > through {
                        let entry = serde_json::from_slice(payload).map_err(|e| {
                            corrupt(&log, at, format!("entry {seq} does not parse: {e}"))
                        })?;
                        entries.push(entry);
                    }
                    last = Some(seq);
                    at = end;
                }
                Frame::TornTail => {
                    // A torn write is the last thing in the log: a valid
                    // later entry behind it means a damaged frame instead.
                    let next = last.unwrap_or(through);
                    if let Some(later) = valid_frame_after(&bytes, at, next) {
                        return Err(corrupt(
                            &log,
                            at,
                            format!("a damaged frame, with entry {later} intact after it"),
                        ));
                    }
                    break;
                }
                Frame::Corrupt(what) => return Err(corrupt(&log, at, what)),
            }
        }
        let torn_tail_bytes = (bytes.len() - at) as u64;
        if last.is_some_and(|l| l < through) {
            // A crash between the snapshot and emptying the log, which
            // also took unsynced entries the snapshot includes: the log
            // holds only entries older than the snapshot. Empty it, or the
            // next append (numbered after the snapshot) would leave a gap.
            disk.truncate(&log, 0).map_err(|e| io_error(&log, e))?;
            last = None;
        } else if torn_tail_bytes > 0 {
            // Later appends must not follow the torn bytes.
            disk.truncate(&log, at as u64)
                .map_err(|e| io_error(&log, e))?;
        }
        let next_seq = last.unwrap_or(through).max(through) + 1;
        Ok((
            DurableLog {
                log,
                snap,
                next_seq,
                _entries: PhantomData,
            },
            Recovered {
                snapshot,
                entries,
                torn_tail_bytes,
            },
        ))
    }

    /// Appends `entry`; durable only after [`DurableLog::sync`].
    pub fn append(&mut self, disk: &mut dyn Disk, entry: &T) -> io::Result<()> {
        let payload = serde_json::to_vec(entry).map_err(io::Error::other)?;
        disk.append(&self.log, &frame(self.next_seq, &payload))?;
        self.next_seq += 1;
        Ok(())
    }

    /// Makes every entry appended so far durable.
    pub fn sync(&mut self, disk: &mut dyn Disk) -> io::Result<()> {
        disk.sync(&self.log)
    }

    /// Replaces the log by `snapshot` (which must include every entry
    /// appended so far): durable at once, and the log starts empty.
    pub fn compact<S: Serialize>(&mut self, disk: &mut dyn Disk, snapshot: &S) -> io::Result<()> {
        let payload = serde_json::to_vec(snapshot).map_err(io::Error::other)?;
        disk.replace(&self.snap, &frame(self.next_seq - 1, &payload))?;
        disk.truncate(&self.log, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SimDisk;

    type Log = DurableLog<u64>;

    fn open(disk: &mut SimDisk) -> Result<(Log, Recovered<Vec<u64>, u64>), RecoveryError> {
        Log::open(disk, "state")
    }

    /// A log of `n` entries 1..=n, each synced, and its bytes.
    fn recorded(n: u64) -> (SimDisk, Vec<u8>) {
        let mut disk = SimDisk::new();
        let (mut log, _) = open(&mut disk).unwrap();
        for v in 1..=n {
            log.append(&mut disk, &(v * 1000)).unwrap();
            log.sync(&mut disk).unwrap();
        }
        let bytes = disk.contents("state.log").unwrap();
        (disk, bytes)
    }

    fn disk_with(log: &[u8]) -> SimDisk {
        let mut disk = SimDisk::new();
        disk.append("state.log", log).unwrap();
        disk.sync("state.log").unwrap();
        disk
    }

    #[test]
    fn a_crash_at_every_byte_recovers_a_prefix_never_garbage() {
        let (_, bytes) = recorded(20);
        // Where each entry's frame ends.
        let mut ends = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let Frame::Valid { end, .. } = read_frame(&bytes, at) else {
                panic!("recorded frames are valid")
            };
            ends.push(end);
            at = end;
        }
        for cut in 0..=bytes.len() {
            let mut disk = disk_with(&bytes[..cut]);
            let (mut log, got) = open(&mut disk).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
            let whole = ends.iter().filter(|&&e| e <= cut).count() as u64;
            let want: Vec<u64> = (1..=whole).map(|v| v * 1000).collect();
            assert_eq!(got.entries, want, "cut at {cut}");
            let good = ends
                .iter()
                .copied()
                .filter(|&e| e <= cut)
                .max()
                .unwrap_or(0);
            assert_eq!(got.torn_tail_bytes, (cut - good) as u64, "cut at {cut}");
            // The torn bytes are gone: the next entry follows the last good
            // one, and a second recovery sees it.
            log.append(&mut disk, &7).unwrap();
            log.sync(&mut disk).unwrap();
            let (_, again) = open(&mut disk).unwrap();
            assert_eq!(again.entries.last(), Some(&7), "cut at {cut}");
            assert_eq!(again.entries.len() as u64, whole + 1);
            assert_eq!(again.torn_tail_bytes, 0);
        }
    }

    #[test]
    fn a_flipped_byte_inside_the_log_is_an_error_not_fewer_entries() {
        let (_, bytes) = recorded(5);
        let last_frame = bytes.len() - (HEADER + 8 + 4); // entry 5000 is 4 bytes
        for i in 0..bytes.len() {
            for flip in [0x01, 0x40, 0xff] {
                let mut bad = bytes.clone();
                bad[i] ^= flip;
                match open(&mut disk_with(&bad)) {
                    Err(e) => {
                        assert!(i < last_frame, "byte {i} of the last frame: {e}");
                        assert!(
                            e.to_string().contains("state.log is corrupt at byte"),
                            "{e}"
                        );
                    }
                    // Only damage to the last frame can pass for a torn
                    // write, and then only that frame is dropped.
                    Ok((_, got)) => {
                        assert!(i >= last_frame, "byte {i} ^ {flip}: {:?}", got.entries);
                        assert_eq!(got.entries, [1000, 2000, 3000, 4000]);
                        assert!(got.torn_tail_bytes > 0);
                    }
                }
            }
        }
        // A checksum failure with frames after it is corruption, by name.
        let mut bad = bytes.clone();
        bad[HEADER + 9] ^= 1;
        let e = open(&mut disk_with(&bad)).err().expect("corrupt");
        assert!(e.to_string().contains("fails its checksum"), "{e}");
    }

    #[test]
    fn a_snapshot_replaces_the_entries_and_survives_a_crash_before_the_log_is_emptied() {
        let mut disk = SimDisk::new();
        let (mut log, _) = open(&mut disk).unwrap();
        for v in [1, 2, 3] {
            log.append(&mut disk, &v).unwrap();
        }
        log.sync(&mut disk).unwrap();
        let before = disk.contents("state.log").unwrap();
        log.compact(&mut disk, &vec![1u64, 2, 3]).unwrap();
        log.append(&mut disk, &4).unwrap();
        log.sync(&mut disk).unwrap();
        let (_, got) = open(&mut disk).unwrap();
        assert_eq!(got.snapshot, Some(vec![1, 2, 3]));
        assert_eq!(got.entries, vec![4]);
        // The crash came after the snapshot, before the log was emptied:
        // entries 1..=3 are still in the log, and are skipped.
        let mut crashed = SimDisk::new();
        crashed
            .replace("state.snap", &disk.contents("state.snap").unwrap())
            .unwrap();
        crashed.append("state.log", &before).unwrap();
        crashed.sync("state.log").unwrap();
        let (mut log, got) = open(&mut crashed).unwrap();
        assert_eq!((got.snapshot, got.entries), (Some(vec![1, 2, 3]), vec![]));
        log.append(&mut crashed, &4).unwrap();
        let (_, got) = open(&mut crashed).unwrap();
        assert_eq!(got.entries, vec![4], "numbering goes on after the snapshot");
    }

    #[test]
    fn a_crash_mid_compaction_that_also_took_unsynced_entries_still_recovers() {
        let mut disk = SimDisk::new();
        let (mut log, _) = open(&mut disk).unwrap();
        for v in 1..=3 {
            log.append(&mut disk, &v).unwrap();
        }
        log.sync(&mut disk).unwrap();
        let synced = disk.contents("state.log").unwrap();
        for v in 4..=5 {
            log.append(&mut disk, &v).unwrap();
        }
        log.compact(&mut disk, &vec![1u64, 2, 3, 4, 5]).unwrap();
        // The crash: the snapshot (through 5) is written, the log not yet
        // emptied, and its unsynced entries 4 and 5 are gone.
        let mut crashed = SimDisk::new();
        crashed
            .replace("state.snap", &disk.contents("state.snap").unwrap())
            .unwrap();
        crashed.replace("state.log", &synced).unwrap();
        let (mut log, got) = open(&mut crashed).unwrap();
        assert_eq!(
            (got.snapshot, got.entries),
            (Some(vec![1, 2, 3, 4, 5]), vec![])
        );
        log.append(&mut crashed, &6).unwrap();
        log.sync(&mut crashed).unwrap();
        let (_, got) = open(&mut crashed).unwrap();
        assert_eq!(got.entries, vec![6], "no gap after the snapshot");
    }

    #[test]
    fn a_bad_snapshot_or_a_gap_or_an_unparsable_entry_is_an_error() {
        let mut disk = SimDisk::new();
        disk.replace("state.snap", b"not a frame").unwrap();
        assert!(
            open(&mut disk)
                .err()
                .unwrap()
                .to_string()
                .contains("state.snap")
        );
        let gap = [frame(1, b"1"), frame(3, b"3"), frame(4, b"4")].concat();
        let e = open(&mut disk_with(&gap)).err().unwrap();
        assert!(e.to_string().contains("entry 3 follows entry 1"), "{e}");
        let unparsable = [frame(1, b"\"x\""), frame(2, b"2")].concat();
        let e = open(&mut disk_with(&unparsable)).err().unwrap();
        assert!(e.to_string().contains("entry 1 does not parse"), "{e}");
    }

    #[test]
    fn unsynced_entries_may_be_lost_in_a_crash_synced_ones_never() {
        use rand::SeedableRng;
        for seed in 0..50 {
            let mut disk = SimDisk::new();
            let (mut log, _) = open(&mut disk).unwrap();
            for v in 1..=10u64 {
                log.append(&mut disk, &v).unwrap();
                if v <= 6 {
                    log.sync(&mut disk).unwrap();
                }
            }
            disk.crash(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let (_, got) = open(&mut disk).unwrap();
            assert!(got.entries.len() >= 6, "seed {seed}: {:?}", got.entries);
            let want: Vec<u64> = (1..=got.entries.len() as u64).collect();
            assert_eq!(got.entries, want);
        }
    }
}
