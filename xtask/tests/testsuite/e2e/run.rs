//! The locked run, through the real binary and emulator: every way out of a
//! deploy, remove or rollback leaves the stage unlocked, and a rollback
//! after a failed, interrupted or killed run leaves the stacks that run
//! never touched — and their data — where they are.

use anyhow::Result;

use crate::support;
use crate::support::chain::{base, chain, deploy_signalled, deployed_chain, statuses};
use crate::support::{arg, Harness};

/// An error right after the lock is taken, in each command that takes it:
/// the stage is unlocked afterwards and the journal says the run aborted.
#[tokio::test]
async fn an_error_after_the_lock_leaves_the_stage_unlocked() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("lock-guard").await?;
    let (_, app_arg) = deployed_chain(&h);
    for command in ["deploy", "remove", "rollback"] {
        let failed = h
            .xtask(&[command, "dev", "--rehearse", "--app", &app_arg])
            .env("XTASK_FAULT", "after-lock")
            .output()?;
        let failed = support::Run::from(failed);
        failed.fails_with("injected fault at `after-lock`");
        let unlocked = h.run(&["unlock", "dev", "--rehearse", "--app", &app_arg]);
        assert_eq!(
            unlocked.code,
            Some(0),
            "{command} left the stage locked: {}",
            unlocked.text
        );
        assert!(unlocked.text.contains("is not locked"), "{}", unlocked.text);
        let journal = h.journal("chain", "dev.rehearsal");
        assert_eq!(journal["command"], command);
        assert_eq!(journal["outcome"], "aborted", "{command}");
    }
    // Nothing was changed by the aborted runs.
    assert!(h.stack("chain-base-dev").await?.is_some());
    assert!(h.stack("chain-top-dev").await?.is_some());
    Ok(())
}

/// The chain deployed, with a customer's object in each of its buckets.
async fn deployed_with_data(h: &Harness) -> Result<(std::path::PathBuf, String)> {
    let deployed = deployed_chain(h);
    h.put_object("chain-data-dev", "customer-42.json", "base data")
        .await?;
    h.put_object("chain-files-dev", "customer-42.json", "top data")
        .await?;
    Ok(deployed)
}

/// `top`, which the run never started, and both buckets' data are intact.
async fn assert_untouched(h: &Harness, what: &str) -> Result<()> {
    assert!(
        h.stack("chain-top-dev").await?.is_some(),
        "{what}: the stack the run never touched was removed"
    );
    assert!(h.stack("chain-base-dev").await?.is_some(), "{what}");
    assert_eq!(
        h.object("chain-files-dev", "customer-42.json")
            .await
            .as_deref(),
        Some("top data"),
        "{what}: data of an untouched stack was lost"
    );
    assert_eq!(
        h.object("chain-data-dev", "customer-42.json")
            .await
            .as_deref(),
        Some("base data"),
        "{what}"
    );
    Ok(())
}

/// Rolls back the newest deploy run; checks the data first, then what the
/// rollback said and recorded about the service it must leave alone.
async fn roll_back_and_check(h: &Harness, app_arg: &str, what: &str) -> Result<()> {
    let run = h.run(&["rollback", "dev", "--rehearse", "--app", app_arg]);
    assert_untouched(h, &format!("after rolling back the {what} run")).await?;
    run.ok();
    assert!(
        run.text
            .contains("top: left as it is (the run never started it)"),
        "the plan says what happens to top:\n{}",
        run.text
    );
    let journal = h.journal("chain", "dev.rehearsal");
    assert_eq!(journal["command"], "rollback");
    assert!(
        statuses(&journal).contains(&("top".into(), "unchanged".into())),
        "{journal}"
    );
    Ok(())
}

