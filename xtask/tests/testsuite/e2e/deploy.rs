//! Deploying against the real emulator through the real binary: order,
//! protected stages, the lock, coordinated rollback and removal.

use anyhow::{Context, Result};
use serde_json::Value;

use crate::support;
use crate::support::chain::{base, chain, deploy_signalled, deployed_chain, events, statuses, top};
use crate::support::{arg, fixture, git, Harness};

#[tokio::test]
async fn a_failure_in_the_last_stack_rolls_back_the_earlier_one() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("rollback").await?;
    let (app, app_arg) = deployed_chain(&h);
    let (_, outputs) = h.stack("chain-base-dev").await?.expect("base deployed");
    assert_eq!(outputs.get("Version").map(String::as_str), Some("v1"));

    // v2 of base, and a top that cannot deploy: its new bucket's name is taken.
    let s3 = xtask::aws::s3_client(&h.sdk().await, &h.target);
    s3.create_bucket().bucket("chain-taken-dev").send().await?;
    std::fs::write(app.join("base/serverless.yml"), base("v2"))?;
    let broken = "\n    Taken:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: chain-taken-${sls:stage}";
    std::fs::write(app.join("top/serverless.yml"), top(broken))?;
    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .fails_with("chain-top");

    let journal = h.journal("chain", "dev.rehearsal");
    assert_eq!(journal["outcome"], "failed");
    assert_eq!(
        statuses(&journal),
        vec![
            ("base".into(), "rolled_back".into()),
            ("top".into(), "failed".into())
        ]
    );
    assert!(events(&journal).contains(&"base: rolled back to its state before the run".to_string()));
    let (status, outputs) = h.stack("chain-base-dev").await?.expect("base still there");
    assert_eq!(
        outputs.get("Version").map(String::as_str),
        Some("v1"),
        "base was not rolled back ({status})"
    );
    let (status, _) = h.stack("chain-top-dev").await?.expect("top still there");
    assert!(
        status.ends_with("COMPLETE") && !status.starts_with("DELETE"),
        "top is left {status}"
    );
    // The lock went with the run.
    h.run(&["unlock", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    Ok(())
}

#[tokio::test]
async fn two_deploys_of_one_stage_at_once_the_second_is_refused() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("lock").await?;
    let app_arg = arg(&chain(&h));
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let spawn = || h.spawn(&["deploy", "dev", "--rehearse", "--app", &app_arg]);
    let (first, second) = (spawn()?, spawn()?);
    let runs: Vec<support::Run> = [first, second]
        .into_iter()
        .map(|c| support::Run::from(c.wait_with_output().expect("deploy finishes")))
        .collect();
    let ok: Vec<&support::Run> = runs.iter().filter(|r| r.code == Some(0)).collect();
    let refused: Vec<&support::Run> = runs.iter().filter(|r| r.code != Some(0)).collect();
    assert_eq!(
        (ok.len(), refused.len()),
        (1, 1),
        "{}\n----\n{}",
        runs[0].text,
        runs[1].text
    );
    refused[0].fails_with("stage dev is locked by");
    refused[0].fails_with("cargo xtask unlock dev --force");
    Ok(())
}

#[tokio::test]
async fn protected_stages_are_refused_before_any_change() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("protected").await?;
    let app = chain(&h);
    let app_arg = arg(&app);
    git(&app, &["init", "-q"]);
    git(&app, &["add", "."]);
    git(&app, &["commit", "-qm", "chain"]);
    let as_prod = |args: &[&str]| {
        let output = h
            .xtask(args)
            .env("AWS_ACCESS_KEY_ID", "123456789012")
            .output()
            .expect("xtask runs");
        support::Run::from(output)
    };
    as_prod(&["bootstrap", "prod", "--rehearse", "--app", &app_arg]).ok();

    // No --yes and no terminal to ask on.
    as_prod(&["deploy", "prod", "--rehearse", "--app", &app_arg]).refused("pass --yes");
    // Credentials of another account.
    h.run(&["deploy", "prod", "--rehearse", "--yes", "--app", &app_arg])
        .refused("belongs to account 123456789012");
    // A dirty work tree.
    std::fs::write(app.join("notes.txt"), "uncommitted")?;
    as_prod(&["deploy", "prod", "--rehearse", "--yes", "--app", &app_arg])
        .refused("uncommitted changes");
    // Nothing was deployed by any of them (the tenant is the prod account).
    let prod_target = xtask::aws::Target::Emulator {
        endpoint: h.emulator.endpoint().to_string(),
        access_key: "123456789012".into(),
    };
    let live = support::live_stacks(&prod_target, "us-east-1").await?;
    assert!(
        live.is_empty(),
        "refused deploys changed the stage: {live:?}"
    );

    // Clean, confirmed, right account: the rehearsal goes through and
    // records the commit.
    std::fs::remove_file(app.join("notes.txt"))?;
    as_prod(&["deploy", "prod", "--rehearse", "--yes", "--app", &app_arg]).ok();
    let journal = h.journal("chain", "prod.rehearsal");
    assert_eq!(journal["outcome"], "succeeded");
    assert_eq!(journal["commit"].as_str().map(str::len), Some(40));
    // A protected stage is not removed without its own flag.
    as_prod(&["remove", "prod", "--rehearse", "--yes", "--app", &app_arg])
        .refused("--allow-protected");
    Ok(())
}

