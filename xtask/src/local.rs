//! `cargo xtask local up|down|status|logs`: the long-lived emulator for
//! working by hand, and for the `local` stage and rehearsals.

use anyhow::{bail, Result};

use crate::aws::emulator::{self, resident};
use crate::cli::{Global, LocalAction, LocalArgs};
use crate::sys::{paths, process};

pub(crate) async fn run(_global: &Global, args: LocalArgs) -> Result<i32> {
    match args.action {
        LocalAction::Up { port } => {
            let (emulator, started) = resident::ensure_running(port).await?;
            let state = if started {
                "started"
            } else {
                "already running"
            };
            crate::outln!("emulator {state} at {}", emulator.endpoint())?;
            crate::outln!(
                "\n{}",
                resident::env_lines(emulator.endpoint(), "us-east-1")
            )?;
            crate::outln!("stop it with `cargo xtask local down`")?;
            Ok(0)
        }
        LocalAction::Down => {
            match resident::stop()? {
                Some(record) => crate::outln!(
                    "stopped the emulator at {} (pid {})",
                    record.endpoint,
                    record.pid
                )?,
                None => crate::outln!("no emulator was running")?,
            }
            Ok(0)
        }
        LocalAction::Status => status().await,
        LocalAction::Logs { lines } => {
            let log = resident::log_path();
            if !log.exists() {
                bail!(
                    "no emulator log at {}; start one with `cargo xtask local up`",
                    paths::display(&log)
                );
            }
            crate::outln!("{}", process::log_tail(&log, lines))?;
            Ok(0)
        }
    }
}

/// Exit status: 0 healthy, 1 not running or not answering.
async fn status() -> anyhow::Result<i32> {
    match resident::running() {
        Some(record)
            if emulator::answers(&format!("{}/_ministack/health", record.endpoint)).await =>
        {
            crate::outln!(
                "healthy: ministack at {} (pid {})",
                record.endpoint,
                record.pid
            )?;
            Ok(0)
        }
        Some(record) => {
            crate::outln!(
                "not answering: ministack pid {} at {}; see `cargo xtask local logs`",
                record.pid,
                record.endpoint
            )?;
            Ok(1)
        }
        None => {
            crate::outln!("not running; start it with `cargo xtask local up`")?;
            Ok(1)
        }
    }
}
