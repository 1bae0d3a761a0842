//! How the real-process runner skews node processes' wall clocks (the clock
//! nemesis): each node has an offset file, `<dir>/<node>.offset`, holding
//! its current offset in libfaketime's form (`+1.250000`, seconds), which
//! the runner replaces atomically (a new file renamed over the old) when
//! the offset changes — at a bump, at each edge of a strobe, at the reset.
//!
//! Who reads it:
//! - our nodes: the framework's stdin/stdout runtime, told the path in
//!   `MAELSTROM_CLOCK_OFFSET_FILE`
//!   ([`maelstrom_framework::clock_offset`]);
//! - a foreign node: libfaketime (Debian's `faketime`), preloaded with
//!   `LD_PRELOAD` and told the path in `FAKETIME_TIMESTAMP_FILE`, re-read
//!   on every call (`FAKETIME_NO_CACHE=1`: a strobe flips within a second)
//!   and with the monotonic clocks left alone
//!   (`FAKETIME_DONT_FAKE_MONOTONIC=1`), as in the simulator. Where the
//!   library is missing the run goes on with true clocks and its report
//!   says so.
//!
//! Nothing of this exists in a run without clock faults: no files, no
//! variables, no preload.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use maelstrom_framework::clock_offset::{OFFSET_FILE_ENV, format_offset};

use crate::clock::ClockSkew;

/// Where Debian and a source install put libfaketime (the first of each
/// multiarch directory is looked for under `/usr/lib/<triple>/faketime`).
const FAKETIME_DIRS: [&str; 3] = [
    "/usr/lib/faketime",
    "/usr/local/lib/faketime",
    "/usr/lib64/faketime",
];
const FAKETIME_LIBRARY: &str = "libfaketime.so.1";

/// How a node process learns its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockHook {
    /// Our framework reads the offset file itself.
    Framework,
    /// libfaketime, preloaded, fakes the node's wall clock from it.
    Faketime { library: PathBuf },
    /// A foreign node on a machine without libfaketime: its clock cannot
    /// be skewed.
    Unavailable,
}

impl ClockHook {
    /// The hook for our nodes (`ours`) or for a foreign node: libfaketime
    /// if this machine has it.
    pub fn for_node(ours: bool) -> ClockHook {
        if ours {
            return ClockHook::Framework;
        }
        match find_libfaketime() {
            Some(library) => ClockHook::Faketime { library },
            None => ClockHook::Unavailable,
        }
    }
}

/// libfaketime's library on this machine, if installed where Debian (the
/// `faketime` package) or `make install` puts it.
pub fn find_libfaketime() -> Option<PathBuf> {
    let multiarch = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("faketime"));
    let mut dirs: Vec<PathBuf> = multiarch.collect();
    dirs.sort();
    dirs.extend(FAKETIME_DIRS.iter().map(PathBuf::from));
    dirs.into_iter()
        .map(|dir| dir.join(FAKETIME_LIBRARY))
        .find(|lib| lib.is_file())
}

/// Every node's clock in a run with clock faults: its skew, and the offset
/// file that carries it to the process.
#[derive(Debug)]
pub struct NodeClocks {
    hook: ClockHook,
    files: Vec<PathBuf>,
    skews: Vec<ClockSkew>,
    /// The offset each file holds, in microseconds.
    written: Vec<i64>,
    notes: Vec<String>,
}

impl NodeClocks {
    /// The clocks of `node_ids`, each on time, with their offset files
    /// (written now, before any process starts) in `dir`.
    pub fn new(hook: ClockHook, dir: &Path, node_ids: &[String]) -> std::io::Result<NodeClocks> {
        std::fs::create_dir_all(dir)?;
        let files: Vec<PathBuf> = node_ids
            .iter()
            .map(|id| dir.join(format!("{id}.offset")))
            .collect();
        for file in &files {
            write_atomically(file, 0)?;
        }
        let mut notes = Vec::new();
        if hook == ClockHook::Unavailable {
            notes.push(
                "clock faults could not be applied: the nodes are not ours and libfaketime \
                 (Debian's `faketime` package) is not installed, so their clocks ran true; \
                 the fault list shows what would have been done"
                    .to_string(),
            );
        }
        let n = files.len();
        Ok(NodeClocks {
            hook,
            files,
            skews: vec![ClockSkew::OnTime; n],
            written: vec![0; n],
            notes,
        })
    }

