//! The system underneath everything: the folders the tool writes to, what
//! the user sees, child processes (and the reaper that leaves none of a
//! program's behind), the pinned external tools, git, the workflow
//! linters, and the one error every layer may end a command with before
//! it changes anything. Nothing here knows about apps, stages or AWS.

pub mod clock;
pub mod digests;
pub(crate) mod git;
pub mod hint;
pub mod output;
pub mod paths;
pub mod process;
pub mod reaper;
pub mod tools;
pub mod workflows;

/// A key only this process knows, to hand to a process it starts: 128 bits
/// from the operating system's random source, as hex.
pub fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A command refused before it changed anything: the stage policy, an
/// audit or validation that is not clean, a dirty work tree, no
/// confirmation, a held lock, credentials of another account, a stage not
/// bootstrapped. The exit-code table gives it 2, so CI tells "refused,
/// nothing changed" from "failed and rolled back" (1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Returns early with a [`Refused`] made from the format arguments.
macro_rules! refuse {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::sys::Refused(format!($($arg)*))))
    };
}
pub(crate) use refuse;
