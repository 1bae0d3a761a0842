//! Logging to stderr, quiet by default.
//!
//! The level comes from `MAELSTROM_LOG` (`error`, `warn`, `info`, `debug`;
//! default `warn`, so bad input is reported and normal traffic is not).
//! Nodes never log to stdout: stdout carries only protocol messages.

use std::sync::atomic::{AtomicU8, Ordering};

use once_cell::sync::Lazy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl Level {
    fn parse(text: &str) -> Option<Level> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "off" | "none" => Level::Off,
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" | "trace" => Level::Debug,
            _ => return None,
        })
    }

    fn label(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

static LEVEL: Lazy<AtomicU8> = Lazy::new(|| {
    let level = std::env::var("MAELSTROM_LOG")
        .ok()
        .and_then(|v| Level::parse(&v))
        .unwrap_or(Level::Warn);
    AtomicU8::new(level as u8)
});

/// Silences logging unless `MAELSTROM_LOG` asks for it: for tests, whose
/// nodes are fed bad input on purpose, and for the simulator, whose report
/// says what went wrong. A green test run prints no WARN lines.
pub fn quiet_unless_asked() {
    if std::env::var_os("MAELSTROM_LOG").is_none() {
        set_level(Level::Off);
    }
}

/// Overrides the level from the environment.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level != Level::Off && level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line to stderr: `LEVEL who: message`.
pub fn write(level: Level, who: &str, message: std::fmt::Arguments<'_>) {
    if enabled(level) {
        // A closed stderr must not take the node down.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{} {}: {}", level.label(), who, message);
    }
}

/// `log!(Level::Warn, who, "format", args…)`; the arguments are only
/// formatted when the level is enabled.
#[macro_export]
macro_rules! log {
    ($level:expr, $who:expr, $($arg:tt)+) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, $who, format_args!($($arg)+));
        }
    };
}