#[tokio::test]
async fn remove_goes_in_reverse_order_and_leaves_nothing() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("remove").await?;
    let app_arg = arg(&chain(&h));
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    // --verbose shows CloudFormation's stack events; without it they stay
    // in the service's log.
    let deployed = h.run(&[
        "deploy",
        "dev",
        "--rehearse",
        "--verbose",
        "--app",
        &app_arg,
    ]);
    deployed.ok();
    assert!(
        deployed
            .text
            .contains("CREATE_COMPLETE - AWS::S3::Bucket - Data"),
        "{}",
        deployed.text
    );
    let removed = h.run(&[
        "remove",
        "dev",
        "--rehearse",
        "--empty-buckets",
        "--app",
        &app_arg,
    ]);
    removed.ok();
    assert!(
        !removed.text.contains(" - AWS::S3::Bucket - "),
        "{}",
        removed.text
    );
    let journal = h.journal("chain", "dev.rehearsal");
    assert_eq!(journal["command"], "remove");
    assert_eq!(
        statuses(&journal),
        vec![
            ("top".into(), "removed".into()),
            ("base".into(), "removed".into())
        ]
    );
    assert!(h.stack("chain-top-dev").await?.is_none());
    assert!(h.stack("chain-base-dev").await?.is_none());
    let left = h.buckets_ending("-dev").await?;
    assert!(left.is_empty(), "buckets of the stage left: {left:?}");
    Ok(())
}

#[tokio::test]
async fn only_refuses_a_service_whose_dependency_was_never_deployed() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("only").await?;
    let app_arg = arg(&chain(&h));
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    h.run(&[
        "deploy",
        "dev",
        "--rehearse",
        "--only",
        "top",
        "--app",
        &app_arg,
    ])
    .fails_with("top depends on base, which was never deployed");
    assert!(h.stack("chain-top-dev").await?.is_none());
    h.run(&[
        "deploy",
        "dev",
        "--rehearse",
        "--only",
        "base",
        "--app",
        &app_arg,
    ])
    .ok();
    h.run(&[
        "deploy",
        "dev",
        "--rehearse",
        "--only",
        "top",
        "--app",
        &app_arg,
    ])
    .ok();
    assert!(h.stack("chain-top-dev").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn deploys_need_a_bootstrapped_stage() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("bootstrap").await?;
    let app_arg = arg(&chain(&h));
    // The hint names the same rehearsal and app, so pasting it bootstraps
    // what this deploy needs, not the real stage.
    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .fails_with("run `cargo xtask bootstrap dev --rehearse --app /");
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    // Idempotent.
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let s3 = xtask::aws::s3_client(&h.sdk().await, &h.target);
    let versioning = s3
        .get_bucket_versioning()
        .bucket("chain-deployments-dev")
        .send()
        .await?;
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    Ok(())
}

