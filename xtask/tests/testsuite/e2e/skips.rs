//! A deploy skips a service only when nothing it is made of changed, and
//! deploys the apps teams have: a `frameworkVersion: '3'` pin and a plugin
//! from the registry. On the real emulator, through the real binary.

use anyhow::Result;

use crate::support;
use crate::support::chain::statuses;
use crate::support::{arg, Harness};

const SKIP_APP: &[(&str, &str)] = &[
    (
        "deploy.toml",
        "[app]\nname = \"skip\"\n\n[services.svc]\npath = \"svc\"\n\n[stages.dev]\nregion = \"us-east-1\"\n",
    ),
    (
        "svc/serverless.yml",
        "service: skip-svc\nuseDotenv: true\nprovider:\n  name: aws\n  runtime: nodejs24.x\n  stage: ${opt:stage}\n  environment:\n    GREETING: ${env:GREETING, 'none'}\npackage:\n  patterns:\n    - '../shared/**'\nfunctions:\n  greet:\n    handler: handler.greet\n",
    ),
    (
        "svc/handler.mjs",
        "import { greet as text } from '../lib/greet.mjs';\nexport const greet = async () => ({ statusCode: 200, body: text() });\n",
    ),
    ("svc/.env", "GREETING=hello\n"),
    ("lib/greet.mjs", "export const greet = () => 'hello';\n"),
    ("shared/data.txt", "one\n"),
];

/// Deploys the app: "skipped" when the tool skipped the service on its
/// fingerprint, "deployed" when it handed it to the Serverless CLI (which
/// may still find nothing to update in CloudFormation).
fn deploy(h: &Harness, app: &str) -> &'static str {
    let run = h.run(&["deploy", "dev", "--rehearse", "--app", app]);
    run.ok();
    if run.text.contains("(same fingerprint); skipped") {
        "skipped"
    } else {
        "deployed"
    }
}

#[tokio::test]
async fn every_kind_of_change_is_deployed_and_an_unchanged_service_is_skipped() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("skips").await?;
    let app = h.app("skip", SKIP_APP);
    let app_arg = arg(&app);
    std::fs::create_dir_all(app.join("svc/assets"))?;
    std::fs::write(app.join("svc/assets/logo.bin"), b"x\xff\xfe")?;
    let nested = app.join("svc/node_modules/words/node_modules/hello");
    std::fs::create_dir_all(&nested)?;
    std::fs::write(nested.join("index.js"), "module.exports = 'hello';\n")?;
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    assert_eq!(deploy(&h, &app_arg), "deployed");
    assert_eq!(deploy(&h, &app_arg), "skipped", "nothing changed");

    let changes: [(&str, &str, &[u8]); 5] = [
        // Two byte strings that read the same as lossy UTF-8.
        ("a binary asset", "svc/assets/logo.bin", b"x\xfe\xff"),
        // Same size, edited in place, in a package nested in another.
        (
            "a file edited in place under node_modules",
            "svc/node_modules/words/node_modules/hello/index.js",
            b"module.exports = 'howdy';\n",
        ),
        (
            "a dotenv file read with useDotenv",
            "svc/.env",
            b"GREETING=bonjour\n",
        ),
        (
            "code the handler imports from ../lib",
            "lib/greet.mjs",
            b"export const greet = () => 'bonjour';\n",
        ),
        (
            "a file package.patterns pulls in",
            "shared/data.txt",
            b"two\n",
        ),
    ];
    for (what, file, bytes) in changes {
        std::fs::write(app.join(file), bytes)?;
        assert_eq!(
            deploy(&h, &app_arg),
            "deployed",
            "a change to {what} was skipped"
        );
        assert_eq!(deploy(&h, &app_arg), "skipped", "after {what}");
    }
    Ok(())
}

#[tokio::test]
async fn a_pinned_app_with_a_registry_plugin_deploys_smokes_and_redeploys_as_a_noop() -> Result<()>
{
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("plugins").await?;
    let app = h.copy_fixture("plugins")?;
    let app_arg = arg(&app);
    // Installed by hand first, as a team would: the deploy keeps it.
    let installed = std::process::Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(app.join("api"))
        .output()?;
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let marker = app.join("api/node_modules/.kept-by-xtask");
    std::fs::write(&marker, "")?;

    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let first = h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg]);
    first.ok();
    assert!(marker.exists(), "an installed node_modules was wiped");
    let journal = h.journal("plugins", "dev.rehearsal");
    assert_eq!(support::smoke(&journal), (1, 0, 0), "{journal}");
    let cli = journal["services"][0]["cli"].as_str().unwrap_or_default();
    assert!(
        cli.starts_with("osls ") && cli.contains("frameworkVersion '3'"),
        "the journal records which CLI deployed it: {cli}"
    );
    // The plugin ran: it gives the function a role of its own.
    let cfn = aws_sdk_cloudformation::Client::new(&h.sdk().await);
    let resources = cfn
        .list_stack_resources()
        .stack_name("plugins-api-dev")
        .send()
        .await?;
    let ids: Vec<&str> = resources
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| r.logical_resource_id())
        .collect();
    assert!(
        ids.iter()
            .any(|id| id.starts_with("Hello") && id.contains("IamRole")),
        "no per-function role from the plugin in {ids:?}"
    );
    assert!(
        !app.join("api").join(xtask_unpinned()).exists(),
        "the unpinned copy was left behind"
    );

    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    let again = h.journal("plugins", "dev.rehearsal");
    assert_eq!(
        statuses(&again),
        [("api".to_string(), "unchanged".to_string())]
    );
    Ok(())
}

fn xtask_unpinned() -> &'static str {
    "serverless.xtask.yml"
}
