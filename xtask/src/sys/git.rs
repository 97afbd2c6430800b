//! The git facts a deploy records and a protected stage requires: the
//! current commit and whether the work tree is clean.

#![allow(
    clippy::disallowed_methods,
    reason = "reads the work tree's state from git"
)]

use std::path::Path;
use std::process::{Command, Stdio};

/// `git -C dir ARGS`'s standard output when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

/// The commit checked out in the repository holding `dir`, if any.
pub fn commit(dir: &Path) -> Option<String> {
    git(dir, &["rev-parse", "HEAD"]).map(|s| s.trim().to_string())
}

/// `Some(files)` with the uncommitted changes, `None` outside a repository.
pub fn changes(dir: &Path) -> Option<Vec<String>> {
    let out = git(dir, &["status", "--porcelain", "--untracked-files=normal"])?;
    Some(
        out.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    )
}