#[tokio::test]
async fn rollback_returns_every_service_to_its_state_before_a_run() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("rollback-cmd").await?;
    let (app, app_arg) = deployed_chain(&h);
    std::fs::write(app.join("base/serverless.yml"), base("v2"))?;
    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let (_, outputs) = h.stack("chain-base-dev").await?.expect("base deployed");
    assert_eq!(outputs.get("Version").map(String::as_str), Some("v2"));
    let run_id = h.journal("chain", "dev.rehearsal")["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let run = h.run(&[
        "rollback",
        "dev",
        "--rehearse",
        "--run",
        &run_id,
        "--app",
        &app_arg,
    ]);
    run.ok();
    let (_, outputs) = h
        .stack("chain-base-dev")
        .await?
        .expect("base still deployed");
    assert_eq!(
        outputs.get("Version").map(String::as_str),
        Some("v1"),
        "{}",
        run.text
    );
    let journal = h.journal("chain", "dev.rehearsal");
    assert_eq!(journal["command"], "rollback");
    assert_eq!(journal["notes"]["undoes"], run_id.as_str());
    assert_eq!(
        statuses(&journal),
        vec![
            ("base".into(), "rolled_back".into()),
            ("top".into(), "unchanged".into())
        ]
    );
    // The rolled-back service is deployed again next time, not skipped.
    let again = h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg]);
    again.ok();
    let (_, outputs) = h.stack("chain-base-dev").await?.expect("base deployed");
    assert_eq!(
        outputs.get("Version").map(String::as_str),
        Some("v2"),
        "{}",
        again.text
    );
    Ok(())
}

#[tokio::test]
async fn an_interrupted_deploy_finishes_what_runs_then_rolls_back() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("interrupt").await?;
    let app_arg = arg(&chain(&h));
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    // Ctrl-C once the first service is under way.
    let run = deploy_signalled(&h, &app_arg, nix::sys::signal::Signal::SIGINT)?;
    assert_eq!(run.code, Some(130), "interrupted: {}", run.text);
    assert!(run.text.contains("starting nothing new"), "{}", run.text);
    let journal = h.journal("chain", "dev.rehearsal");
    assert_eq!(journal["outcome"], "interrupted");
    // base finished, then went away again (this run had created it); top never started.
    assert_eq!(
        statuses(&journal),
        vec![
            ("base".into(), "rolled_back".into()),
            ("top".into(), "skipped".into())
        ]
    );
    assert!(
        h.stack("chain-base-dev").await?.is_none(),
        "the stack this run created is gone"
    );
    assert!(h.stack("chain-top-dev").await?.is_none());
    h.run(&["unlock", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    Ok(())
}

#[tokio::test]
async fn a_serverless_compose_app_deploys_in_order_with_its_params() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("compose").await?;
    let run = h.run(&["deploy", "local", "--app", &arg(&fixture("compose"))]);
    run.ok();
    let journal = h.journal("compose", "local");
    assert_eq!(
        statuses(&journal),
        vec![
            ("users".into(), "deployed".into()),
            ("orders".into(), "deployed".into()),
            ("notify".into(), "deployed".into())
        ]
    );
    // `${users.UsersTableName}` reached orders as `--param usersTable=...`.
    // The app lives in sa-east-1 (its services say so; there is no manifest).
    let cfn = aws_sdk_cloudformation::Client::new(&h.target.sdk_config("sa-east-1").await);
    let stacks = cfn
        .describe_stacks()
        .stack_name("compose-orders-local")
        .send()
        .await?;
    let outputs = stacks
        .stacks()
        .first()
        .map(|s| s.outputs().to_vec())
        .unwrap_or_default();
    let users_table = outputs
        .iter()
        .find(|o| o.output_key() == Some("UsersTable"))
        .and_then(|o| o.output_value());
    assert_eq!(users_table, Some("compose-users-local"));
    Ok(())
}

#[tokio::test]
async fn a_deploy_killed_holding_the_lock_blocks_the_next_until_unlock_force() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("killed").await?;
    let app_arg = arg(&chain(&h));
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let mut child = h.spawn(&["deploy", "dev", "--rehearse", "--app", &app_arg])?;
    assert!(h.wait_for_journal("chain", "dev.rehearsal", "base: started"));
    // No graceful stop: the process dies holding the lock.
    child.kill()?;
    child.wait()?;

    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .refused("stage dev is locked by");
    let held = h.run(&["unlock", "dev", "--rehearse", "--app", &app_arg]);
    assert_eq!(held.code, Some(1), "{}", held.text);
    assert!(held.text.contains("`deploy`"), "{}", held.text);
    h.run(&["unlock", "dev", "--rehearse", "--force", "--app", &app_arg])
        .ok();
    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    assert!(h.stack("chain-top-dev").await?.is_some());
    Ok(())
}

