//! Child processes that must never outlive us: process groups, the parent
//! death signal, stopping a whole group, and the process table.
//!
//! A child started with [`supervise`] gets its own process group (so a
//! terminal's Ctrl-C reaches only us, and we decide how it stops) and, on
//! Linux, `PR_SET_PDEATHSIG`, so the kernel ends it even when we are killed
//! with SIGKILL and no destructor runs.
//!
//! [`stop_children`] is the last resort of a stop that cannot wait for
//! destructors: every child in our own session (so never the emulator
//! `local up` leaves running, which has a session of its own) is stopped
//! with its group and every descendant /proc shows for it.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{self, Pid};

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
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls may be made: setpriority is one, and it
    // touches no memory of the parent. It sets the niceness to 10 whatever
    // the parent's (nix has no wrapper for it; `nice` would add 10 to the
    // parent's instead). A refusal (a parent nicer than 10, without the
    // privilege to lower it) leaves the priority as it was, which is
    // harmless.
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
            // SAFETY: the closure runs in the child between fork and exec:
            // prctl, getppid and _exit are async-signal-safe, nix's wrappers
            // around them neither allocate nor lock, and an errno becomes an
            // `io::Error` without allocating. The child has not exec'd yet,
            // so it exits with `_exit`, which runs no destructor and no
            // atexit handler of the parent's copy.
            unsafe {
                cmd.pre_exec(|| {
                    #[cfg(target_os = "linux")]
                    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
                    // The parent may have died before prctl took effect.
                    if unistd::getppid() == Pid::from_raw(1) {
                        libc::_exit(1);
                    }
                    Ok(())
                });
            }
        }
        Lifetime::Detached => {
            // SAFETY: the closure runs in the child between fork and exec;
            // setsid is async-signal-safe and its errno becomes an
            // `io::Error` without allocating.
            unsafe {
                cmd.pre_exec(|| {
                    unistd::setsid()?;
                    Ok(())
                });
            }
        }
    }
}

/// Sends `signal` to every process in the group led by `pid`.
pub fn signal_group(pid: u32, signal: Signal) -> bool {
    pid_of(pid).is_some_and(|pid| signal::killpg(pid, signal).is_ok())
}

/// Whether a process with this pid exists (and is not a zombie we reaped).
pub fn is_alive(pid: u32) -> bool {
    // No signal: the kernel only checks that the process exists.
    pid_of(pid).is_some_and(|pid| signal::kill(pid, None).is_ok())
}

/// A pid the kernel can take (std's are `u32`, the kernel's `i32`).
fn pid_of(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().map(Pid::from_raw)
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

/// When the kernel started process `pid`, in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(parse_stat(&stat)?.started).filter(|&started| started > 0)
}

/// Whether any process is left in the group led by `pid`.
pub fn group_alive(pid: u32) -> bool {
    pid_of(pid).is_some_and(|pid| signal::killpg(pid, None).is_ok())
}

/// Stops a child we spawned and its whole group: SIGTERM, a grace period,
/// then SIGKILL. Returns the child's exit status when it could be reaped.
pub fn stop_child(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        // The leader is gone; its workers may still be running.
        signal_group(child.id(), Signal::SIGKILL);
        return Some(status);
    }
    signal_group(child.id(), Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            wait_group_gone(child.id(), grace);
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_group(child.id(), Signal::SIGKILL);
    child.wait().ok()
}

/// Stops a process group we do not hold a `Child` for (a detached emulator
/// recorded in a pid file).
pub fn stop_group(pid: u32, grace: Duration) {
    signal_group(pid, Signal::SIGTERM);
    if !wait_group_gone(pid, grace) {
        signal_group(pid, Signal::SIGKILL);
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
    signal_group(pid, Signal::SIGKILL);
    !group_alive(pid)
}

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub parent: u32,
    pub group: u32,
    pub session: u32,
    /// Ended, waiting for its parent to reap it.
    pub zombie: bool,
    /// When the kernel started it, in clock ticks since boot (0 unknown).
    pub started: u64,
}

