//! The IAM policy of a stage's deploy role (`iam-policy`): every service
//! packaged by the pinned CLI for the stage, its template read by
//! `iam::build`.

use std::sync::Arc;

use anyhow::{Context, Result};

use crate::app::stage::Stage;
use crate::app::App;
use crate::aws::lock;
use crate::aws::target::StageTarget;
use crate::iam::build::{self, Built, Scope};
use crate::iam::offline;
use crate::run::package;
use crate::run::serverless::Serverless;
use crate::sys::output::Printer;
use crate::sys::paths;

/// The policy for `stage` in `account`, from the services in `keys`, and
/// notes on how each service was read where it was not packaged.
pub async fn policy(
    app: &App,
    stage: &Stage,
    target: &StageTarget,
    account: &str,
    keys: &[String],
    out: Arc<Printer>,
) -> Result<(Built, Vec<String>)> {
    let cli = Serverless::new(&target.target)?;
    let stacks = target.stacks();
    let work = paths::scratch_dir().join(format!("iam-{}-{}", std::process::id(), stage.name()));
    let logs = paths::state_dir().join("iam-policy").join(stage.name());
    let mut packaged = Vec::new();
    let mut notes = Vec::new();
    for key in keys {
        let service = app.service(key).context("a service of the plan")?;
        let name = service.stack_name(stage).with_context(|| {
            format!(
                "{}: cannot tell the stack name of {key} for stage {stage}",
                service.display_file()
            )
        })?;
        out.step(&format!("packaging {key} to read its resources"));
        let dir = work.join(key);
        let result =
            package::template(app, service, stage, (&cli, &stacks), &dir, &logs, &out).await;
        let _ = std::fs::remove_dir_all(&dir);
        // Not deployable yet where it is asked (it reads a stack that is
        // not there): its files say what it will hold.
        let template = match result {
            Ok(packaged) => packaged.template,
            Err(err) => {
                notes.push(format!(
                    "{key}: read from its files, as the CLI cannot package it here yet ({}); a name they leave to the deploy is a pattern",
                    format!("{err:#}").lines().last().unwrap_or_default().trim()
                ));
                offline::template(service, stage)
            }
        };
        packaged.push(build::Stack {
            service: key.clone(),
            name,
            template,
            deployment_bucket: service.deployment_bucket(stage),
            cli_service: service
                .name()
                .and_then(|n| crate::app::vars::resolve(n, &service.vars(stage))),
        });
    }
    // The monitoring stack the tool keeps beside the services: its alarms
    // are named after the app and the stage, one for each thing watched.
    if let Some(monitoring) = stage.monitoring() {
        let app_name = app.name();
        let mut template = crate::cfn::monitoring::template(&app_name, stage, monitoring, &[]);
        template["Resources"]["Alarm"] = serde_json::json!({
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {"AlarmName": format!("{app_name}-{stage}-*")}
        });
        packaged.push(build::Stack {
            service: "monitoring".into(),
            name: crate::cfn::monitoring::stack_name(&app_name, stage),
            template,
            deployment_bucket: None,
            cli_service: None,
        });
    }
    let _ = std::fs::remove_dir_all(&work);
    let scope = Scope {
        app: app.name().to_string(),
        stage: stage.name().to_string(),
        region: stage.region().to_string(),
        account: account.to_string(),
        lock_table: lock::TABLE.to_string(),
    };
    Ok((build::policy(&scope, &packaged), notes))
}
