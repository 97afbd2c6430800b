//! Monitoring and the bake on the real emulator: a stage with
//! `[stages.<stage>.monitoring]` gets a monitoring stack of alarms (errors
//! and throttles per function, server errors and latency per API) and a
//! dashboard, generated from what is deployed; a deploy whose bake sees an
//! alarm fire, or a function fail, is rolled back to the deployment before
//! it, and the journal names what fired; a quiet bake keeps the deploy;
//! `remove` takes the monitoring stack too.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::support;
use crate::support::{arg, watch, Harness};

const MANIFEST: &str = "[app]\nname = \"web\"\n\n[services.web]\npath = \"web\"\n\n[stages.dev]\nregion = \"us-east-1\"\n\n[stages.dev.monitoring]\nlatency_p95_ms = 2000\n";

fn service(version: &str) -> String {
    format!("service: web\nprovider:\n  name: aws\n  runtime: nodejs24.x\n  stage: ${{opt:stage}}\n  deploymentBucket:\n    name: web-deployments-${{sls:stage}}\n  environment:\n    VERSION: {version}\nfunctions:\n  hello:\n    handler: handler.hello\n    events:\n      - httpApi: GET /hello\n  boom:\n    handler: handler.boom\n    events:\n      - httpApi: GET /boom\n")
}

const HANDLER: &str = r#"
export const hello = async () => ({ statusCode: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ version: process.env.VERSION }) });
export const boom = async (event) => {
  if (event.queryStringParameters?.fail) throw new Error("boom");
  return { statusCode: 200, body: "fine" };
};
"#;

const SPEC: &str = "[[check]]\nservice = \"web\"\nmethod = \"GET\"\npath = \"/hello\"\nexpect = 200\n\n[[check]]\nservice = \"web\"\nmethod = \"GET\"\npath = \"/boom\"\nexpect = 200\n";

/// The `VERSION` the deployed `hello` function answers with.
async fn version(h: &Harness) -> Result<String> {
    let outputs = h.stack("web-dev").await?.context("deployed")?.1;
    let api = outputs.get("HttpApiId").context("an HTTP API")?;
    let endpoint = h.target.endpoint().context("an emulator")?;
    let body: Value = reqwest::get(format!("{endpoint}/_aws/execute-api/{api}/hello"))
        .await?
        .json()
        .await?;
    Ok(body["version"].as_str().unwrap_or_default().to_string())
}

/// A deploy with a 60 s bake, started and followed until it bakes.
fn baking(
    h: &Harness,
    app_arg: &str,
) -> Result<(std::process::Child, std::thread::JoinHandle<String>)> {
    let mut child = h.spawn(&[
        "deploy",
        "dev",
        "--bake",
        "60s",
        "--rehearse",
        "--app",
        app_arg,
    ])?;
    let (baking, output) = watch(&mut child, "baking for 60s");
    baking
        .recv_timeout(Duration::from_secs(180))
        .context("the deploy reaches its bake")?;
    Ok((child, output))
}

/// Invokes the `boom` function of the rehearsal so that it fails, through
/// `cargo xtask sls`, whose exit code is the CLI's.
fn invoke_failing(h: &Harness, app_arg: &str) {
    let failed = h.run(&[
        "sls",
        "dev",
        "--rehearse",
        "--app",
        app_arg,
        "--",
        "invoke",
        "--function",
        "boom",
        "--data",
        r#"{"queryStringParameters":{"fail":"1"}}"#,
    ]);
    failed.fails_with("boom");
}

