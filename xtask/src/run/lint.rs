//! The deep lint behind `cargo xtask validate --deep`: each service packaged by the Serverless
//! CLI, the generated template linted by the pinned cfn-lint, and every
//! finding mapped back to the serverless.yml line it came from.
//!
//! Packaging runs offline (against an endpoint that answers nothing, so no
//! call can reach AWS) unless the service reads other stacks through
//! `${cf:}`, which needs the stage's live stacks: then it runs against the
//! stage's target (the emulator for `local` and with `--rehearse`).

#![allow(clippy::disallowed_methods, reason = "runs the pinned cfn-lint")]

use std::sync::Arc;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::app::diag::{Finding, Report};
use crate::app::stage::Stage;
use crate::app::yaml::{FileError, Node, Pos};
use crate::app::{App, Service};
use crate::aws::target::{Mode, StageTarget};
use crate::aws::Target;
use crate::cfn;
use crate::run::serverless::{Serverless, Sink};
use crate::sys::hint;
use crate::sys::output::Printer;
use crate::{app::vars, sys::paths, sys::tools};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LintMatch {
    rule: LintRule,
    location: LintLocation,
    message: String,
    level: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LintRule {
    id: String,
    #[serde(default)]
    short_description: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LintLocation {
    #[serde(default)]
    path: Vec<serde_json::Value>,
}

fn needs_live_stacks(service: &Service) -> bool {
    vars::find_all(&service.text)
        .iter()
        .any(|v| v.source == vars::Source::Cf)
}

pub async fn lint(app: &App, stage: &Stage, mode: Mode) -> Result<Report> {
    let out = Arc::new(Printer::new(true));
    let cfn_lint = tools::cfn_lint(true)?;
    let offline = Target::Emulator {
        endpoint: "http://127.0.0.1:1".into(),
        access_key: crate::aws::emulator::ACCESS_KEY.into(),
    };
    let live = if app.services.iter().any(needs_live_stacks) {
        Some(StageTarget::open(stage, mode).await?)
    } else {
        None
    };
    let work =
        paths::scratch_dir().join(format!("validate-{}-{}", std::process::id(), stage.name()));
    let logs = paths::state_dir().join("validate").join(stage.name());
    let mut report = Report::default();
    out.step("packaging each service from a copy whose config validation only warns (a retired runtime or a v3 pin cannot stop the lint); Compose params read from other services' outputs are placeholders");
    for service in &app.services {
        let target = match (&live, needs_live_stacks(service)) {
            (Some(live), true) => &live.target,
            _ => &offline,
        };
        let cli = Serverless::new(target)?.relaxed();
        let dir = work.join(&service.key);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        tools::service_dependencies(&service.dir).await?;
        let log = logs.join(format!("{}.log", service.key));
        let _ = std::fs::remove_file(&log);
        let sink = Sink {
            prefix: service.key.clone(),
            log,
            out: out.clone(),
        };
        // Compose params that read other services' outputs are known only
        // after those deploy: packaging uses a placeholder for each.
        let params: Vec<(String, String)> =
            crate::app::compose::for_stage(&service.params, stage.name())
                .into_iter()
                .map(|p| p.placeholder(stage.region()))
                .collect();
        if let Err(err) = cli.package(service, stage, &dir, &params, &sink).await {
            // What the CLI could not resolve is the app's to fix, at its line.
            let unresolved = resolution_errors(service, stage, &format!("{err:#}"));
            if !unresolved.is_empty() {
                report.findings.extend(unresolved);
                continue;
            }
            let hint = if needs_live_stacks(service) {
                format!(
                    "\n  its `${{cf:}}` references read stacks that must be deployed to stage {stage} first (on {}); deploy them, or add --rehearse",
                    live.as_ref().map(|l| l.describe()).unwrap_or_default()
                )
            } else {
                String::new()
            };
            report.errors.push(FileError {
                path: service.file.clone(),
                pos: None,
                message: format!("the Serverless CLI could not package it: {err:#}{hint}"),
            });
            continue;
        }
        // What the relaxed schema check only warned about: findings at
        // their lines (a retired runtime is the offline check's already).
        let log_text = std::fs::read_to_string(&sink.log).unwrap_or_default();
        report.findings.extend(schema_warnings(service, &log_text));
        let template = dir.join("cloudformation-template-update-stack.json");
        let output = std::process::Command::new(&cfn_lint)
            .args(["--format", "json", "--regions", stage.region(), "--"])
            .arg(&template)
            .output()
            .with_context(|| format!("cannot run {}", paths::display(&cfn_lint)))?;
        let matches: Vec<LintMatch> =
            serde_json::from_slice(&output.stdout).with_context(|| {
                format!(
                    "cfn-lint gave no report for {}: {}",
                    service.key,
                    String::from_utf8_lossy(&output.stderr)
                )
            })?;
        for m in matches.into_iter().filter(|m| m.level != "Informational") {
            // Warnings about resources the framework generated are not the
            // user's to fix; errors there still are (they fail the deploy).
            if m.level == "Warning" && !is_users(service, &m) {
                continue;
            }
            report.findings.push(map_back(service, &m));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(report.finish())
}

fn is_users(service: &Service, m: &LintMatch) -> bool {
    match (
        m.location.path.first().and_then(|p| p.as_str()),
        m.location.path.get(1).and_then(|p| p.as_str()),
    ) {
        (Some("Resources"), Some(id)) => service.entry("Resources", id).is_some(),
        (Some("Outputs"), Some(key)) => service.entry("Outputs", key).is_some(),
        _ => false,
    }
}

/// `at 'functions.a.timeout': must be integer` lines of the CLI's config
/// validation, as findings at the line they name.
fn schema_warnings(service: &Service, output: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for line in output.lines() {
        let Some(rest) = line.trim_start().strip_prefix("at '") else {
            continue;
        };
        let Some((path, why)) = rest.split_once("':") else {
            continue;
        };
        if path.ends_with("runtime") {
            continue;
        }
        let keys: Vec<String> = path.split('.').map(str::to_string).collect();
        found.push(Finding::new(
            &service.file,
            descend(&service.doc, &keys),
            "cli-config-error",
            format!(
                "the Serverless CLI's schema refuses `{path}`: {}",
                why.trim()
            ),
            "fix the value; the CLI refuses this config at deploy time".to_string(),
        ));
    }
    found
}

/// `Cannot resolve variable at "functions.a.environment.X": why` lines of
/// the CLI's output, as findings at the line that holds the variable.
fn resolution_errors(service: &Service, stage: &Stage, output: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    for line in output.lines() {
        let Some(rest) = line.split("Cannot resolve variable at \"").nth(1) else {
            continue;
        };
        let Some((path, why)) = rest.split_once('"') else {
            continue;
        };
        let why = why.trim_start_matches(':').trim().trim_end_matches(',');
        let keys: Vec<String> = path.split('.').map(str::to_string).collect();
        let pos = descend(&service.doc, &keys);
        found.push(Finding::new(
            &service.file,
            pos,
            "cli-unresolved-variable",
            format!("the Serverless CLI cannot resolve `{path}`: {why}"),
            if why.contains("credentials") {
                format!("set AWS credentials for this stage's account (AWS_PROFILE, or the AWS_ACCESS_KEY_ID pair): the Serverless CLI asks AWS for `{path}`")
            } else {
                format!(
                    "give the variable a value for this stage (or a fallback); `{}` shows what it resolves to",
                    hint::xtask(&format!("validate {stage}"))
                )
            },
        ));
    }
    found
}

/// The serverless.yml position of a template path: the user's own resource
/// (as deep as the path goes), the function a generated resource belongs
/// to, or the provider block.
fn map_back(service: &Service, m: &LintMatch) -> Finding {
    let path: Vec<String> = m
        .location
        .path
        .iter()
        .map(|p| {
            p.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| p.to_string())
        })
        .collect();
    let (file, pos) = position(service, &path);
    let fix = if m.rule.short_description.is_empty() {
        format!("see cfn-lint rule {}", m.rule.id)
    } else {
        format!("{} (cfn-lint {})", m.rule.short_description, m.rule.id)
    };
    let rule: &'static str = if m.rule.id.starts_with('E') {
        "cfn-lint-error"
    } else {
        "cfn-lint-warning"
    };
    Finding::new(
        &file,
        pos,
        rule,
        format!("{} [{}]", m.message, path.join("/")),
        fix,
    )
}

/// The file and position a template path comes from.
fn position(service: &Service, path: &[String]) -> (std::path::PathBuf, Pos) {
    let own = |pos: Pos| (service.file.clone(), pos);
    let doc = &service.doc;
    let fallback = doc
        .get("provider")
        .map(|n| n.pos)
        .unwrap_or(Pos { line: 1, col: 1 });
    match path.first().map(String::as_str) {
        Some("Resources") => {
            let Some(id) = path.get(1) else {
                return own(fallback);
            };
            if let Some((file, node)) = service.entry("Resources", id) {
                return (file.to_path_buf(), descend(node, &path[2..]));
            }
            // A generated resource: the function whose logical ids it carries.
            for (key, _) in doc
                .get("functions")
                .and_then(Node::as_map)
                .unwrap_or_default()
            {
                if let Some(name) = key.as_str() {
                    if id.starts_with(&cfn::normalized_function_name(name)) {
                        return own(key.pos);
                    }
                }
            }
            own(fallback)
        }
        Some("Outputs") => path
            .get(1)
            .and_then(|k| service.entry("Outputs", k))
            .map(|(file, n)| (file.to_path_buf(), n.pos))
            .unwrap_or_else(|| own(fallback)),
        _ => own(fallback),
    }
}

fn descend(node: &Node, rest: &[String]) -> Pos {
    let Some(first) = rest.first() else {
        return node.pos;
    };
    let next = match node.as_seq() {
        Some(items) => first.parse::<usize>().ok().and_then(|i| items.get(i)),
        None => node.get(first),
    };
    match next {
        Some(child) => descend(child, &rest[1..]),
        None => node.pos,
    }
}
