//! The deploy role's policy read from a service's files alone (a service
//! the CLI cannot package yet, as it reads a stack not deployed) against
//! the policy from what the pinned CLI packages: the files' reading must
//! grant all that the packaged template needs.

use crate::support;

use anyhow::{Context, Result};
use serde_json::Value;

use xtask::app::App;
use xtask::iam::build::{self, Scope, Stack};
use xtask::iam::offline;

const SERVICE: &str = "service: orders
provider:
  name: aws
  runtime: nodejs24.x
  stage: ${opt:stage}
custom:
  table: orders-${sls:stage}
functions:
  list:
    handler: h.list
    events:
      - httpApi: GET /orders
  queue:
    handler: h.queue
    events:
      - sqs:
          arn: !GetAtt Jobs.Arn
resources:
  Resources:
    Orders:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: ${self:custom.table}
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions:
          - AttributeName: id
            AttributeType: S
        KeySchema:
          - AttributeName: id
            KeyType: HASH
    Uploads:
      Type: AWS::S3::Bucket
      Properties:
        BucketName: orders-uploads-${sls:stage}
    Jobs:
      Type: AWS::SQS::Queue
";

#[test]
fn the_files_reading_grants_what_the_packaged_template_needs() -> Result<()> {
    let dir = xtask::sys::paths::scratch_dir().join(format!("iam-offline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("svc"))?;
    std::fs::write(dir.join("svc/serverless.yml"), SERVICE)?;
    std::fs::write(
        dir.join("svc/h.mjs"),
        "export const list = async () => ({});\nexport const queue = async () => ({});\n",
    )?;
    let packaged = support::cli_packaged(&dir.join("svc"), "prod");
    let app = App::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let stage = app.stage("prod").map_err(|e| anyhow::anyhow!("{e}"))?;
    let scope = Scope {
        app: app.name(),
        stage: "prod".into(),
        region: stage.region().into(),
        account: "123456789012".into(),
        lock_table: "xtask-deploy-locks".into(),
    };
    let stack = |template: Value| Stack {
        service: "svc".into(),
        name: "orders-prod".into(),
        template,
        deployment_bucket: None,
        cli_service: Some("orders".into()),
    };
    let read = offline::template(&app.services[0], &stage);
    let offline = build::policy(&scope, &[stack(read)]).policy;
    let from_cli = build::policy(&scope, &[stack(packaged.clone())]).policy;

    // Every permission of every statement the packaged template gives is
    // granted by the files' reading, on the same resources.
    let mut missing = Vec::new();
    for statement in &from_cli.statements {
        for action in &statement.actions {
            for resource in &statement.resources {
                if offline.allowing(action, resource).is_none() {
                    missing.push(format!("{}: {action} on {resource}", statement.sid));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    // The named resources are named, not patterns.
    let text = serde_json::to_string(&offline)?;
    for name in [
        "table/orders-prod",
        "arn:aws:s3:::orders-uploads-prod",
        "role/orders-prod-us-east-1-lambdaRole",
    ] {
        assert!(text.contains(name), "{name} in {text}");
    }
    let types = |t: &Value| -> Vec<String> {
        let mut v: Vec<String> = t["Resources"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, r)| r["Type"].as_str().map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert!(types(&packaged).len() > 8, "{:?}", types(&packaged));
    let _ = std::fs::remove_dir_all(&dir).context("clean up");
    Ok(())
}
