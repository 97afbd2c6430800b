//! The ministack backend: the pinned emulator as a child process.
//!
//! A private instance lives in a fresh folder under `target/xtask-tmp/`
//! (state, log) on a free loopback port, unpacks Lambda code into a folder
//! in memory where the machine has one (`/dev/shm`; else beside its state),
//! and is stopped with its whole process group (its Lambda workers
//! included) when the handle drops, both folders removed. The
//! long-lived instance of `cargo xtask local` uses the same start and ready
//! code with a detached lifetime.

#![allow(clippy::disallowed_methods, reason = "starts the emulator")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::sys::paths;
use crate::sys::process::{self, Lifetime};
use crate::sys::tools;

/// What the emulator keeps of our environment: where programs are (it runs
/// handlers under the host's `node`), the home folder, and the locale.
/// Nothing else — no credentials, no tokens, no endpoint overrides.
pub const INHERITED: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ"];

/// How long a start may take before we give up and show the log.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A private ministack process, stopped on drop.
pub struct Ministack {
    child: Child,
    port: u16,
    layout: Layout,
    exit: Option<std::process::ExitStatus>,
}

/// Where a ministack keeps its files.
#[derive(Clone)]
pub struct Layout {
    pub run_dir: PathBuf,
    /// Its TMPDIR, where every warm Lambda worker unpacks its package.
    tmp: PathBuf,
}

impl Layout {
    /// Everything in `run_dir` (the long-lived emulator of `cargo xtask
    /// local`, which may run for days: its unpacked code stays on disk).
    pub fn new(run_dir: PathBuf) -> Layout {
        let tmp = run_dir.join("tmp");
        Layout { run_dir, tmp }
    }

    /// A private emulator's: its TMPDIR in memory where the machine has
    /// room there ([`memory_dir`]), else in `run_dir`.
    fn private(run_dir: PathBuf) -> Layout {
        let mut layout = Layout::new(run_dir);
        if let Some(tmp) = memory_dir() {
            layout.tmp = tmp;
        }
        layout
    }

    pub fn log(&self) -> PathBuf {
        self.run_dir.join("ministack.log")
    }
    fn state(&self) -> PathBuf {
        self.run_dir.join("state")
    }
    fn tmp(&self) -> PathBuf {
        self.tmp.clone()
    }

