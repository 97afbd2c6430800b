//! The deploy tool behind `cargo xtask`, as a library so that its tests (and
//! the end-to-end suite) use the same code as the command line, and a
//! team's own xtask crate runs it with `fn main() { xtask::entry::run() }`.
//!
//! The face (this folder's files) is the command line: `cli.rs` parses,
//! `commands.rs` dispatches, and each subcommand is one file. Below it the
//! domain lives in folders by layer, each importing only the ones below:
//! `run/` (the engine of a stage run) over `iam/` (the deploy role's
//! policy) over `aws/` (the deployed side) over
//! `cfn/` (CloudFormation) over `app/` (the app as written) over `sys/`
//! (paths, output, processes, tools, git). See ARCHITECTURE.md.

pub mod app;
pub mod aws;
pub mod cfn;
pub mod iam;
pub(crate) mod run;
pub mod sys;

pub mod cli;
pub mod codegen;
mod commands;
pub mod entry;

mod audit;
mod backup;
pub mod bench;
mod bootstrap;
mod checklist;
mod deploy;
mod diff;
mod doctor;
mod iam_policy;
mod info;
mod init;
mod load;
mod local;
mod migrate;
mod plan;
mod previews;
mod remove;
mod report;
mod rollback;
mod runbook;
mod sls;
mod smoke;
mod unlock;
mod validate;

pub use commands::execute;
pub use run::interrupt::{exit, hard_stop, install as install_signal_handling};

/// The exit code of a command stopped by Ctrl-C, SIGTERM or SIGHUP, as
/// shells report a death by SIGINT: whatever it changed was rolled back
/// (a graceful stop) or is recorded in its journal (a hard one).
pub const INTERRUPTED: i32 = 130;

/// The exit code of a command that ended in an error: 2 for input that
/// cannot be used (a stage the policy does not allow, files that cannot be
/// read) and for a command refused before it changed anything
/// ([`sys::Refused`]), 1 for everything else (a failed change, findings).
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    let unusable = err.chain().any(|e| {
        e.is::<app::stage::StageError>() || e.is::<app::LoadError>() || e.is::<sys::Refused>()
    });
    if unusable {
        2
    } else {
        1
    }
}
