//! A rehearsal of tb365's prod, from nothing to a passing checklist. Before
//! anything is done every item of `cargo xtask checklist` that needs a step
//! is ✘ with what to do. The deploy passes its own smoke test without real
//! users, and no smoke check or load request deletes data the run did not
//! create there. After the steps — a deploy with its smoke test and bake, a
//! load run within the objectives, a backup and a restore, a change rolled
//! back — every item is ✔ with its evidence and the run passes, read from
//! the shared journals when this machine's are gone.
//!
//! One test, one deploy from nothing: the safety checks on the rehearsal
//! and the checklist's steps need the same deployed, committed app.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::support;
use crate::support::{arg, git, Harness, Run};

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
    // No smoke user is given: a rehearsal makes its own (and says what the
    // real stage needs).
    let app_arg = arg(&app);
    let xtask = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--rehearse", "--app", &app_arg]);
        let mut cmd = h.xtask(&all);
        cmd.env_remove("SMOKE_USERNAME")
            .env_remove("SMOKE_PASSWORD");
        support::Run::from(cmd.output().expect("xtask runs"))
    };
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

    // The steps. The deploy passes its smoke test without a smoke user.
    let deploy = xtask(&["deploy", "prod", "--yes"]);
    deploy.ok();
    assert!(
        deploy
            .text
            .contains("set SMOKE_USERNAME and SMOKE_PASSWORD"),
        "the rehearsal says what the real stage needs:\n{}",
        deploy.text
    );
    let journal = h.journal("tb365", "prod.rehearsal");
    let (_, failed, skipped) = support::smoke(&journal);
    assert!(
        journal["smoke"]["result"] == "ran" && failed == 0 && skipped == 0,
        "every check ran and passed: {}",
        journal["smoke"]
    );
    never_touches_data_it_did_not_create(&h, &app, &xtask).await?;

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
    support::change_tb365_health(&app)?;
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

/// On the deployed rehearsal: a customer's design, and a check that would
/// delete it by its id. Neither smoke nor load sends that request, and a
/// spec that says the check writes nothing is refused before anything is
/// sent. The spec is as committed again after.
async fn never_touches_data_it_did_not_create(
    h: &Harness,
    app: &Path,
    xtask: &impl Fn(&[&str]) -> Run,
) -> Result<()> {
    let (_, outputs) = h
        .stack("tb365-image-api-prod")
        .await?
        .context("the image API is deployed")?;
    let api = outputs.get("HttpApiId").context("an HTTP API id")?;
    let designs = format!("{}/_aws/execute-api/{api}/designs", h.emulator.endpoint());
    let client = reqwest::Client::new();
    let created = client
        .post(&designs)
        .json(
            &serde_json::json!({ "id": "customer-42", "name": "theirs", "width": 1, "height": 1 }),
        )
        .send()
        .await?;
    assert!(created.status().is_success(), "{}", created.status());
    let spec = app.join("smoke.toml");
    let committed = std::fs::read_to_string(&spec)?;
    let mut text = committed.clone();
    text.push_str("\n[[check]]\nservice = \"image-api\"\nname = \"delete a fixed design\"\nmethod = \"DELETE\"\npath = \"/designs/{id}\"\nparams = { id = \"customer-42\" }\nexpect = 204\n");
    std::fs::write(&spec, &text)?;
    let still_there = || async {
        let answer = client.get(format!("{designs}/customer-42")).send().await?;
        anyhow::Ok(answer.status().as_u16())
    };

    let smoke = xtask(&["smoke", "prod"]);
    assert_eq!(smoke.code, Some(1), "{}", smoke.text);
    assert!(
        smoke.text.contains(
            "path parameter `id` of route `DELETE /designs/{id}` is `customer-42`, which this run did not make"
        ),
        "{}",
        smoke.text
    );
    assert_eq!(
        still_there().await?,
        200,
        "the customer's design was deleted"
    );

    // Load leaves the check out: it sends only reads to a protected stage.
    let load = [
        "load",
        "prod",
        "--yes",
        "--duration",
        "2s",
        "--warmup",
        "0s",
    ];
    let loaded = xtask(&[&load[..], &["--format", "json"]].concat());
    let report: serde_json::Value = serde_json::from_str(&loaded.stdout)
        .with_context(|| format!("a JSON report:\n{}", loaded.text))?;
    let left_out = report["left_out"].to_string();
    assert!(
        left_out.contains("DELETE /designs/{id} in image-api: sends DELETE"),
        "{report}"
    );
    assert_eq!(
        still_there().await?,
        200,
        "load deleted the customer's design"
    );

    // The drill: the same check said to write nothing. The spec is refused
    // before anything is sent, by smoke and by load.
    std::fs::write(
        &spec,
        format!("{text}mutates = false\nwhy = \"the API refuses it\"\n"),
    )?;
    let refused = "`mutates = false` may mark a check whose writes are all POSTs";
    xtask(&["smoke", "prod"]).fails_with(refused);
    xtask(&load).fails_with(refused);
    assert_eq!(
        still_there().await?,
        200,
        "the customer's design was deleted"
    );
    std::fs::write(&spec, committed)?;
    Ok(())
}