#[tokio::test]
async fn rollback_after_a_failed_run_leaves_untouched_stacks_and_data() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("undo-failed").await?;
    let (app, app_arg) = deployed_with_data(&h).await?;

    // base fails (its new bucket's name is taken), so top is skipped.
    let s3 = xtask::aws::s3_client(&h.sdk().await, &h.target);
    s3.create_bucket().bucket("chain-taken-dev").send().await?;
    let broken = base("v2").replace(
        "  Outputs:",
        "    Taken:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: chain-taken-${sls:stage}\n  Outputs:",
    );
    std::fs::write(app.join("base/serverless.yml"), broken)?;
    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .fails_with("chain-base");
    let journal = h.journal("chain", "dev.rehearsal");
    assert_eq!(
        statuses(&journal),
        [("base", "failed"), ("top", "skipped")].map(|(a, b)| (a.into(), b.into()))
    );
    assert_untouched(&h, "after the failed run").await?;

    roll_back_and_check(&h, &app_arg, "failed").await?;
    Ok(())
}

#[tokio::test]
async fn rollback_after_an_interrupted_run_leaves_untouched_stacks_and_data() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("undo-interrupted").await?;
    let (app, app_arg) = deployed_with_data(&h).await?;

    std::fs::write(app.join("base/serverless.yml"), base("v2"))?;
    let run = deploy_signalled(&h, &app_arg, nix::sys::signal::Signal::SIGINT)?;
    assert_eq!(run.code, Some(130), "interrupted: {}", run.text);
    let journal = h.journal("chain", "dev.rehearsal");
    assert_eq!(journal["outcome"], "interrupted");
    assert_untouched(&h, "after the interrupted run").await?;

    roll_back_and_check(&h, &app_arg, "interrupted").await?;
    let (_, outputs) = h.stack("chain-base-dev").await?.expect("base");
    assert_eq!(outputs.get("Version").map(String::as_str), Some("v1"));
    Ok(())
}

#[tokio::test]
async fn rollback_after_a_killed_run_leaves_untouched_stacks_and_data() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("undo-killed").await?;
    let (app, app_arg) = deployed_with_data(&h).await?;

    std::fs::write(app.join("base/serverless.yml"), base("v2"))?;
    let mut child = h.spawn(&["deploy", "dev", "--rehearse", "--app", &app_arg])?;
    assert!(h.wait_for_journal("chain", "dev.rehearsal", "base: started"));
    child.kill()?;
    child.wait()?;
    // The natural next steps after a dead run: clear its lock, roll back.
    h.run(&["unlock", "dev", "--rehearse", "--force", "--app", &app_arg])
        .ok();
    let journal = h.journal("chain", "dev.rehearsal");
    assert_eq!(
        journal["outcome"],
        serde_json::Value::Null,
        "a killed run never ended"
    );
    assert_untouched(&h, "after the killed run").await?;

    roll_back_and_check(&h, &app_arg, "killed").await?;
    Ok(())
}

#[tokio::test]
async fn sigterm_mid_deploy_rolls_back_and_releases_the_lock() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("sigterm").await?;
    let app_arg = arg(&chain(&h));
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    // What a CI runner sends on a cancel or a timeout.
    let run = deploy_signalled(&h, &app_arg, nix::sys::signal::Signal::SIGTERM)?;
    assert_eq!(run.code, Some(130), "interrupted: {}", run.text);
    assert!(
        run.text.contains("SIGTERM: starting nothing new"),
        "{}",
        run.text
    );
    let journal = h.journal("chain", "dev.rehearsal");
    assert_eq!(journal["outcome"], "interrupted");
    assert_eq!(
        statuses(&journal),
        [("base", "rolled_back"), ("top", "skipped")].map(|(a, b)| (a.into(), b.into()))
    );
    assert!(
        h.stack("chain-base-dev").await?.is_none(),
        "base was created by the run"
    );
    let unlocked = h.run(&["unlock", "dev", "--rehearse", "--app", &app_arg]);
    assert!(unlocked.text.contains("is not locked"), "{}", unlocked.text);
    Ok(())
}

