//! A reaper: this binary, run again as a small process that runs one
//! program and leaves none of that program's descendants behind.
//!
//! A config program (`serverless.ts`) is code from the app, which may
//! start children that leave its process group and session (a detached
//! `spawn(…).unref()`, a double fork, `setsid`) and keep its stdout open.
//! Killing the program's group does not reach them; they would outlive
//! the command, and a pipe they hold would stretch its time bound.
//!
//! So the program is not started by the tool directly. The tool starts
//! itself again with [`ARG`] ([`command`]); that process makes itself a
//! child subreaper (`PR_SET_CHILD_SUBREAPER`, Linux), starts the program,
//! and waits for it to end or for SIGTERM (the tool's bound, the tool's
//! own stop, or the parent death signal when the tool dies). Then it
//! purges: every descendant still running is stopped (SIGSTOP, so none
//! forks meanwhile) and killed, orphans re-parent to it because it is a
//! subreaper, and it reaps them until it has no child left. Only then
//! does it exit, which closes the last copy of the pipes the tool reads.
//!
//! Why a process of its own rather than making the tool the subreaper:
//! the tool has other children (an emulator, CLI runs) whose orphans
//! would re-parent to it as well, and a purge there could not tell them
//! from the program's. The reaper's only child is the program, so every
//! process it finds below itself is the program's, and it can kill all of
//! them without marking or tracking any: it cannot touch anything the
//! tool started for another reason.
//!
//! Only the `xtask` binary can be a reaper (its `main` calls [`serve`]
//! first thing). Elsewhere (the library in another program's tests, a
//! system without subreapers) [`command`] runs the program itself, and
//! only its process group is stopped.

#![allow(
    clippy::disallowed_methods,
    reason = "the reaper starts the config programs it bounds"
)]

use std::ffi::{OsStr, OsString};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

/// The first argument that makes this binary a reaper.
pub const ARG: &str = "__xtask-reaper";

/// Whether this process can start reapers: set by [`serve`] in the
/// `xtask` binary.
static AVAILABLE: AtomicBool = AtomicBool::new(false);

/// Called first thing by `main`. When this process was started as a
/// reaper, runs the program after [`ARG`] and returns the exit code to end
/// with; otherwise records that reapers can be started and returns `None`.
pub fn serve() -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(OsStr::new(ARG)) {
        AVAILABLE.store(cfg!(target_os = "linux"), Ordering::SeqCst);
        return None;
    }
    let program = args.next()?;
    let rest: Vec<OsString> = args.collect();
    Some(run(&program, &rest))
}

/// A command that runs `program` under a reaper when this binary can
/// start one, else `program` itself. The caller adds the program's
/// arguments, environment, folder and pipes: the reaper passes them all on.
pub fn command(program: &str) -> Command {
    if AVAILABLE.load(Ordering::SeqCst) {
        // The running binary itself, even when its file was replaced
        // since it started (a rebuild during a long command).
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg(ARG).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Exit code of a reaper whose program could not be started.
pub const CANNOT_START: i32 = 127;

#[cfg(target_os = "linux")]
fn run(program: &OsStr, args: &[OsString]) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use std::os::fd::AsFd;
    use std::os::unix::process::ExitStatusExt;
    // Every signal this process waits for is blocked first, so it is
    // taken from the signal descriptor below and never kills the reaper
    // before the purge. The program gets an empty mask: std resets it in
    // the child. This process is single-threaded, so its mask is the
    // thread's; a failure of either call leaves the reaper as a plain
    // parent of the program, as before.
    let mut waited = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        waited.add(signal);
    }
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), None);
    let _ = nix::sys::prctl::set_child_subreaper(true);
    // The blocked signals, read from a descriptor with a timeout: what
    // sigtimedwait(2) does, which nix does not wrap. Close-on-exec, so
    // the program does not inherit it.
    let signals =
        match SignalFd::with_flags(&waited, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) {
            Ok(signals) => signals,
            Err(err) => {
                crate::errln!(
                    "cannot start {}: cannot wait for signals: {err}",
                    program.to_string_lossy()
                );
                return CANNOT_START;
            }
        };
    let mut child = match Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(err) => {
            crate::errln!("cannot start {}: {err}", program.to_string_lossy());
            return CANNOT_START;
        }
    };
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                break status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
            }
            Ok(None) => {}
            Err(_) => break 1,
        }
        // Up to a second for one of the blocked signals, then take it.
        let mut ready = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        let signal = match poll(&mut ready, PollTimeout::from(1000u16)) {
            Ok(n) if n > 0 => signals.read_signal().ok().flatten(),
            _ => None,
        }
        .and_then(|info| i32::try_from(info.ssi_signo).ok())
        .and_then(|number| Signal::try_from(number).ok());
        if let Some(signal @ (Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP)) = signal {
            break 128 + signal as i32;
        }
        // SIGCHLD (a child ended, the program or an orphan), or a
        // timeout: look again.
    };
    purge(std::time::Duration::from_secs(5));
    code
}

#[cfg(not(target_os = "linux"))]
fn run(program: &OsStr, args: &[OsString]) -> i32 {
    // Never started: `serve` leaves reapers unavailable off Linux.
    match Command::new(program).args(args).status() {
        Ok(status) => status.code().unwrap_or(1),
        Err(_) => CANNOT_START,
    }
}

/// Kills every descendant of this process and reaps it, until none is
/// left or `within` has passed.
#[cfg(target_os = "linux")]
fn purge(within: std::time::Duration) {
    use crate::sys::process;
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::Pid;
    let deadline = std::time::Instant::now() + within;
    let me = std::process::id();
    loop {
        let table = process::table();
        let below = process::descendants(&table, me);
        let running: Vec<Pid> = below
            .iter()
            .filter(|pid| table.iter().any(|p| p.pid == **pid && !p.zombie))
            .filter_map(|pid| i32::try_from(*pid).ok())
            .map(Pid::from_raw)
            .collect();
        // Stopped first, so that none of them forks while the others die;
        // a process forked since the table was read is found next time.
        for signal in [Signal::SIGSTOP, Signal::SIGKILL] {
            for &pid in &running {
                // Each pid is a descendant of this process; one that has
                // ended meanwhile is reaped below.
                let _ = kill(pid, signal);
            }
        }
        // Reap what ended: our children, and the orphans that re-parent
        // to us as their parents die. ECHILD: no child at all is left.
        let reaped_all = loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break false,
                Ok(_) => {}
                Err(_) => break true,
            }
        };
        if (reaped_all && running.is_empty()) || std::time::Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
