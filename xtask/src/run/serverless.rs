//! The only module that runs the Serverless CLI.
//!
//! Every call takes a parsed [`Stage`] and passes `--stage` and `--region`
//! from it, so no code path can run the CLI without an explicit, validated
//! stage. Arguments go as a list, never through a shell. Output is streamed
//! line by line with the service's name in front, and kept in a log file.

#![allow(
    clippy::disallowed_methods,
    reason = "starts the pinned Serverless CLI, the one way a stack is deployed"
)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::app::stage::Stage;
use crate::app::Service;
use crate::aws::Target;
use crate::run::ahead::Gate;
use crate::run::pin::{self, Pin};
use crate::sys::process::{self, Lifetime};
use crate::sys::tools;
use crate::{aws::emulator, sys::output, sys::paths};

/// The Serverless CLI, set up for one target.
#[derive(Clone)]
pub struct Serverless {
    program: PathBuf,
    env: Vec<(&'static str, OsString)>,
    remove: Vec<&'static str>,
    /// The pinned CLI's version; `None` for a CLI of the user's own.
    version: Option<semver::Version>,
    /// Runs every service from a copy whose config validation only warns
    /// (`validate --deep`: a runtime the CLI's schema no longer lists must
    /// not stop the template from being linted; deploys never relax it).
    relaxed: bool,
    /// Passes `--verbose` to deploys, removals and rollbacks, so the CLI
    /// prints every CloudFormation stack event as it happens.
    verbose: bool,
}

/// Ends a child's whole process group when dropped before the child was
/// reaped (the command's future was dropped by a hard stop).
struct GroupGuard(u32);

impl GroupGuard {
    fn disarm(&mut self) {
        self.0 = 0;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.0 != 0 {
            process::stop_group(self.0, std::time::Duration::from_secs(5));
        }
    }
}

/// The unpinned copy of a service's file, removed when the call ends.
struct Unpinned(PathBuf);

impl Drop for Unpinned {
    fn drop(&mut self) {
        pin::remove_unpinned(&self.0);
    }
}

/// Where a call's output goes.
#[derive(Clone)]
pub struct Sink {
    pub prefix: String,
    pub log: PathBuf,
    pub out: Arc<output::Printer>,
}

impl Serverless {
    /// The CLI for `target`, installing the pinned one when needed.
    pub fn new(target: &Target) -> Result<Serverless> {
        let program = tools::serverless(true)?;
        let mut env: Vec<(&'static str, OsString)> = vec![
            ("SLS_TELEMETRY_DISABLED", "1".into()),
            ("SLS_NOTIFICATIONS_MODE", "off".into()),
            // The AWS SDK for JavaScript warns about the Node.js version on
            // every start; the warning says nothing about the deploy.
            ("AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE", "1".into()),
            ("NODE_NO_WARNINGS", "1".into()),
        ];
        let mut remove = Vec::new();
        match target {
            Target::Emulator {
                endpoint,
                access_key,
            } => {
                env.push(("AWS_ENDPOINT_URL", endpoint.into()));
                env.push(("AWS_ACCESS_KEY_ID", access_key.into()));
                env.push(("AWS_SECRET_ACCESS_KEY", emulator::SECRET_KEY.into()));
                // The emulator answers at once; CloudFormation's default
                // 5-second polling would be most of a deploy's time.
                env.push(("SLS_AWS_MONITORING_FREQUENCY", "200".into()));
                remove.extend(["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"]);
            }
            // The target was checked to have no endpoint override; the
            // CLI's SDK must not read one from a profile either.
            Target::Aws => {
                env.push(("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true".into()));
                // The run's `--aws-profile`: the CLI acts on the account the
                // tool checked.
                if let Some(profile) = crate::aws::profile() {
                    env.push(("AWS_PROFILE", profile.into()));
                    remove.push("AWS_DEFAULT_PROFILE");
                }
            }
        }
        // A team's own CLI (`SERVERLESS_BIN`) judges its pins itself.
        let version = match std::env::var_os("SERVERLESS_BIN") {
            Some(bin) if !bin.is_empty() => None,
            _ => pin::cli_version(&program),
        };
        Ok(Serverless {
            program,
            env,
            remove,
            version,
            relaxed: false,
            verbose: false,
        })
    }

    /// Whether deploys, removals and rollbacks show CloudFormation events.
    pub fn set_verbose(&mut self, verbose: bool) {
        self.verbose = verbose;
    }

    /// The same CLI, with config validation relaxed to warnings.
    pub fn relaxed(mut self) -> Serverless {
        self.relaxed = true;
        self
    }

