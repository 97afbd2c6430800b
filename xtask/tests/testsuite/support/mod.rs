//! What the end-to-end tests share: a private emulator per test, a state
//! folder per test, the xtask binary pointed at both, and small apps
//! written on the fly.

#![allow(dead_code)]

pub mod chain;
pub mod tier;
pub use tier::e2e_skipped;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result};
use xtask::aws::emulator::{Backend, Emulator};
use xtask::aws::Target;

/// The emulator the end-to-end tests run on: MiniStack, or the one
/// `XTASK_TEST_EMULATOR` names (`localstack` in the CI job that runs the
/// suite there). A backend that cannot start fails the test, never skips it.
pub fn test_backend() -> Result<Backend> {
    use clap::ValueEnum;
    match std::env::var("XTASK_TEST_EMULATOR") {
        Err(_) => Ok(Backend::Ministack),
        Ok(name) => match Backend::from_str(&name, true) {
            Ok(Backend::External) | Err(_) => anyhow::bail!(
                "XTASK_TEST_EMULATOR={name}: the tests start their own emulator; use ministack or localstack"
            ),
            Ok(backend) => Ok(backend),
        },
    }
}

/// Whether a test that needs a Docker engine runs: yes where one answers;
/// where none does, it is skipped (said on its output), unless
/// `XTASK_REQUIRE_DOCKER=1`, which makes a missing engine a failure, so a
/// CI job meant to exercise Docker can never pass without it.
pub fn docker_or_skip(test: &str) -> Result<bool> {
    if xtask::aws::emulator::docker_engine_available() {
        return Ok(true);
    }
    if std::env::var("XTASK_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
        anyhow::bail!("{test}: XTASK_REQUIRE_DOCKER=1 but no Docker engine answers (DOCKER_HOST or /var/run/docker.sock)");
    }
    println!("{test}: not run, no Docker engine answers on this machine");
    Ok(false)
}

/// One test's world: its emulator, its folders, its clients. Dropping it
/// stops the emulator and removes the folders.
pub struct Harness {
    pub emulator: Emulator,
    pub dir: PathBuf,
    pub target: Target,
}

