//! tb365 on two stages at once, beside the sequence `cargo test` runs:
//! both deploy side by side, and neither sees the other's data.

use anyhow::{Context, Result};

use crate::acceptance::copy_app;
use crate::support;
use crate::support::{arg, Harness};

#[tokio::test]
async fn two_stages_rehearsed_side_by_side_stay_apart() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("stages").await?;
    let app_arg = arg(&copy_app(&h)?);
    for stage in ["dev", "stage"] {
        h.run(&["bootstrap", stage, "--rehearse", "--app", &app_arg])
            .ok();
    }
    let spawn = |stage: &str| h.spawn(&["deploy", stage, "--rehearse", "--app", &app_arg]);
    let (dev, stage) = (spawn("dev")?, spawn("stage")?);
    for child in [dev, stage] {
        support::Run::from(child.wait_with_output()?).ok();
    }
    for stage in ["dev", "stage"] {
        let journal = h.journal("tb365", &format!("{stage}.rehearsal"));
        let (passed, failed, skipped) = support::smoke(&journal);
        assert!(
            passed > 0 && failed == 0 && skipped == 0,
            "{stage}: {}",
            journal["smoke"]
        );
    }

    // A design made through dev's API lands in dev's table only.
    let (_, dev_outputs) = h
        .stack("tb365-image-api-dev")
        .await?
        .context("dev is deployed")?;
    let (_, stage_outputs) = h
        .stack("tb365-image-api-stage")
        .await?
        .context("stage is deployed")?;
    assert_ne!(dev_outputs.get("HttpApiId"), stage_outputs.get("HttpApiId"));
    let url = |outputs: &std::collections::BTreeMap<String, String>| {
        format!(
            "{}/_aws/execute-api/{}",
            h.emulator.endpoint(),
            outputs["HttpApiId"]
        )
    };
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}/designs", url(&dev_outputs)))
        .json(
            &serde_json::json!({"id": "isolation-1", "name": "dev only", "width": 1, "height": 1}),
        )
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    let from_stage = client
        .get(format!("{}/designs/isolation-1", url(&stage_outputs)))
        .send()
        .await?;
    assert_eq!(from_stage.status(), 404, "stage's API sees dev's data");
    let dynamodb = aws_sdk_dynamodb::Client::new(&h.sdk().await);
    let key = aws_sdk_dynamodb::types::AttributeValue::S("isolation-1".into());
    let in_dev = dynamodb
        .get_item()
        .table_name("tb365-designs-dev")
        .key("id", key.clone())
        .send()
        .await?;
    let in_stage = dynamodb
        .get_item()
        .table_name("tb365-designs-stage")
        .key("id", key)
        .send()
        .await?;
    assert!(in_dev.item().is_some() && in_stage.item().is_none());
    // The smoke runs cleaned up after themselves in both stages.
    for stage in ["dev", "stage"] {
        let scan = dynamodb
            .scan()
            .table_name(format!("tb365-designs-{stage}"))
            .send()
            .await?;
        let leftovers: Vec<_> = scan
            .items()
            .iter()
            .filter_map(|i| i.get("id")?.as_s().ok())
            .filter(|id| id.starts_with("smoke-"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{stage}: smoke data left behind: {leftovers:?}"
        );
    }
    Ok(())
}
