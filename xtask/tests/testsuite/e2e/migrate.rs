//! `cargo xtask migrate` and `cargo xtask backup` on the emulator: over a
//! thousand items and objects (one over 5 MB) copied and verified, a killed
//! migration resumed to the same state, a second run that writes nothing,
//! and a different target item kept unless `--overwrite`.

use std::collections::HashMap;

use anyhow::Result;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

use crate::support;
use crate::support::{arg, git, Harness};

const MANIFEST: &str = r#"
[stages.stage]
region = "us-east-1"

[stages.dev]
region = "us-east-1"

[stages.prod]
region = "us-east-1"
protected = true
"#;

const SERVICE: &str = r#"service: store
provider:
  name: aws
  stage: ${opt:stage}
custom:
  keep:
    prod: Retain
resources:
  Resources:
    Files:
      Type: AWS::S3::Bucket
      DeletionPolicy: ${self:custom.keep.${sls:stage}, 'Delete'}
      UpdateReplacePolicy: ${self:custom.keep.${sls:stage}, 'Delete'}
      Properties:
        BucketName: store-files-${sls:stage}
        VersioningConfiguration:
          Status: Enabled
        PublicAccessBlockConfiguration:
          BlockPublicAcls: true
          BlockPublicPolicy: true
          IgnorePublicAcls: true
          RestrictPublicBuckets: true
    Orders:
      Type: AWS::DynamoDB::Table
      DeletionPolicy: ${self:custom.keep.${sls:stage}, 'Delete'}
      UpdateReplacePolicy: ${self:custom.keep.${sls:stage}, 'Delete'}
      Properties:
        TableName: store-orders-${sls:stage}
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions:
          - AttributeName: id
            AttributeType: S
        KeySchema:
          - AttributeName: id
            KeyType: HASH
        PointInTimeRecoverySpecification:
          PointInTimeRecoveryEnabled: true
    Customers:
      Type: AWS::Cognito::UserPool
      DeletionPolicy: ${self:custom.keep.${sls:stage}, 'Delete'}
      UpdateReplacePolicy: ${self:custom.keep.${sls:stage}, 'Delete'}
      Properties:
        UserPoolName: store-customers-${sls:stage}
        UsernameAttributes: [email]
    Events:
      Type: AWS::DynamoDB::Table
      DeletionPolicy: ${self:custom.keep.${sls:stage}, 'Delete'}
      UpdateReplacePolicy: ${self:custom.keep.${sls:stage}, 'Delete'}
      Properties:
        TableName: store-events-${sls:stage}
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions:
          - AttributeName: pk
            AttributeType: S
          - AttributeName: at
            AttributeType: N
        KeySchema:
          - AttributeName: pk
            KeyType: HASH
          - AttributeName: at
            KeyType: RANGE
        PointInTimeRecoverySpecification:
          PointInTimeRecoveryEnabled: true
"#;

const ORDERS: usize = 700;
const EVENTS: usize = 300;
const OBJECTS: usize = 40;
const BIG: usize = 6 * 1024 * 1024;

/// The app deployed to `stages`, with `stage` seeded.
async fn store(h: &Harness, stages: &[&str]) -> Result<String> {
    let dir = h.app(
        "store",
        &[
            ("deploy.toml", MANIFEST),
            ("store/serverless.yml", SERVICE),
            (".gitignore", ".serverless/\nnode_modules/\n"),
        ],
    );
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "store"]);
    let app = arg(&dir);
    for stage in stages {
        h.run(&["bootstrap", stage, "--rehearse", "--app", &app])
            .ok();
        h.run(&["deploy", stage, "--rehearse", "--yes", "--app", &app])
            .ok();
    }
    seed(h).await?;
    Ok(app)
}

