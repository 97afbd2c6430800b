//! Ctrl-C, and the signals a CI runner or a closing terminal sends
//! (SIGTERM on a cancel or timeout, SIGHUP), all handled alike. Most
//! commands simply stop (their destructors stop what they started). A
//! deploy or remove asks for a graceful stop instead: the first signal
//! starts nothing new, lets running services finish and rolls back; a
//! second one stops at once, leaving the journal to tell where.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static STOPPED: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);

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

/// Whether the command is being stopped at once (a second Ctrl-C): what
/// it started may still be changing the stage, so its lock stays held.
pub fn stopping_at_once() -> bool {
    STOPPED.load(Ordering::SeqCst)
}

/// Resolves when the command must stop now.
pub async fn hard_stop() {
    let mut signals = Signals::new();
    loop {
        let name = signals.next().await;
        if GRACEFUL.load(Ordering::SeqCst) > 0 && !REQUESTED.swap(true, Ordering::SeqCst) {
            crate::errln!("\n{name}: starting nothing new; running services finish, then this run's changes are rolled back (interrupt again to stop at once)");
            continue;
        }
        STOPPED.store(true, Ordering::SeqCst);
        return;
    }
}

/// SIGINT, SIGTERM and SIGHUP as one stream.
struct Signals {
    terminate: Option<tokio::signal::unix::Signal>,
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            terminate: signal(SignalKind::terminate()).ok(),
            hangup: signal(SignalKind::hangup()).ok(),
        }
    }

    /// The next signal's name; never resolves when none can be received.
    async fn next(&mut self) -> &'static str {
        async fn wait(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            result = tokio::signal::ctrl_c() => match result {
                Ok(()) => "interrupt",
                Err(_) => std::future::pending().await,
            },
            () = wait(&mut self.terminate) => "SIGTERM",
            () = wait(&mut self.hangup) => "SIGHUP",
        }
    }
}
