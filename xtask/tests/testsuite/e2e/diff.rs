//! `diff` and the stateful-resource guard on the real emulator: an
//! unchanged tb365 says so per service; edits show an added route, a
//! modified function, a replaced table and a removed output another stack
//! imports, each named, with CloudFormation's change-set verdict; a protected deploy that would replace the table is
//! refused before any change and goes through with `--allow-replace`;
//! its stacks are protected from deletion until `remove --allow-protected`.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::support;
use crate::support::{git, Harness};

fn edit(path: &Path, from: &str, to: &str) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    anyhow::ensure!(text.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1))?;
    Ok(())
}

fn commit(app: &Path, message: &str) {
    git(app, &["add", "-A"]);
    git(app, &["commit", "-qm", message]);
}

fn service<'a>(diff: &'a Value, key: &str) -> &'a Value {
    diff["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["service"] == key))
        .unwrap_or(&Value::Null)
}

fn resource<'a>(service: &'a Value, id: &str) -> &'a Value {
    service["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["id"] == id))
        .unwrap_or(&Value::Null)
}

const DESIGNS_KEY: &str = "        AttributeDefinitions:\n          - AttributeName: id\n            AttributeType: S\n        KeySchema:\n          - AttributeName: id\n            KeyType: HASH\n        PointInTimeRecoverySpecification:";
const DESIGNS_NEW_KEY: &str = "        AttributeDefinitions:\n          - AttributeName: pk\n            AttributeType: S\n        KeySchema:\n          - AttributeName: pk\n            KeyType: HASH\n        PointInTimeRecoverySpecification:";
const SCRATCH_TABLE: &str = "    ScratchTable:\n      Type: AWS::DynamoDB::Table\n      DeletionPolicy: Retain\n      UpdateReplacePolicy: Retain\n      Properties:\n        BillingMode: PAY_PER_REQUEST\n        AttributeDefinitions:\n          - AttributeName: id\n            AttributeType: S\n        KeySchema:\n          - AttributeName: id\n            KeyType: HASH\n        PointInTimeRecoverySpecification:\n          PointInTimeRecoveryEnabled: true\n";
const ALERTS_TOPIC: &str = "    Alerts:\n      Type: AWS::SNS::Topic\n      Properties:\n        TopicName: tb365-alerts-${sls:stage}\n";
const TEMPLATES_OUTPUT: &str = "    TemplatesTableName:\n      Value: !Ref TemplatesTable\n      Export:\n        Name: tb365-${sls:stage}-TemplatesTableName\n";