    /// Which CLI runs `service`, and how: for the journal. Fails for a
    /// `frameworkVersion` pin this CLI cannot honour.
    pub fn describe_for(&self, service: &Service) -> Result<String> {
        let cli = match &self.version {
            Some(version) => format!("osls {version}"),
            None => paths::display(&self.program),
        };
        Ok(match pin::check(service, self.version.as_ref())? {
            Pin::Native => cli,
            Pin::V3Line(pin) => format!(
                "{cli} (frameworkVersion '{pin}' honoured as the Serverless Framework v3 line)"
            ),
        })
    }

    fn command(&self, service: &Service, stage: &Stage, action: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(action);
        // A file the CLI does not find by itself is named; a copy to run
        // from instead (`config_copy`) already is.
        if let Some(name) = service
            .declared
            .config
            .as_ref()
            .filter(|_| !action.contains(&"--config"))
        {
            cmd.arg("--config").arg(name);
        }
        cmd.arg("--stage")
            .arg(stage.name())
            .arg("--region")
            .arg(stage.region())
            .current_dir(&service.dir)
            .env("AWS_REGION", stage.region())
            .env("AWS_DEFAULT_REGION", stage.region())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        for key in &self.remove {
            cmd.env_remove(key);
        }
        let std_cmd = cmd.as_std_mut();
        process::supervise(std_cmd, Lifetime::Attached);
        cmd
    }

    /// `serverless deploy`; `force` skips the CLI's own "no changes" check
    /// (which compares with the newest deployment kept in the bucket, not
    /// with what the stack runs); `package` deploys what `--package-only`
    /// packaged there; `gate` holds it after packaging until the gate
    /// opens (see [`crate::run::ahead`]).
    pub async fn deploy(
        &self,
        service: &Service,
        stage: &Stage,
        params: &[(String, String)],
        (force, package): (bool, Option<&Path>),
        gate: Option<&Gate>,
        sink: &Sink,
    ) -> Result<()> {
        let mut base = vec!["deploy".to_string()];
        if force {
            base.push("--force".into());
        }
        if let Some(dir) = package {
            base.push("--package".into());
            base.push(dir.to_string_lossy().to_string());
        }
        let base: Vec<&str> = base.iter().map(String::as_str).collect();
        let args = with_params(&base, params);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Started ahead of its turn, it yields the CPU to those whose turn
        // it is.
        let env = gate.map(Gate::env).unwrap_or_default();
        let ahead = gate.is_some_and(|g| !g.is_at_turn());
        self.run_with(service, stage, &args, (&env, ahead), sink)
            .await
    }

    /// The plugin manager of the pinned CLI, which a gate holds deploys in;
    /// `None` for a CLI of the team's own, which is never gated.
    pub fn gate_manager(&self) -> Option<PathBuf> {
        self.version.as_ref()?;
        let program = std::fs::canonicalize(&self.program).ok()?;
        // node_modules/osls/bin/serverless.js → node_modules/osls
        let package = program.parent()?.parent()?;
        let manager = package.join("lib/classes/plugin-manager.js");
        manager.is_file().then_some(manager)
    }

    /// `serverless remove`.
    pub async fn remove(&self, service: &Service, stage: &Stage, sink: &Sink) -> Result<()> {
        self.run(service, stage, &["remove"], sink).await
    }

    /// `serverless rollback --timestamp T`: the stack back to an earlier
    /// deployment kept in the deployment bucket.
    pub async fn rollback(
        &self,
        service: &Service,
        stage: &Stage,
        timestamp: &str,
        sink: &Sink,
    ) -> Result<()> {
        if !timestamp.chars().all(|c| c.is_ascii_digit()) {
            bail!("`{timestamp}` is not a deployment timestamp");
        }
        self.run(
            service,
            stage,
            &["rollback", "--timestamp", timestamp],
            sink,
        )
        .await
    }

    /// `serverless package --package DIR`: the CloudFormation template and
    /// artifacts, without deploying.
    pub async fn package(
        &self,
        service: &Service,
        stage: &Stage,
        dir: &Path,
        params: &[(String, String)],
        sink: &Sink,
    ) -> Result<()> {
        let dir = dir.to_string_lossy().to_string();
        let args = with_params(&["package", "--package", &dir], params);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(service, stage, &args, sink).await
    }

    /// `serverless ARGS --stage S --region R` in `service`'s folder, on
    /// the user's terminal (stdin, stdout and stderr are the caller's), with
    /// this CLI's target: `cargo xtask sls`. The caller has checked `args`
    /// (no stage, region or profile of their own). Returns the CLI's exit
    /// code.
    pub async fn pass_through(
        &self,
        service: &Service,
        stage: &Stage,
        args: &[String],
    ) -> Result<i32> {
        // `package` writes the service's `.serverless/`, as a deploy does.
        let _lock = tools::folder_lock(&service.dir).await?;
        let (_unpinned, config) = self.config_copy(service)?;
        let mut action: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Some(name) = &config {
            action.extend(["--config", name.as_str()]);
        }
        let mut command = self.command(service, stage, &action);
        command
            .stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", paths::display(&self.program)))?;
        let mut group = child.id().map(GroupGuard);
        let status = child.wait().await?;
        if let Some(guard) = group.as_mut() {
            guard.disarm();
        }
        Ok(status.code().unwrap_or(1))
    }

