//! The git facts a deploy records and a protected stage requires: the
//! current commit and whether the work tree is clean.

use std::path::Path;

/// The commit checked out in the repository holding `dir`, if any.
pub fn commit(dir: &Path) -> Option<String> {
    duct::cmd!("git", "-C", dir, "rev-parse", "HEAD")
        .stderr_null()
        .read()
        .ok()
        .map(|s| s.trim().to_string())
}

/// `Some(files)` with the uncommitted changes, `None` outside a repository.
pub fn changes(dir: &Path) -> Option<Vec<String>> {
    let out = duct::cmd!(
        "git",
        "-C",
        dir,
        "status",
        "--porcelain",
        "--untracked-files=normal"
    )
    .stderr_null()
    .read()
    .ok()?;
    Some(
        out.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    )
}