#[tokio::test]
async fn a_deploy_waits_for_a_held_lock_up_to_its_lock_timeout() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("lock-wait").await?;
    let app_arg = arg(&chain(&h));
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let dynamodb = h.hold_lock("chain/dev/us-east-1").await?;
    let gave_up = h.run(&[
        "deploy",
        "dev",
        "--rehearse",
        "--lock-timeout",
        "2s",
        "--app",
        &app_arg,
    ]);
    gave_up.fails_with("stage dev is locked by ana@laptop");
    gave_up.fails_with("(waited 2s)");
    assert!(h.stack("chain-base-dev").await?.is_none());

    // The holder finishes while the next deploy waits: it goes ahead.
    // Let go of the lock once it says it waits.
    let (mut waiting, reader) = deploy_waiting_for_the_lock(&h, &app_arg, "2m")?;
    dynamodb
        .delete_item()
        .table_name("xtask-deploy-locks")
        .key(
            "lock_id",
            aws_sdk_dynamodb::types::AttributeValue::S("chain/dev/us-east-1".into()),
        )
        .send()
        .await?;
    let status = waiting.wait()?;
    let text = reader.join().expect("the reader ends with the output");
    assert!(status.success(), "{text}");
    assert!(h.stack("chain-top-dev").await?.is_some());
    Ok(())
}

/// A deploy of `dev` started in the background, once it says it waits for
/// the lock another run holds; the handle ends with its output.
fn deploy_waiting_for_the_lock(
    h: &Harness,
    app_arg: &str,
    timeout: &str,
) -> Result<(std::process::Child, std::thread::JoinHandle<String>)> {
    let mut waiting = h.spawn(&[
        "deploy",
        "dev",
        "--rehearse",
        "--lock-timeout",
        timeout,
        "--app",
        app_arg,
    ])?;
    let (rx, reader) = support::watch(&mut waiting, "waiting up to");
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("the deploy says it waits for the lock");
    Ok((waiting, reader))
}

/// Ctrl-C while a deploy waits for another run's lock: it exits 130 (the
/// exit-code table's "interrupted"), having changed nothing and taken
/// nothing, and the holder's lock stays.
#[tokio::test]
async fn an_interrupted_wait_exits_130_and_changes_nothing() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("lock-wait-interrupt").await?;
    let app_arg = arg(&chain(&h));
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let dynamodb = h.hold_lock("chain/dev/us-east-1").await?;
    let (mut waiting, _reader) = deploy_waiting_for_the_lock(&h, &app_arg, "5m")?;
    // Signalling a child process this test started.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(waiting.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let status = waiting.wait()?;
    assert_eq!(status.code(), Some(130), "interrupted");
    assert!(h.stack("chain-base-dev").await?.is_none());
    let lock = dynamodb
        .get_item()
        .table_name("xtask-deploy-locks")
        .key(
            "lock_id",
            aws_sdk_dynamodb::types::AttributeValue::S("chain/dev/us-east-1".into()),
        )
        .send()
        .await?;
    assert!(lock.item().is_some(), "the holder's lock stays");
    Ok(())
}

/// Every run publishes its journal beside the stage's lock: a deploy made
/// on one machine (a CI runner) is rolled back from another (a laptop)
/// whose state folder never saw it.
#[tokio::test]
async fn a_run_is_rolled_back_from_another_machine() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("other-machine").await?;
    let (app, app_arg) = deployed_chain(&h);
    std::fs::write(app.join("base/serverless.yml"), base("v2"))?;
    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let run_id = h.journal("chain", "dev.rehearsal")["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    let laptop = h.dir.join("another-machine");
    let on_laptop = |args: &[&str]| {
        support::Run::from(
            h.xtask(args)
                .env("XTASK_STATE_DIR", &laptop)
                .output()
                .expect("xtask runs"),
        )
    };
    // Without naming the run: the newest deploy, as every machine sees it.
    let rolled = on_laptop(&["rollback", "dev", "--rehearse", "--yes", "--app", &app_arg]);
    rolled.ok();
    assert!(rolled.text.contains(&run_id), "{}", rolled.text);
    let (_, outputs) = h.stack("chain-base-dev").await?.expect("base");
    assert_eq!(outputs.get("Version").map(String::as_str), Some("v1"));
    // And by its id, from a third machine.
    let third = h.dir.join("third-machine");
    let named = support::Run::from(
        h.xtask(&[
            "rollback",
            "dev",
            "--rehearse",
            "--run",
            &run_id,
            "--app",
            &app_arg,
        ])
        .env("XTASK_STATE_DIR", &third)
        .output()?,
    );
    named.ok();
    assert!(
        third
            .join(format!("journal/chain/dev.rehearsal/{run_id}.json"))
            .exists(),
        "the shared journal is kept locally once read"
    );
    Ok(())
}

