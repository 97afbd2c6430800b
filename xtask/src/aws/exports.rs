//! The exports a deploy would take away from stacks that still import them:
//! CloudFormation refuses such an update half-way through a run, so deploy
//! checks it against the deployed stage before anything changes.

use crate::app::diag::Finding;
use crate::app::stage::Stage;
use crate::app::{App, Service};
use crate::aws;
use crate::cfn::rules::exports::{exports_after_deploy, removed_export_finding, ImportedExport};

/// Checks the deploy of `services` against what is deployed: an export
/// that a deploy would remove while another stack imports it is a finding.
pub async fn removed_while_imported(
    app: &App,
    services: &[&Service],
    stage: &Stage,
    cfn_client: &aws_sdk_cloudformation::Client,
) -> anyhow::Result<Vec<Finding>> {
    // Importers are stacks; name the app's services where they are ours.
    let name_of = |stack: &str| -> String {
        match app
            .services
            .iter()
            .find(|s| s.stack_name(stage).as_deref() == Some(stack))
        {
            Some(service) => format!("{} (stack {stack})", service.key),
            None => format!("stack {stack}"),
        }
    };
    let mut findings = Vec::new();
    for service in services {
        let Some(stack) = service.stack_name(stage) else {
            continue;
        };
        let described = match cfn_client.describe_stacks().stack_name(&stack).send().await {
            Ok(described) => described,
            Err(err) => {
                let message = aws::error_message(&err);
                // Not deployed yet: nothing of it can be imported.
                if message.contains("does not exist") {
                    continue;
                }
                anyhow::bail!("cannot read the exports of stack {stack}: {message}");
            }
        };
        let deployed: Vec<String> = described
            .stacks()
            .iter()
            .flat_map(|s| s.outputs())
            .filter_map(|o| o.export_name().map(str::to_string))
            .collect();
        let kept = exports_after_deploy(service, stage);
        for export in deployed.into_iter().filter(|e| !kept.contains(e)) {
            let importers = importers(cfn_client, &export).await?;
            if !importers.is_empty() {
                let importers = importers.iter().map(|s| name_of(s)).collect();
                findings.push(removed_export_finding(
                    service,
                    &ImportedExport { export, importers },
                ));
            }
        }
    }
    Ok(findings)
}

/// The stacks that import `export` (none when it is not imported).
pub async fn importers(
    cfn_client: &aws_sdk_cloudformation::Client,
    export: &str,
) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let mut request = cfn_client.list_imports().export_name(export);
        if let Some(t) = token.take() {
            request = request.next_token(t);
        }
        match request.send().await {
            Ok(out) => {
                found.extend(out.imports().iter().cloned());
                match out.next_token() {
                    Some(next) => token = Some(next.to_string()),
                    None => return Ok(found),
                }
            }
            Err(err) => {
                let message = aws::error_message(&err);
                // "is not imported by any stack" is the normal answer.
                if message.contains("not imported") {
                    return Ok(found);
                }
                anyhow::bail!("cannot list the importers of export {export}: {message}");
            }
        }
    }
}
