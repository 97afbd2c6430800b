//! The policy `iam-policy` prints, checked against what the tool and the
//! CLI called: tb365's prod rehearsed through a recording endpoint in
//! front of the emulator (a deploy, a change deployed and rolled back, a
//! removal with its buckets emptied), and every signed request turned
//! into the IAM actions and resources it needs. The emulator does not
//! enforce IAM, so the recording is the evidence: each need must be
//! allowed by a statement of the policy.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use serde_json::Value;

use xtask::aws::emulator::tap::Tap;
use xtask::cfn::handlers;
use xtask::iam::build::{breaches, is_action};
use xtask::iam::calls::{call, Call};
use xtask::iam::Policy;

use crate::support;
use crate::support::{arg, git, Harness, Run};

/// The emulator's account for the harness's credentials.
const ACCOUNT: &str = "000000000000";

#[tokio::test]
async fn the_policy_allows_every_call_of_a_deploy_a_rollback_and_a_removal() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("iam").await?;
    let app = h.copy_fixture("tb365")?;
    std::fs::write(app.join(".gitignore"), "node_modules/\n.serverless/\n")?;
    git(&app, &["init", "-q"]);
    git(&app, &["add", "-A"]);
    git(&app, &["commit", "-qm", "tb365"]);
    let app_arg = arg(&app);
    let tap = Tap::start(h.emulator.endpoint())?;
    let recorded = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--rehearse", "--app", &app_arg]);
        let mut cmd = h.xtask(&all);
        cmd.env("AWS_ENDPOINT_URL", tap.endpoint());
        Run::from(cmd.output().expect("xtask runs"))
    };
    // The lock table and the deployment buckets are an administrator's,
    // made once: not the deploy role's.
    h.run(&["bootstrap", "prod", "--rehearse", "--app", &app_arg])
        .ok();

    recorded(&["deploy", "prod", "--yes"]).ok();
    support::change_tb365_health(&app)?;
    git(&app, &["commit", "-qam", "more detail in health"]);
    recorded(&["deploy", "prod", "--yes"]).ok();
    let change = h.journal("tb365", "prod.rehearsal")["run_id"]
        .as_str()
        .context("the change's run id")?
        .to_string();
    recorded(&["rollback", "prod", "--run", &change, "--yes"]).ok();

    // The policy, from the stage as deployed (every service packages).
    let printed = h.run(&["iam-policy", "prod", "--rehearse", "--app", &app_arg]);
    printed.ok();
    let policy: Policy = serde_json::from_str(&printed.stdout).context(printed.text.clone())?;
    let cfn = aws_sdk_cloudformation::Client::new(&h.sdk().await);
    let mut types = BTreeSet::new();
    for stack in [
        "tb365-dynamodb-prod",
        "tb365-image-api-prod",
        "tb365-integration-api-prod",
    ] {
        let body = cfn.get_template().stack_name(stack).send().await?;
        let template: Value = serde_json::from_str(body.template_body().unwrap_or("{}"))?;
        for resource in template["Resources"].as_object().into_iter().flatten() {
            types.insert(resource.1["Type"].as_str().unwrap_or_default().to_string());
        }
    }

    recorded(&[
        "remove",
        "prod",
        "--allow-protected",
        "--yes",
        "--empty-buckets",
    ])
    .ok();
    let requests = tap.requests();
    assert!(
        requests.len() > 100,
        "the recording saw the runs: {} requests",
        requests.len()
    );

    // Every call the runs made is allowed.
    let mut refused = BTreeSet::new();
    let mut untold = BTreeSet::new();
    let mut needs = 0;
    for request in &requests {
        match call(request, ACCOUNT) {
            Ok(Call::Needs(list)) => {
                for need in list {
                    needs += 1;
                    if policy.allowing(&need.action, &need.resource).is_none() {
                        refused.insert(format!("{} on {}", need.action, need.resource));
                    }
                }
            }
            Ok(_) => {}
            Err(err) => {
                untold.insert(err);
            }
        }
    }
    assert!(
        untold.is_empty(),
        "requests the check cannot read: {untold:#?}"
    );
    assert!(
        refused.is_empty(),
        "{} of {needs} needs not allowed by the policy:\n{}\n{}",
        refused.len(),
        refused.iter().cloned().collect::<Vec<_>>().join("\n"),
        printed.stdout
    );

    // Every type the stacks held has its handlers' permissions (those IAM
    // reads as actions: a schema may list `s3:REST.PUT.OBJECT`).
    assert!(types.len() > 8, "{types:?}");
    for kind in &types {
        let permissions = handlers::permissions(kind).unwrap_or_default();
        for action in permissions.into_iter().filter(|a| is_action(a)) {
            assert!(
                policy.allowing(&action, "*").is_some(),
                "{kind} needs {action}"
            );
        }
    }

    // No `*` action, no scoped action on `*` but through CloudFormation,
    // and every resource is the stage's: named after it, or held to it by
    // a condition that names its stacks or its lock keys.
    assert_eq!(breaches(&policy), Vec::<String>::new());
    for statement in &policy.statements {
        let condition = statement
            .condition
            .as_ref()
            .map(Value::to_string)
            .unwrap_or_default();
        for resource in &statement.resources {
            // (`*` is held by `breaches` above.)
            let stage_s = resource == "*"
                || resource.contains("prod")
                || condition.contains("tb365-image-api-prod")
                || condition.contains("tb365/prod/");
            assert!(stage_s, "{}: {resource} is not the stage's", statement.sid);
        }
    }
    Ok(())
}
