//! The command line: every subcommand and flag, parsed once by clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::diag::Format;
use crate::emulator::Backend;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Deploy a multi-stack Serverless app with a validated stage, in the right order",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The app folder (with deploy.toml or serverless.yml files).
    #[arg(long, global = true, env = "XTASK_APP", value_name = "DIR")]
    pub app: Option<PathBuf>,
    /// The emulator backend for the `local` stage and rehearsals.
    #[arg(long, global = true, env = "XTASK_EMULATOR", value_enum, default_value_t = Backend::Ministack)]
    pub emulator: Backend,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report every prerequisite and how to fix what is missing; installs nothing.
    Doctor,
    /// Manage the long-lived local emulator.
    Local(LocalArgs),
    /// Find every stage hazard in the app's Serverless files.
    Audit(AuditArgs),
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    #[command(subcommand)]
    pub action: LocalAction,
}

#[derive(Debug, Subcommand)]
pub enum LocalAction {
    /// Start the emulator (installing it first if needed), or reuse the running one.
    Up {
        /// The port to listen on (default: 4566 when free, else any free port).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Stop the emulator and everything it started.
    Down,
    /// Say whether the emulator is running and healthy; exit 1 when it is not.
    Status,
    /// Show the end of the emulator's log.
    Logs {
        /// How many lines.
        #[arg(long, default_value_t = 100)]
        lines: usize,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Also check that this stage is allowed by the app's policy.
    #[arg(long)]
    pub stage: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
