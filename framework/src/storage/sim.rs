//! [`SimDisk`]: the simulator's disk, which outlives the node processes
//! that use it and crashes as a real one can.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use rand::Rng;

use super::{Disk, check_name};

#[derive(Debug, Default, Clone)]
struct SimFile {
    /// What a crash cannot take.
    synced: Vec<u8>,
    /// Appended since the last sync: a crash keeps a prefix of it.
    unsynced: Vec<u8>,
}

/// A node's disk in the simulator. Clones share the files: the simulator
/// keeps one and hands a clone to each incarnation of the node, so what
/// one incarnation made durable the next one reads.
#[derive(Debug, Default, Clone)]
pub struct SimDisk {
    files: Arc<Mutex<BTreeMap<String, SimFile>>>,
}

impl SimDisk {
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    /// The node crashed: every file keeps what was synced, and of what
    /// was appended since, a prefix of a length `rng` draws (nothing, part
    /// of a write, or all of it).
    pub fn crash(&self, rng: &mut impl Rng) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        for file in files.values_mut() {
            let unsynced = std::mem::take(&mut file.unsynced);
            let kept = match unsynced.len() {
                0 => 0,
                n => rng.random_range(0..=n),
            };
            file.synced.extend_from_slice(&unsynced[..kept]);
        }
    }

    /// The bytes a reader would see in `name` now (synced or not).
    pub fn contents(&self, name: &str) -> Option<Vec<u8>> {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files
            .get(name)
            .map(|f| [&f.synced[..], &f.unsynced[..]].concat())
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, SimFile>) -> T) -> T {
        f(&mut self.files.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Disk for SimDisk {
    fn read(&mut self, name: &str) -> io::Result<Option<Vec<u8>>> {
        check_name(name)?;
        Ok(self.contents(name))
    }

    fn append(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        check_name(name)?;
        self.with(|files| {
            files
                .entry(name.to_string())
                .or_default()
                .unsynced
                .extend_from_slice(bytes)
        });
        Ok(())
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        self.with(|files| {
            if let Some(f) = files.get_mut(name) {
                // `append` keeps `unsynced`'s buffer for the next writes.
                f.synced.append(&mut f.unsynced);
            }
        });
        Ok(())
    }

    fn replace(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        check_name(name)?;
        self.with(|files| {
            files.insert(
                name.to_string(),
                SimFile {
                    synced: bytes.to_vec(),
                    unsynced: Vec::new(),
                },
            )
        });
        Ok(())
    }

    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        self.with(|files| {
            if let Some(f) = files.get_mut(name) {
                let mut all = std::mem::take(&mut f.synced);
                all.append(&mut f.unsynced);
                all.truncate(len as usize);
                f.synced = all;
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_crash_keeps_what_was_synced_and_a_prefix_of_the_rest() {
        let disk = SimDisk::new();
        let mut d = disk.clone();
        d.append("log", b"durable").unwrap();
        d.sync("log").unwrap();
        d.append("log", b"0123456789").unwrap();
        let mut kept = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let copy = SimDisk::new();
            copy.with(|f| *f = disk.with(|g| g.clone()));
            copy.crash(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let after = copy.contents("log").unwrap();
            assert!(after.starts_with(b"durable"), "{after:?}");
            assert!(b"durable0123456789".starts_with(&after));
            kept.insert(after.len());
        }
        // Nothing, all, and cuts in between all happen.
        assert!(
            kept.contains(&7) && kept.contains(&17) && kept.len() > 5,
            "{kept:?}"
        );
    }

    #[test]
    fn clones_share_files_and_replace_is_durable_at_once() {
        let disk = SimDisk::new();
        let mut a = disk.clone();
        a.replace("snap", b"v1").unwrap();
        disk.crash(&mut rand::rngs::StdRng::seed_from_u64(1));
        let mut b = disk.clone();
        assert_eq!(b.read("snap").unwrap().as_deref(), Some(&b"v1"[..]));
        assert!(b.read("../etc").is_err(), "no paths");
    }
}
