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

/// `Some(files)` with the uncommitted changes, `None` outside a
/// repository; what lies in `own` left out (the tool's own folders in
/// the repository: its pinned tools, scratch space and state are no
/// change of the team's). Untracked files are listed one by one, so a
/// folder holding only the tool's is not shown whole.
pub fn changes_except(dir: &Path, own: &[std::path::PathBuf]) -> Option<Vec<String>> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let top = Path::new(top.trim());
    let top = top.canonicalize().unwrap_or_else(|_| top.to_path_buf());
    let mut args = vec![
        "status".to_string(),
        "--porcelain".to_string(),
        "--untracked-files=all".to_string(),
        // The whole work tree (`:/`), wherever in it the app is: a change
        // beside the app folder (a shared library it bundles) counts.
        "--".to_string(),
        ":/".to_string(),
    ];
    for folder in own {
        let folder = folder
            .canonicalize()
            .unwrap_or_else(|_| folder.to_path_buf());
        // A pathspec outside the work tree is an error to git.
        if folder.starts_with(&top) && folder != top {
            args.push(format!(":(exclude){}", folder.display()));
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = git(dir, &args)?;
    Some(
        out.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository whose only untracked files are the tool's own folders
    /// (tools under `target/`, state under `.xtask/`) is clean; a file of
    /// the team's beside them is a change.
    #[test]
    fn the_tool_s_own_folders_are_no_change() {
        let repo = std::env::temp_dir().join(format!("xtask-git-own-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&repo);
        std::fs::create_dir_all(repo.join("app/target/tools")).unwrap();
        std::fs::create_dir_all(repo.join("app/.xtask")).unwrap();
        let run = |args: &[&str]| {
            let ok = Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args(args)
                .current_dir(&repo)
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(ok, "git {args:?}");
        };
        run(&["init", "-q"]);
        std::fs::write(repo.join("app/serverless.yml"), "service: a\n").unwrap();
        run(&["add", "."]);
        run(&["commit", "-qm", "app"]);
        std::fs::write(repo.join("app/target/tools/pin"), "x").unwrap();
        std::fs::write(repo.join("app/.xtask/journal.json"), "{}").unwrap();
        let own = [repo.join("app/target/tools"), repo.join("app/.xtask")];
        let app = repo.join("app");
        assert_eq!(changes_except(&app, &own), Some(Vec::new()));
        assert_eq!(
            changes_except(&app, &[]).map(|c| c.len()),
            Some(2),
            "without the exclusions both are changes"
        );
        std::fs::write(repo.join("app/handler.js"), "x").unwrap();
        assert_eq!(
            changes_except(&app, &own),
            Some(vec!["?? app/handler.js".to_string()])
        );
        // A change beside the app folder is the team's too.
        std::fs::write(repo.join("shared.js"), "x").unwrap();
        assert_eq!(
            changes_except(&app, &own).map(|c| c.len()),
            Some(2),
            "a change outside the app folder counts"
        );
        let _ = std::fs::remove_dir_all(&repo);
    }
}