/// The emulator dies under a deploy (as a region outage or a lost network
/// would): the run ends by itself, fails, and its journal says where.
#[tokio::test]
async fn a_deploy_whose_emulator_dies_ends_and_says_where_it_stopped() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("emulator-dies").await?;
    let app_arg = arg(&chain(&h));
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let mut child = h.spawn(&["deploy", "dev", "--rehearse", "--app", &app_arg])?;
    assert!(h.wait_for_journal("chain", "dev.rehearsal", "base: started"));
    let pid = h.emulator.pid().expect("a private emulator has a pid");
    xtask::sys::process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        // A guard against a hang, not a timing assertion: the run must end.
        if started.elapsed() > std::time::Duration::from_secs(300) {
            child.kill()?;
            panic!("the deploy hung after its emulator died");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(!status.success());
    let journal = h.journal("chain", "dev.rehearsal");
    assert_eq!(journal["outcome"], "failed", "{journal}");
    let base = statuses(&journal)
        .into_iter()
        .find(|(name, _)| name == "base")
        .map(|(_, status)| status)
        .unwrap_or_default();
    assert!(
        base == "failed" || base == "rollback_failed",
        "base is recorded as {base}"
    );
    assert_eq!(
        statuses(&journal).last().map(|(_, s)| s.as_str()),
        Some("skipped")
    );
    Ok(())
}

/// A deploy and a removal of one stage started at the same instant: one
/// runs, the other is refused naming it, and the stage is left whole —
/// deployed or removed, never half of each — and unlocked.
#[tokio::test]
async fn a_deploy_and_a_removal_at_once_one_is_refused() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("deploy-vs-remove").await?;
    let (app, app_arg) = deployed_chain(&h);
    std::fs::write(app.join("base/serverless.yml"), base("v2"))?;
    let deploy = h.spawn(&["deploy", "dev", "--rehearse", "--app", &app_arg])?;
    let remove = h.spawn(&["remove", "dev", "--rehearse", "--app", &app_arg])?;
    let deploy = support::Run::from(deploy.wait_with_output()?);
    let remove = support::Run::from(remove.wait_with_output()?);
    let refused: Vec<&support::Run> = [&deploy, &remove]
        .into_iter()
        .filter(|r| r.text.contains("stage dev is locked by"))
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "deploy:\n{}\nremove:\n{}",
        deploy.text,
        remove.text
    );
    let base_left = h.stack("chain-base-dev").await?;
    let top_left = h.stack("chain-top-dev").await?;
    if deploy.code == Some(0) {
        let (_, outputs) = base_left.expect("deployed");
        assert_eq!(outputs.get("Version").map(String::as_str), Some("v2"));
        assert!(top_left.is_some());
    } else {
        assert_eq!(remove.code, Some(0), "{}", remove.text);
        assert!(base_left.is_none() && top_left.is_none());
    }
    let unlocked = h.run(&["unlock", "dev", "--rehearse", "--app", &app_arg]);
    assert!(unlocked.text.contains("is not locked"), "{}", unlocked.text);
    Ok(())
}

/// A run id `secs` seconds from now (negative: in the past).
fn run_id_from_now(secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let at = (now + secs) as u64;
    format!("{}-dead", xtask::sys::clock::compact(at * 1000))
}

/// A journal body claiming that run `run_id` of `stage` created both
/// stacks of the chain (so its undo would remove them).
fn claim_of_creation(run_id: &str, app: &str, stage: &str, started_at: u64) -> String {
    let service = |name: &str| {
        serde_json::json!({
            "name": name, "stack": format!("chain-{name}-dev"), "status": "deployed",
            "started_at": started_at + 1, "ended_at": started_at + 2,
            "previous": { "exists": false, "outputs": {} },
        })
    };
    serde_json::json!({
        "run_id": run_id, "command": "deploy", "app": app, "stage": stage,
        "region": "us-east-1", "target": "emulator", "rehearsal": true,
        "started_at": started_at, "ended_at": started_at + 3, "outcome": "succeeded",
        "services": [service("top"), service("base")], "events": [],
    })
    .to_string()
}

