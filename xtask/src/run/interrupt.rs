//! Ctrl-C, and the signals a CI runner or a closing terminal sends
//! (SIGTERM on a cancel or timeout, SIGHUP), all handled alike. Most
//! commands simply stop (their destructors stop what they started). A
//! deploy, remove or rollback asks for a graceful stop instead: the first
//! signal starts nothing new, lets running services finish and rolls
//! back; a second one stops at once, leaving the journal to tell where.
//!
//! Signals are received on a thread of their own ([`install`]), never on
//! the thread that runs the command: a command busy in synchronous code
//! (an audit of a large app, a wait on a config program) does not reach
//! an `.await` for seconds, so a stop that waited for it to be polled
//! would never come. When the command must stop, that thread wakes
//! [`hard_stop`], which `main` selects against the command; if the
//! command's future is not dropped within [`ANSWER_WITHIN`] (it is busy,
//! so `main` cannot poll), or a signal comes after the stop was decided,
//! the thread ends the process itself: every child process of this
//! session is stopped with its descendants (`sys::process::stop_children`)
//! and the process exits 130. That path runs no destructor, so a stage
//! lock stays held, as for any hard stop. A command that ends by itself in
//! that moment (the stop ended what it waited on) does not get to choose
//! the exit code: `main` ends through [`exit`], which leaves it to the
//! signal thread.

use std::ffi::c_int;
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static STOPPED: AtomicBool = AtomicBool::new(false);
/// Set when `main` saw [`hard_stop`] resolve: it is dropping the command.
static ANSWERED: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);
static HARD: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// The write end of the pipe the signal handler writes each signal to.
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// How long a command has, once told to stop, to reach an `.await` and be
/// dropped before the process ends without it.
const ANSWER_WITHIN: Duration = Duration::from_millis(500);

/// How long the children get to end on SIGTERM before SIGKILL, when the
/// process ends without the command.
const CHILDREN_GRACE: Duration = Duration::from_millis(300);

/// While alive, the first Ctrl-C only sets [`requested`].
pub struct Graceful(());

pub fn graceful() -> Graceful {
    GRACEFUL.fetch_add(1, Ordering::SeqCst);
    Graceful(())
}