async fn seed(h: &Harness) -> Result<()> {
    let config = h.sdk().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let orders: Vec<HashMap<String, AttributeValue>> = (0..ORDERS)
        .map(|i| {
            HashMap::from([
                ("id".to_string(), AttributeValue::S(format!("order-{i:04}"))),
                (
                    "total".to_string(),
                    AttributeValue::N(format!("{}.{:02}", i * 3, i % 100)),
                ),
                (
                    "lines".to_string(),
                    AttributeValue::L(vec![
                        AttributeValue::S("a".into()),
                        AttributeValue::N(i.to_string()),
                    ]),
                ),
            ])
        })
        .collect();
    let events: Vec<HashMap<String, AttributeValue>> = (0..EVENTS)
        .map(|i| {
            HashMap::from([
                (
                    "pk".to_string(),
                    AttributeValue::S(format!("user-{}", i % 17)),
                ),
                ("at".to_string(), AttributeValue::N(i.to_string())),
                ("kind".to_string(), AttributeValue::S("click".into())),
            ])
        })
        .collect();
    for (table, items) in [
        ("store-orders-stage", orders),
        ("store-events-stage", events),
    ] {
        for chunk in items.chunks(25) {
            let requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|i| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(i.clone()))
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .collect();
            dynamodb
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await?;
        }
    }
    let s3 = xtask::aws::s3_client(&config, &h.target);
    for i in 0..OBJECTS {
        s3.put_object()
            .bucket("store-files-stage")
            .key(format!("designs/{i:03}.json"))
            .content_type("application/json")
            .metadata("origin", "seed")
            .body(format!("{{\"n\": {i}}}").into_bytes().into())
            .send()
            .await?;
    }
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&config);
    let pools = cognito.list_user_pools().max_results(60).send().await?;
    let pool = pools
        .user_pools()
        .iter()
        .find(|p| p.name() == Some("store-customers-stage"))
        .and_then(|p| p.id())
        .expect("the stage's pool")
        .to_string();
    cognito
        .create_group()
        .user_pool_id(&pool)
        .group_name("vip")
        .send()
        .await?;
    for n in 0..3 {
        let email = format!("customer{n}@example.com");
        cognito
            .admin_create_user()
            .user_pool_id(&pool)
            .username(&email)
            .user_attributes(
                aws_sdk_cognitoidentityprovider::types::AttributeType::builder()
                    .name("email")
                    .value(&email)
                    .build()?,
            )
            .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress)
            .send()
            .await?;
        if n == 0 {
            cognito
                .admin_add_user_to_group()
                .user_pool_id(&pool)
                .username(&email)
                .group_name("vip")
                .send()
                .await?;
        }
    }
    let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    s3.put_object()
        .bucket("store-files-stage")
        .key("exports/big.bin")
        .content_type("application/octet-stream")
        .body(big.into())
        .send()
        .await?;
    Ok(())
}

async fn count_items(h: &Harness, table: &str) -> Result<usize> {
    let dynamodb = aws_sdk_dynamodb::Client::new(&h.sdk().await);
    let mut count = 0;
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await?;
        count += page.items().len();
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(count),
        }
    }
}

async fn count_objects(h: &Harness, bucket: &str) -> Result<usize> {
    let s3 = xtask::aws::s3_client(&h.sdk().await, &h.target);
    Ok(s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await?
        .contents()
        .len())
}

