//! Scale limits, measured: on generated apps of 100 and 1,000 services,
//! the wall time and peak memory of `plan`, `audit` and `validate`, each
//! run as a team runs it (this binary, a process of its own), and the time
//! to fingerprint every service (what a redeploy computes before it skips
//! one).

#![allow(
    clippy::disallowed_methods,
    reason = "runs this very binary to measure it as a team runs it"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::apps::generate;

/// One command at one size.
#[derive(Debug, Clone)]
pub struct Measured {
    pub services: usize,
    pub command: &'static str,
    pub seconds: f64,
    pub peak_mb: f64,
}

/// Every command at every size (run as `exe`, this binary), then the
/// fingerprints.
pub async fn measure(exe: &Path, work: &Path, sizes: &[usize]) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    for &size in sizes {
        let dir = work.join(format!("scale-{size}"));
        generate(&dir, size)?;
        let app = dir.to_string_lossy().to_string();
        for (command, args) in [
            ("plan", vec!["plan", "dev"]),
            ("audit", vec!["audit"]),
            ("validate", vec!["validate", "dev"]),
        ] {
            let mut all = vec!["--app", app.as_str()];
            all.extend(args);
            let (took, peak_kb) = run_measured(exe, &all)?;
            out.push(Measured {
                services: size,
                command,
                seconds: took.as_secs_f64(),
                peak_mb: peak_kb as f64 / 1024.0,
            });
        }
        out.push(Measured {
            services: size,
            command: "fingerprint",
            seconds: fingerprints(&dir).await?.as_secs_f64(),
            peak_mb: f64::NAN,
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(out)
}

/// Runs this binary with `args`; its wall time and peak resident memory
/// (KiB), from the kernel's account of that one child.
fn run_measured(exe: &Path, args: &[&str]) -> Result<(Duration, i64)> {
    let started = Instant::now();
    let child = std::process::Command::new(exe)
        .args(args)
        .env_remove("XTASK_APP")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = i32::try_from(child.id()).context("a child's pid")?;
    let mut status = 0;
    // SAFETY: `rusage` is plain data the kernel fills; `pid` is our own
    // child, waited for once here (the `Child` is never waited again).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let took = started.elapsed();
    if waited != pid {
        bail!("waiting for `{}` failed", args.join(" "));
    }
    // A generated app is clean: anything but success is no measurement.
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("`xtask {}` did not succeed", args.join(" "));
    }
    Ok((took, usage.ru_maxrss))
}

/// The time to fingerprint every service of the app in `dir`, as a
/// redeploy does before it skips an unchanged one.
async fn fingerprints(dir: &Path) -> Result<Duration> {
    let app = crate::app::App::load(dir)?;
    let stage = app.stage("dev")?;
    // No `${cf:}` in a generated app: nothing is asked of the target.
    let target = crate::aws::Target::emulator("http://127.0.0.1:9");
    let config = target.sdk_config(stage.region()).await;
    let stacks = crate::aws::stacks::Stacks::new(&config, &target);
    let started = Instant::now();
    for service in &app.services {
        crate::run::fingerprint::compute(service, &stage, &stacks, &[]).await?;
    }
    Ok(started.elapsed())
}
