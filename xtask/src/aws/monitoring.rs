//! The deployed side of a stage's monitoring: what there is to watch,
//! the monitoring stack kept in step with it, and what its alarms and the
//! functions' error metrics say now.

use anyhow::{Context, Result};
use aws_sdk_cloudwatch::types::{StateValue, Statistic};

use crate::app::stage::Stage;
use crate::app::App;
use crate::aws::stacks::{self, Stacks};
use crate::aws::target::StageTarget;
use crate::cfn::monitoring::{self, Watched};

/// What every deployed service of the stage offers to watch.
pub async fn watched(app: &App, stage: &Stage, target: &StageTarget) -> Result<Vec<Watched>> {
    let cfn = target.cfn();
    let stacks = target.stacks();
    let mut out = Vec::new();
    for service in &app.services {
        let Some(stack) = service.stack_name(stage) else {
            continue;
        };
        let Some(resources) = stacks::list_resources(&cfn, &stack).await? else {
            continue;
        };
        let mut w = Watched {
            service: service.key.clone(),
            ..Watched::default()
        };
        let mut template: Option<serde_json::Value> = None;
        for r in resources {
            match r.resource_type.as_str() {
                "AWS::Lambda::Function" => w.functions.push(r.physical_id),
                "AWS::ApiGatewayV2::Api" => w.http_apis.push(r.physical_id),
                "AWS::ApiGateway::RestApi" => {
                    // REST API metrics are keyed by the API's name, which
                    // the deployed template holds.
                    if template.is_none() {
                        template = stacks
                            .template(&stack)
                            .await?
                            .and_then(|body| serde_json::from_str(&body).ok());
                    }
                    let name = template
                        .as_ref()
                        .and_then(|t| {
                            t.pointer(&format!("/Resources/{}/Properties/Name", r.logical_id))
                        })
                        .and_then(|n| n.as_str())
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            format!(
                                "{}-{}",
                                stage.name(),
                                service.name().unwrap_or(&service.key)
                            )
                        });
                    w.rest_apis.push((name, stage.name().to_string()));
                }
                _ => {}
            }
        }
        out.push(w);
    }
    Ok(out)
}

/// CloudFormation's limit of resources in one stack.
const MAX_RESOURCES: usize = 500;

/// Brings the stage's monitoring stack in step with what is deployed:
/// `created`, `updated` or `unchanged`, with how many alarms it holds.
pub async fn deploy(app: &App, stage: &Stage, target: &StageTarget) -> Result<(String, usize)> {
    let settings = stage
        .monitoring()
        .context("the stage has [stages.<stage>.monitoring]")?;
    let watched = watched(app, stage, target).await?;
    let template = monitoring::template(&app.name(), stage, settings, &watched);
    let alarms = template["Resources"].as_object().map_or(0, |r| {
        r.values()
            .filter(|v| v["Type"] == "AWS::CloudWatch::Alarm")
            .count()
    });
    let resources = template["Resources"].as_object().map_or(0, |r| r.len());
    if resources > MAX_RESOURCES {
        anyhow::bail!(
            "the monitoring stack would hold {resources} resources ({alarms} alarms), over the {MAX_RESOURCES} CloudFormation allows in one stack; leave [stages.{stage}.monitoring] out and give the services alarms of their own (the audit accepts those)"
        );
    }
    let stacks = target.stacks();
    // A large template goes through a deployment bucket of the stage.
    let bucket = crate::aws::provision::deployment_buckets(app, stage)
        .into_iter()
        .next();
    let what = stacks
        .put_stack(
            &monitoring::stack_name(&app.name(), stage),
            &template.to_string(),
            bucket.as_deref(),
        )
        .await?;
    Ok((what.to_string(), alarms))
}

/// Deletes the stage's monitoring stack; false when there was none.
pub async fn remove(app: &App, stage: &Stage, stacks: &Stacks) -> Result<bool> {
    stacks
        .delete_stack(&monitoring::stack_name(&app.name(), stage))
        .await
}

/// One alarm of the monitoring stack as CloudWatch has it now.
#[derive(Debug, Clone)]
pub struct Alarm {
    pub name: String,
    pub firing: bool,
    /// When its state last changed (seconds since the epoch).
    pub changed_at: u64,
    pub reason: String,
}

/// Every alarm of the stage's monitoring stack.
pub async fn alarms(app: &App, stage: &Stage, target: &StageTarget) -> Result<Vec<Alarm>> {
    let stack = monitoring::stack_name(&app.name(), stage);
    let names: Vec<String> = stacks::list_resources(&target.cfn(), &stack)
        .await?
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.resource_type == "AWS::CloudWatch::Alarm")
        .map(|r| r.physical_id)
        .collect();
    let cw = aws_sdk_cloudwatch::Client::new(&target.config);
    let mut out = Vec::new();
    for chunk in names.chunks(100) {
        let found = cw
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .max_records(100)
            .send()
            .await
            .map_err(crate::aws::cannot(format!("read the alarms of {stack}")))?;
        for a in found.metric_alarms() {
            out.push(Alarm {
                name: a.alarm_name().unwrap_or_default().to_string(),
                firing: a.state_value() == Some(&StateValue::Alarm),
                changed_at: a
                    .state_updated_timestamp()
                    .map_or(0, |t| t.secs().max(0) as u64),
                reason: a.state_reason().unwrap_or_default().to_string(),
            });
        }
    }
    Ok(out)
}

/// How many times each function failed since `since` (seconds since the
/// epoch; on AWS, since the start of that minute), from its `AWS/Lambda`
/// `Errors` metric; only those that did.
pub async fn function_errors(
    watched: &[Watched],
    target: &StageTarget,
    since: u64,
) -> Result<Vec<(String, u64)>> {
    let cw = aws_sdk_cloudwatch::Client::new(&target.config);
    let start = aws_sdk_cloudwatch::primitives::DateTime::from_secs(since as i64);
    let end =
        aws_sdk_cloudwatch::primitives::DateTime::from_secs(crate::sys::clock::now() as i64 + 60);
    let mut out = Vec::new();
    for function in watched.iter().flat_map(|w| &w.functions) {
        let stats = cw
            .get_metric_statistics()
            .namespace("AWS/Lambda")
            .metric_name("Errors")
            .dimensions(
                aws_sdk_cloudwatch::types::Dimension::builder()
                    .name("FunctionName")
                    .value(function)
                    .build(),
            )
            .start_time(start)
            .end_time(end)
            .period(60)
            .statistics(Statistic::Sum)
            .send()
            .await
            .map_err(crate::aws::cannot(format!("read the errors of {function}")))?;
        // CloudWatch counts from `since` (AWS from the start of its
        // minute: Lambda's metrics have one-minute resolution).
        let errors: f64 = stats.datapoints().iter().filter_map(|d| d.sum()).sum();
        if errors >= 1.0 {
            out.push((function.clone(), errors as u64));
        }
    }
    Ok(out)
}
