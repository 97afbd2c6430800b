//! The long-lived emulator that `cargo xtask local` manages and that the
//! `local` stage and rehearsals use.
//!
//! Its pid, port and log live in `.xtask/local/`, so a second `up` (or a
//! deploy of the `local` stage) reuses the running instance instead of
//! starting another.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::aws::emulator::{self, ministack, Backend, Emulator};
use crate::sys::paths;
use crate::sys::process::{self, Lifetime};
use crate::sys::tools::FileLock;

/// What `up` records about the running emulator.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    pub pid: u32,
    pub port: u16,
    pub endpoint: String,
    pub started_at: u64,
}

fn dir() -> PathBuf {
    paths::state_dir().join("local")
}

fn record_path() -> PathBuf {
    dir().join("emulator.json")
}

fn layout() -> ministack::Layout {
    ministack::Layout::new(dir().join("ministack"))
}

/// The recorded emulator, when its process is still there.
pub fn running() -> Option<Record> {
    let text = fs::read_to_string(record_path()).ok()?;
    let record: Record = serde_json::from_str(&text).ok()?;
    process::is_alive(record.pid).then_some(record)
}

/// The long-lived emulator, started when none runs. The caller borrows it:
/// it keeps running after the command ends.
pub async fn ensure_running(port: Option<u16>) -> Result<(Emulator, bool)> {
    fs::create_dir_all(dir())
        .with_context(|| format!("cannot create {}", paths::display(&dir())))?;
    let _lock = FileLock::acquire(&dir().join(".lock"))?;
    if let Some(record) = running() {
        if emulator::answers(&record.endpoint).await {
            return Ok((
                Emulator::borrowed(record.endpoint, Backend::Ministack).await?,
                false,
            ));
        }
        // A process that holds the pid but does not answer is not ours to
        // trust; stop its group and start afresh.
        process::stop_group(record.pid, Duration::from_secs(5));
    }
    let layout = layout();
    let _ = fs::remove_dir_all(&layout.run_dir);
    let port = match port {
        Some(port) => port,
        None => preferred_port()?,
    };
    let mut child = ministack::spawn(&layout, port, Lifetime::Detached)?;
    let ready = ministack::wait_ready(port, &layout.log(), || {
        child.try_wait().ok().flatten().map(|s| s.to_string())
    })
    .await;
    if let Err(err) = ready {
        process::stop_child(&mut child, Duration::from_secs(5));
        return Err(err);
    }
    let record = Record {
        pid: child.id(),
        port,
        endpoint: format!("http://127.0.0.1:{port}"),
        started_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    fs::write(record_path(), serde_json::to_string_pretty(&record)?)?;
    Ok((
        Emulator::borrowed(record.endpoint, Backend::Ministack).await?,
        true,
    ))
}

/// 4566, the port AWS tools expect of a local emulator, when it is free.
fn preferred_port() -> Result<u16> {
    if std::net::TcpListener::bind(("127.0.0.1", 4566)).is_ok() {
        Ok(4566)
    } else {
        Ok(process::free_port()?)
    }
}

/// The lines a shell needs to talk to the emulator.
pub fn env_lines(endpoint: &str, region: &str) -> String {
    format!(
        "export AWS_ENDPOINT_URL={endpoint}\nexport AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\nexport AWS_REGION={region}\n",
        emulator::ACCESS_KEY,
        emulator::SECRET_KEY
    )
}

/// Stops the recorded emulator and everything it started; what was running.
pub fn stop() -> Result<Option<Record>> {
    let _ = fs::create_dir_all(dir());
    let _lock = FileLock::acquire(&dir().join(".lock"))?;
    let record = running();
    if let Some(record) = &record {
        process::stop_group(record.pid, Duration::from_secs(10));
    }
    let _ = fs::remove_file(record_path());
    let _ = fs::remove_dir_all(layout().run_dir);
    Ok(record)
}

/// The emulator's log file.
pub fn log_path() -> PathBuf {
    layout().log()
}
