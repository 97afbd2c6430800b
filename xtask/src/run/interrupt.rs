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

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
    let mut fds = [0; 2];
    // SAFETY: pipe fills the two descriptors it is given; fcntl works on
    // descriptors this function owns.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        for fd in fds {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        // The handler must never block: a full pipe drops the signal,
        // which is harmless (a stop is pending already).
        let flags = libc::fcntl(fds[1], libc::F_GETFL);
        libc::fcntl(fds[1], libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    let [read, write] = fds;
    PIPE_WRITE.store(write, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || watch(read))?;
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only calls write(2), which is
        // async-signal-safe, and restores errno.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

extern "C" fn on_signal(signal: libc::c_int) {
    // SAFETY: write(2) and errno access are async-signal-safe; the byte
    // lives on this handler's stack.
    unsafe {
        let errno = errno_location();
        let saved = *errno;
        let byte = signal as u8;
        libc::write(
            PIPE_WRITE.load(Ordering::Relaxed),
            (&byte as *const u8).cast(),
            1,
        );
        *errno = saved;
    }
}

#[cfg(target_os = "linux")]
unsafe fn errno_location() -> *mut libc::c_int {
    libc::__errno_location()
}

#[cfg(not(target_os = "linux"))]
unsafe fn errno_location() -> *mut libc::c_int {
    libc::__error()
}

/// The signal thread: reads each signal from the pipe and acts on it.
fn watch(pipe: libc::c_int) {
    loop {
        let Some(signal) = next_signal(pipe, None) else {
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
            if next_signal(pipe, Some(left.min(Duration::from_millis(20)))).is_some() {
                end_now();
            }
        }
    }
}

/// The next signal from the pipe, waiting at most `timeout` (for ever
/// with `None`); `None` when the wait ended without one.
fn next_signal(pipe: libc::c_int, timeout: Option<Duration>) -> Option<libc::c_int> {
    let mut poll = libc::pollfd {
        fd: pipe,
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as libc::c_int);
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut poll, 1, millis) };
    if ready <= 0 {
        // A timeout, or an interrupted wait: the caller waits again. A
        // failing poll is not expected on a pipe of our own; this keeps
        // the thread from spinning if it happens.
        if ready < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            std::thread::sleep(Duration::from_millis(20));
        }
        return None;
    }
    let mut byte = 0u8;
    // SAFETY: reads one byte into a local.
    let read = unsafe { libc::read(pipe, (&mut byte as *mut u8).cast(), 1) };
    (read == 1).then_some(libc::c_int::from(byte))
}

fn name(signal: libc::c_int) -> &'static str {
    match signal {
        libc::SIGINT => "interrupt",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

/// Ends the process without the command: its children first.
fn end_now() -> ! {
    crate::errln!("interrupted");
    crate::sys::process::stop_children(CHILDREN_GRACE);
    // SAFETY: _exit ends the process at once; nothing of ours runs after.
    unsafe { libc::_exit(130) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_handler_leaves_errno_as_it_found_it() {
        // No pipe in a test (install never ran): the handler's write fails
        // and sets errno, which the handler must put back.
        unsafe { *errno_location() = libc::ENOENT };
        on_signal(libc::SIGINT);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOENT)
        );
    }
}
