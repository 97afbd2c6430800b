//! The system underneath everything: the folders the tool writes to, what
//! the user sees, child processes (and the reaper that leaves none of a
//! program's behind), the pinned external tools, git, and the workflow
//! linters. Nothing here knows about apps, stages or AWS.

pub mod clock;
pub(crate) mod git;
pub mod output;
pub mod paths;
pub mod process;
pub mod reaper;
pub mod tools;
pub mod workflows;