#[tokio::test]
async fn diff_names_each_change_and_the_guard_keeps_prod_data() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("diff").await?;
    let app = h.copy_fixture("tb365")?;
    // A table CloudFormation names itself, which a replacement can make
    // anew (one with a custom name it cannot: see below).
    edit(
        &app.join("dynamodb/serverless.yml"),
        "    IntegrationsTable:\n",
        &format!("{SCRATCH_TABLE}{ALERTS_TOPIC}    IntegrationsTable:\n"),
    )?;
    // A topic holds no data by its type; deploy.toml says this one does.
    edit(
        &app.join("deploy.toml"),
        "[services.dynamodb]\npath = \"dynamodb\"\n",
        "[services.dynamodb]\npath = \"dynamodb\"\ndata = [\"Alerts\"]\n",
    )?;
    std::fs::write(app.join(".gitignore"), "node_modules/\n.serverless/\n")?;
    git(&app, &["init", "-q"]);
    commit(&app, "tb365");
    let xtask = h.rehearsing(&app);
    let diff = || -> Result<Value> {
        let run = xtask(&["diff", "prod", "--format", "json"]);
        run.ok();
        Ok(serde_json::from_str(&run.stdout)?)
    };
    xtask(&["bootstrap", "prod"]).ok();
    xtask(&["deploy", "prod", "--yes"]).ok();

    // Unchanged: said per service.
    let unchanged = xtask(&["diff", "prod"]);
    unchanged.ok();
    for key in ["dynamodb", "image-api", "integration-api"] {
        assert!(
            unchanged
                .stdout
                .contains(&format!("{key} (tb365-{key}-prod): no changes")),
            "{}",
            unchanged.text
        );
    }

    // Four edits, each named.
    let dynamodb = app.join("dynamodb/serverless.yml");
    let image = app.join("image-api/serverless.yml");
    edit(&dynamodb, DESIGNS_KEY, DESIGNS_NEW_KEY)?;
    edit(&dynamodb, TEMPLATES_OUTPUT, "")?;
    edit(
        &image,
        "  health:\n    handler: src/handlers.health\n",
        "  health:\n    handler: src/handlers.health\n    environment:\n      HEALTH_DETAIL: full\n",
    )?;
    edit(
        &image,
        "functions:\n",
        "functions:\n  version:\n    handler: src/handlers.health\n    events:\n      - httpApi: GET /version\n",
    )?;
    let edited = diff()?;
    let db = service(&edited, "dynamodb");
    let table = resource(db, "DesignsTable");
    assert_eq!(table["action"], "modify", "{db}");
    assert_eq!(table["replacement"], "always", "{db}");
    assert_eq!(
        table["replaced_by"],
        serde_json::json!(["KeySchema"]),
        "{db}"
    );
    assert_eq!(table["blocked_by_name"], "TableName", "{db}");
    let removed = db["outputs"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["name"] == "TemplatesTableName"))
        .context("the removed output")?;
    assert_eq!(removed["action"], "remove");
    assert_eq!(
        db["imported"][0]["importers"],
        serde_json::json!(["tb365-image-api-prod"]),
        "{db}"
    );
    let api = service(&edited, "image-api");
    assert_eq!(
        resource(api, "HttpApiRouteGetVersion")["action"],
        "add",
        "{api}"
    );
    let health = resource(api, "HealthLambdaFunction");
    assert_eq!(health["action"], "modify", "{api}");
    assert_eq!(
        health["properties"],
        serde_json::json!(["Environment"]),
        "{api}"
    );
    // CloudFormation's change set was asked, and its answers shown: the
    // function is updated in place; the table's replacement it calls
    // conditional, so the schema's KeySchema rule decided it above.
    assert_eq!(health["cloudformation"], "False", "{api}");
    assert_eq!(health["replacement"], "never", "{api}");
    assert_eq!(table["cloudformation"], "Conditional", "{db}");
    assert!(
        service(&edited, "integration-api")["resources"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "{edited}"
    );

    // The guard. Only the key change left, committed as prod needs: a
    // table under an unchanged custom name cannot be replaced at all.
    std::fs::write(
        &image,
        std::fs::read_to_string(support::fixture("tb365/image-api/serverless.yml"))?,
    )?;
    edit(
        &dynamodb,
        "  Outputs:\n",
        &format!("  Outputs:\n{TEMPLATES_OUTPUT}"),
    )?;
    commit(&app, "a new key for designs");
    let journals = || h.journal_count("tb365", "prod.rehearsal");
    let before = journals();
    xtask(&["deploy", "prod", "--yes", "--allow-replace", "DesignsTable"])
        .fails_with("dynamodb:DesignsTable (AWS::DynamoDB::Table) would have to be replaced (KeySchema changed) under its unchanged TableName");
    assert_eq!(journals(), before, "a refused deploy starts no run");

    // A table that can be replaced, but holds data: refused unless named
    // (retained, the old one lives on, but the app gets an empty one).
    edit(&dynamodb, DESIGNS_NEW_KEY, DESIGNS_KEY)?;
    edit(
        &dynamodb,
        SCRATCH_TABLE,
        &SCRATCH_TABLE.replace("AttributeName: id", "AttributeName: pk"),
    )?;
    edit(
        &dynamodb,
        "tb365-alerts-${sls:stage}",
        "tb365-alarms-${sls:stage}",
    )?;
    commit(&app, "a new key for scratch, a new name for alerts");
    let refused = xtask(&["deploy", "prod", "--yes"]);
    refused.fails_with(
        "dynamodb:ScratchTable (AWS::DynamoDB::Table) would be replaced (KeySchema changed), its policy keeps the old one, outside the stack, and the app gets a new, empty one",
    );
    refused.fails_with(
        "dynamodb:Alerts (AWS::SNS::Topic) would be replaced (TopicName changed), and the data it holds lost",
    );
    refused.fails_with("--allow-replace");
    assert_eq!(journals(), before, "a refused deploy starts no run");
    let still = diff()?;
    assert_eq!(
        resource(service(&still, "dynamodb"), "ScratchTable")["replacement"],
        "always",
        "nothing changed: the replacement is still to come"
    );
    let alerts = resource(service(&still, "dynamodb"), "Alerts");
    assert_eq!(alerts["cloudformation"], "True", "{still}");
    assert_eq!(
        alerts["replaced_by"],
        serde_json::json!(["TopicName"]),
        "{still}"
    );
    let allow_scratch = [
        "deploy",
        "prod",
        "--yes",
        "--allow-replace",
        "dynamodb:ScratchTable",
    ];
    xtask(&allow_scratch).fails_with("dynamodb:Alerts");
    xtask(&[&allow_scratch[..], &["--allow-replace", "Alerts"]].concat()).ok();
    let after = diff()?;
    assert!(
        service(&after, "dynamodb")["resources"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "the new key is deployed: {after}"
    );

    // Every stack of the protected stage is protected from deletion; only
    // remove --allow-protected turns that off, and its journal says so.
    let cfn = aws_sdk_cloudformation::Client::new(&h.sdk().await);
    let stacks = ["dynamodb", "image-api", "integration-api"].map(|k| format!("tb365-{k}-prod"));
    for stack in &stacks {
        let described = cfn.describe_stacks().stack_name(stack).send().await?;
        assert_eq!(
            described.stacks()[0].enable_termination_protection(),
            Some(true),
            "{stack}"
        );
    }
    xtask(&["remove", "prod", "--yes"]).fails_with("--allow-protected");
    xtask(&[
        "remove",
        "prod",
        "--yes",
        "--allow-protected",
        "--empty-buckets",
    ])
    .ok();
    let events = h.journal("tb365", "prod.rehearsal")["events"].to_string();
    for stack in &stacks {
        assert!(
            events.contains(&format!("turned termination protection off for {stack}")),
            "{events}"
        );
        assert!(h.stack(stack).await?.is_none(), "{stack} is gone");
    }
    Ok(())
}

/// A template over the 51,200 bytes a CloudFormation request may carry
/// reaches the change set through the deployment bucket, and the object
/// put there for it is gone after.
#[tokio::test]
async fn a_large_template_is_planned_through_the_deployment_bucket() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("diff-large").await?;
    let value = "v".repeat(3_000);
    let mut file = String::from("service: big\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  deploymentBucket:\n    name: big-deployments-${sls:stage}\nresources:\n  Resources:\n");
    for n in 0..20 {
        file.push_str(&format!(
            "    Setting{n}:\n      Type: AWS::SSM::Parameter\n      Properties:\n        Name: /big/${{sls:stage}}/setting-{n}\n        Type: String\n        Value: {value}\n"
        ));
    }
    let app = h.app(
        "big",
        &[
            ("deploy.toml", "[app]\nname = \"big\"\n\n[services.big]\npath = \"big\"\n\n[stages.dev]\nregion = \"us-east-1\"\n"),
            ("big/serverless.yml", &file),
        ],
    );
    let xtask = h.rehearsing(&app);
    xtask(&["bootstrap", "dev"]).ok();
    xtask(&["deploy", "dev"]).ok();
    edit(
        &app.join("big/serverless.yml"),
        &format!("setting-7\n        Type: String\n        Value: {value}"),
        &format!("setting-7\n        Type: String\n        Value: w{value}"),
    )?;
    let run = xtask(&["diff", "dev", "--format", "json"]);
    run.ok();
    let diff: Value = serde_json::from_str(&run.stdout)?;
    let big = service(&diff, "big");
    assert!(big["notes"].is_null(), "a change set was made: {big}");
    let changed = resource(big, "Setting7");
    assert_eq!(changed["properties"], serde_json::json!(["Value"]), "{big}");
    assert_eq!(changed["cloudformation"], "False", "{big}");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&h.sdk().await)
            .force_path_style(true)
            .build(),
    );
    let left = s3
        .list_objects_v2()
        .bucket("big-deployments-dev")
        .prefix("xtask/templates/")
        .send()
        .await?;
    assert_eq!(
        left.key_count(),
        Some(0),
        "the template put for the call is gone"
    );
    Ok(())
}

