//! The system underneath everything: the folders the tool writes to, what
//! the user sees, child processes, the pinned external tools, git, and the
//! workflow linters. Nothing here knows about apps, stages or AWS.

pub mod clock;
pub(crate) mod git;
pub mod output;
pub mod paths;
pub mod process;
pub mod tools;
pub mod workflows;
