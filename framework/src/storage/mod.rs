//! Durable state for nodes: a [`Disk`] of named files, and on it the
//! [`DurableLog`], an append-only log with snapshots that survives a
//! crash at any byte.
//!
//! A node acknowledges an operation only once it is durable (or
//! replicated: the choice is the workload's). With the log that means:
//! [`DurableLog::append`], then [`DurableLog::sync`], then the reply.
//!
//! Two disks stand behind the same trait:
//! - [`FileDisk`], a directory (`--data-dir`): appends are written at once
//!   and made durable by `fsync`; snapshots replace their file atomically
//!   (written aside, synced, renamed, the directory synced).
//! - [`SimDisk`], the simulator's: what was synced survives a kill, what
//!   was not survives as a prefix the seed chooses (none, some, all) — a
//!   crash that cuts a write short, as a real one can.

mod file;
mod log;
mod sim;
mod starts;

pub use file::FileDisk;
pub use log::{DurableLog, Recovered, RecoveryError};
pub use sim::SimDisk;
pub use starts::count_start;

use std::io;

/// Named files a node keeps across crashes.
pub trait Disk: Send {
    /// The whole of file `name`, or `None` if there is none.
    fn read(&mut self, name: &str) -> io::Result<Option<Vec<u8>>>;
    /// Appends `bytes` to `name` (created if missing). Not durable until
    /// [`Disk::sync`].
    fn append(&mut self, name: &str, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything appended to `name` so far durable.
    fn sync(&mut self, name: &str) -> io::Result<()>;
    /// Replaces `name` by `bytes`, atomically and durably: after a crash
    /// it holds either the old contents or the new, whole.
    fn replace(&mut self, name: &str, bytes: &[u8]) -> io::Result<()>;
    /// Cuts `name` to its first `len` bytes, durably.
    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()>;
}

/// A file name a disk accepts: letters, digits, `.`, `-`, `_`, not empty,
/// not starting with `.` (no paths, nothing hidden).
pub fn check_name(name: &str) -> io::Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a file name a node may use (letters, digits, . - _)"),
        ))
    }
}