/// A preview stage (`[stages."pr-*"]` in deploy.toml) deploys with its
/// smoke test, shows in `info` with its outputs and endpoints and in
/// `previews`, and is removed leaving nothing; a name outside every pattern is refused
/// before anything is made.
#[tokio::test]
async fn a_preview_stage_deploys_shows_its_info_and_is_removed() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("preview").await?;
    let app = h.copy_fixture("tb365")?;
    let manifest = app.join("deploy.toml");
    let text = std::fs::read_to_string(&manifest)?;
    std::fs::write(
        &manifest,
        format!("{text}\n[stages.\"pr-*\"]\nregion = \"us-east-1\"\n"),
    )?;
    let xtask = h.rehearsing(&app);

    let refused = xtask(&["bootstrap", "feature-1"]);
    refused.fails_with("allowed stages: local, dev, stage, prod, pr-*");
    assert_eq!(refused.code, Some(2));
    assert!(h.buckets_ending("-feature-1").await?.is_empty());

    xtask(&["bootstrap", "pr-7"]).ok();
    xtask(&["deploy", "pr-7"]).ok();

    // One view of the stage: text, JSON, and the same JSON in a file.
    let info = xtask(&["info", "pr-7"]);
    info.ok();
    assert!(
        info.stdout.contains("1. dynamodb  tb365-dynamodb-pr-7  "),
        "{}",
        info.stdout
    );
    let summary = xtask(&["info", "pr-7", "--format", "markdown"]);
    assert!(
        summary
            .ok()
            .stdout
            .contains("| dynamodb | `tb365-dynamodb-pr-7` | CREATE_COMPLETE | deploy `"),
        "{}",
        summary.stdout
    );
    let file = h.dir.join("outputs.json");
    let json = xtask(&[
        "info",
        "--stage",
        "pr-7",
        "--format",
        "json",
        "--outputs-file",
        &arg(&file),
    ]);
    json.ok();
    let printed: Value = serde_json::from_str(&json.stdout)?;
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    assert_eq!(printed, written, "the outputs file holds what is printed");
    let services = printed["services"].as_array().context("services")?;
    let keys: Vec<&str> = services
        .iter()
        .filter_map(|s| s["service"].as_str())
        .collect();
    assert_eq!(keys[0], "dynamodb", "plan order: {keys:?}");
    assert_eq!(keys.len(), 3, "{keys:?}");
    for s in services {
        assert!(
            s["status"]
                .as_str()
                .is_some_and(|st| st.ends_with("_COMPLETE")),
            "{s}"
        );
        assert!(
            !s["outputs"].as_object().context("outputs")?.is_empty(),
            "{s}"
        );
        assert_eq!(s["last_run"]["command"], "deploy", "{s}");
        assert_eq!(s["last_run"]["result"], "deployed", "{s}");
    }
    let image = &services[keys
        .iter()
        .position(|k| *k == "image-api")
        .context("image-api")?];
    let health = image["endpoints"]
        .as_array()
        .context("endpoints")?
        .iter()
        .find(|e| e["method"] == "GET" && e["path"] == "/health")
        .and_then(|e| e["url"].as_str())
        .context("GET /health with a URL")?
        .to_string();
    assert!(
        health.starts_with(&format!("{}/_aws/execute-api/", h.emulator.endpoint())),
        "{health}"
    );
    assert_eq!(reqwest::get(&health).await?.status(), 200, "{health}");

    // The nightly sweep's view: the deployed previews, by stack name.
    let previews = |xtask: &dyn Fn(&[&str]) -> support::Run| -> Result<Value> {
        let listed = xtask(&["previews", "--format", "json"]);
        Ok(serde_json::from_str(&listed.ok().stdout)?)
    };
    let mut listed = previews(&xtask)?;
    let mut sorted: Vec<&str> = keys.clone();
    sorted.sort_unstable();
    if let Some(services) = listed[0]["services"].as_array_mut() {
        services.sort_by_key(|s| s.as_str().unwrap_or_default().to_string());
    }
    assert_eq!(
        listed,
        serde_json::json!([{"stage": "pr-7", "services": sorted}])
    );

    xtask(&["remove", "pr-7", "--empty-buckets"]).ok();
    assert_eq!(previews(&xtask)?, serde_json::json!([]));
    for service in keys {
        assert!(h.stack(&format!("tb365-{service}-pr-7")).await?.is_none());
    }
    let left = h.buckets_ending("-pr-7").await?;
    assert!(
        left.is_empty(),
        "buckets of the preview stage left: {left:?}"
    );
    let after: Value = serde_json::from_str(&xtask(&["info", "pr-7", "--format", "json"]).stdout)?;
    for s in after["services"].as_array().context("services")? {
        assert!(s["status"].is_null(), "{s}");
        assert_eq!(s["last_run"]["result"], "removed", "{s}");
    }
    Ok(())
}

