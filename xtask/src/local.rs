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
            println!("emulator {state} at {}", emulator.endpoint());
            println!(
                "\n{}",
                resident::env_lines(emulator.endpoint(), "us-east-1")
            );
            println!("stop it with `cargo xtask local down`");
            Ok(0)
        }
        LocalAction::Down => {
            match resident::stop()? {
                Some(record) => println!(
                    "stopped the emulator at {} (pid {})",
                    record.endpoint, record.pid
                ),
                None => println!("no emulator was running"),
            }
            Ok(0)
        }
        LocalAction::Status => Ok(status().await),
        LocalAction::Logs { lines } => {
            let log = resident::log_path();
            if !log.exists() {
                bail!(
                    "no emulator log at {}; start one with `cargo xtask local up`",
                    paths::display(&log)
                );
            }
            println!("{}", process::log_tail(&log, lines));
            Ok(0)
        }
    }
}

/// Exit status: 0 healthy, 1 not running or not answering.
async fn status() -> i32 {
    match resident::running() {
        Some(record)
            if emulator::answers(&format!("{}/_ministack/health", record.endpoint)).await =>
        {
            println!(
                "healthy: ministack at {} (pid {})",
                record.endpoint, record.pid
            );
            0
        }
        Some(record) => {
            println!(
                "not answering: ministack pid {} at {}; see `cargo xtask local logs`",
                record.pid, record.endpoint
            );
            1
        }
        None => {
            println!("not running; start it with `cargo xtask local up`");
            1
        }
    }
}
