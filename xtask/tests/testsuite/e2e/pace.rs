//! AWS's pace on the emulator, as the bench's `--aws-pace` uses it: through
//! a pacing tap, each stack operation's answer waits its modelled time.
//! The pacer reads the templates the CLI deploys (a stack's operations
//! create every resource it ends with; an update counts only what
//! changed), each service's deploy lasts at least its operations' modelled
//! time, and a service left unchanged waits for nothing.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::Value;

use xtask::aws::emulator::tap::{Options, Tap};
use xtask::bench::pace::{Model, Operation, Pacer};

use super::ahead::{base, ms, relay, service};
use crate::support;
use crate::support::{arg, Harness, Run};

/// A twentieth of AWS's pace: a table's stack waits about a second.
const FACTOR: f64 = 0.05;

#[tokio::test]
async fn each_stack_operation_waits_its_modelled_time() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("pace").await?;
    let app = relay(&h, &[]);
    let app_arg = arg(&app);
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let pacer = Pacer::new(Model::builtin(), FACTOR, h.emulator.endpoint());
    let tap = Tap::start_with(
        h.emulator.endpoint(),
        Options {
            record: false,
            hold: Some(pacer.hold()),
        },
    )?;
    let paced_deploy = || -> Result<Run> {
        let mut cmd = h.xtask(&["deploy", "dev", "--rehearse", "--app", &app_arg]);
        cmd.env("AWS_ENDPOINT_URL", tap.endpoint());
        Ok(Run::from(cmd.output()?))
    };
    paced_deploy()?.ok();
    let first = pacer.operations();
    let journal = h.journal("relay", "dev.rehearsal");
    let cfn = aws_sdk_cloudformation::Client::new(&h.sdk().await);
    for key in ["base", "mid", "top"] {
        let stack = format!("relay-{key}-dev");
        let ops: Vec<&Operation> = first.iter().filter(|o| o.stack == stack).collect();
        assert!(!ops.is_empty(), "no paced operation on {stack}: {first:#?}");
        // What the operations created is what the stack holds.
        let body = cfn.get_template().stack_name(&stack).send().await?;
        let template: Value = serde_json::from_str(body.template_body().unwrap_or("{}"))?;
        let resources = template["Resources"].as_object().map_or(0, |r| r.len());
        let created: usize = ops.iter().map(|o| o.created).sum();
        assert_eq!(created, resources, "{stack}: {ops:#?}");
        assert!(resources > 0, "{stack} holds nothing: {template:#}");
        // Its deploy waited at least the modelled time.
        let waited: f64 = ops.iter().map(|o| o.seconds * FACTOR * 1000.0).sum();
        let timings = &service(&journal, key)["timings"]["deploy"];
        let lasted = ms(&timings["end"]) - ms(&timings["start"]);
        assert!(
            lasted as f64 >= waited,
            "{key}'s deploy lasted {lasted} ms, less than the {waited} ms its operations were held"
        );
    }

    // A change to base only: an update of what changed; the others are
    // skipped by their fingerprints and wait for nothing.
    std::fs::write(app.join("base/serverless.yml"), base("v2"))?;
    paced_deploy()?.ok();
    let second: Vec<Operation> = pacer.operations().split_off(first.len());
    let by_stack: BTreeMap<&str, &Operation> =
        second.iter().map(|o| (o.stack.as_str(), o)).collect();
    let update = by_stack
        .get("relay-base-dev")
        .with_context(|| format!("base was not updated: {second:#?}"))?;
    assert_eq!(
        (update.kind, update.created, update.updated, update.deleted),
        ("update", 0, 1, 0),
        "{second:#?}"
    );
    assert_eq!(second.len(), 1, "only base changed: {second:#?}");
    Ok(())
}