/// `base` exports `export`; `top` imports `export` too.
fn pair(export: &str) -> [(&'static str, String); 3] {
    [
        ("deploy.toml", "[stages.dev]\nregion = \"us-east-1\"\n".to_string()),
        (
            "base/serverless.yml",
            format!(
                "service: pair-base\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\nresources:\n  Resources:\n    Data:\n      Type: AWS::S3::Bucket\n  Outputs:\n    DataBucket:\n      Value: !Ref Data\n      Export:\n        Name: {export}\n"
            ),
        ),
        (
            "top/serverless.yml",
            format!("service: pair-top\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\nresources:\n  Resources:\n    Files:\n      Type: AWS::S3::Bucket\n      Properties:\n        Tags:\n          - Key: data\n            Value: !ImportValue {export}\n"),
        ),
    ]
}

#[tokio::test]
async fn a_deploy_that_removes_an_imported_export_is_refused() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("removed-export").await?;
    let files = pair("pair-${sls:stage}-data");
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    let app = h.app("pair", &refs);
    let app_arg = arg(&app);
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .ok();

    // Rename the export in both files: the app is consistent, but the
    // deployed top still imports the old name, and base deploys first.
    let renamed = pair("pair-${sls:stage}-data-bucket");
    std::fs::write(app.join("base/serverless.yml"), &renamed[1].1)?;
    std::fs::write(app.join("top/serverless.yml"), &renamed[2].1)?;
    let run = h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg]);
    run.fails_with("imported-export-removed");
    run.fails_with("deployed top (stack pair-top-dev) still import");
    run.fails_with("first deploy top (stack pair-top-dev) without the import");
    run.fails_with("base/serverless.yml:10");
    let (_, outputs) = h.stack("pair-base-dev").await?.expect("base is deployed");
    assert!(outputs.contains_key("DataBucket"));
    let cfn = aws_sdk_cloudformation::Client::new(&h.sdk().await);
    let imports = cfn
        .list_imports()
        .export_name("pair-dev-data")
        .send()
        .await?;
    assert_eq!(imports.imports(), ["pair-top-dev"], "nothing changed");
    Ok(())
}