#[tokio::test]
async fn migrate_copies_verifies_and_a_second_run_writes_nothing() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("migrate").await?;
    let app = store(&h, &["stage", "prod"]).await?;
    let migrate = |extra: &[&str]| {
        let mut args = vec![
            "migrate",
            "--from",
            "stage",
            "--to",
            "prod",
            "--rehearse",
            "--yes",
            "--app",
            &app,
        ];
        args.extend(extra);
        h.run(&args)
    };
    let dry = migrate(&["--dry-run"]);
    dry.ok();
    assert!(
        dry.text
            .contains("store-orders-stage → store-orders-prod (700 items)"),
        "{}",
        dry.text
    );
    assert!(
        dry.text
            .contains("store-files-stage → store-files-prod (41 objects"),
        "{}",
        dry.text
    );
    assert_eq!(
        count_items(&h, "store-orders-prod").await?,
        0,
        "a dry run writes nothing"
    );

    let run = migrate(&[]);
    run.ok();
    assert!(
        run.text
            .contains("verified: the target holds every source item and object unchanged"),
        "{}",
        run.text
    );
    assert!(
        run.text.contains("backed up store-orders-prod first"),
        "a protected target is backed up first:\n{}",
        run.text
    );
    assert_eq!(count_items(&h, "store-orders-prod").await?, ORDERS);
    assert_eq!(count_items(&h, "store-events-prod").await?, EVENTS);
    assert_eq!(count_objects(&h, "store-files-prod").await?, OBJECTS + 1);
    let s3 = xtask::aws::s3_client(&h.sdk().await, &h.target);
    let big = s3
        .get_object()
        .bucket("store-files-prod")
        .key("exports/big.bin")
        .send()
        .await?;
    assert_eq!(big.content_type(), Some("application/octet-stream"));
    assert_eq!(big.body.collect().await?.into_bytes().len(), BIG);
    let small = s3
        .head_object()
        .bucket("store-files-prod")
        .key("designs/007.json")
        .send()
        .await?;
    assert_eq!(
        small
            .metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("seed"),
        "metadata is kept"
    );

    let again = migrate(&[]);
    again.ok();
    assert!(
        again.text.contains("written 0 item(s) and object(s)"),
        "{}",
        again.text
    );

    // A target item with the same key and other content is kept...
    let dynamodb = aws_sdk_dynamodb::Client::new(&h.sdk().await);
    let changed = HashMap::from([
        ("id".to_string(), AttributeValue::S("order-0007".into())),
        ("total".to_string(), AttributeValue::N("1".into())),
    ]);
    dynamodb
        .put_item()
        .table_name("store-orders-prod")
        .set_item(Some(changed))
        .send()
        .await?;
    let kept = migrate(&[]);
    assert_eq!(kept.code, Some(1), "{}", kept.text);
    assert!(
        kept.text.contains("1 conflicting (kept; pass --overwrite"),
        "{}",
        kept.text
    );
    let key = HashMap::from([("id".to_string(), AttributeValue::S("order-0007".into()))]);
    let item = dynamodb
        .get_item()
        .table_name("store-orders-prod")
        .set_key(Some(key.clone()))
        .send()
        .await?;
    assert_eq!(
        item.item()
            .and_then(|i| i.get("total"))
            .and_then(|v| v.as_n().ok())
            .map(String::as_str),
        Some("1")
    );
    // ...and replaced with --overwrite.
    migrate(&["--overwrite"]).ok();
    let item = dynamodb
        .get_item()
        .table_name("store-orders-prod")
        .set_key(Some(key))
        .send()
        .await?;
    assert_eq!(
        item.item()
            .and_then(|i| i.get("total"))
            .and_then(|v| v.as_n().ok())
            .map(String::as_str),
        Some("21.07")
    );
    Ok(())
}

#[tokio::test]
async fn a_killed_migration_resumes_to_the_same_state() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("migrate-kill").await?;
    let app = store(&h, &["stage", "dev"]).await?;
    let args = [
        "migrate",
        "--from",
        "stage",
        "--to",
        "dev",
        "--rehearse",
        "--app",
        &app,
    ];
    let checkpoint = h.dir.join("state/migrate/store/stage-to-dev.json");
    let mut child = h
        .xtask(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    // Kill it as soon as it has recorded progress.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !checkpoint.exists()
        && std::time::Instant::now() < deadline
        && child.try_wait()?.is_none()
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill()?;
    child.wait()?;
    assert!(
        checkpoint.exists(),
        "the migration left no checkpoint to resume from"
    );
    let partial = count_objects(&h, "store-files-dev").await?
        + count_items(&h, "store-orders-dev").await?
        + count_items(&h, "store-events-dev").await?;
    assert!(
        partial < OBJECTS + 1 + ORDERS + EVENTS,
        "the migration had finished before it was killed"
    );

    let resumed = h.run(&args);
    resumed.ok();
    assert!(resumed.text.contains("resuming from"), "{}", resumed.text);
    assert!(resumed.text.contains("verified"), "{}", resumed.text);
    assert_eq!(count_items(&h, "store-orders-dev").await?, ORDERS);
    assert_eq!(count_items(&h, "store-events-dev").await?, EVENTS);
    assert_eq!(count_objects(&h, "store-files-dev").await?, OBJECTS + 1);
    assert!(
        !checkpoint.exists(),
        "a finished migration removes its checkpoint"
    );
    let again = h.run(&args);
    assert!(again.text.contains("written 0 item(s)"), "{}", again.text);
    Ok(())
}

