//! What must exist before the first deploy
//! of a stage — the deployment buckets the services name (versioned,
//! encrypted, public access blocked) and the lock table. Idempotent.

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};

use crate::app::stage::Stage;
use crate::app::App;
use crate::aws;
use crate::aws::lock;
use crate::aws::target::StageTarget;
use crate::sys::output::Printer;

/// The deployment buckets the app's services name for `stage`.
pub fn deployment_buckets(app: &App, stage: &Stage) -> BTreeSet<String> {
    app.services
        .iter()
        .filter_map(|s| s.deployment_bucket(stage))
        .collect()
}

pub async fn run(app: &App, stage: &Stage, target: &StageTarget, out: &Printer) -> Result<()> {
    let s3 = target.s3();
    let stacks = target.stacks();
    for bucket in deployment_buckets(app, stage) {
        if stacks.bucket_exists(&bucket).await? {
            out.step(&format!("deployment bucket {bucket} exists"));
        } else {
            let mut create = s3.create_bucket().bucket(&bucket);
            // us-east-1 is the one region that takes no location constraint.
            if stage.region() != "us-east-1" {
                create = create.create_bucket_configuration(
                    CreateBucketConfiguration::builder()
                        .location_constraint(BucketLocationConstraint::from(stage.region()))
                        .build(),
                );
            }
            match create.send().await {
                Ok(_) => out.step(&format!("created deployment bucket {bucket}")),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
                Err(err) => bail!(
                    "cannot create deployment bucket {bucket}: {}",
                    aws::error_message(&err)
                ),
            }
        }
        secure_bucket(&s3, &bucket).await?;
        out.step(&format!(
            "{bucket}: versioning on, encryption on, public access blocked"
        ));
    }
    let locks = target.locks();
    if locks.ensure_table().await? {
        out.step(&format!("created the lock table {}", lock::TABLE));
    } else {
        out.step(&format!("lock table {} exists", lock::TABLE));
    }
    Ok(())
}

async fn secure_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
    let versioning = s3
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await;
    if let Err(err) = versioning {
        bail!(
            "cannot turn on versioning of {bucket}: {}",
            aws::error_message(&err)
        );
    }
    let encryption = s3
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()?,
                        )
                        .build(),
                )
                .build()?,
        )
        .send()
        .await;
    if let Err(err) = encryption {
        bail!(
            "cannot turn on encryption of {bucket}: {}",
            aws::error_message(&err)
        );
    }
    let block = s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(true)
                .ignore_public_acls(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await;
    if let Err(err) = block {
        bail!(
            "cannot block public access to {bucket}: {}",
            aws::error_message(&err)
        );
    }
    Ok(())
}