/// Writes `body` beside the stage's lock under `run_id`, as anyone with
/// write access to the lock table could.
async fn plant(h: &Harness, run_id: &str, body: &str) -> Result<()> {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let dynamodb = aws_sdk_dynamodb::Client::new(&h.sdk().await);
    dynamodb
        .put_item()
        .table_name("xtask-deploy-locks")
        .item(
            "lock_id",
            S(format!("journal/chain/dev.rehearsal/us-east-1/{run_id}")),
        )
        .item("body", S(body.to_string()))
        .send()
        .await?;
    Ok(())
}

/// Journals written into the shared lock table by someone else — another
/// app's and stage's record, a run from the future, a body that is not
/// JSON, a record that claims stacks it did not create — remove nothing:
/// rollback skips them (saying so) and rolls back the real newest run, and
/// a claim CloudFormation contradicts leaves the stacks and their data.
#[tokio::test]
async fn a_planted_or_corrupt_shared_journal_changes_nothing() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("planted-journal").await?;
    let (app, app_arg) = deployed_chain(&h);
    h.put_object("chain-data-dev", "customer-42.json", "{\"name\":\"Ada\"}")
        .await?;
    std::fs::write(app.join("base/serverless.yml"), base("v2"))?;
    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let real = h.journal("chain", "dev.rehearsal")["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();

    // A future run of another app and stage, and a body that is no journal.
    let future = run_id_from_now(86_400);
    plant(
        &h,
        &future,
        &claim_of_creation(&future, "other", "prod", now + 86_400),
    )
    .await?;
    let corrupt = run_id_from_now(-1);
    plant(&h, &corrupt, "{ not a journal").await?;
    let rolled = h.run(&["rollback", "dev", "--rehearse", "--yes", "--app", &app_arg]);
    rolled.ok();
    assert!(
        rolled.text.contains(&format!("rolling back run {real}")),
        "{}",
        rolled.text
    );
    assert!(
        rolled
            .text
            .contains(&format!("run {future} says it began in the future")),
        "{}",
        rolled.text
    );
    assert!(
        rolled.text.contains(&format!(
            "the shared journal journal/chain/dev.rehearsal/us-east-1/{corrupt} cannot be used"
        )),
        "{}",
        rolled.text
    );
    let (_, outputs) = h.stack("chain-base-dev").await?.expect("base stays");
    assert_eq!(outputs.get("Version").map(String::as_str), Some("v1"));
    assert!(h.stack("chain-top-dev").await?.is_some(), "top stays");

    // A well-formed record from a week ago that claims it created both
    // stacks: CloudFormation says they were created today.
    let old = run_id_from_now(-7 * 86_400);
    plant(
        &h,
        &old,
        &claim_of_creation(&old, "chain", "dev", now - 7 * 86_400),
    )
    .await?;
    let refused = h.run(&[
        "rollback",
        "dev",
        "--rehearse",
        "--yes",
        "--run",
        &old,
        "--app",
        &app_arg,
    ]);
    refused.fails_with("CloudFormation says its stack was created");
    assert!(
        !refused.text.contains("removing the stack"),
        "{}",
        refused.text
    );
    // One kept under this stage's key that names another stage inside.
    let misfiled = run_id_from_now(-60);
    plant(
        &h,
        &misfiled,
        &claim_of_creation(&misfiled, "chain", "prod", now - 60),
    )
    .await?;
    h.run(&[
        "rollback",
        "dev",
        "--rehearse",
        "--yes",
        "--run",
        &misfiled,
        "--app",
        &app_arg,
    ])
    .fails_with("names stage `prod` but is kept under stage `dev`");

    assert!(h.stack("chain-base-dev").await?.is_some(), "base stays");
    assert!(h.stack("chain-top-dev").await?.is_some(), "top stays");
    assert_eq!(
        h.object("chain-data-dev", "customer-42.json")
            .await
            .as_deref(),
        Some("{\"name\":\"Ada\"}"),
        "the customer's data stays"
    );
    Ok(())
}
