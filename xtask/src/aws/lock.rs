//! The stage lock: one per app, stage and region, held in AWS itself (a
//! DynamoDB item written with a condition), so two deploys of one stage
//! from two laptops or two CI jobs cannot overlap.
//!
//! The table is made by `cargo xtask bootstrap`. A lock older than
//! [`STALE_AFTER`] is reported as stale; only `unlock --force` clears it.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Result};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};

use crate::app::stage::Stage;
use crate::aws;
use crate::sys::{clock, hint};

/// The lock table, one per account and region, shared by every app.
pub const TABLE: &str = "xtask-deploy-locks";
/// A deploy that holds the lock longer than this has most likely died.
pub const STALE_AFTER: Duration = Duration::from_secs(2 * 60 * 60);

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub who: String,
    pub run_id: String,
    pub command: String,
    pub acquired_at: u64,
}

impl Holder {
    pub fn age(&self) -> Duration {
        Duration::from_secs(clock::now().saturating_sub(self.acquired_at))
    }

    pub fn is_stale(&self) -> bool {
        self.age() > STALE_AFTER
    }

    pub fn describe(&self) -> String {
        let stale = if self.is_stale() { ", stale" } else { "" };
        format!(
            "{} (`{}`, run {}, {} ago{stale})",
            self.who,
            self.command,
            self.run_id,
            human(self.age())
        )
    }
}

fn human(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}min", secs / 60),
        _ => format!("{}h", secs / 3600),
    }
}

/// The user and machine (or CI run) taking the lock.
pub fn whoami() -> String {
    if let (Ok(actor), Ok(run)) = (
        std::env::var("GITHUB_ACTOR"),
        std::env::var("GITHUB_RUN_ID"),
    ) {
        return format!("{actor} (GitHub Actions run {run})");
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "someone".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    format!("{user}@{host}")
}

pub struct Locks {
    client: aws_sdk_dynamodb::Client,
}

/// A held lock. Release it with [`Locks::release`]; a process that dies
/// holding it leaves it to go stale.
#[derive(Debug)]
pub struct Lock {
    pub id: String,
    pub run_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("stage {stage} is locked by {}; wait for that run to finish, or if it died: `{}`", holder.describe(), hint::xtask(&format!("unlock {stage} --force")))]
    Held { stage: String, holder: Holder },
    #[error("the lock table {TABLE} does not exist in {region}; run `{}` first", hint::xtask(&format!("bootstrap {stage}")))]
    NoTable { stage: String, region: String },
    #[error("{0}")]
    Other(String),
}

pub fn lock_id(app: &str, stage: &Stage) -> String {
    format!("{app}/{}/{}", stage.name(), stage.region())
}

impl Locks {
    pub fn new(config: &SdkConfig) -> Locks {
        Locks {
            client: aws_sdk_dynamodb::Client::new(config),
        }
    }

    /// Creates the lock table when missing (bootstrap). True when created.
    pub async fn ensure_table(&self) -> Result<bool> {
        if self.table_exists().await? {
            return Ok(false);
        }
        let created = self
            .client
            .create_table()
            .table_name(TABLE)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("lock_id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("lock_id")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Another bootstrap made it in the meantime.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                return Ok(false)
            }
            Err(err) => bail!(
                "cannot create the lock table {TABLE}: {}",
                aws::error_message(&err)
            ),
        }
        // A new table on AWS takes a few seconds to become usable.
        for _ in 0..120 {
            let described = self.client.describe_table().table_name(TABLE).send().await;
            if let Ok(out) = described {
                if out
                    .table()
                    .and_then(|t| t.table_status())
                    .map(|s| s.as_str())
                    == Some("ACTIVE")
                {
                    return Ok(true);
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        bail!("the lock table {TABLE} did not become active within a minute")
    }

    pub async fn table_exists(&self) -> Result<bool> {
        match self.client.describe_table().table_name(TABLE).send().await {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(err) => bail!(
                "cannot read the lock table {TABLE}: {}",
                aws::error_message(&err)
            ),
        }
    }

    /// Takes the lock, or fails at once naming who holds it.
    pub async fn acquire(
        &self,
        app: &str,
        stage: &Stage,
        run_id: &str,
        command: &str,
    ) -> Result<Lock, LockError> {
        let id = lock_id(app, stage);
        let put = self
            .client
            .put_item()
            .table_name(TABLE)
            .item("lock_id", AttributeValue::S(id.clone()))
            .item("run_id", AttributeValue::S(run_id.to_string()))
            .item("who", AttributeValue::S(whoami()))
            .item("command", AttributeValue::S(command.to_string()))
            .item("acquired_at", AttributeValue::N(clock::now().to_string()))
            .condition_expression("attribute_not_exists(lock_id)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(Lock {
                id,
                run_id: run_id.to_string(),
            }),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                let holder = self
                    .holder(app, stage)
                    .await
                    .map_err(|e| LockError::Other(e.to_string()))?;
                match holder {
                    Some(holder) => Err(LockError::Held {
                        stage: stage.name().to_string(),
                        holder,
                    }),
                    // Released between our put and our read: one more try.
                    None => Box::pin(self.acquire(app, stage, run_id, command)).await,
                }
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Err(LockError::NoTable {
                    stage: stage.name().to_string(),
                    region: stage.region().to_string(),
                })
            }
            Err(err) => Err(LockError::Other(format!(
                "cannot take the lock of stage {stage}: {}",
                aws::error_message(&err)
            ))),
        }
    }

    /// Who holds the stage's lock, if anyone.
    pub async fn holder(&self, app: &str, stage: &Stage) -> Result<Option<Holder>> {
        let got = self
            .client
            .get_item()
            .table_name(TABLE)
            .key("lock_id", AttributeValue::S(lock_id(app, stage)))
            .consistent_read(true)
            .send()
            .await;
        let item = match got {
            Ok(out) => out.item,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(err) => bail!(
                "cannot read the lock of stage {stage}: {}",
                aws::error_message(&err)
            ),
        };
        Ok(item.map(|item| holder_from(&item)))
    }

    /// Releases our own lock (and only ours: the delete is conditional on
    /// the run id).
    pub async fn release(&self, lock: Lock) -> Result<()> {
        let deleted = self
            .client
            .delete_item()
            .table_name(TABLE)
            .key("lock_id", AttributeValue::S(lock.id.clone()))
            .condition_expression("run_id = :run")
            .expression_attribute_values(":run", AttributeValue::S(lock.run_id.clone()))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                bail!(
                    "the lock {} was no longer ours to release (forced open by someone else?)",
                    lock.id
                )
            }
            Err(err) => bail!(
                "cannot release the lock {}: {}",
                lock.id,
                aws::error_message(&err)
            ),
        }
    }

    /// Clears the lock whoever holds it (`unlock --force`).
    pub async fn force_clear(&self, app: &str, stage: &Stage) -> Result<Option<Holder>> {
        let holder = self.holder(app, stage).await?;
        if holder.is_some() {
            if let Err(err) = self
                .client
                .delete_item()
                .table_name(TABLE)
                .key("lock_id", AttributeValue::S(lock_id(app, stage)))
                .send()
                .await
            {
                bail!(
                    "cannot clear the lock of stage {stage}: {}",
                    aws::error_message(&err)
                );
            }
        }
        Ok(holder)
    }
}

