//! `cargo xtask checklist` on a rehearsal of tb365's prod: before anything
//! is done every item that needs a step is ✘ with what to do, and after
//! the steps — a deploy with its smoke test and bake, a load run within
//! the objectives, a backup and a restore, a change rolled back — every
//! item is ✔ with its evidence and the run passes, read from the shared
//! journals when this machine's are gone.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::support;
use crate::support::{git, Harness};

fn commit(app: &Path, message: &str) {
    git(app, &["add", "-A"]);
    git(app, &["commit", "-qm", message]);
}

fn marks(report: &Value) -> Vec<(String, String)> {
    report["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        i["id"].as_str().unwrap_or_default().to_string(),
                        i["mark"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_checklist_passes_once_every_step_is_done() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("checklist").await?;
    let app = h.copy_fixture("tb365")?;
    std::fs::write(app.join(".gitignore"), "node_modules/\n.serverless/\n")?;
    git(&app, &["init", "-q"]);
    commit(&app, "tb365");
    let xtask = h.rehearsing(&app);
    let checklist = || -> Result<(Option<i32>, Value)> {
        let run = xtask(&["checklist", "prod", "--format", "json"]);
        Ok((
            run.code,
            serde_json::from_str(&run.stdout).with_context(|| run.text.clone())?,
        ))
    };
    xtask(&["bootstrap", "prod"]).ok();

    let (code, before) = checklist()?;
    assert_eq!(code, Some(1), "{before}");
    let not_done: Vec<String> = marks(&before)
        .into_iter()
        .filter(|(_, m)| m == "not_done")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        not_done,
        [
            "resources-exist",
            "order",
            "rollback",
            "endpoints",
            "monitoring",
            "performance",
            "backups"
        ],
        "{before}"
    );
    // Every item says why.
    assert!(before["items"].as_array().is_some_and(|i| i.len() == 9
        && i.iter()
            .all(|i| !i["evidence"].as_str().unwrap_or_default().is_empty())));

    // The steps.
    xtask(&["deploy", "prod", "--yes"]).ok();
    xtask(&[
        "load",
        "prod",
        "--yes",
        "--duration",
        "2s",
        "--warmup",
        "1s",
    ])
    .ok();
    xtask(&["backup", "prod"]).ok();
    let dynamodb = aws_sdk_dynamodb::Client::new(&h.sdk().await);
    let backups = dynamodb
        .list_backups()
        .table_name("tb365-designs-prod")
        .send()
        .await?;
    let arn = backups
        .backup_summaries()
        .first()
        .and_then(|b| b.backup_arn())
        .context("a backup of the designs table")?
        .to_string();
    xtask(&["backup", "prod", "--restore", &arn, "--yes"]).ok();
    let image = app.join("image-api/serverless.yml");
    let text = std::fs::read_to_string(&image)?;
    std::fs::write(
        &image,
        text.replacen(
            "  health:\n    handler: src/handlers.health\n",
            "  health:\n    handler: src/handlers.health\n    environment:\n      HEALTH_DETAIL: full\n",
            1,
        ),
    )?;
    commit(&app, "more detail in health");
    xtask(&["deploy", "prod", "--yes"]).ok();
    let change = h.journal("tb365", "prod.rehearsal")["run_id"]
        .as_str()
        .context("the change's run id")?
        .to_string();
    xtask(&["rollback", "prod", "--run", &change, "--yes"]).ok();

    // The journals of this machine are gone (a fresh CI runner): the
    // shared copies beside the stage's lock are the evidence.
    let local = h.dir.join("state/journal/tb365/prod.rehearsal");
    for entry in std::fs::read_dir(&local)?.flatten() {
        if entry.path().extension().is_some_and(|e| e == "json") {
            std::fs::remove_file(entry.path())?;
        }
    }
    let (code, after) = checklist()?;
    assert_eq!(code, Some(0), "{after}");
    assert!(marks(&after).iter().all(|(_, m)| m == "done"), "{after}");
    let evidence = |id: &str| -> String {
        after["items"]
            .as_array()
            .and_then(|i| i.iter().find(|i| i["id"] == id))
            .and_then(|i| i["evidence"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        evidence("rollback").contains("(rollback) returned 1 service(s) to their state before"),
        "{after}"
    );
    assert!(
        evidence("backups").contains("restored into tb365-designs-prod-restored-"),
        "{after}"
    );
    assert!(
        evidence("monitoring").contains("alarm(s), 0 firing now"),
        "{after}"
    );
    assert!(
        evidence("order").starts_with("plan dynamodb → image-api + integration-api"),
        "{after}"
    );

    let markdown = xtask(&["checklist", "prod", "--format", "markdown"]);
    markdown.ok();
    assert!(
        markdown.stdout.contains("| ✔ | Backups tested |"),
        "{}",
        markdown.stdout
    );
    Ok(())
}