#[tokio::test]
async fn alarms_are_kept_and_a_bake_that_sees_one_fire_rolls_back() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("monitoring").await?;
    let app = h.app(
        "web",
        &[
            ("deploy.toml", MANIFEST),
            ("web/serverless.yml", &service("one")),
            ("web/handler.mjs", HANDLER),
            ("smoke.toml", SPEC),
        ],
    );
    let app_arg = arg(&app);
    let xtask = h.rehearsing(&app);
    xtask(&["bootstrap", "dev"]).ok();
    let first = xtask(&["deploy", "dev"]);
    first.ok();
    assert!(
        first
            .text
            .contains("monitoring: 6 alarm(s) and a dashboard, created"),
        "{}",
        first.text
    );
    // What the stack holds: per function errors and throttles, per API
    // server errors and latency at the manifest's threshold.
    let cfn = aws_sdk_cloudformation::Client::new(&h.sdk().await);
    let template: Value = serde_json::from_str(
        cfn.get_template()
            .stack_name("web-monitoring-dev")
            .send()
            .await?
            .template_body()
            .context("a template")?,
    )?;
    let resources = template["Resources"].as_object().context("resources")?;
    let alarms: Vec<(String, String)> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|r| {
            (
                r["Properties"]["MetricName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["Properties"]["Dimensions"][0]["Value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    for function in ["web-dev-hello", "web-dev-boom"] {
        for metric in ["Errors", "Throttles"] {
            assert!(
                alarms.contains(&(metric.to_string(), function.to_string())),
                "{metric} of {function}: {alarms:?}"
            );
        }
    }
    let latency = resources
        .values()
        .find(|r| r["Properties"]["MetricName"] == "Latency")
        .context("a latency alarm")?;
    assert_eq!(latency["Properties"]["Threshold"], 2000);
    assert_eq!(latency["Properties"]["ExtendedStatistic"], "p95");
    assert!(alarms.iter().any(|(m, _)| m == "5xx"), "{alarms:?}");
    assert_eq!(version(&h).await?, "one");

    // A new version whose bake sees an alarm go off is rolled back.
    std::fs::write(app.join("web/serverless.yml"), service("two"))?;
    let (mut child, output) = baking(&h, &app_arg)?;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&h.sdk().await);
    cloudwatch
        .set_alarm_state()
        .alarm_name("web-dev-web-dev-hello-errors")
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("set by the test")
        .send()
        .await?;
    let status = child.wait()?;
    let text = output.join().unwrap_or_default();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "alarm web-dev-web-dev-hello-errors fired (set by the test): rolling the run back"
        ),
        "{text}"
    );
    let journal = h.journal("web", "dev.rehearsal");
    assert!(
        journal["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("rolled back: alarm web-dev-web-dev-hello-errors fired")),
        "{journal}"
    );
    assert_eq!(version(&h).await?, "one", "back to the deployment before");
    cloudwatch
        .set_alarm_state()
        .alarm_name("web-dev-web-dev-hello-errors")
        .state_value(aws_sdk_cloudwatch::types::StateValue::Ok)
        .state_reason("reset by the test")
        .send()
        .await?;

    // A function that fails during the bake rolls it back too.
    let (mut child, output) = baking(&h, &app_arg)?;
    // Through the Lambda API, by the pinned CLI's `invoke` run by `sls`:
    // the emulator records a function's metrics for direct invocations
    // only (AWS for every invocation).
    invoke_failing(&h, &app_arg);
    let status = child.wait()?;
    let text = output.join().unwrap_or_default();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains("function web-dev-boom failed 1 time(s) during the bake"),
        "{text}"
    );
    assert_eq!(version(&h).await?, "one");

    // A Ctrl-C during the bake stops the run like any other stop: what it
    // changed is rolled back, and it is never reported as a success.
    let (mut child, output) = baking(&h, &app_arg)?;
    // Signalling our own child.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let status = child.wait()?;
    let text = output.join().unwrap_or_default();
    assert_eq!(status.code(), Some(130), "interrupted: {text}");
    assert!(
        text.contains("into the bake: rolling the run back"),
        "{text}"
    );
    let journal = h.journal("web", "dev.rehearsal");
    assert_eq!(journal["outcome"], "interrupted", "{journal}");
    assert_eq!(version(&h).await?, "one", "back to the deployment before");

    // A quiet bake keeps the deploy.
    let quiet = xtask(&["deploy", "dev", "--bake", "3s"]);
    quiet.ok();
    assert!(
        quiet.text.contains("bake over: nothing fired in 3s"),
        "{}",
        quiet.text
    );
    assert_eq!(version(&h).await?, "two");

    let removed = xtask(&["remove", "dev", "--yes"]);
    removed.ok();
    assert!(
        removed
            .text
            .contains("removed the monitoring stack web-monitoring-dev"),
        "{}",
        removed.text
    );
    assert!(h.stack("web-monitoring-dev").await?.is_none());

    // A first deploy whose bake fires is undone whole: the monitoring
    // stack it created goes with the stack of its service.
    let (mut child, output) = baking(&h, &app_arg)?;
    invoke_failing(&h, &app_arg);
    let status = child.wait()?;
    let text = output.join().unwrap_or_default();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(h.stack("web-dev").await?.is_none(), "{text}");
    assert!(
        h.stack("web-monitoring-dev").await?.is_none(),
        "the monitoring stack of an undone first deploy stays: {text}"
    );
    Ok(())
}
