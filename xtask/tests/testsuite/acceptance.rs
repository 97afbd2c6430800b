//! The whole three-stack sequence on tb365, the one test against the
//! emulator that `cargo test` always runs (the design's promise): bootstrap,
//! deploy in order (the table first, then both APIs at once) with smoke, a
//! no-op redeploy, a change to one service, a broken last stack rolled back,
//! and removal that leaves nothing. Two stages side by side are in the
//! end-to-end tier (`e2e/sequence.rs`). Its module sorts first, so libtest
//! starts it before the offline tests, which run beside it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::support;
use crate::support::Harness;

/// A copy of the bundled app that the test may change.
pub(crate) fn copy_app(h: &Harness) -> Result<PathBuf> {
    h.copy_fixture("tb365")
}

fn statuses(journal: &Value) -> Vec<(String, String)> {
    journal["services"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap_or("").into(),
                        s["status"].as_str().unwrap_or("").into(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// GET /health of the stage's image API, through its deployed URL.
async fn image_health(h: &Harness, stage: &str) -> Result<Value> {
    let (_, outputs) = h
        .stack(&format!("tb365-image-api-{stage}"))
        .await?
        .context("the image API is deployed")?;
    let api = outputs.get("HttpApiId").context("an HTTP API id")?;
    let url = format!("{}/_aws/execute-api/{api}/health", h.emulator.endpoint());
    Ok(reqwest::get(&url).await?.json().await?)
}

fn set_health_version(app: &Path, version: &str) -> Result<()> {
    let file = app.join("image-api/src/handlers.mjs");
    let text = std::fs::read_to_string(&file)?;
    let start = text
        .find("export const health")
        .context("a health handler")?;
    let end = start + text[start..].find(";\n").context("its end")? + 2;
    let handler = format!("export const health = async () =>\n  json(200, {{ status: \"ok\", service: \"image-api\", version: \"{version}\" }});\n");
    std::fs::write(
        &file,
        format!("{}{handler}{}", &text[..start], &text[end..]),
    )?;
    Ok(())
}

#[tokio::test]
async fn the_full_sequence_deploys_changes_rolls_back_and_removes() -> Result<()> {
    let h = Harness::start("sequence").await?;
    let app = copy_app(&h)?;
    let xtask = h.rehearsing(&app);

    // 1. Bootstrap, deploy in order, smoke every endpoint.
    xtask(&["bootstrap", "dev"]).ok();
    let first = xtask(&["deploy", "dev"]);
    first.ok();
    let journal = h.journal("tb365", "dev.rehearsal");
    assert_eq!(
        statuses(&journal),
        pairs(&[
            ("dynamodb", "deployed"),
            ("image-api", "deployed"),
            ("integration-api", "deployed")
        ])
    );
    // Every endpoint answered as its smoke check says.
    let (passed, failed, skipped) = support::smoke(&journal);
    assert!(
        journal["smoke"]["result"] == "ran" && passed > 0 && failed == 0 && skipped == 0,
        "{}\n{}",
        journal["smoke"],
        first.text
    );
    assert!(
        first.text.contains("endpoints:") && first.text.contains("/_aws/execute-api/"),
        "{}",
        first.text
    );
    // In order: the table first, then both APIs at once.
    let events = support::chain::events(&journal);
    let at = |m: &str| {
        events
            .iter()
            .position(|e| e == m)
            .unwrap_or_else(|| panic!("no event `{m}` in {events:?}"))
    };
    assert!(at("dynamodb: deployed") < at("image-api: started"));
    assert!(at("dynamodb: deployed") < at("integration-api: started"));
    assert!(at("image-api: started") < at("integration-api: deployed"));
    assert!(at("integration-api: started") < at("image-api: deployed"));
    for stack in [
        "tb365-dynamodb-dev",
        "tb365-image-api-dev",
        "tb365-integration-api-dev",
    ] {
        let (status, _) = h
            .stack(stack)
            .await?
            .unwrap_or_else(|| panic!("{stack} exists"));
        assert_eq!(status, "CREATE_COMPLETE");
    }

    // A redeploy of the unchanged app changes nothing.
    xtask(&["deploy", "dev"]).ok();
    let journal = h.journal("tb365", "dev.rehearsal");
    assert_eq!(
        statuses(&journal),
        pairs(&[
            ("dynamodb", "unchanged"),
            ("image-api", "unchanged"),
            ("integration-api", "unchanged")
        ])
    );

    // A change to one service deploys that service only; smoke again.
    set_health_version(&app, "2")?;
    xtask(&["deploy", "dev"]).ok();
    let journal = h.journal("tb365", "dev.rehearsal");
    assert_eq!(
        statuses(&journal),
        pairs(&[
            ("dynamodb", "unchanged"),
            ("image-api", "deployed"),
            ("integration-api", "unchanged")
        ])
    );
    assert!(
        journal["smoke"]["result"] == "ran" && support::smoke(&journal).1 == 0,
        "{}",
        journal["smoke"]
    );
    assert_eq!(image_health(&h, "dev").await?["version"], "2");

    // 2. A broken last stack: its bucket name is taken. The image API's
    // change of the same run is rolled back; the lock goes with the run.
    let s3 = xtask::aws::s3_client(&h.sdk().await, &h.target);
    s3.create_bucket().bucket("tb365-taken-dev").send().await?;
    set_health_version(&app, "3")?;
    let integration = app.join("integration-api/serverless.yml");
    let text = std::fs::read_to_string(&integration)?;
    let broken = text.replace(
        "  Resources:\n",
        "  Resources:\n    Taken:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: tb365-taken-${sls:stage}\n",
    );
    assert_ne!(broken, text, "the break was applied");
    std::fs::write(&integration, broken)?;
    xtask(&["deploy", "dev"]).fails_with("integration-api");
    let journal = h.journal("tb365", "dev.rehearsal");
    assert_eq!(journal["outcome"], "failed");
    assert_eq!(
        statuses(&journal),
        pairs(&[
            ("dynamodb", "unchanged"),
            ("image-api", "rolled_back"),
            ("integration-api", "failed")
        ])
    );
    let events: Vec<&str> = journal["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        events.contains(&"image-api: rolled back to its state before the run"),
        "{events:?}"
    );
    assert_eq!(
        image_health(&h, "dev").await?["version"],
        "2",
        "the image API is back at its earlier version"
    );
    xtask(&["unlock", "dev"]).ok();
    std::fs::write(&integration, text)?;
    s3.delete_bucket().bucket("tb365-taken-dev").send().await?;

    // 4. Remove in reverse order: no stack, bucket, table or user pool of
    // the stage is left.
    xtask(&["remove", "dev", "--empty-buckets"]).ok();
    let journal = h.journal("tb365", "dev.rehearsal");
    assert_eq!(
        statuses(&journal)
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["integration-api", "image-api", "dynamodb"]
    );
    let config = h.sdk().await;
    let live = support::live_stacks(&h.target, "us-east-1").await?;
    assert!(live.is_empty(), "stacks left: {live:?}");
    let left = h.buckets_ending("-dev").await?;
    assert!(left.is_empty(), "buckets left: {left:?}");
    let tables = aws_sdk_dynamodb::Client::new(&config)
        .list_tables()
        .send()
        .await?;
    let left: Vec<&String> = tables
        .table_names()
        .iter()
        .filter(|t| t.ends_with("-dev"))
        .collect();
    assert!(left.is_empty(), "tables left: {left:?}");
    let pools = aws_sdk_cognitoidentityprovider::Client::new(&config)
        .list_user_pools()
        .max_results(60)
        .send()
        .await?;
    let left: Vec<&str> = pools
        .user_pools()
        .iter()
        .filter_map(|p| p.name())
        .filter(|n| n.ends_with("-dev"))
        .collect();
    assert!(left.is_empty(), "user pools left: {left:?}");
    Ok(())
}