/// Records that live beside the locks, in the same table, so that every
/// machine with the stage's credentials sees them: run journals. Keys are
/// `<kind>/<app>/<stage>/<region>/<id>`, never mistaken for a lock id.
impl Locks {
    /// Writes (or replaces) the record at `key`.
    pub async fn put_record(&self, key: &str, body: &str) -> Result<()> {
        let put = self
            .client
            .put_item()
            .table_name(TABLE)
            .item("lock_id", AttributeValue::S(key.to_string()))
            .item("body", AttributeValue::S(body.to_string()))
            .item("written_at", AttributeValue::N(clock::now().to_string()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(err) => bail!(
                "cannot write {key} to {TABLE}: {}",
                aws::error_message(&err)
            ),
        }
    }

    /// The record at `key`, if there is one.
    pub async fn get_record(&self, key: &str) -> Result<Option<String>> {
        let got = self
            .client
            .get_item()
            .table_name(TABLE)
            .key("lock_id", AttributeValue::S(key.to_string()))
            .consistent_read(true)
            .send()
            .await;
        match got {
            Ok(out) => Ok(out
                .item
                .and_then(|item| item.get("body").and_then(|b| b.as_s().ok()).cloned())),
            Err(err) => bail!(
                "cannot read {key} from {TABLE}: {}",
                aws::error_message(&err)
            ),
        }
    }

    /// The keys of every record under `prefix`.
    pub async fn record_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(TABLE)
                .filter_expression("begins_with(lock_id, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_string()))
                .projection_expression("lock_id")
                .set_exclusive_start_key(start.take())
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                Err(err) => bail!(
                    "cannot list {prefix} in {TABLE}: {}",
                    aws::error_message(&err)
                ),
            };
            keys.extend(
                page.items()
                    .iter()
                    .filter_map(|i| i.get("lock_id").and_then(|v| v.as_s().ok()).cloned()),
            );
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }
}

fn holder_from(item: &HashMap<String, AttributeValue>) -> Holder {
    let text = |key: &str| {
        item.get(key)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    Holder {
        who: text("who"),
        run_id: text("run_id"),
        command: text("command"),
        acquired_at: item
            .get("acquired_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(age: Duration) -> Holder {
        Holder {
            who: "ana@laptop".into(),
            run_id: "r1".into(),
            command: "deploy".into(),
            acquired_at: clock::now() - age.as_secs(),
        }
    }

    #[test]
    fn an_old_lock_is_reported_stale() {
        let fresh = holder(Duration::from_secs(90));
        assert!(!fresh.is_stale());
        assert_eq!(fresh.describe(), "ana@laptop (`deploy`, run r1, 90s ago)");
        let old = holder(STALE_AFTER + Duration::from_secs(60));
        assert!(old.is_stale());
        assert!(
            old.describe().ends_with("2h ago, stale)"),
            "{}",
            old.describe()
        );
    }
}
