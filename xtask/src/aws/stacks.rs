//! What is deployed: CloudFormation stack state and outputs, and the
//! deployments the Serverless Framework keeps in the deployment bucket.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use aws_config::SdkConfig;
use serde::{Deserialize, Serialize};

use crate::app::stage::Stage;
use crate::app::Service;
use crate::aws::{self, Target};
use crate::sys::clock::Span;

/// A stack as CloudFormation describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StackState {
    pub exists: bool,
    pub status: Option<String>,
    pub outputs: BTreeMap<String, String>,
    /// The newest deployment kept in the deployment bucket (its timestamp),
    /// which `serverless rollback --timestamp` returns to.
    pub deployment: Option<String>,
    /// When CloudFormation last changed the stack (created or updated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<String>,
    /// Whether CloudFormation refuses to delete the stack.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub termination_protection: bool,
    /// When CloudFormation says it created the stack, in seconds since
    /// the epoch: what a rollback checks a journal's word against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<u64>,
    /// When CloudFormation last updated it, likewise; `None` if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<u64>,
}

pub struct Stacks {
    cfn: aws_sdk_cloudformation::Client,
    s3: aws_sdk_s3::Client,
    /// The emulator's endpoint, or `None` on AWS; with `region`, where an
    /// object's URL points.
    endpoint: Option<String>,
    region: String,
}

impl Stacks {
    pub fn new(config: &SdkConfig, target: &Target) -> Stacks {
        Stacks {
            cfn: aws_sdk_cloudformation::Client::new(config),
            s3: aws::s3_client(config, target),
            endpoint: target.endpoint().map(str::to_string),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    /// The URL CloudFormation reads an object of the target's S3 at.
    fn object_url(&self, bucket: &str, key: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{}.amazonaws.com/{key}", self.region),
        }
    }

    /// The stack's status and outputs; `exists: false` when there is none.
    pub async fn describe(&self, stack: &str) -> Result<StackState> {
        let result = self.cfn.describe_stacks().stack_name(stack).send().await;
        let output = match result {
            Ok(output) => output,
            Err(err) => {
                let message = aws::error_message(&err);
                if message.contains("does not exist") {
                    return Ok(StackState::default());
                }
                bail!("cannot describe stack {stack}: {message}");
            }
        };
        let Some(found) = output.stacks().first() else {
            return Ok(StackState::default());
        };
        let status = found.stack_status().map(|s| s.as_str().to_string());
        if status.as_deref() == Some("DELETE_COMPLETE") {
            return Ok(StackState::default());
        }
        let outputs = found
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect();
        let changed_at = found
            .last_updated_time()
            .or(found.creation_time())
            .map(|t| t.to_string());
        let secs =
            |t: Option<&aws_smithy_types::DateTime>| t.and_then(|t| u64::try_from(t.secs()).ok());
        Ok(StackState {
            exists: true,
            status,
            outputs,
            deployment: None,
            changed_at,
            termination_protection: found.enable_termination_protection().unwrap_or(false),
            created_at: secs(found.creation_time()),
            updated_at: secs(found.last_updated_time()),
        })
    }

    /// The CloudFormation operation on `stack` since `since` (ms since the
    /// epoch): its first and last stack event, read newest first and
    /// only as far back as `since`. `None` when nothing happened to it.
    pub async fn operation_since(&self, stack: &str, since: u64) -> Result<Option<Span>> {
        // A deploy makes a few hundred events at most; a bound keeps a
        // stack with an endless history from being read whole.
        const MAX_PAGES: usize = 20;
        let mut span: Option<Span> = None;
        let mut token = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .cfn
                .describe_stack_events()
                .stack_name(stack)
                .set_next_token(token)
                .send()
                .await
                .map_err(aws::cannot(&format!("read the events of stack {stack}")))?;
            let mut older = false;
            for event in page.stack_events() {
                let Some(at) = event.timestamp().and_then(|t| t.to_millis().ok()) else {
                    continue;
                };
                let Ok(at) = u64::try_from(at) else { continue };
                if at < since {
                    older = true;
                    continue;
                }
                span = Some(match span {
                    None => Span { start: at, end: at },
                    Some(s) => Span {
                        start: s.start.min(at),
                        end: s.end.max(at),
                    },
                });
            }
            token = page.next_token().map(str::to_string);
            if older || token.is_none() {
                break;
            }
        }
        Ok(span)
    }

