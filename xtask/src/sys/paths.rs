//! Where the project keeps things: the workspace root, the pinned tools and
//! the project-local state (the long-lived emulator, journals).
//!
//! Every path the tool writes to is derived here, so tests can move all of it
//! into a temporary folder with two environment variables.

use std::path::{Path, PathBuf};

/// The workspace root: the folder that holds the top `Cargo.toml`.
///
/// `cargo xtask` always runs the binary built from this workspace, so the
/// compile-time manifest dir is the truth; `XTASK_ROOT` exists for the rare
/// copy of the binary run from elsewhere.
pub fn workspace_root() -> PathBuf {
    if let Some(root) = std::env::var_os("XTASK_ROOT") {
        return PathBuf::from(root);
    }
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().unwrap_or(manifest_dir);
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
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
