//! Ctrl-C. Most commands simply stop (their destructors stop what they
//! started). A deploy or remove asks for a graceful stop instead: the first
//! Ctrl-C starts nothing new, lets running services finish and rolls back;
//! a second one stops at once, leaving the journal to tell where.

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
    loop {
        if tokio::signal::ctrl_c().await.is_err() {
            // No signal handling on this platform: never resolve.
            std::future::pending::<()>().await;
        }
        if GRACEFUL.load(Ordering::SeqCst) > 0 && !REQUESTED.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupt: starting nothing new; running services finish, then this run's changes are rolled back (Ctrl-C again to stop at once)");
            continue;
        }
        STOPPED.store(true, Ordering::SeqCst);
        return;
    }
}
