//! Where the project keeps things: the workspace root, the pinned tools and
//! the project-local state (the long-lived emulator, journals).
//!
//! Every path the tool writes to is derived here, so tests can move all of it
//! into a temporary folder with two environment variables.

use std::path::{Path, PathBuf};

/// The root this run chose (`use_root_of`), once it knew its app.
static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The project root: the repository the app is in, which holds the
/// pinned tools (`target/tools`) and the local state (`.xtask`).
///
/// `XTASK_ROOT` when set; else the repository of the app this run works
/// on (the binary says which with [`use_root_of`]); else the repository of
/// the current folder. Found at run time, so an installed binary works in
/// any team's repository, never in the folder it was built from.
pub fn workspace_root() -> PathBuf {
    if let Some(root) = std::env::var_os("XTASK_ROOT") {
        return PathBuf::from(root);
    }
    if let Some(root) = ROOT.get() {
        return root.clone();
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    repository_of(&cwd)
}

/// Makes the repository of `app` this run's root; the first call wins.
pub fn use_root_of(app: &Path) {
    let _ = ROOT.set(repository_of(app));
}

/// The repository `dir` is in: the nearest folder, `dir` or above, that
/// holds `.git` or a Cargo workspace's manifest; else `dir` itself (an app
/// outside any repository keeps its tools and state beside it).
pub fn repository_of(dir: &Path) -> PathBuf {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors()
        .find(|d| d.join(".git").exists() || is_cargo_workspace(&d.join("Cargo.toml")))
        .unwrap_or(&dir)
        .to_path_buf()
}

/// Whether `manifest` is a Cargo manifest with a `[workspace]` table.
/// Reads at most 1 MiB of it: a manifest is small, and a named pipe or a
/// huge file in its place is no workspace.
pub fn is_cargo_workspace(manifest: &Path) -> bool {
    use std::io::Read;
    const MAX_MANIFEST: u64 = 1 << 20;
    if !manifest.is_file() {
        return false;
    }
    let mut text = String::new();
    let read = std::fs::File::open(manifest)
        .and_then(|file| file.take(MAX_MANIFEST + 1).read_to_string(&mut text));
    read.is_ok_and(|n| n as u64 <= MAX_MANIFEST)
        && text
            .parse::<toml::Table>()
            .is_ok_and(|table| table.contains_key("workspace"))
}

/// The pinned external tools (Serverless CLI, emulator venv, cfn-lint).
/// Re-creatable at any time, so they live under `target/`.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("XTASK_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target").join("tools"),
    }
}

/// Project-local state that must survive `cargo clean`: the long-lived local
/// emulator and the deploy journals.
pub fn state_dir() -> PathBuf {
    match std::env::var_os("XTASK_STATE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join(".xtask"),
    }
}

/// Scratch space for short-lived emulators and test runs.
pub fn scratch_dir() -> PathBuf {
    workspace_root().join("target").join("xtask-tmp")
}

/// Shows a path relative to the current directory when it lies below it, the
/// way a compiler names files in diagnostics.
pub fn display(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    match cwd.as_deref().and_then(|cwd| path.strip_prefix(cwd).ok()) {
        Some(relative) if !relative.as_os_str().is_empty() => relative.display().to_string(),
        _ => path.display().to_string(),
    }
}

/// `a/./b/../c` as `a/c`, so included files are named the way users write them.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
