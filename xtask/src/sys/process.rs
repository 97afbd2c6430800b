//! Child processes that must never outlive us: process groups, the parent
//! death signal, and stopping a whole group.
//!
//! A child started with [`Supervised`] gets its own process group (so a
//! terminal's Ctrl-C reaches only us, and we decide how it stops) and, on
//! Linux, `PR_SET_PDEATHSIG`, so the kernel ends it even when we are killed
//! with SIGKILL and no destructor runs.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How a supervised child relates to our lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Ends with this process, even on SIGKILL.
    Attached,
    /// Outlives this process on purpose (`cargo xtask local up`): a new
    /// session, no parent death signal.
    Detached,
}

/// Prepares `cmd` so that its whole process tree can be stopped as one.
/// Runs `cmd` (and what it starts) at a lower CPU priority: work done
/// ahead of its turn yields to work on the critical path.
pub fn yielding(cmd: &mut Command) {
    // SAFETY: setpriority is async-signal-safe and touches no memory of the
    // parent; this runs between fork and exec. A refusal leaves the
    // priority as it was, which is harmless.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpriority(libc::PRIO_PROCESS, 0, YIELDING_NICENESS);
            Ok(())
        });
    }
}

/// The niceness of [`yielding`] processes.
const YIELDING_NICENESS: libc::c_int = 10;

pub fn supervise(cmd: &mut Command, lifetime: Lifetime) {
    match lifetime {
        Lifetime::Attached => {
            cmd.process_group(0);
            // SAFETY: prctl and getppid are async-signal-safe and touch no
            // memory of the parent; this runs between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    #[cfg(target_os = "linux")]
                    {
                        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    // The parent may have died before prctl took effect.
                    if libc::getppid() == 1 {
                        libc::_exit(1);
                    }
                    Ok(())
                });
            }
        }
        Lifetime::Detached => {
            // SAFETY: setsid is async-signal-safe; this runs between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setsid() == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
    }
}

/// Sends `signal` to every process in the group led by `pid`.
pub fn signal_group(pid: u32, signal: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill has no memory effects; a negative pid names a group.
    unsafe { libc::kill(-pid, signal) == 0 }
}

/// Whether a process with this pid exists (and is not a zombie we reaped).
pub fn is_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// This process as an owner of things it leaves on disk while it runs (a
/// gate folder, a copy of a config): its pid and the time the kernel
/// started it, so a later process with the same pid is not taken for it.
pub fn owner_mark() -> String {
    let pid = std::process::id();
    format!("{pid}:{}", start_time(pid).unwrap_or_default())
}

/// Whether the process an [`owner_mark`] names still runs.
pub fn owner_alive(mark: &str) -> bool {
    let Some((pid, started)) = mark.trim().split_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    is_alive(pid) && start_time(pid).is_some_and(|s| s.to_string() == started)
}

/// When the kernel started process `pid`, in clock ticks since boot (the
/// 22nd field of `/proc/<pid>/stat`, after the command's parenthesis).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether any process is left in the group led by `pid`.
pub fn group_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(-pid, 0) == 0 }
}

/// Stops a child we spawned and its whole group: SIGTERM, a grace period,
/// then SIGKILL. Returns the child's exit status when it could be reaped.
pub fn stop_child(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        // The leader is gone; its workers may still be running.
        signal_group(child.id(), libc::SIGKILL);
        return Some(status);
    }
    signal_group(child.id(), libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            wait_group_gone(child.id(), grace);
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_group(child.id(), libc::SIGKILL);
    child.wait().ok()
}

/// Stops a process group we do not hold a `Child` for (a detached emulator
/// recorded in a pid file).
pub fn stop_group(pid: u32, grace: Duration) {
    signal_group(pid, libc::SIGTERM);
    if !wait_group_gone(pid, grace) {
        signal_group(pid, libc::SIGKILL);
        wait_group_gone(pid, grace);
    }
}

fn wait_group_gone(pid: u32, grace: Duration) -> bool {
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !group_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Whatever is still there after the grace period gets no more of it.
    signal_group(pid, libc::SIGKILL);
    !group_alive(pid)
}

/// The last `lines` lines of a log file, for error messages.
pub fn log_tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

/// A free TCP port on the loopback interface. The port is released before it
/// is returned, so a caller must cope with losing a race for it.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod owner_tests {
    use super::*;

    #[test]
    fn an_owner_is_alive_while_it_runs_and_a_reused_pid_is_not_it() {
        let mine = owner_mark();
        assert!(owner_alive(&mine), "{mine}");
        let (pid, started) = mine.split_once(':').unwrap_or_default();
        let later: u64 = started.parse::<u64>().unwrap_or(0) + 1;
        assert!(!owner_alive(&format!("{pid}:{later}")));
        assert!(!owner_alive("garbage"));
        assert!(!owner_alive(""));
    }
}