    /// The copy of `service`'s file to run from instead of its own, and its
    /// name for `--config`: a v3 pin runs from a copy without it (see
    /// `pin`), and a relaxed CLI from one whose validation only warns.
    fn config_copy(&self, service: &Service) -> Result<(Option<Unpinned>, Option<String>)> {
        let unpinned = match (pin::check(service, self.version.as_ref())?, self.relaxed) {
            (Pin::Native, false) => None,
            (_, relaxed) => Some(Unpinned(pin::write_unpinned(service, relaxed)?)),
        };
        let name = unpinned
            .as_ref()
            .and_then(|u| u.0.file_name())
            .map(|n| n.to_string_lossy().to_string());
        Ok((unpinned, name))
    }

    async fn run(
        &self,
        service: &Service,
        stage: &Stage,
        action: &[&str],
        sink: &Sink,
    ) -> Result<()> {
        self.run_with(service, stage, action, (&[], false), sink)
            .await
    }

    /// [`Serverless::run`] with more environment for the CLI's process,
    /// and, when `yielding`, at a lower CPU priority.
    async fn run_with(
        &self,
        service: &Service,
        stage: &Stage,
        action: &[&str],
        (env, yielding): (&[(&'static str, OsString)], bool),
        sink: &Sink,
    ) -> Result<()> {
        // Two runs in one service folder (two stages deployed side by side)
        // would share its `.serverless/` build folder; take turns.
        let _lock = tools::folder_lock(&service.dir).await?;
        let (_unpinned, copy_name) = self.config_copy(service)?;
        let mut action: Vec<&str> = action.to_vec();
        if let Some(name) = &copy_name {
            action.extend(["--config", name.as_str()]);
        }
        if self.verbose
            && matches!(
                action.first().copied(),
                Some("deploy" | "remove" | "rollback")
            )
        {
            action.push("--verbose");
        }
        let action = action.as_slice();
        let what = format!(
            "serverless {} --stage {} --region {}",
            action.join(" "),
            stage.name(),
            stage.region()
        );
        let mut command = self.command(service, stage, action);
        for (key, value) in env {
            command.env(key, value);
        }
        if yielding {
            process::yielding(command.as_std_mut());
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", paths::display(&self.program)))?;
        // The CLI leads its own process group (npm, bundlers, plugins run
        // under it); a hard stop ends the whole group, not just the leader.
        let mut group = child.id().map(GroupGuard);
        if let Some(parent) = sink.log.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let mut log = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&sink.log)
            .await?;
        log.write_all(format!("$ {what}\n").as_bytes()).await?;
        let stdout = child.stdout.take().context("no stdout")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        for stream in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        // A CloudFormation wait can be minutes of silence from the CLI; a
        // plain timed line says the service is still at it.
        let started = std::time::Instant::now();
        loop {
            let line = match tokio::time::timeout(QUIET_FOR, rx.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(_) => {
                    sink.out.line(
                        &sink.prefix,
                        &format!("… still running ({}s)", started.elapsed().as_secs()),
                    );
                    continue;
                }
            };
            log.write_all(line.as_bytes()).await?;
            log.write_all(b"\n").await?;
            let trimmed = line.trim_end();
            if !trimmed.trim().is_empty() {
                sink.out.line(&sink.prefix, trimmed);
                tail.push_back(trimmed.to_string());
                if tail.len() > 12 {
                    tail.pop_front();
                }
            }
        }
        let status = child.wait().await?;
        // Reaped: its group id may be reused from here on.
        if let Some(guard) = group.as_mut() {
            guard.disarm();
        }
        log.flush().await?;
        if !status.success() {
            let tail: Vec<String> = tail.into_iter().filter(|l| !l.trim().is_empty()).collect();
            bail!(
                "`{what}` failed ({status}):\n    {}\n  full log: {}",
                tail.join("\n    "),
                paths::display(&sink.log)
            );
        }
        Ok(())
    }
}

/// How long a service's CLI may be silent before a line says it still runs.
const QUIET_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// `action` followed by `--param name=value` for each param.
fn with_params(action: &[&str], params: &[(String, String)]) -> Vec<String> {
    let mut args: Vec<String> = action.iter().map(|a| a.to_string()).collect();
    for (name, value) in params {
        args.push("--param".into());
        args.push(format!("{name}={value}"));
    }
    args
}