/// Parses the text of `/proc/<pid>/stat`. The command name (in
/// parentheses) may hold anything, spaces and parentheses included, so the
/// fields are read after its last `)`.
pub fn parse_stat(text: &str) -> Option<Proc> {
    let (head, rest) = text.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Proc {
        pid,
        zombie: matches!(*fields.first()?, "Z" | "X"),
        parent: fields.get(1)?.parse().ok()?,
        group: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        started: fields.get(19).and_then(|f| f.parse().ok()).unwrap_or(0),
    })
}

/// Every process of the machine (empty where there is no /proc).
pub fn table() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|text| parse_stat(&text))
        .collect()
}

/// The descendants of `root` in `table` by parent links, `root` left out.
pub fn descendants(table: &[Proc], root: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(pid) = frontier.pop() {
        for child in table.iter().filter(|p| p.parent == pid && p.pid != root) {
            if !found.contains(&child.pid) {
                found.push(child.pid);
                frontier.push(child.pid);
            }
        }
    }
    found
}

/// Stops every child process of ours in our own session, with its
/// process group (when it leads one) and its descendants: SIGTERM, up to
/// `grace` for them to end, then SIGKILL. For a stop that cannot wait for
/// the destructors that would stop them one by one.
pub fn stop_children(grace: Duration) {
    let me = std::process::id();
    // Without our session there is no telling our children apart: none
    // is stopped.
    let Some(session) = unistd::getsid(None)
        .ok()
        .and_then(|s| u32::try_from(s.as_raw()).ok())
    else {
        return;
    };
    let targets = |table: &[Proc]| -> (Vec<u32>, Vec<u32>) {
        let children: Vec<&Proc> = table
            .iter()
            .filter(|p| p.parent == me && p.session == session)
            .collect();
        let groups = children
            .iter()
            .filter(|p| p.group == p.pid)
            .map(|p| p.pid)
            .collect();
        let mut pids: Vec<u32> = children.iter().map(|p| p.pid).collect();
        for child in &children {
            pids.extend(descendants(table, child.pid));
        }
        (pids, groups)
    };
    let send = |(pids, groups): &(Vec<u32>, Vec<u32>), signal: Signal| {
        for &group in groups {
            signal_group(group, signal);
        }
        for pid in pids.iter().filter_map(|&pid| pid_of(pid)) {
            // One that ended meanwhile is no longer there to stop.
            let _ = signal::kill(pid, signal);
        }
    };
    let first = targets(&table());
    if first.0.is_empty() {
        return;
    }
    send(&first, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    loop {
        reap_children();
        let table = table();
        let left = targets(&table);
        let running = left
            .0
            .iter()
            .any(|pid| table.iter().any(|p| p.pid == *pid && !p.zombie));
        if !running {
            return;
        }
        if Instant::now() >= deadline {
            send(&left, Signal::SIGKILL);
            reap_children();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reaps every child of ours that has ended.
fn reap_children() {
    // Until none has ended (`StillAlive`) or none is left (ECHILD).
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            return;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_last_parenthesis() {
        let stat = "4242 (evil) name (x) S) S 17 4242 99 0 -1 4194560 1 2 3";
        assert_eq!(
            parse_stat(stat),
            Some(Proc {
                pid: 4242,
                parent: 17,
                group: 4242,
                session: 99,
                zombie: false,
                started: 0,
            })
        );
        let zombie = "7 (sleep) Z 1 7 7 0";
        assert!(parse_stat(zombie).is_some_and(|p| p.zombie));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn descendants_follow_parent_links() {
        let p = |pid, parent| Proc {
            pid,
            parent,
            group: pid,
            session: 1,
            zombie: false,
            started: 0,
        };
        let table = [
            p(10, 1),
            p(11, 10),
            p(12, 11),
            p(13, 10),
            p(20, 1),
            p(21, 20),
        ];
        let mut found = descendants(&table, 10);
        found.sort();
        assert_eq!(found, vec![11, 12, 13]);
        assert!(descendants(&table, 12).is_empty());
    }

    #[test]
    fn this_process_is_in_the_table() {
        let me = std::process::id();
        assert!(table().iter().any(|p| p.pid == me && p.parent != 0));
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "children of the tests' own, to watch what is done to them"
)]
mod child_tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    /// Field `index` of `/proc/<pid>/stat` counted after the command name
    /// (0 is the state, 16 the niceness), for what [`Proc`] does not keep.
    fn stat_field(text: &str, index: usize) -> Option<i64> {
        let (_, rest) = text.rsplit_once(')')?;
        rest.split_whitespace().nth(index)?.parse().ok()
    }

    fn stat_of(pid: u32) -> Proc {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        parse_stat(&text).unwrap_or_else(|| panic!("no /proc/{pid}/stat"))
    }

    /// Polls `done` until it holds or five seconds have passed.
    fn within_seconds(mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        done()
    }

    #[test]
    fn a_yielding_process_runs_at_niceness_ten() {
        let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let own = stat_field(&own, 16).unwrap_or(0);
        let mut cmd = Command::new("cat");
        cmd.arg("/proc/self/stat");
        yielding(&mut cmd);
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run cat: {e}"));
        let child = String::from_utf8_lossy(&output.stdout);
        // Only a privileged process may lower its niceness: under a parent
        // that runs nicer than 10 the child keeps the parent's.
        let expected = if own <= 10 { 10 } else { own };
        assert_eq!(stat_field(&child, 16), Some(expected), "{child}");
    }

    #[test]
    fn an_attached_child_leads_its_own_group_and_ends_with_its_parent() {
        let session = stat_of(std::process::id()).session;
        // The parent death signal follows the thread that forked the
        // child: a thread that ends stands for a parent that dies.
        let (mut child, seen) = std::thread::spawn(move || {
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            supervise(&mut cmd, Lifetime::Attached);
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run sleep: {e}"));
            let seen = stat_of(child.id());
            (child, seen)
        })
        .join()
        .unwrap_or_else(|_| panic!("the spawning thread panicked"));
        assert_eq!(seen.group, child.id(), "{seen:?}");
        assert_eq!(seen.session, session, "{seen:?}");
        let mut status = None;
        let ended = within_seconds(|| {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        if !ended {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert_eq!(status.and_then(|s| s.signal()), Some(15), "{status:?}");
    }

    #[test]
    fn a_detached_child_leads_a_session_of_its_own() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        supervise(&mut cmd, Lifetime::Detached);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run sleep: {e}"));
        let seen = stat_of(child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(
            (seen.session, seen.group),
            (child.id(), child.id()),
            "{seen:?}"
        );
    }

    #[test]
    fn a_signal_to_a_group_reaches_every_process_in_it() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & wait"]);
        supervise(&mut cmd, Lifetime::Attached);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run sh: {e}"));
        let pid = child.id();
        assert!(is_alive(pid) && group_alive(pid));
        // Its own child, in its group, is there too before the signal.
        assert!(within_seconds(|| table().iter().any(|p| p.parent == pid)));
        let sent = signal_group(pid, Signal::SIGKILL);
        let status = child.wait().ok();
        assert!(sent);
        assert_eq!(status.and_then(|s| s.signal()), Some(9), "{status:?}");
        assert!(
            within_seconds(|| !group_alive(pid)),
            "the group of {pid} outlived SIGKILL"
        );
        assert!(!is_alive(pid));
    }

    #[test]
    fn a_child_that_ignores_sigterm_is_killed_with_its_group_after_the_grace() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "trap '' TERM; sleep 30 & wait"]);
        supervise(&mut cmd, Lifetime::Attached);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run sh: {e}"));
        let pid = child.id();
        // The shell has set its trap once its child shows up.
        assert!(within_seconds(|| table().iter().any(|p| p.parent == pid)));
        let status = stop_child(&mut child, Duration::from_millis(300));
        assert_eq!(status.and_then(|s| s.signal()), Some(9), "{status:?}");
        assert!(
            within_seconds(|| !group_alive(pid)),
            "the group of {pid} outlived the stop"
        );
    }
}
