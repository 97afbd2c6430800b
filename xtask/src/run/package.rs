//! One service packaged by the pinned CLI for a stage, nothing uploaded:
//! its CloudFormation template as the deploy would send it. `diff`
//! compares it with the deployed one; `iam-policy` reads what it holds.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::app::stage::Stage;
use crate::app::{App, Service};
use crate::aws::stacks::Stacks;
use crate::run::serverless::{Serverless, Sink};
use crate::sys::output::Printer;
use crate::sys::{paths, tools};

/// A packaged service: its template, with the artifacts beside it in the
/// folder it was packaged to.
pub struct Packaged {
    pub template: Value,
    /// How the packaging departed from a deploy's (a Compose param that
    /// could not be read yet and was given a placeholder).
    pub notes: Vec<String>,
}

/// Packages `service` into `dir` (emptied first) with the stage's Compose
/// params, the CLI's output logged under `logs`.
pub async fn template(
    app: &App,
    service: &Service,
    stage: &Stage,
    (cli, stacks): (&Serverless, &Stacks),
    dir: &Path,
    logs: &Path,
    out: &Arc<Printer>,
) -> Result<Packaged> {
    let mut notes = Vec::new();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    tools::service_dependencies(&service.dir).await?;
    let params = match stacks.compose_params(app, service, stage).await {
        Ok(params) => params,
        Err(err) => {
            notes.push(format!(
                "{err:#}: packaged with a placeholder, as the deploy of what it reads comes first"
            ));
            crate::app::compose::for_stage(&service.params, stage.name())
                .into_iter()
                .map(|p| p.placeholder(stage.region()))
                .collect()
        }
    };
    let sink = Sink {
        prefix: service.key.clone(),
        log: logs.join(format!("{}.log", service.key)),
        out: out.clone(),
    };
    let _ = std::fs::remove_file(&sink.log);
    cli.package(service, stage, dir, &params, &sink).await?;
    let packaged = dir.join("cloudformation-template-update-stack.json");
    let template: Value = serde_json::from_slice(
        &std::fs::read(&packaged)
            .with_context(|| format!("the CLI wrote no {}", paths::display(&packaged)))?,
    )
    .with_context(|| format!("{} is not JSON", paths::display(&packaged)))?;
    Ok(Packaged { template, notes })
}
