//! The wall-clock offset a test runner imposes on a node process: how the
//! real-process runner's clock nemesis reaches our nodes.
//!
//! The runner names a file in [`OFFSET_FILE_ENV`] and writes the node's
//! current offset into it, replacing it atomically (a new file renamed over
//! the old) whenever the offset changes; the stdin/stdout runtime adds the
//! offset to every wall-clock reading ([`crate::Ctx::unix_micros`]). The
//! monotonic clock ([`crate::Ctx::now`], timers) is untouched, as on a
//! machine whose clock is stepped: `CLOCK_MONOTONIC` does not move.
//!
//! Why a file: stdin and stdout belong to the protocol; a signal carries no
//! value and interrupts the node; a file works for any runner, costs a read
//! at most every [`REREAD_EVERY`], and is the very interface libfaketime
//! reads (`FAKETIME_TIMESTAMP_FILE`), so one file per node serves our nodes
//! and foreign ones alike. Its text is libfaketime's relative offset in
//! seconds, `+1.250000` or `-0.004000` ([`format_offset`]).
//!
//! Without the variable nothing is read and nothing added. A file that is
//! missing or garbled leaves the last offset in force, said once on stderr:
//! bad input never takes the node down.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::log::Level;

/// The environment variable that names a node's offset file.
pub const OFFSET_FILE_ENV: &str = "MAELSTROM_CLOCK_OFFSET_FILE";

/// How stale a read of the file may be: a strobe's shortest period is
/// several times this, and a busy node reads it at most a thousand times a
/// second.
pub const REREAD_EVERY: Duration = Duration::from_millis(1);

/// `micros` as the file holds it: signed seconds with six decimals, the
/// form libfaketime takes for a relative offset (`+1.250000`, `-0.004000`).
pub fn format_offset(micros: i64) -> String {
    let sign = if micros < 0 { '-' } else { '+' };
    let abs = micros.unsigned_abs();
    format!("{sign}{}.{:06}\n", abs / 1_000_000, abs % 1_000_000)
}

/// The offset in microseconds that `text` gives ([`format_offset`]'s form,
/// surrounding whitespace allowed, at most six decimals counted); `None`
/// when it is not one.
pub fn parse_offset(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, rest) = match text.as_bytes().first()? {
        b'+' => (false, &text[1..]),
        b'-' => (true, &text[1..]),
        _ => return None,
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = match rest.split_once('.') {
        Some((whole, fraction)) if digits(fraction) => (whole, fraction),
        Some(_) => return None,
        None => (rest, ""),
    };
    if !digits(whole) {
        return None;
    }
    let mut micros: i64 = whole.parse::<i64>().ok()?.checked_mul(1_000_000)?;
    let mut scale = 100_000;
    for b in fraction.bytes().take(6) {
        micros = micros.checked_add(i64::from(b - b'0') * scale)?;
        scale /= 10;
    }
    Some(if negative { -micros } else { micros })
}

/// A node's offset file, read at most every [`REREAD_EVERY`].
#[derive(Debug)]
pub struct OffsetFile {
    path: PathBuf,
    micros: i64,
    read_at: Option<Instant>,
    /// Whether a bad read was reported (once is enough).
    complained: bool,
}

impl OffsetFile {
    /// The file [`OFFSET_FILE_ENV`] names, if it is set.
    pub fn from_env() -> Option<OffsetFile> {
        let path = std::env::var_os(OFFSET_FILE_ENV)?;
        Some(OffsetFile::at(PathBuf::from(path)))
    }

    /// The offset file at `path`; offset 0 until it says otherwise.
    pub fn at(path: PathBuf) -> OffsetFile {
        OffsetFile {
            path,
            micros: 0,
            read_at: None,
            complained: false,
        }
    }

    /// The offset in force at `now` (monotonic), re-reading the file if the
    /// last read is older than [`REREAD_EVERY`].
    pub fn offset_micros(&mut self, now: Instant) -> i64 {
        let fresh = self
            .read_at
            .is_some_and(|at| now.saturating_duration_since(at) < REREAD_EVERY);
        if !fresh {
            self.read_at = Some(now);
            self.reread();
        }
        self.micros
    }

    fn reread(&mut self) {
        let problem = match std::fs::read_to_string(&self.path) {
            Ok(text) => match parse_offset(&text) {
                Some(micros) => {
                    self.micros = micros;
                    return;
                }
                None => format!("holds {:?}, not an offset like +1.250000", text.trim()),
            },
            Err(e) => format!("cannot be read ({e})"),
        };
        if !self.complained {
            self.complained = true;
            crate::log!(
                Level::Warn,
                "clock",
                "the clock offset file {} ({OFFSET_FILE_ENV}) {problem}; keeping the offset of {} µs \
                 (said once)",
                self.path.display(),
                self.micros
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_back_as_written_and_bad_text_is_none() {
        for micros in [
            0,
            1,
            -1,
            4_000,
            -250_000,
            1_250_000,
            -262_144_000,
            i64::MAX / 2,
        ] {
            assert_eq!(
                parse_offset(&format_offset(micros)),
                Some(micros),
                "{micros}"
            );
        }
        assert_eq!(format_offset(-250_000), "-0.250000\n");
        assert_eq!(format_offset(5_000_000), "+5.000000\n");
        assert_eq!(parse_offset(" +2.5 "), Some(2_500_000));
        assert_eq!(parse_offset("-3"), Some(-3_000_000));
        assert_eq!(parse_offset("+0.1234567"), Some(123_456), "past µs is cut");
        for bad in [
            "",
            "5",
            "+",
            "+.5",
            "+1.",
            "+1.x",
            "++1",
            "+1e3",
            "+1 2",
            "+99999999999999999",
        ] {
            assert_eq!(parse_offset(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_file_is_reread_once_stale_and_a_bad_one_keeps_the_last_offset() {
        let dir = std::env::temp_dir().join(format!("clock-offset-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("n0");
        let mut file = OffsetFile::at(path.clone());
        let t0 = Instant::now();
        // Missing: offset 0, no panic.
        assert_eq!(file.offset_micros(t0), 0);
        std::fs::write(&path, format_offset(-40_000)).unwrap();
        assert_eq!(file.offset_micros(t0), 0, "read less than 1 ms ago");
        let t1 = t0 + REREAD_EVERY;
        assert_eq!(file.offset_micros(t1), -40_000);
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(file.offset_micros(t1 + REREAD_EVERY), -40_000, "kept");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file.offset_micros(t1 + 2 * REREAD_EVERY), -40_000, "kept");
        std::fs::write(&path, format_offset(7)).unwrap();
        assert_eq!(file.offset_micros(t1 + 3 * REREAD_EVERY), 7);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