impl Drop for Graceful {
    fn drop(&mut self) {
        GRACEFUL.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether the user asked the run to stop.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Sleeps for `duration`, or less when a stop is requested meanwhile: a
/// run waiting on something (the bake) answers a Ctrl-C within a tenth of
/// a second.
pub async fn sleep_unless_requested(duration: std::time::Duration) {
    let until = tokio::time::Instant::now() + duration;
    while !requested() && tokio::time::Instant::now() < until {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(left.min(std::time::Duration::from_millis(100))).await;
    }
}

/// Whether the command is being stopped at once (a second Ctrl-C): what
/// it started may still be changing the stage, so its lock stays held.
pub fn stopping_at_once() -> bool {
    STOPPED.load(Ordering::SeqCst)
}

/// Resolves when the command must stop now. Its resolving tells the
/// signal thread that the command is being dropped, so the process is
/// left to end by itself.
pub async fn hard_stop() {
    loop {
        if STOPPED.load(Ordering::SeqCst) {
            ANSWERED.store(true, Ordering::SeqCst);
            return;
        }
        HARD.notified().await;
    }
}

/// Ends the process with `code`, unless a stop that the command did not
/// answer is under way: the command then ended by itself in the moment
/// between the signal and its answer (most often because the stop ended
/// the program it was waiting on), and the signal thread ends the process
/// with 130 once it has stopped the children. Called by `main` last.
pub fn exit(code: i32) -> ! {
    if STOPPED.load(Ordering::SeqCst) && !ANSWERED.load(Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    std::process::exit(code)
}

/// Takes SIGINT, SIGTERM and SIGHUP for this process and starts the
/// thread that acts on them. Called once, before the runtime starts.
pub fn install() -> std::io::Result<()> {
    let (read, write) = self_pipe()?;
    // The write end stays open for the life of the process: the handler
    // may run at any moment until it ends.
    PIPE_WRITE.store(write.into_raw_fd(), Ordering::SeqCst);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || watch(read))?;
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in HANDLED {
        // SAFETY: `on_signal` is async-signal-safe (see there), and it
        // replaces no handler that anything of ours relies on.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(())
}

/// The signals [`install`] takes.
const HANDLED: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// The pipe the handler writes each signal to: both ends close on exec,
/// so no child inherits them, and the write end never blocks: a full pipe
/// drops the signal, which is harmless (a stop is pending already).
fn self_pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe()?;
    for fd in [&read, &write] {
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    }
    let flags = OFlag::from_bits_retain(fcntl(&write, FcntlArg::F_GETFL)?);
    fcntl(&write, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok((read, write))
}

extern "C" fn on_signal(signal: c_int) {
    notify(PIPE_WRITE.load(Ordering::Relaxed), signal);
}

/// What the handler does: one byte, the signal's number, to the pipe.
///
/// Async-signal-safe, as a handler must be: it allocates nothing, takes
/// no lock and touches no state but an atomic load and the thread's
/// errno. nix's `write` is write(2) and a read of errno on failure, and
/// the write end does not block. The errno the interrupted code was
/// about to read is saved and put back, so a failed write (a full pipe)
/// cannot change what that code sees.
fn notify(pipe: RawFd, signal: c_int) {
    let saved = Errno::last_raw();
    if pipe >= 0 {
        // SAFETY: borrowed for this call only, from a descriptor open
        // for all of it: the pipe's write end, never closed (see
        // `install`), or a test's own pipe. -1, which cannot be borrowed,
        // is kept out above; in a process that installed the handler
        // it never occurs.
        let pipe = unsafe { BorrowedFd::borrow_raw(pipe) };
        // Every handled signal fits a byte. A failed write loses this
        // one signal only, which is harmless (see `self_pipe`).
        let _ = nix::unistd::write(pipe, &[signal as u8]);
    }
    Errno::set_raw(saved);
}

/// The signal thread: reads each signal from the pipe and acts on it.
fn watch(pipe: OwnedFd) {
    loop {
        let Some(signal) = next_signal(&pipe, None) else {
            continue;
        };
        let name = name(signal);
        if STOPPED.load(Ordering::SeqCst) {
            end_now();
        }
        if GRACEFUL.load(Ordering::SeqCst) > 0 && !REQUESTED.swap(true, Ordering::SeqCst) {
            crate::errln!("\n{name}: starting nothing new; running services finish, then this run's changes are rolled back (interrupt again to stop at once)");
            continue;
        }
        STOPPED.store(true, Ordering::SeqCst);
        HARD.notify_one();
        // `main` answers by dropping the command; a command busy in
        // synchronous code cannot be dropped, so the process ends without
        // it. Another signal meanwhile means the same.
        let deadline = Instant::now() + ANSWER_WITHIN;
        while !ANSWERED.load(Ordering::SeqCst) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                end_now();
            }
            if next_signal(&pipe, Some(left.min(Duration::from_millis(20)))).is_some() {
                end_now();
            }
        }
    }
}

/// The next signal from the pipe, waiting at most `timeout` (for ever
/// with `None`); `None` when the wait ended without one.
fn next_signal(pipe: &OwnedFd, timeout: Option<Duration>) -> Option<Signal> {
    let timeout = match timeout {
        None => PollTimeout::NONE,
        Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
    };
    let mut ready = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
    match poll(&mut ready, timeout) {
        Ok(ready) if ready > 0 => {}
        // A timeout, or an interrupted wait: the caller waits again.
        Ok(_) | Err(Errno::EINTR) => return None,
        // A failing poll is not expected on a pipe of our own; this keeps
        // the thread from spinning if it happens.
        Err(_) => {
            std::thread::sleep(Duration::from_millis(20));
            return None;
        }
    }
    let mut byte = [0u8];
    match nix::unistd::read(pipe, &mut byte) {
        // Only the handler writes here, and only the numbers of
        // `HANDLED`.
        Ok(1) => Signal::try_from(c_int::from(byte[0])).ok(),
        _ => None,
    }
}

fn name(signal: Signal) -> &'static str {
    match signal {
        Signal::SIGINT => "interrupt",
        Signal::SIGTERM => "SIGTERM",
        Signal::SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

/// Ends the process without the command: its children first.
fn end_now() -> ! {
    crate::errln!("interrupted");
    crate::sys::process::stop_children(CHILDREN_GRACE);
    // SAFETY: _exit ends the process at once, running no destructor and
    // no atexit handler while other threads still run (nix has no
    // wrapper for it); nothing of ours runs after.
    unsafe { libc::_exit(130) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn pipe() -> (OwnedFd, OwnedFd) {
        self_pipe().unwrap_or_else(|e| panic!("cannot make a pipe: {e}"))
    }

    #[test]
    fn the_signal_handler_leaves_errno_as_it_found_it() {
        let (read, _write) = pipe();
        // A write to the read end fails (EBADF) and sets errno, which the
        // handler must put back.
        Errno::ENOENT.set();
        notify(read.as_raw_fd(), Signal::SIGINT as c_int);
        assert_eq!(Errno::last(), Errno::ENOENT);
    }

    #[test]
    fn a_signal_goes_through_the_pipe_to_the_signal_thread() {
        let (read, write) = pipe();
        assert_eq!(next_signal(&read, Some(Duration::from_millis(50))), None);
        notify(write.as_raw_fd(), Signal::SIGTERM as c_int);
        assert_eq!(
            next_signal(&read, Some(Duration::from_secs(5))),
            Some(Signal::SIGTERM)
        );
        assert_eq!(next_signal(&read, Some(Duration::from_millis(50))), None);
    }

    #[test]
    fn the_handler_never_blocks_on_a_full_pipe() {
        let (read, write) = pipe();
        let (done, finished) = std::sync::mpsc::channel();
        let writer = std::thread::spawn(move || {
            // Far more than a pipe holds: each write past the first
            // 64 KiB fails at once instead of waiting for a reader.
            for _ in 0..200_000 {
                notify(write.as_raw_fd(), Signal::SIGHUP as c_int);
            }
            let _ = done.send(());
        });
        let finished = finished.recv_timeout(Duration::from_secs(10));
        if finished.is_err() {
            // Free a blocked writer so the test ends.
            while next_signal(&read, Some(Duration::from_millis(200))).is_some() {}
        }
        let _ = writer.join();
        assert!(finished.is_ok(), "the handler blocked on a full pipe");
        assert_eq!(
            next_signal(&read, Some(Duration::from_secs(5))),
            Some(Signal::SIGHUP)
        );
    }

    #[test]
    fn the_pipe_is_not_inherited_by_children() {
        let (read, write) = pipe();
        for fd in [&read, &write] {
            let flags = fcntl(fd, FcntlArg::F_GETFD).map(FdFlag::from_bits_retain);
            assert_eq!(flags, Ok(FdFlag::FD_CLOEXEC));
        }
    }
}
