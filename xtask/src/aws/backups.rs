//! Backups of a stage's data (`cargo xtask backup`): on-demand DynamoDB
//! backups of every table of the stage, a point-in-time-recovery check, and
//! a check that every bucket keeps versions. `deploy` to a protected stage
//! and `migrate` into one take a backup first.

use anyhow::{bail, Result};
use aws_config::SdkConfig;

use crate::app::stage::Stage;
use crate::app::App;
use crate::aws;
use crate::aws::data::{self, Kind};

/// A backup taken of one table.
#[derive(Debug, Clone)]
pub struct Taken {
    pub table: String,
    pub arn: String,
}

/// Backs up every table of the stage. `why` becomes part of the backup names.
pub async fn take(app: &App, stage: &Stage, config: &SdkConfig, why: &str) -> Result<Vec<Taken>> {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let mut taken = Vec::new();
    // Services not deployed yet (a first deploy) have nothing to back up.
    let tables: Vec<data::Resource> = data::resources(app, stage, config)
        .await?
        .into_values()
        .flatten()
        .flatten()
        .filter(|r| r.kind == Kind::Table)
        .collect();
    for resource in tables {
        let name = format!("{}-{why}", resource.physical_id)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .take(255)
            .collect::<String>();
        match dynamodb
            .create_backup()
            .table_name(&resource.physical_id)
            .backup_name(&name)
            .send()
            .await
        {
            Ok(out) => {
                let arn = out
                    .backup_details()
                    .map(|d| d.backup_arn().to_string())
                    .unwrap_or_default();
                taken.push(Taken {
                    table: resource.physical_id.clone(),
                    arn,
                });
            }
            Err(err) => {
                let pitr = pitr_status(&dynamodb, &resource.physical_id).await;
                bail!(
                    "cannot take an on-demand backup of {}: {}; point-in-time recovery is {pitr}. Nothing was changed",
                    resource.physical_id,
                    aws::error_message(&err)
                );
            }
        }
    }
    Ok(taken)
}

async fn pitr_status(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> String {
    match dynamodb
        .describe_continuous_backups()
        .table_name(table)
        .send()
        .await
    {
        Ok(out) => out
            .continuous_backups_description()
            .and_then(|d| d.point_in_time_recovery_description())
            .and_then(|p| p.point_in_time_recovery_status())
            .map(|s| s.as_str().to_lowercase())
            .unwrap_or_else(|| "unknown".into()),
        Err(err) => format!("unknown ({})", aws::error_message(&err)),
    }
}

/// What a manual backup did: the tables backed up, each with its
/// point-in-time recovery status, and each bucket with whether it keeps
/// versions.
#[derive(Debug, Clone)]
pub struct Backed {
    pub tables: Vec<(Taken, String)>,
    pub buckets: Vec<BucketVersions>,
}

/// A bucket of the stage and its versioning status.
#[derive(Debug, Clone)]
pub struct BucketVersions {
    pub bucket: String,
    pub service: String,
    /// `Enabled`, `Suspended`, `never enabled`, or `unknown (…)`.
    pub status: String,
}

impl BucketVersions {
    pub fn keeps_versions(&self) -> bool {
        self.status == "Enabled"
    }
}

/// Takes backups of the stage's tables and reads their PITR status and
/// every bucket's versioning.
pub async fn backup(
    app: &App,
    stage: &Stage,
    config: &SdkConfig,
    target: &aws::Target,
) -> Result<Backed> {
    let taken = take(app, stage, config, "manual").await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let mut tables = Vec::new();
    for t in taken {
        let pitr = pitr_status(&dynamodb, &t.table).await;
        tables.push((t, pitr));
    }
    let s3 = aws::s3_client(config, target);
    let mut buckets = Vec::new();
    for resource in data::deployed(app, stage, config)
        .await?
        .into_iter()
        .filter(|r| r.kind == Kind::Bucket)
    {
        let status = match s3
            .get_bucket_versioning()
            .bucket(&resource.physical_id)
            .send()
            .await
        {
            Ok(out) => out
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "never enabled".into()),
            Err(err) => format!("unknown ({})", aws::error_message(&err)),
        };
        buckets.push(BucketVersions {
            bucket: resource.physical_id,
            service: resource.service,
            status,
        });
    }
    Ok(Backed { tables, buckets })
}

/// One on-demand backup of a stage's table.
#[derive(Debug, Clone)]
pub struct Kept {
    pub table: String,
    pub name: String,
    pub status: String,
    pub arn: String,
}

/// The on-demand backups of the stage's tables.
pub async fn list(app: &App, stage: &Stage, config: &SdkConfig) -> Result<Vec<Kept>> {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let mut kept = Vec::new();
    for resource in data::deployed(app, stage, config)
        .await?
        .into_iter()
        .filter(|r| r.kind == Kind::Table)
    {
        let out = match dynamodb
            .list_backups()
            .table_name(&resource.physical_id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) => bail!(
                "cannot list the backups of {}: {}",
                resource.physical_id,
                aws::error_message(&err)
            ),
        };
        for b in out.backup_summaries() {
            kept.push(Kept {
                table: resource.physical_id.clone(),
                name: b.backup_name().unwrap_or("").to_string(),
                status: b
                    .backup_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                arn: b.backup_arn().unwrap_or("").to_string(),
            });
        }
    }
    Ok(kept)
}

/// Restores a backup into a new table next to the original (DynamoDB never
/// restores over a live table): the original table and the new one.
pub async fn restore(
    app: &App,
    stage: &Stage,
    config: &SdkConfig,
    arn: &str,
) -> Result<(String, String)> {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let tables: Vec<String> = data::deployed(app, stage, config)
        .await?
        .into_iter()
        .filter(|r| r.kind == Kind::Table)
        .map(|r| r.physical_id)
        .collect();
    let Some(table) = tables.iter().find(|t| arn.contains(&format!("table/{t}/"))) else {
        bail!(
            "backup {arn} is not a backup of a table of stage {stage} ({})",
            tables.join(", ")
        );
    };
    let suffix: String = arn
        .rsplit('/')
        .next()
        .unwrap_or("restore")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect();
    let restored = format!("{table}-restored-{suffix}");
    if let Err(err) = dynamodb
        .restore_table_from_backup()
        .backup_arn(arn)
        .target_table_name(&restored)
        .send()
        .await
    {
        bail!("cannot restore {arn}: {}", aws::error_message(&err));
    }
    Ok((table.clone(), restored))
}

/// Whether `table` has an on-demand backup (one that cannot be listed
/// counts as none).
pub async fn has_backup(config: &SdkConfig, table: &str) -> bool {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    dynamodb
        .list_backups()
        .table_name(table)
        .send()
        .await
        .is_ok_and(|l| !l.backup_summaries().is_empty())
}

/// The tables a restore of one of `tables` made (`<table>-restored-<id>`,
/// beside the original), at most 100 pages read.
pub async fn restored_copies(config: &SdkConfig, tables: &[String]) -> Vec<String> {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let mut restored = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..100 {
        let mut request = dynamodb.list_tables().limit(100);
        if let Some(s) = start.take() {
            request = request.exclusive_start_table_name(s);
        }
        let Ok(page) = request.send().await else {
            break;
        };
        for name in page.table_names() {
            if tables
                .iter()
                .any(|t| name.starts_with(&format!("{t}-restored-")))
            {
                restored.push(name.clone());
            }
        }
        match page.last_evaluated_table_name() {
            Some(last) => start = Some(last.to_string()),
            None => break,
        }
    }
    restored
}