    /// The variables that hand `node`'s offset file to its process.
    pub fn env(&self, node: usize) -> Vec<(OsString, OsString)> {
        let file = self.files[node].clone().into_os_string();
        match &self.hook {
            ClockHook::Framework => vec![(OFFSET_FILE_ENV.into(), file)],
            ClockHook::Faketime { library } => {
                let mut preload = library.clone().into_os_string();
                if let Some(more) = std::env::var_os("LD_PRELOAD") {
                    preload.push(":");
                    preload.push(more);
                }
                vec![
                    ("LD_PRELOAD".into(), preload),
                    ("FAKETIME_TIMESTAMP_FILE".into(), file),
                    ("FAKETIME_NO_CACHE".into(), "1".into()),
                    ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
                ]
            }
            ClockHook::Unavailable => Vec::new(),
        }
    }

    /// Skews `node`'s clock from `now` (run time) on, and writes its offset.
    pub fn set(&mut self, node: usize, skew: ClockSkew, now: Duration) {
        self.skews[node] = skew;
        self.write(node, now);
    }

    /// Writes every offset that has changed by `now` (a strobe's edge).
    pub fn update(&mut self, now: Duration) {
        for node in 0..self.skews.len() {
            self.write(node, now);
        }
    }

    /// When the next offset changes after `now`, if any will.
    pub fn next_change(&self, now: Duration) -> Option<Duration> {
        self.skews.iter().filter_map(|s| s.next_change(now)).min()
    }

    fn write(&mut self, node: usize, now: Duration) {
        let offset = self.skews[node].offset_at(now);
        if offset == self.written[node] {
            return;
        }
        match write_atomically(&self.files[node], offset) {
            Ok(()) => self.written[node] = offset,
            Err(e) => {
                let note = format!(
                    "the clock offset file {} could not be written ({e}): that node's \
                     clock faults were not all applied",
                    self.files[node].display()
                );
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
            }
        }
    }

    /// Removes what libfaketime leaves of process `pid` once it is reaped:
    /// a shared-memory segment and a semaphore named after the pid, which
    /// a killed process cannot remove (and which make a later process of
    /// the same pid fail to start under libfaketime).
    pub fn reaped(&self, pid: u32) {
        if let ClockHook::Faketime { .. } = self.hook {
            let _ = std::fs::remove_file(format!("/dev/shm/faketime_shm_{pid}"));
            let _ = std::fs::remove_file(format!("/dev/shm/sem.faketime_sem_{pid}"));
        }
    }

    /// What could not be done as asked.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }
}

/// Replaces `file` with `offset`: written beside it, then renamed over it,
/// so a reader sees the old offset or the new one, never part of either.
fn write_atomically(file: &Path, offset: i64) -> std::io::Result<()> {
    let mut temp = file.as_os_str().to_owned();
    temp.push(".new");
    std::fs::write(&temp, format_offset(offset))?;
    std::fs::rename(&temp, file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use maelstrom_framework::clock_offset::parse_offset;

    #[test]
    fn offset_files_follow_bumps_strobes_and_resets() {
        let dir = std::env::temp_dir().join(format!("node-clocks-{}", std::process::id()));
        let ids = vec!["n0".to_string(), "n1".to_string()];
        let mut clocks = NodeClocks::new(ClockHook::Framework, &dir, &ids).unwrap();
        let read = |n: &str| {
            let text = std::fs::read_to_string(dir.join(format!("{n}.offset"))).unwrap();
            parse_offset(&text).unwrap()
        };
        assert_eq!((read("n0"), read("n1")), (0, 0), "on time before anything");
        let ms = Duration::from_millis;
        clocks.set(0, ClockSkew::Offset { micros: -3_000 }, ms(10));
        let strobe = ClockSkew::Strobe {
            micros: 8_000,
            period: ms(20),
            since: ms(10),
        };
        clocks.set(1, strobe, ms(10));
        assert_eq!((read("n0"), read("n1")), (-3_000, 8_000));
        assert_eq!(clocks.next_change(ms(15)), Some(ms(30)));
        clocks.update(ms(30));
        assert_eq!(read("n1"), 0, "the strobe's second period");
        clocks.update(ms(50));
        assert_eq!(read("n1"), 8_000);
        clocks.set(0, ClockSkew::OnTime, ms(55));
        assert_eq!(read("n0"), 0);
        assert_eq!(clocks.env(0)[0].0, OFFSET_FILE_ENV);
        assert!(clocks.notes().is_empty());
        let foreign = NodeClocks::new(ClockHook::Unavailable, &dir, &ids).unwrap();
        assert!(foreign.env(0).is_empty());
        assert!(foreign.notes()[0].contains("could not be applied"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