    /// The stack's state plus its newest kept deployment.
    pub async fn state(&self, service: &Service, stage: &Stage) -> Result<StackState> {
        let mut state = self.describe_service(service, stage).await?;
        if state.exists {
            state.deployment = self.latest_deployment(service, stage, &state).await?;
        }
        Ok(state)
    }

    /// The service's stack status and outputs, without looking up its kept
    /// deployments (for callers that only read outputs).
    pub async fn describe_service(&self, service: &Service, stage: &Stage) -> Result<StackState> {
        let Some(stack) = service.stack_name(stage) else {
            bail!(
                "{}: cannot tell the stack name of service `{}` for stage {stage}",
                service.display_file(),
                service.key
            );
        };
        self.describe(&stack).await
    }

    /// The bucket holding the service's deployments in `stage`.
    pub fn deployment_bucket(
        service: &Service,
        stage: &Stage,
        state: &StackState,
    ) -> Option<String> {
        service
            .deployment_bucket(stage)
            .or_else(|| state.outputs.get("ServerlessDeploymentBucketName").cloned())
    }

    pub fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// The newest deployment kept in the service's deployment bucket.
    async fn latest_deployment(
        &self,
        service: &Service,
        stage: &Stage,
        state: &StackState,
    ) -> Result<Option<String>> {
        Ok(self.deployments(service, stage, state).await?.pop())
    }

    /// Every deployment kept in the service's deployment bucket (their
    /// timestamps), oldest first. Deployments live under
    /// `serverless/<service>/<stage>/<ms>-<iso time>/` in the deployment
    /// bucket (named by the stack's output when the framework created it).
    pub async fn deployments(
        &self,
        service: &Service,
        stage: &Stage,
        state: &StackState,
    ) -> Result<Vec<String>> {
        let bucket = service
            .deployment_bucket(stage)
            .or_else(|| state.outputs.get("ServerlessDeploymentBucketName").cloned());
        let (Some(bucket), Some(name)) = (bucket, service.name()) else {
            return Ok(Vec::new());
        };
        let ctx = service.vars(stage);
        let Some(name) = crate::app::vars::resolve(name, &ctx) else {
            return Ok(Vec::new());
        };
        let prefix = format!("serverless/{name}/{}/", stage.name());
        let mut timestamps = Vec::new();
        let mut token = None;
        loop {
            let mut request = self
                .s3
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&prefix)
                .delimiter("/");
            if let Some(t) = token.take() {
                request = request.continuation_token(t);
            }
            let page = match request.send().await {
                Ok(page) => page,
                Err(err) => bail!(
                    "cannot list deployments in bucket {bucket}: {}",
                    aws::error_message(&err)
                ),
            };
            for common in page.common_prefixes() {
                if let Some(dir) = common.prefix().and_then(|p| p.strip_prefix(&prefix)) {
                    if let Some(ts) = dir
                        .split('-')
                        .next()
                        .filter(|ts| !ts.is_empty() && ts.chars().all(|c| c.is_ascii_digit()))
                    {
                        timestamps.push(ts.to_string());
                    }
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => break,
            }
        }
        timestamps.sort_by_key(|ts| ts.parse::<u128>().unwrap_or(0));
        Ok(timestamps)
    }

    /// Whether CloudFormation refuses to delete the stack (termination
    /// protection); `None` when there is no such stack.
    pub async fn termination_protection(&self, stack: &str) -> Result<Option<bool>> {
        let state = self.describe(stack).await?;
        Ok(state.exists.then_some(state.termination_protection))
    }

