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

use anyhow::{bail, Result};

use super::apps::generate;

/// How long one measured command may run: a generated app of 1,000
/// services takes seconds; one that hangs is no measurement.
const DEADLINE: Duration = Duration::from_secs(300);

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
/// (KiB). The peak is the kernel's high-water mark of the child's own
/// memory (`VmHWM`), read while it runs: the account `wait4` gives would
/// count the parent's pages, which Linux charges to a child at its exec.
fn run_measured(exe: &Path, args: &[&str]) -> Result<(Duration, i64)> {
    let started = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(args)
        .env_remove("XTASK_APP")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "`xtask {}` ran past {DEADLINE:?}; it was stopped",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    // A generated app is clean: anything but success is no measurement.
    if !status.success() {
        bail!("`xtask {}` did not succeed", args.join(" "));
    }
    Ok((took, peak_kb))
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
