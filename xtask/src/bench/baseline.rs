//! The baseline the benchmark measures against, run beside ours: the plain
//! way (`serverless deploy` of each service, one after the other) and
//! wave by wave (each wave's services at once, as Serverless Compose
//! does); and this very binary, timed.
//!
//! This is the one place outside `run/serverless.rs` that runs the
//! Serverless CLI: the baseline is the CLI as a team runs it by hand, so
//! it must not go through the tool's own wrapper.

#![allow(
    clippy::disallowed_methods,
    reason = "the baseline runs the CLI as a team would without us, the named exception"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::app::App;
use crate::aws::emulator;
use crate::cfn::graph;

use super::STAGE;

/// Runs this very binary against the emulator; returns the wall time.
pub(super) fn xtask(endpoint: &str, state: &Path, args: &[&str]) -> Result<Duration> {
    xtask_said(endpoint, state, args).map(|(took, _)| took)
}

/// [`xtask`], with what it printed on stdout.
pub(super) fn xtask_said(
    endpoint: &str,
    state: &Path,
    args: &[&str],
) -> Result<(Duration, String)> {
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let output = Command::new(exe)
        .args(args)
        .env("XTASK_STATE_DIR", state)
        .env("XTASK_EMULATOR", "external")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_KEY)
        .env_remove("XTASK_APP")
        .stdin(Stdio::null())
        .output()?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!(
            "`cargo xtask {}` failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok((
        elapsed,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    ))
}

/// The plain way: `serverless deploy` of each service, one after the other.
pub(super) fn plain_deploy(cli: &Path, app: &App, endpoint: &str) -> Result<Duration> {
    let started = Instant::now();
    for service in &app.services {
        serverless_deploy(cli, app, service, endpoint)?;
    }
    Ok(started.elapsed())
}

/// Wave by wave, as Serverless Compose deploys: every service of a wave at
/// once, the next wave when all of it is done.
pub(super) fn wave_deploy(cli: &Path, app: &App, endpoint: &str) -> Result<Duration> {
    let stage = app.stage(STAGE)?;
    let waves = graph::Graph::build(app, &stage).waves()?;
    let started = Instant::now();
    for wave in &waves {
        std::thread::scope(|scope| {
            let running: Vec<_> = wave
                .iter()
                .filter_map(|key| app.service(key))
                .map(|service| scope.spawn(move || serverless_deploy(cli, app, service, endpoint)))
                .collect();
            running
                .into_iter()
                .map(|r| {
                    r.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a deploy thread panicked")))
                })
                .collect::<Result<Vec<()>>>()
        })?;
    }
    Ok(started.elapsed())
}

/// One plain `serverless deploy` of `service` on the emulator.
fn serverless_deploy(
    cli: &Path,
    app: &App,
    service: &crate::app::Service,
    endpoint: &str,
) -> Result<()> {
    let stage = app.stage(STAGE)?;
    let output = Command::new(cli)
        .args([
            "deploy",
            "--stage",
            stage.name(),
            "--region",
            stage.region(),
        ])
        .current_dir(&service.dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_KEY)
        .env("AWS_REGION", stage.region())
        .env("SLS_AWS_MONITORING_FREQUENCY", "200")
        .env("SLS_TELEMETRY_DISABLED", "1")
        .stdin(Stdio::null())
        .output()?;
    if !output.status.success() {
        bail!(
            "plain `serverless deploy` of {} failed:\n{}",
            service.key,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
