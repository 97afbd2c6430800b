//! What must never happen to a team's data or secrets, shown on the real
//! emulator: app code never sees the caller's credentials, a rehearsal of a
//! protected stage passes its own smoke test without real users, and no
//! smoke check or load request deletes data the run did not create there.

use std::process::Command;

use anyhow::{Context, Result};

use crate::support;
use crate::support::{arg, git, Harness};

/// Values no handler may ever see.
const SECRETS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "AKIACALLERKEY0000042"),
    ("AWS_SECRET_ACCESS_KEY", "caller-secret-key-do-not-leak"),
    ("AWS_SESSION_TOKEN", "caller-session-token-do-not-leak"),
    ("SMOKE_PASSWORD", "caller-smoke-password-do-not-leak"),
    ("GITHUB_TOKEN", "caller-github-token-do-not-leak"),
];

const ENV_APP: &[(&str, &str)] = &[
    (
        "deploy.toml",
        "[app]\nname = \"envy\"\n\n[stages.local]\nregion = \"us-east-1\"\nemulator = true\n",
    ),
    (
        "envy/serverless.yml",
        "service: envy\nprovider:\n  name: aws\n  runtime: nodejs24.x\n  stage: ${opt:stage}\nfunctions:\n  env:\n    handler: handler.env\n    events:\n      - httpApi: GET /env\n",
    ),
    (
        "envy/handler.mjs",
        "export const env = async () => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(process.env) });\n",
    ),
    (
        "smoke.toml",
        "[[check]]\nservice = \"envy\"\nmethod = \"GET\"\npath = \"/env\"\nexpect = 200\n",
    ),
];

/// Stops the `local` emulator a test started, whatever the test did.
struct LocalDown(Command);

impl Drop for LocalDown {
    fn drop(&mut self) {
        let _ = self.0.output();
    }
}

#[tokio::test]
async fn a_handler_sees_none_of_the_callers_secrets() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("env-leak").await?;
    let app = h.app("envy", ENV_APP);
    let state = h.dir.join("state-local");
    let xtask = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .env("XTASK_STATE_DIR", &state)
            .env("XTASK_EMULATOR", "ministack")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("XTASK_APP")
            .stdin(std::process::Stdio::null());
        for (key, value) in SECRETS {
            cmd.env(key, value);
        }
        cmd
    };
    let _down = LocalDown(xtask(&["local", "down"]));
    let deploy = support::Run::from(xtask(&["deploy", "local", "--app", &arg(&app)]).output()?);
    deploy.ok();
    let base = deploy
        .text
        .lines()
        .find_map(|l| l.trim().strip_prefix("envy: "))
        .context("deploy local prints the API's URL")?
        .trim()
        .to_string();
    let body = reqwest::get(format!("{base}/env")).await?.text().await?;
    assert!(body.starts_with('{'), "the handler answered: {body}");
    for (name, value) in SECRETS {
        assert!(
            !body.contains(value),
            "a handler saw the caller's {name}: {body}"
        );
    }
    Ok(())
}

/// tb365 in a git work tree of its own, as a protected stage needs.
fn committed_tb365(h: &Harness) -> Result<std::path::PathBuf> {
    let app = h.copy_fixture("tb365")?;
    std::fs::write(app.join(".gitignore"), ".serverless/\nnode_modules/\n")?;
    git(&app, &["init", "-q"]);
    git(&app, &["add", "."]);
    git(&app, &["commit", "-qm", "tb365"]);
    Ok(app)
}

#[tokio::test]
async fn a_rehearsal_of_prod_passes_its_smoke_and_never_touches_data_it_did_not_create(
) -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("rehearse-prod").await?;
    let app = committed_tb365(&h)?;
    let app_arg = arg(&app);
    let without_smoke_user = |args: &[&str]| {
        let mut cmd = h.xtask(args);
        cmd.env_remove("SMOKE_USERNAME")
            .env_remove("SMOKE_PASSWORD");
        support::Run::from(cmd.output().expect("xtask runs"))
    };
    without_smoke_user(&["bootstrap", "prod", "--rehearse", "--app", &app_arg]).ok();
    let deploy = without_smoke_user(&["deploy", "prod", "--rehearse", "--yes", "--app", &app_arg]);
    deploy.ok();
    assert!(
        deploy
            .text
            .contains("set SMOKE_USERNAME and SMOKE_PASSWORD"),
        "the rehearsal says what the real stage needs:\n{}",
        deploy.text
    );
    let journal = h.journal("tb365", "prod.rehearsal");
    let smoke = journal["notes"]["smoke"].as_str().unwrap_or_default();
    assert!(
        smoke.ends_with("0 failed, 0 skipped"),
        "every check ran and passed: {smoke}"
    );

    // A customer's design, and a check that would delete it by its id.
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
    let mut text = std::fs::read_to_string(&spec)?;
    text.push_str("\n[[check]]\nservice = \"image-api\"\nname = \"delete a fixed design\"\nmethod = \"DELETE\"\npath = \"/designs/{id}\"\nparams = { id = \"customer-42\" }\nexpect = 204\n");
    std::fs::write(&spec, &text)?;
    let still_there = || async {
        let answer = client.get(format!("{designs}/customer-42")).send().await?;
        anyhow::Ok(answer.status().as_u16())
    };

    let smoke = without_smoke_user(&["smoke", "prod", "--rehearse", "--app", &app_arg]);
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
        "--rehearse",
        "--yes",
        "--duration",
        "2s",
        "--warmup",
        "0s",
    ];
    let loaded =
        without_smoke_user(&[&load[..], &["--format", "json", "--app", &app_arg]].concat());
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
    without_smoke_user(&["smoke", "prod", "--rehearse", "--app", &app_arg]).fails_with(refused);
    without_smoke_user(&[&load[..], &["--app", &app_arg]].concat()).fails_with(refused);
    assert_eq!(
        still_there().await?,
        200,
        "the customer's design was deleted"
    );
    Ok(())
}
