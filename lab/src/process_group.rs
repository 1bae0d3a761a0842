//! Node processes in process groups of their own, as both runners start
//! them: a wrapper (`sh -c`, `go run`) and everything it started are
//! killed together, and a node's exit is seen without reaping it, so its
//! pid — its group's id — cannot be reused by another process before the
//! group is killed.

use std::process::{Child, Command};

/// Makes `command` start in a new process group of its own (Unix): Ctrl-C
/// at the terminal then reaches only the runner, which kills the groups.
pub fn own_group(command: &mut Command) {
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(command, 0);
    #[cfg(not(unix))]
    let _ = command;
}

/// How much lower than the runner's the nodes' scheduling priority is
/// (nice steps).
pub const NODE_NICENESS: i32 = 10;

/// Lowers the scheduling priority of the child's whole process group to
/// [`NODE_NICENESS`] below the runner's (Unix; elsewhere nothing). The
/// runner is the network: when the nodes keep every core busy it must
/// still deliver on time, or the nodes' load shows up as network delay
/// (measured in the README, "Speed"). Set on the group, not in the child: processes the node starts later
/// inherit it, and `Command` keeps its fast spawn path.
pub fn lower_priority(child: &Child) {
    #[cfg(unix)]
    {
        let pid: libc::id_t = child.id();
        // SAFETY: getpriority(2) and setpriority(2) take plain integers
        // and touch no memory; the group is the child's own (`own_group`)
        // and not reaped. getpriority may return -1 as a value: errno is
        // not needed, a wrong base only shifts the nodes' niceness.
        unsafe {
            let own = libc::getpriority(libc::PRIO_PROCESS, 0);
            let niceness = (own + NODE_NICENESS).min(19);
            libc::setpriority(libc::PRIO_PGRP, pid, niceness);
        }
    }
    #[cfg(not(unix))]
    let _ = child;
}

/// How the child ended, if it has, in words as std writes them ("exit
/// status: 1", "signal: 9"). On Linux the child is left unreaped (a
/// zombie until [`Child::wait`]); elsewhere this reaps it.
pub fn exit(child: &mut Child) -> std::io::Result<Option<String>> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: siginfo_t is plain data, all zeroes a valid value;
        // waitid(2) only writes into it. WNOWAIT leaves the child unreaped.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            if libc::waitid(libc::P_PID, child.id(), &mut info, flags) == -1 {
                let e = std::io::Error::last_os_error();
                return if e.kind() == std::io::ErrorKind::Interrupted {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
            // With WNOHANG and no exit yet, si_pid stays 0.
            if info.si_pid() == 0 {
                return Ok(None);
            }
            let status = info.si_status();
            Ok(Some(if info.si_code == libc::CLD_EXITED {
                format!("exit status: {status}")
            } else {
                format!("signal: {status}")
            }))
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        child.try_wait().map(|s| s.map(|s| s.to_string()))
    }
}

/// Kills the child and whatever else is in its process group, stopped
/// ([`stop_group`]) or not: SIGKILL ends a stopped process too. Call it
/// before the child is reaped (see [`exit`]).
pub fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    signal_group(child, libc::SIGKILL);
    let _ = child.kill();
}

/// Stops the child's process group (SIGSTOP, Maelstrom's pause) until
/// [`continue_group`]. Unix only; elsewhere it does nothing.
pub fn stop_group(child: &Child) {
    #[cfg(unix)]
    signal_group(child, libc::SIGSTOP);
    #[cfg(not(unix))]
    let _ = child;
}

/// Lets a stopped group run again (SIGCONT).
pub fn continue_group(child: &Child) {
    #[cfg(unix)]
    signal_group(child, libc::SIGCONT);
    #[cfg(not(unix))]
    let _ = child;
}

/// Sends `signal` to the child's process group. Call it before the child
/// is reaped.
#[cfg(unix)]
fn signal_group(child: &Child, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) takes plain integers and touches no memory; the
        // group is the child's own (`own_group` at spawn) and the child is
        // not reaped, so its id names no other process.
        unsafe { libc::kill(-pid, signal) };
    }
}
