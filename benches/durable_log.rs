//! Appends per second to the framework's durable log on the real file
//! system (`FileDisk`), each made durable (fsync) before the next, and in
//! batches of 10 and 100 per fsync: what a node that acknowledges only
//! durable operations can sustain on this disk.
//!
//! `cargo bench --bench durable_log` (DIR: a folder on the disk to measure;
//! default the system's temporary folder)

use std::time::Instant;

use maelstrom_framework::storage::{Disk, DurableLog, FileDisk};

/// An entry the size of a small operation's record.
#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    node: String,
    delta: i64,
    seq: u64,
}

fn main() {
    let base = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("durable-log-bench-{}", std::process::id()));
    println!("durable log on {}", base.display());
    println!(
        "{:>10} {:>10} {:>12} {:>14}",
        "entries", "per fsync", "seconds", "appends/s"
    );
    for (entries, batch) in [(2_000u64, 1u64), (20_000, 10), (100_000, 100)] {
        let _ = std::fs::remove_dir_all(&dir);
        let mut disk = FileDisk::open(&dir).expect("a data directory");
        let (mut log, _) = DurableLog::<Entry>::open::<()>(&mut disk, "bench").expect("empty");
        let start = Instant::now();
        for seq in 1..=entries {
            let entry = Entry {
                node: "n1".into(),
                delta: -3,
                seq,
            };
            log.append(&mut disk, &entry).expect("append");
            if seq % batch == 0 {
                log.sync(&mut disk).expect("fsync");
            }
        }
        let secs = start.elapsed().as_secs_f64();
        // Recovery reads back every entry (and is timed apart).
        let start = Instant::now();
        let (_, got) =
            DurableLog::<Entry>::open::<()>(&mut disk as &mut dyn Disk, "bench").expect("recovers");
        assert_eq!(got.entries.len() as u64, entries);
        let recovery = start.elapsed().as_secs_f64();
        println!(
            "{entries:>10} {batch:>10} {secs:>12.3} {:>14.0}   (recovery {:.3} s)",
            entries as f64 / secs,
            recovery
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