    /// Removes every folder of the layout.
    fn remove(&self) {
        let _ = fs::remove_dir_all(&self.run_dir);
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

/// The file system in memory that private emulators unpack Lambda code into.
const MEMORY: &str = "/dev/shm";
/// How their folders there start; the rest is the owner's mark and a number.
const MEMORY_PREFIX: &str = "xtask-ministack-";
/// The room a private emulator wants there: tb365 unpacked by every warm
/// worker of a deploy's smoke test is about 0.7 GB.
const MEMORY_ROOM: u64 = 2 << 30;

/// A fresh folder in memory for a private emulator's TMPDIR, or `None`
/// where the machine has no tmpfs at [`MEMORY`] with [`MEMORY_ROOM`] free.
///
/// Every warm Lambda worker unpacks its function's whole package there
/// (tb365's: about 4,000 files, 26 MB), and the emulator deletes those
/// trees whenever a function is updated or removed. On a busy disk one
/// code update of a warm function took 23 s (a tb365 change deploy over
/// 100 s); in memory about a second. The folder is named after its owner
/// (`process::owner_mark`), so one left by an owner that was killed before
/// it could clean up is swept by the next start instead of holding memory.
fn memory_dir() -> Option<PathBuf> {
    let memory = Path::new(MEMORY);
    if !tmpfs_with_room(memory, MEMORY_ROOM) {
        return None;
    }
    sweep_memory(memory);
    let owner = process::owner_mark().replace(':', "-");
    unique_dir(memory, &format!("{MEMORY_PREFIX}{owner}")).ok()
}

/// Whether `path` is on a tmpfs with at least `room` bytes free.
fn tmpfs_with_room(path: &Path, room: u64) -> bool {
    use nix::sys::statfs::{statfs, TMPFS_MAGIC};
    let Ok(stat) = statfs(path) else {
        return false;
    };
    // The fields' widths differ by platform (u64 here, u32 on others).
    #[allow(clippy::useless_conversion)]
    let free = u64::try_from(stat.blocks_available())
        .unwrap_or(0)
        .saturating_mul(u64::try_from(stat.block_size()).unwrap_or(0));
    stat.filesystem_type() == TMPFS_MAGIC && free >= room
}

/// Removes the folders in memory whose owner no longer runs.
fn sweep_memory(memory: &Path) {
    let Ok(entries) = fs::read_dir(memory) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix(MEMORY_PREFIX) else {
            continue;
        };
        // `<pid>-<start>-<n>`: the owner's mark, then the folder's number.
        let mut parts = rest.splitn(3, '-');
        let (Some(pid), Some(start)) = (parts.next(), parts.next()) else {
            continue;
        };
        if !process::owner_alive(&format!("{pid}:{start}")) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Spawns ministack on `port` with its files in `layout`.
pub fn spawn(layout: &Layout, port: u16, lifetime: Lifetime) -> Result<Child> {
    let program = tools::ministack(true)?;
    fs::create_dir_all(layout.state())
        .with_context(|| format!("cannot create {}", paths::display(&layout.run_dir)))?;
    fs::create_dir_all(layout.tmp())
        .with_context(|| format!("cannot create {}", paths::display(&layout.tmp())))?;
    let log = fs::File::create(layout.log())
        .with_context(|| format!("cannot create {}", paths::display(&layout.log())))?;
    let mut cmd = Command::new(&program);
    // The emulator runs app code (Lambda handlers) with its own environment,
    // so it starts from an empty one: the caller's credentials, tokens and
    // smoke secrets must never reach a handler.
    cmd.env_clear();
    for key in INHERITED {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    cmd.env("GATEWAY_PORT", port.to_string())
        .env("BIND_HOST", "127.0.0.1")
        .env("MINISTACK_HOST", "localhost")
        .env("LAMBDA_EXECUTOR", "local")
        .env("STATE_DIR", layout.state())
        .env("TMPDIR", layout.tmp())
        // Off: the IoT MQTT listener binds a fixed port (8883), which would
        // keep two emulators from running side by side.
        .env("IOT_MTLS_ENABLED", "0")
        .env("SFTP_ENABLED", "0")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    process::supervise(&mut cmd, lifetime);
    cmd.spawn()
        .with_context(|| format!("cannot start {}", paths::display(&program)))
}

/// Waits until `/_ministack/health` answers. `alive` tells whether the
/// process still runs, so a crash is reported at once, not after the timeout.
pub async fn wait_ready(
    port: u16,
    log: &Path,
    mut alive: impl FnMut() -> Option<String>,
) -> Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()?;
    let url = format!("http://127.0.0.1:{port}/_ministack/health");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(response) = client.get(&url).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        if let Some(exit) = alive() {
            bail!(
                "the emulator exited before it was ready ({exit}); last lines of {}:\n{}",
                paths::display(log),
                process::log_tail(log, 20)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the emulator did not answer {url} within {}s; last lines of {}:\n{}",
                READY_TIMEOUT.as_secs(),
                paths::display(log),
                process::log_tail(log, 20)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Ministack {
    /// Starts a private instance in a fresh folder on a free port.
    pub async fn start_private() -> Result<Ministack> {
        let scratch = paths::scratch_dir();
        fs::create_dir_all(&scratch)?;
        let run_dir = unique_dir(&scratch, "ministack")?;
        let layout = Layout::private(run_dir);
        // A free port can be taken by someone else between our probe and the
        // emulator's bind; try a few.
        let mut last_err = None;
        for _ in 0..3 {
            let port = process::free_port()?;
            let child = match spawn(&layout, port, Lifetime::Attached) {
                Ok(child) => child,
                Err(err) => {
                    layout.remove();
                    return Err(err);
                }
            };
            let mut ministack = Ministack {
                child,
                port,
                layout: layout.clone(),
                exit: None,
            };
            let ready = {
                let child = &mut ministack.child;
                wait_ready(port, &layout.log(), || {
                    child.try_wait().ok().flatten().map(|s| s.to_string())
                })
                .await
            };
            match ready {
                Ok(()) => return Ok(ministack),
                Err(err) => {
                    let in_use =
                        process::log_tail(&layout.log(), 40).contains("ddress already in use");
                    drop(ministack);
                    if !in_use {
                        return Err(err);
                    }
                    last_err = Some(err);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("the emulator did not start")))
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        self.exit_report().is_none()
    }

    /// `Some(description)` once the process has exited.
    pub fn exit_report(&mut self) -> Option<String> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        let status = self.exit?;
        let log = self.layout.log();
        Some(format!(
            "the process exited ({status}); last lines of {}:\n{}",
            paths::display(&log),
            process::log_tail(&log, 10)
        ))
    }
}

impl Drop for Ministack {
    fn drop(&mut self) {
        process::stop_child(&mut self.child, Duration::from_secs(5));
        self.layout.remove();
    }
}

/// A new folder `<parent>/<prefix>-<pid>-<n>` that no one else uses.
pub fn unique_dir(parent: &Path, prefix: &str) -> Result<PathBuf> {
    for n in 0..10_000u32 {
        let dir = parent.join(format!("{prefix}-{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                return Err(err).with_context(|| format!("cannot create {}", paths::display(&dir)))
            }
        }
    }
    bail!("no free scratch folder under {}", paths::display(parent))
}