impl Harness {
    pub async fn start(name: &str) -> Result<Harness> {
        // Every harness test deploys with the pinned CLI: on a fresh
        // checkout, install it while the emulator's venv installs.
        let cli = std::thread::spawn(|| xtask::sys::tools::serverless(true).map(drop));
        let emulator = Emulator::start(test_backend()?).await;
        cli.join()
            .map_err(|_| anyhow::anyhow!("installing the pinned CLI panicked"))??;
        let emulator = emulator?;
        let dir =
            xtask::sys::paths::scratch_dir().join(format!("e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let target = Target::emulator(emulator.endpoint());
        Ok(Harness {
            emulator,
            dir,
            target,
        })
    }

    /// The xtask binary, talking to this test's emulator only.
    pub fn xtask(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .env("XTASK_STATE_DIR", self.dir.join("state"))
            // The pinned tools this checkout installed, also for an app
            // in a repository of its own (whose root would hold its own).
            .env("XTASK_TOOLS_DIR", xtask::sys::paths::tools_dir())
            .env("XTASK_EMULATOR", "external")
            .env("AWS_ENDPOINT_URL", self.emulator.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("XTASK_APP")
            .env_remove("AWS_PROFILE")
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Starts the binary in the background with its output captured.
    pub fn spawn(&self, args: &[&str]) -> std::io::Result<std::process::Child> {
        self.xtask(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
    }

    /// Runs the binary on `app`'s rehearsal: the arguments, then
    /// `--rehearse --app APP`.
    pub fn rehearsing(&self, app: &Path) -> impl Fn(&[&str]) -> Run + '_ {
        let app_arg = arg(app);
        move |args: &[&str]| {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--rehearse", "--app", &app_arg]);
            self.run(&all)
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.xtask(args).output().expect("the xtask binary runs");
        Run::from(output)
    }

    /// Writes an app (relative path → content) into this test's folder.
    pub fn app(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let root = self.dir.join(name);
        for (path, content) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().expect("a file has a folder"))
                .expect("app folder");
            std::fs::write(&path, content).expect("app file");
        }
        root
    }

    pub async fn sdk(&self) -> aws_config::SdkConfig {
        self.target.sdk_config("us-east-1").await
    }

    /// A stack's status and outputs, `None` when there is no such stack.
    pub async fn stack(&self, name: &str) -> Result<Option<(String, BTreeMap<String, String>)>> {
        let cfn = aws_sdk_cloudformation::Client::new(&self.sdk().await);
        let Ok(out) = cfn.describe_stacks().stack_name(name).send().await else {
            return Ok(None);
        };
        let Some(stack) = out.stacks().first() else {
            return Ok(None);
        };
        let status = stack
            .stack_status()
            .map(|s| s.as_str().to_string())
            .context("a status")?;
        if status == "DELETE_COMPLETE" {
            return Ok(None);
        }
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect();
        Ok(Some((status, outputs)))
    }

    /// The buckets whose names end with `suffix` (a stage's, by convention).
    pub async fn buckets_ending(&self, suffix: &str) -> Result<Vec<String>> {
        let s3 = xtask::aws::s3_client(&self.sdk().await, &self.target);
        let buckets = s3.list_buckets().send().await?;
        Ok(buckets
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .filter(|n| n.ends_with(suffix))
            .map(str::to_string)
            .collect())
    }

    /// The newest journal of a stage.
    /// Waits (up to a minute) until an unfinished journal of the stage (a
    /// run under way) holds `needle`: how a test catches a run at a given
    /// point before it signals it.
    pub fn wait_for_journal(&self, app: &str, stage: &str, needle: &str) -> bool {
        let journals = self.dir.join("state/journal").join(app).join(stage);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let found = std::fs::read_dir(&journals)
                .ok()
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .any(|j| {
                    j["outcome"].is_null()
                        && j["events"]
                            .as_array()
                            .is_some_and(|events| events.iter().any(|e| e["message"] == needle))
                });
            if found {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// A copy of a bundled fixture app (without installed dependencies or
    /// build folders) in this test's folder, for a test that changes it.
    pub fn copy_fixture(&self, name: &str) -> Result<PathBuf> {
        fn copy(from: &Path, to: &Path) -> Result<()> {
            std::fs::create_dir_all(to)?;
            for entry in std::fs::read_dir(from)?.flatten() {
                let name = entry.file_name();
                if name == "node_modules" || name == ".serverless" {
                    continue;
                }
                let path = entry.path();
                if path.is_dir() {
                    copy(&path, &to.join(&name))?;
                } else {
                    std::fs::copy(&path, to.join(&name))?;
                }
            }
            Ok(())
        }
        let to = self.dir.join(name);
        copy(&fixture(name), &to)?;
        Ok(to)
    }

    /// Writes a lock that another run holds (a deploy on someone's laptop)
    /// into the lock table; returns the client to clear it with.
    pub async fn hold_lock(&self, lock_id: &str) -> Result<aws_sdk_dynamodb::Client> {
        use aws_sdk_dynamodb::types::AttributeValue::{N, S};
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let dynamodb = aws_sdk_dynamodb::Client::new(&self.sdk().await);
        dynamodb
            .put_item()
            .table_name("xtask-deploy-locks")
            .item("lock_id", S(lock_id.into()))
            .item("run_id", S("20261127T000000000Z-beef".into()))
            .item("who", S("ana@laptop".into()))
            .item("command", S("deploy".into()))
            .item("acquired_at", N(now.to_string()))
            .send()
            .await?;
        Ok(dynamodb)
    }

    /// Writes one object into a bucket of this test's emulator.
    pub async fn put_object(&self, bucket: &str, key: &str, body: &str) -> Result<()> {
        let s3 = xtask::aws::s3_client(&self.sdk().await, &self.target);
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send()
            .await?;
        Ok(())
    }

    /// The body of an object, `None` when it (or its bucket) is gone.
    pub async fn object(&self, bucket: &str, key: &str) -> Option<String> {
        let s3 = xtask::aws::s3_client(&self.sdk().await, &self.target);
        let out = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
        let bytes = out.body.collect().await.ok()?.into_bytes();
        String::from_utf8(bytes.to_vec()).ok()
    }

    /// How many journals (runs) a stage has.
    pub fn journal_count(&self, app: &str, stage: &str) -> usize {
        let dir = self.dir.join("state/journal").join(app).join(stage);
        std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .count()
            })
            .unwrap_or(0)
    }

    pub fn journal(&self, app: &str, stage: &str) -> serde_json::Value {
        let dir = self.dir.join("state/journal").join(app).join(stage);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no journals in {}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        let text = std::fs::read_to_string(files.last().expect("a journal")).expect("journal text");
        serde_json::from_str(&text).expect("journal json")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // CI keeps the journals and smoke reports of every test run.
        if let Some(reports) = std::env::var_os("XTASK_TEST_REPORTS") {
            let name = self
                .dir
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default();
            let journals = self.dir.join("state/journal");
            if journals.exists() {
                let to = xtask::sys::paths::workspace_root().join(reports).join(name);
                let _ = copy_dir(&journals, &to);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(&path, to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

pub struct Run {
    pub code: Option<i32>,
    /// Standard output and standard error, in that order.
    pub text: String,
    /// Standard output alone (a JSON report, say).
    pub stdout: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Run {
            code: output.status.code(),
            text,
            stdout: String::from_utf8_lossy(&output.stdout).to_string(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, Some(0), "expected success:\n{}", self.text);
        self
    }

    /// Refused before any change: exit 2 in the table, saying `needle`.
    #[track_caller]
    pub fn refused(&self, needle: &str) -> &Run {
        assert_eq!(
            self.code,
            Some(2),
            "expected a refusal (exit 2):\n{}",
            self.text
        );
        assert!(
            self.text.contains(needle),
            "expected `{needle}` in:\n{}",
            self.text
        );
        self
    }

    #[track_caller]
    pub fn fails_with(&self, needle: &str) -> &Run {
        assert_ne!(self.code, Some(0), "expected a failure:\n{}", self.text);
        assert!(
            self.text.contains(needle),
            "expected `{needle}` in:\n{}",
            self.text
        );
        self
    }
}

/// The smoke test a journal records: checks passed, failed, skipped
/// (all zero when it did not run).
pub fn smoke(journal: &serde_json::Value) -> (u64, u64, u64) {
    let count = |key: &str| journal["smoke"][key].as_u64().unwrap_or(0);
    (count("passed"), count("failed"), count("skipped"))
}

/// Reads a child's stdout as it comes: the receiver gets a message when a
/// line holds `needle`; the handle ends with the whole output.
pub fn watch(
    child: &mut std::process::Child,
    needle: &'static str,
) -> (
    std::sync::mpsc::Receiver<()>,
    std::thread::JoinHandle<String>,
) {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut text = String::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains(needle) {
                let _ = tx.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    (rx, reader)
}

/// Runs git in `dir` with a fixed identity; panics when it fails.
pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stacks of a target that are not deleted.
pub async fn live_stacks(target: &Target, region: &str) -> Result<Vec<String>> {
    let cfn = aws_sdk_cloudformation::Client::new(&target.sdk_config(region).await);
    let stacks = cfn.list_stacks().send().await?;
    Ok(stacks
        .stack_summaries()
        .iter()
        .filter(|s| s.stack_status().map(|s| s.as_str()) != Some("DELETE_COMPLETE"))
        .filter_map(|s| s.stack_name().map(str::to_string))
        .collect())
}

pub fn fixture(path: &str) -> PathBuf {
    xtask::sys::paths::workspace_root()
        .join("fixtures")
        .join(path)
}

pub fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// Writes an app (relative path → content) into a fresh scratch folder
/// named `<name>-<pid>`, for tests that need no emulator.
#[allow(dead_code)]
/// The template the pinned CLI packages for the service in `dir` at
/// `stage` in us-east-1 (offline: the service must resolve without AWS).
pub fn cli_packaged(dir: &Path, stage: &str) -> serde_json::Value {
    let output = pinned_cli(dir, &["package", "--stage", stage, "--region", "us-east-1"]);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let path = dir.join(".serverless/cloudformation-template-update-stack.json");
    serde_json::from_slice(&std::fs::read(&path).expect("the CLI wrote its template"))
        .expect("the template is JSON")
}

/// A change to tb365 that replaces nothing: the image API's health
/// function gets an environment variable. Written, not committed.
pub fn change_tb365_health(app: &Path) -> std::io::Result<()> {
    let image = app.join("image-api/serverless.yml");
    let text = std::fs::read_to_string(&image)?;
    std::fs::write(
        &image,
        text.replacen(
            "  health:\n    handler: src/handlers.health\n",
            "  health:\n    handler: src/handlers.health\n    environment:\n      HEALTH_DETAIL: full\n",
            1,
        ),
    )
}

/// The pinned Serverless CLI run offline in `dir` with `args`, as the
/// referee of a test: no telemetry, example credentials, AWS calls sent
/// nowhere (`127.0.0.1:1`), no profile. Installs the CLI where missing.
pub fn pinned_cli(dir: &Path, args: &[&str]) -> std::process::Output {
    let cli = xtask::sys::tools::serverless(true).expect("the pinned CLI installs");
    Command::new(cli)
        .args(args)
        .current_dir(dir)
        .env("SLS_TELEMETRY_DISABLED", "1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "example")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the pinned CLI runs")
}

pub fn scratch_app(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = xtask::sys::paths::scratch_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (path, content) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("a relative path")).expect("scratch folder");
        std::fs::write(path, content).expect("scratch file");
    }
    root
}
