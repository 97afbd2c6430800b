//! What must never happen to a team's secrets, shown on the real emulator:
//! app code never sees the caller's credentials. (That a rehearsal of a
//! protected stage passes its own smoke test without real users, and that
//! no smoke check or load request deletes data the run did not create
//! there, is shown on the checklist's rehearsal of prod, `checklist.rs`,
//! which deploys the same app.)

use std::process::Command;

use anyhow::{Context, Result};

use crate::support;
use crate::support::{arg, Harness};

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