#[tokio::test]
async fn backups_are_taken_listed_and_restored_beside_the_table() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("backup").await?;
    let app = store(&h, &["stage"]).await?;
    let run = h.run(&["backup", "stage", "--rehearse", "--app", &app]);
    run.ok();
    assert!(
        run.text.contains("backed up table store-orders-stage"),
        "{}",
        run.text
    );
    assert!(
        run.text.contains("bucket store-files-stage: versioning on"),
        "{}",
        run.text
    );
    let list = h.run(&["backup", "stage", "--rehearse", "--list", "--app", &app]);
    list.ok();
    let arn = list
        .text
        .split_whitespace()
        .find(|w| w.starts_with("arn:") && w.contains("store-orders-stage"))
        .expect("a backup ARN")
        .to_string();
    let restored = h.run(&[
        "backup",
        "stage",
        "--rehearse",
        "--restore",
        &arn,
        "--app",
        &app,
    ]);
    restored.ok();
    let table = restored
        .text
        .split_whitespace()
        .find(|w| w.starts_with("store-orders-stage-restored-"))
        .expect("the restored table")
        .to_string();
    assert_eq!(count_items(&h, &table).await?, ORDERS);
    Ok(())
}

#[tokio::test]
async fn cognito_users_move_with_their_groups_and_a_forced_reset() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("migrate-users").await?;
    let app = store(&h, &["stage", "dev"]).await?;
    let run = h.run(&[
        "migrate",
        "--from",
        "stage",
        "--to",
        "dev",
        "--rehearse",
        "--only",
        "cognito",
        "--app",
        &app,
    ]);
    run.ok();
    assert!(
        run.text.contains("passwords cannot be migrated"),
        "{}",
        run.text
    );
    assert!(run.text.contains("3 written"), "{}", run.text);
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&h.sdk().await);
    let pools = cognito.list_user_pools().max_results(60).send().await?;
    let pool = pools
        .user_pools()
        .iter()
        .find(|p| p.name() == Some("store-customers-dev"))
        .and_then(|p| p.id())
        .expect("dev's pool")
        .to_string();
    let users = cognito.list_users().user_pool_id(&pool).send().await?;
    assert_eq!(users.users().len(), 3);
    for user in users.users() {
        assert_eq!(
            user.user_status().map(|s| s.as_str()),
            Some("FORCE_CHANGE_PASSWORD")
        );
    }
    let vip = cognito
        .list_users_in_group()
        .user_pool_id(&pool)
        .group_name("vip")
        .send()
        .await?;
    assert_eq!(vip.users().len(), 1);
    // Nothing of the tables or buckets moved: only what was asked.
    assert_eq!(count_items(&h, "store-orders-dev").await?, 0);
    let again = h.run(&[
        "migrate",
        "--from",
        "stage",
        "--to",
        "dev",
        "--rehearse",
        "--only",
        "cognito",
        "--app",
        &app,
    ]);
    assert!(again.text.contains("0 written"), "{}", again.text);
    Ok(())
}

/// A migration writes into its target stage, so it takes that stage's
/// lock: while another run holds it, the migration is refused and writes
/// nothing.
#[tokio::test]
async fn a_migration_into_a_locked_stage_is_refused() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("migrate-locked").await?;
    let app = store(&h, &["stage", "dev"]).await?;
    // Another run (a deploy on someone's laptop) holds dev's lock.
    h.hold_lock("store/dev/us-east-1").await?;
    h.run(&[
        "migrate",
        "--from",
        "stage",
        "--to",
        "dev",
        "--rehearse",
        "--yes",
        "--app",
        &app,
    ])
    .fails_with("stage dev is locked by ana@laptop");
    assert_eq!(count_items(&h, "store-orders-dev").await?, 0);
    assert_eq!(count_objects(&h, "store-files-dev").await?, 0);
    Ok(())
}