/// `diff --fail-on` gates a pull request: a handler change (new code and
/// the Lambda version that follows it) passes `replacements`, with the
/// value before and after shown; a new key schema fails it, and the
/// Markdown comment names the replacement.
#[tokio::test]
async fn diff_fails_on_replacements_but_not_on_a_handler_change() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("diff-gate").await?;
    let service = |handler: &str, key: &str| {
        format!(
            "service: gate\nprovider:\n  name: aws\n  runtime: nodejs24.x\n  stage: ${{opt:stage}}\n  environment:\n    API_TOKEN: secret-{handler}\nfunctions:\n  hello:\n    handler: {handler}.hello\nresources:\n  Resources:\n    Things:\n      Type: AWS::DynamoDB::Table\n      Properties:\n        TableName: gate-things-${{sls:stage}}\n        BillingMode: PAY_PER_REQUEST\n        AttributeDefinitions:\n          - AttributeName: {key}\n            AttributeType: S\n        KeySchema:\n          - AttributeName: {key}\n            KeyType: HASH\n"
        )
    };
    let handler = "export const hello = async () => ({ statusCode: 200, body: 'hi' });\n";
    let app = h.app(
        "gate",
        &[
            ("deploy.toml", "[app]\nname = \"gate\"\n\n[services.gate]\npath = \"gate\"\n\n[stages.dev]\nregion = \"us-east-1\"\n"),
            ("gate/serverless.yml", &service("one", "id")),
            ("gate/one.mjs", handler),
            ("gate/two.mjs", handler),
        ],
    );
    let xtask = h.rehearsing(&app);
    xtask(&["bootstrap", "dev"]).ok();
    xtask(&["deploy", "dev", "--skip-smoke"]).ok();

    std::fs::write(app.join("gate/serverless.yml"), service("two", "id"))?;
    let code = xtask(&["diff", "dev", "--fail-on", "replacements"]);
    code.ok();
    assert!(
        code.text.contains("Handler: one.hello → two.hello"),
        "{}",
        code.text
    );
    assert!(
        !code.text.contains("secret-one"),
        "a secret shown: {}",
        code.text
    );
    xtask(&["diff", "dev", "--fail-on", "changes"]).fails_with("--fail-on changes");

    std::fs::write(app.join("gate/serverless.yml"), service("one", "pk"))?;
    let key = xtask(&["diff", "dev", "--fail-on", "replacements"]);
    assert_eq!(key.code, Some(1), "{}", key.text);
    assert!(key.text.contains("replace Things"), "{}", key.text);
    let markdown = xtask(&["diff", "dev", "--format", "markdown"]);
    markdown.ok();
    assert!(
        markdown
            .stdout
            .contains("| ♻️ | `Things` | AWS::DynamoDB::Table | replace (because KeySchema"),
        "{}",
        markdown.stdout
    );
    Ok(())
}
