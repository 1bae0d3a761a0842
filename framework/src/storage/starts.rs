//! How often a node started before on its disk: its *incarnation*.
//!
//! The runtime counts each start (at `init`, before the workload's init)
//! in a one-line file, `starts`, replaced atomically. A restarted process
//! learns from it that it is not the first on this disk, so it can tell
//! its peers (the replicator's `incarnation`), and its msg_ids start in a
//! range of their own (see [`crate::node::Ctx::incarnation`]).

use super::{Disk, RecoveryError};

/// The file counting a node's starts.
const STARTS: &str = "starts";

/// Reads how often the node started before, and counts this start,
/// durably.
pub fn count_start(disk: &mut dyn Disk) -> Result<u64, RecoveryError> {
    let error = |what: String| RecoveryError {
        file: STARTS.into(),
        offset: 0,
        what,
    };
    let before = match disk
        .read(STARTS)
        .map_err(|e| error(format!("cannot read it: {e}")))?
    {
        None => 0,
        Some(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .ok_or_else(|| error("not a count of starts".into()))?,
    };
    let now = before.saturating_add(1).to_string();
    disk.replace(STARTS, now.as_bytes())
        .map_err(|e| error(format!("cannot write it: {e}")))?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::SimDisk;

    #[test]
    fn each_start_is_counted_and_garbage_is_an_error() {
        let mut disk = SimDisk::new();
        assert_eq!(count_start(&mut disk).unwrap(), 0);
        assert_eq!(count_start(&mut disk).unwrap(), 1);
        assert_eq!(count_start(&mut disk).unwrap(), 2);
        disk.replace(STARTS, b"two").unwrap();
        let err = count_start(&mut disk).unwrap_err();
        assert!(err.to_string().contains("not a count of starts"), "{err}");
    }
}