/// An app in a repository of its own, outside this one, as a team has it:
/// from a folder of it, with no `--app`, `audit`, `plan`, `deploy`,
/// `info` and `remove` act on that app, each saying so, and the run's
/// state (journal, fingerprints) stays in that repository's `.xtask`, not
/// in the repository the tool was built in, run by a copy of the binary
/// outside the checkout it was built in.
#[tokio::test]
async fn an_app_outside_this_repository_is_the_one_its_folder_names() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("outside").await?;
    let outside = std::env::temp_dir().join(format!("xtask-e2e-outside-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outside);
    std::fs::create_dir_all(outside.join(".git"))?;
    std::fs::create_dir_all(outside.join("lonely"))?;
    std::fs::write(
        outside.join("lonely/serverless.yml"),
        "service: lonely\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  region: us-east-1\nresources:\n  Resources:\n    Jobs:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: lonely-jobs-${sls:stage}\n  Outputs:\n    JobsUrl:\n      Value: !Ref Jobs\n",
    )?;
    // The binary as a team installs it: a copy, away from the checkout it
    // was built in.
    let installed = outside.join("bin/xtask");
    std::fs::create_dir_all(outside.join("bin"))?;
    std::fs::copy(env!("CARGO_BIN_EXE_xtask"), &installed)?;
    let run = |args: &[&str]| {
        let cmd = h.xtask(args);
        let output = std::process::Command::new(&installed)
            .args(cmd.get_args())
            .envs(
                cmd.get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .env_remove("XTASK_APP")
            .env_remove("AWS_PROFILE")
            .stdin(std::process::Stdio::null())
            .current_dir(outside.join("lonely"))
            .env_remove("XTASK_STATE_DIR")
            .env_remove("XTASK_ROOT")
            // The pinned tools this checkout has installed, not a second
            // install in the scratch repository.
            .env("XTASK_TOOLS_DIR", xtask::sys::paths::tools_dir())
            .output()
            .expect("the xtask binary runs");
        support::Run::from(output)
    };
    for (args, says) in [
        (&["audit"][..], "audit: clean"),
        (&["plan", "local"], "lonely"),
    ] {
        let done = run(args);
        done.ok();
        assert!(
            done.text.contains("app: . (the current folder"),
            "{}",
            done.text
        );
        assert!(
            done.text.contains(says) && !done.text.contains("tb365"),
            "{}",
            done.text
        );
    }
    run(&["deploy", "local"]).ok();
    assert!(h.stack("lonely-local").await?.is_some(), "deployed");
    let journals = outside.join(".xtask/journal");
    assert!(
        journals.is_dir(),
        "the journal is kept in the app's repository: {}",
        journals.display()
    );
    let info = run(&["info", "local"]);
    info.ok();
    assert!(info.text.contains("JobsUrl"), "{}", info.text);
    run(&["remove", "local"]).ok();
    assert!(h.stack("lonely-local").await?.is_none(), "removed");
    let _ = std::fs::remove_dir_all(&outside);
    Ok(())
}

/// The README's way in, as a team takes it: `init` in a repository of its
/// own writes its xtask crate on this engine (by path here, by git for a
/// team), the alias, the build profile and the engine's lock file; then
/// `cargo xtask deploy local` in the app's folder builds that crate and
/// deploys the app, and `cargo xtask remove local` removes it. The build
/// shares this checkout's `target/` (what it compiles is the engine this
/// test was built from, in the same versions), so only the team's crate
/// and the engine's own crates are compiled again.
#[tokio::test]
async fn a_fresh_workspace_adopts_the_engine_and_deploys_its_app() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("adopt").await?;
    let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the checkout")?
        .to_path_buf();
    let repo = std::env::temp_dir().join(format!("xtask-e2e-adopt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(repo.join("orders"))?;
    git(&repo, &["init", "-q"]);
    std::fs::write(
        repo.join("orders/serverless.yml"),
        "service: adopted\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  region: us-east-1\nresources:\n  Resources:\n    Jobs:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: adopted-jobs-${sls:stage}\n  Outputs:\n    JobsUrl:\n      Value: !Ref Jobs\n",
    )?;
    let app = repo.join("orders");
    let engine = checkout.join("xtask");
    let init = h
        .xtask(&["init", "--engine", &arg(&engine)])
        .current_dir(&app)
        .env_remove("XTASK_STATE_DIR")
        .output()?;
    let init = support::Run::from(init);
    init.ok();
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "xtask/Cargo.toml",
        "xtask/src/main.rs",
        ".cargo/config.toml",
        "orders/deploy.toml",
    ] {
        assert!(repo.join(file).is_file(), "{file}:\n{}", init.text);
    }
    // The toolchain this checkout pins; a team's own is whatever it uses.
    let toolchain = std::fs::read_to_string(checkout.join("rust-toolchain.toml"))?;
    let channel = toolchain
        .lines()
        .find_map(|l| l.trim().strip_prefix("channel = "))
        .map(|c| c.trim_matches('"').to_string())
        .context("a channel")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| checkout.join("target"));
    let cargo_xtask = |args: &[&str]| {
        let cmd = h.xtask(args);
        let output = std::process::Command::new("cargo")
            .arg("xtask")
            .args(cmd.get_args())
            .envs(
                cmd.get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .env_remove("XTASK_STATE_DIR")
            .env_remove("XTASK_ROOT")
            .env("CARGO_TARGET_DIR", &target)
            .env("RUSTUP_TOOLCHAIN", &channel)
            .stdin(std::process::Stdio::null())
            .current_dir(&app)
            .output()
            .expect("cargo runs");
        support::Run::from(output)
    };
    let deployed = cargo_xtask(&["deploy", "local"]);
    deployed.ok();
    assert!(
        deployed.text.contains("app: . (the current folder"),
        "{}",
        deployed.text
    );
    assert!(h.stack("adopted-local").await?.is_some(), "deployed");
    assert!(repo.join(".xtask/journal").is_dir(), "{}", deployed.text);
    cargo_xtask(&["remove", "local"]).ok();
    assert!(h.stack("adopted-local").await?.is_none(), "removed");
    let _ = std::fs::remove_dir_all(&repo);
    Ok(())
}
