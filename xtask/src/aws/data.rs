//! The data a stage holds: every S3 bucket, DynamoDB table and Cognito user
//! pool in its stacks, keyed by service and logical id, so the same
//! resource of two stages can be paired whatever its name.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use aws_config::SdkConfig;

use crate::app::stage::Stage;
use crate::app::App;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Bucket,
    Table,
    UserPool,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bucket => "s3",
            Kind::Table => "dynamodb",
            Kind::UserPool => "cognito",
        }
    }

    fn of(resource_type: &str) -> Option<Kind> {
        match resource_type {
            "AWS::S3::Bucket" => Some(Kind::Bucket),
            "AWS::DynamoDB::Table" => Some(Kind::Table),
            "AWS::Cognito::UserPool" => Some(Kind::UserPool),
            _ => None,
        }
    }
}

/// One data resource of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub service: String,
    pub logical_id: String,
    pub kind: Kind,
    /// The bucket or table name, or the user pool id.
    pub physical_id: String,
}

/// Logical ids the framework uses for its own deployment artifacts: not data.
const NOT_DATA: &[&str] = &["ServerlessDeploymentBucket"];

/// The data resources of every deployed service of the stage. `Ok(None)`
/// for a service whose stack does not exist.
pub async fn resources(
    app: &App,
    stage: &Stage,
    config: &SdkConfig,
) -> Result<BTreeMap<String, Option<Vec<Resource>>>> {
    let cfn = aws_sdk_cloudformation::Client::new(config);
    let mut out = BTreeMap::new();
    for service in &app.services {
        let Some(stack) = service.stack_name(stage) else {
            continue;
        };
        let listed = crate::aws::stacks::list_resources(&cfn, &stack).await?;
        let found = listed.map(|resources| {
            resources
                .into_iter()
                .filter(|r| !NOT_DATA.contains(&r.logical_id.as_str()))
                .filter_map(|r| {
                    Some(Resource {
                        service: service.key.clone(),
                        kind: Kind::of(&r.resource_type)?,
                        logical_id: r.logical_id,
                        physical_id: r.physical_id,
                    })
                })
                .collect()
        });
        out.insert(service.key.clone(), found);
    }
    Ok(out)
}

/// The data resources of a stage, flat; an undeployed service is an error.
pub async fn deployed(app: &App, stage: &Stage, config: &SdkConfig) -> Result<Vec<Resource>> {
    let mut all = Vec::new();
    for (service, found) in resources(app, stage, config).await? {
        match found {
            Some(found) => all.extend(found),
            None => bail!("service {service} is not deployed to stage {stage}; deploy it first"),
        }
    }
    Ok(all)
}

/// A 64-bit FNV-1a fingerprint: enough to tell two data sets apart in a
/// verification report (not a security hash).
pub fn fingerprint(parts: impl IntoIterator<Item = String>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.as_bytes().iter().chain(b"\n") {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Whether the user pool `id` exists on the stage's target.
pub async fn user_pool_exists(target: &crate::aws::target::StageTarget, id: &str) -> bool {
    target
        .cognito()
        .describe_user_pool()
        .user_pool_id(id)
        .send()
        .await
        .is_ok()
}