    /// Turns the stack's termination protection on or off.
    pub async fn set_termination_protection(&self, stack: &str, on: bool) -> Result<()> {
        self.cfn
            .update_termination_protection()
            .stack_name(stack)
            .enable_termination_protection(on)
            .send()
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "cannot turn termination protection {} for stack {stack}: {}",
                    if on { "on" } else { "off" },
                    aws::error_message(&err)
                )
            })?;
        Ok(())
    }

    /// What CloudFormation says deploying `template` over `stack` would
    /// change: a change set is created, read whole and deleted; nothing is
    /// executed. A template over the 51,200 bytes a request may carry is
    /// put in `bucket` for the call and deleted after.
    pub async fn planned_changes(
        &self,
        stack: &str,
        template: &str,
        bucket: Option<&str>,
    ) -> Result<Vec<crate::cfn::diff::PlannedChange>> {
        use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, Parameter};
        let name = format!(
            "xtask-diff-{}-{}",
            std::process::id(),
            crate::sys::clock::now()
        );
        let mut request = self
            .cfn
            .create_change_set()
            .stack_name(stack)
            .change_set_name(&name)
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityNamedIam)
            .capabilities(Capability::CapabilityAutoExpand);
        // Parameters the stack has keep their values, as a deploy keeps them.
        let described = self.cfn.describe_stacks().stack_name(stack).send().await;
        if let Ok(out) = described {
            for p in out
                .stacks()
                .first()
                .map(|s| s.parameters())
                .unwrap_or_default()
            {
                if let Some(key) = p.parameter_key() {
                    request = request.parameters(
                        Parameter::builder()
                            .parameter_key(key)
                            .use_previous_value(true)
                            .build(),
                    );
                }
            }
        }
        let uploaded = self.put_template(stack, &name, template, bucket).await?;
        request = match &uploaded {
            Some((bucket, key)) => request.template_url(self.object_url(bucket, key)),
            None => request.template_body(template),
        };
        let result = async {
            request.send().await.map_err(crate::aws::cannot(format!(
                "create a change set for {stack}"
            )))?;
            // Bounded: a change set is ready in seconds; five minutes is a
            // stuck service.
            let started = std::time::Instant::now();
            let mut changes = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut describe = self
                    .cfn
                    .describe_change_set()
                    .stack_name(stack)
                    .change_set_name(&name);
                if let Some(t) = token.take() {
                    describe = describe.next_token(t);
                }
                let page = describe.send().await.map_err(crate::aws::cannot(format!(
                    "read the change set of {stack}"
                )))?;
                match page.status() {
                    Some(ChangeSetStatus::CreateComplete) => {}
                    Some(ChangeSetStatus::Failed) => {
                        let reason = page.status_reason().unwrap_or_default();
                        if reason.contains("didn't contain changes")
                            || reason.contains("No updates")
                        {
                            return Ok(Vec::new());
                        }
                        bail!("CloudFormation could not plan the update of {stack}: {reason}");
                    }
                    _ => {
                        if started.elapsed() > std::time::Duration::from_secs(300) {
                            bail!("the change set of {stack} was not ready after 5 minutes");
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        continue;
                    }
                }
                for change in page.changes() {
                    let Some(rc) = change.resource_change() else {
                        continue;
                    };
                    changes.push(crate::cfn::diff::PlannedChange {
                        action: rc
                            .action()
                            .map(|a| a.as_str().to_string())
                            .unwrap_or_default(),
                        id: rc.logical_resource_id().unwrap_or_default().to_string(),
                        ty: rc.resource_type().unwrap_or_default().to_string(),
                        replacement: rc.replacement().map(|r| r.as_str().to_string()),
                        recreating: rc
                            .details()
                            .iter()
                            .filter(|d| {
                                d.target()
                                    .and_then(|t| t.requires_recreation())
                                    .map(|r| r.as_str())
                                    == Some("Always")
                            })
                            .filter_map(|d| d.target().and_then(|t| t.name()).map(str::to_string))
                            .collect(),
                    });
                }
                match page.next_token() {
                    Some(next) => token = Some(next.to_string()),
                    None => return Ok(changes),
                }
            }
        }
        .await;
        let _ = self
            .cfn
            .delete_change_set()
            .stack_name(stack)
            .change_set_name(&name)
            .send()
            .await;
        self.drop_template(uploaded).await;
        result
    }

    /// A template over the 51,200 bytes a CloudFormation request may
    /// carry is put in `bucket` (under `xtask/templates/`) and read from
    /// there: where it was put, for [`Self::drop_template`].
    async fn put_template(
        &self,
        stack: &str,
        name: &str,
        template: &str,
        bucket: Option<&str>,
    ) -> Result<Option<(String, String)>> {
        match bucket {
            Some(bucket) if template.len() > 51_200 => {
                let key = format!("xtask/templates/{name}.json");
                self.s3
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .body(template.as_bytes().to_vec().into())
                    .send()
                    .await
                    .map_err(crate::aws::cannot(format!(
                        "put the template of {stack} in {bucket}"
                    )))?;
                Ok(Some((bucket.to_string(), key)))
            }
            _ => Ok(None),
        }
    }

    async fn drop_template(&self, uploaded: Option<(String, String)>) {
        if let Some((bucket, key)) = uploaded {
            let _ = self.s3.delete_object().bucket(bucket).key(key).send().await;
        }
    }

    /// Creates or updates `stack` from `template` (a stack the tool owns,
    /// such as the monitoring stack) and waits for CloudFormation to
    /// finish: `created`, `updated` or `unchanged`.
    pub async fn put_stack(
        &self,
        stack: &str,
        template: &str,
        bucket: Option<&str>,
    ) -> Result<&'static str> {
        let exists = self.describe(stack).await?.exists;
        let name = format!("{stack}-{}", crate::sys::clock::now());
        let uploaded = self.put_template(stack, &name, template, bucket).await?;
        let url = uploaded.as_ref().map(|(b, k)| self.object_url(b, k));
        // A template is sent in the request, or read from the bucket.
        let body = url.is_none().then(|| template.to_string());
        let sent = if exists {
            let request = self.cfn.update_stack().stack_name(stack);
            let request = request.set_template_url(url).set_template_body(body);
            request
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws::error_message(&e))
        } else {
            let request = self.cfn.create_stack().stack_name(stack);
            let request = request.set_template_url(url).set_template_body(body);
            request
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws::error_message(&e))
        };
        let verb = if exists { "update" } else { "create" };
        let result = match sent {
            Err(message) if message.contains("No updates are to be performed") => Ok("unchanged"),
            Err(message) => Err(anyhow::anyhow!("cannot {verb} stack {stack}: {message}")),
            Ok(()) => {
                self.wait_settled(stack)
                    .await
                    .map(|()| if exists { "updated" } else { "created" })
            }
        };
        self.drop_template(uploaded).await;
        result
    }

    /// Deletes a stack the tool owns and waits until it is gone; false
    /// when there was none.
    pub async fn delete_stack(&self, stack: &str) -> Result<bool> {
        if !self.describe(stack).await?.exists {
            return Ok(false);
        }
        self.cfn
            .delete_stack()
            .stack_name(stack)
            .send()
            .await
            .map_err(crate::aws::cannot(format!("delete stack {stack}")))?;
        self.wait_settled(stack).await?;
        Ok(true)
    }

    /// Waits (bounded: 30 minutes) until the stack is no longer in
    /// progress; an error when it ended failed or rolled back.
    async fn wait_settled(&self, stack: &str) -> Result<()> {
        let started = std::time::Instant::now();
        loop {
            let state = self.describe(stack).await?;
            let status = state.status.unwrap_or_default();
            if !state.exists || status == "DELETE_COMPLETE" {
                return Ok(());
            }
            if !status.ends_with("_IN_PROGRESS") {
                if status.contains("ROLLBACK") || status.ends_with("_FAILED") {
                    bail!("stack {stack} ended {status}");
                }
                return Ok(());
            }
            if started.elapsed() > std::time::Duration::from_secs(1800) {
                bail!("stack {stack} was still {status} after 30 minutes");
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    /// The template the stack was deployed with, as written (`None`: no
    /// such stack).
    pub async fn template(&self, stack: &str) -> Result<Option<String>> {
        let result = self
            .cfn
            .get_template()
            .stack_name(stack)
            .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.template_body().map(str::to_string)),
            Err(err) => {
                let message = aws::error_message(&err);
                if message.contains("does not exist") {
                    return Ok(None);
                }
                bail!("cannot read the template of stack {stack}: {message}")
            }
        }
    }

    /// The SHA-256 (base64) the Serverless CLI recorded on an artifact it
    /// uploaded (`filesha256` metadata); `None` when the object or the
    /// record is missing.
    pub async fn artifact_sha256(&self, bucket: &str, key: &str) -> Result<Option<String>> {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(head) => Ok(head.metadata().and_then(|m| m.get("filesha256")).cloned()),
            Err(err) => {
                let missing = err.as_service_error().is_some_and(|e| e.is_not_found())
                    || err
                        .raw_response()
                        .is_some_and(|r| r.status().as_u16() == 404);
                if missing {
                    Ok(None)
                } else {
                    bail!(
                        "cannot read s3://{bucket}/{key}: {}",
                        aws::error_message(&err)
                    )
                }
            }
        }
    }

    /// A service's Serverless Compose params with the deployed outputs they
    /// read filled in; a param whose output no deployed stack provides is
    /// an error naming it.
    pub async fn compose_params(
        &self,
        app: &crate::app::App,
        service: &Service,
        stage: &Stage,
    ) -> Result<Vec<(String, String)>> {
        use crate::app::compose;
        let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let params = compose::for_stage(&service.params, stage.name());
        for param in &params {
            let template = &param.template;
            for dep in &service.depends_on {
                if template.contains(&format!("${{{}.", dep.service))
                    && !outputs.contains_key(&dep.service)
                {
                    let Some(other) = app.service(&dep.service) else {
                        bail!(
                            "{} depends on {}, which is not a service of the app",
                            service.key,
                            dep.service
                        );
                    };
                    let state = self.describe_service(other, stage).await?;
                    outputs.insert(dep.service.clone(), state.outputs);
                }
            }
        }
        params
            .into_iter()
            .map(|compose::Param { name, template, .. }| {
                let value = compose::resolve(template, |svc, output| {
                    outputs.get(svc)?.get(output).cloned()
                })
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "param `{name}` of {} reads `{template}`, which no deployed stack provides",
                        service.key
                    )
                })?;
                Ok((name.clone(), value))
            })
            .collect()
    }

    /// Whether a bucket exists and we may use it.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        match self.s3.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(err) => {
                let not_found = err.as_service_error().is_some_and(|e| e.is_not_found())
                    || err
                        .raw_response()
                        .is_some_and(|r| r.status().as_u16() == 404);
                if not_found {
                    Ok(false)
                } else {
                    bail!("cannot check bucket {bucket}: {}", aws::error_message(&err))
                }
            }
        }
    }
}

/// One resource of a deployed stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResource {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: String,
}

/// Every resource of a stack; `None` when the stack does not exist.
pub async fn list_resources(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<Option<Vec<StackResource>>> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let mut request = cfn.list_stack_resources().stack_name(stack);
        if let Some(t) = token.take() {
            request = request.next_token(t);
        }
        let page = match request.send().await {
            Ok(page) => page,
            Err(err) => {
                let message = aws::error_message(&err);
                if message.contains("does not exist") {
                    return Ok(None);
                }
                bail!("cannot list the resources of {stack}: {message}");
            }
        };
        for r in page.stack_resource_summaries() {
            if let (Some(logical), Some(ty), Some(physical)) = (
                r.logical_resource_id(),
                r.resource_type(),
                r.physical_resource_id(),
            ) {
                found.push(StackResource {
                    logical_id: logical.into(),
                    resource_type: ty.into(),
                    physical_id: physical.into(),
                });
            }
        }
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(Some(found)),
        }
    }
}
