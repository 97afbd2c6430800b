//! `chain`: a two-service app for the run tests. `base` keeps a data bucket
//! and exports its name; `top` imports it and keeps a files bucket.

use serde_json::Value;

use super::Harness;

pub const CHAIN_MANIFEST: &str = r#"
[app]
name = "chain"

[stages.dev]
region = "us-east-1"

[stages.prod]
region = "us-east-1"
protected = true
account = "123456789012"
"#;

/// `base` keeps a data bucket and exports its name; `top` imports it.
pub fn base(version: &str) -> String {
    format!(
        r#"service: chain-base
{}        Tags:
          - Key: version
            Value: {version}
  Outputs:
    Version:
      Value: {version}
    DataBucket:
      Value: !Ref Data
      Export:
        Name: chain-${{sls:stage}}-data-bucket
"#,
        kept_bucket("Data", "chain-data")
    )
}

pub fn top(extra: &str) -> String {
    format!(
        r#"service: chain-top
{}        Tags:
          - Key: data-bucket
            Value: !ImportValue chain-${{sls:stage}}-data-bucket{extra}
"#,
        kept_bucket("Files", "chain-files")
    )
}

/// The provider, and a bucket `{name}-<stage>` that prod keeps, that
/// blocks public access and keeps versions, as the security review asks
/// of a protected stage; its properties go on with `Tags`.
fn kept_bucket(id: &str, name: &str) -> String {
    format!(
        r#"provider:
  name: aws
  stage: ${{opt:stage}}
  deploymentBucket:
    name: chain-deployments-${{sls:stage}}
custom:
  keep:
    prod: Retain
resources:
  Resources:
    {id}:
      Type: AWS::S3::Bucket
      DeletionPolicy: ${{self:custom.keep.${{sls:stage}}, 'Delete'}}
      UpdateReplacePolicy: ${{self:custom.keep.${{sls:stage}}, 'Delete'}}
      Properties:
        BucketName: {name}-${{sls:stage}}
        VersioningConfiguration:
          Status: Enabled
        PublicAccessBlockConfiguration:
          BlockPublicAcls: true
          BlockPublicPolicy: true
          IgnorePublicAcls: true
          RestrictPublicBuckets: true
"#
    )
}

pub fn chain(h: &Harness) -> std::path::PathBuf {
    h.app(
        "chain",
        &[
            ("deploy.toml", CHAIN_MANIFEST),
            ("base/serverless.yml", &base("v1")),
            ("top/serverless.yml", &top("")),
        ],
    )
}

pub fn statuses(journal: &Value) -> Vec<(String, String)> {
    journal["services"]
        .as_array()
        .map(|services| {
            services
                .iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap_or("").to_string(),
                        s["status"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn events(journal: &Value) -> Vec<String> {
    journal["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["message"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The chain app in the test's folder, bootstrapped and deployed to dev
/// (v1): the app folder and its `--app` argument.
pub fn deployed_chain(h: &Harness) -> (std::path::PathBuf, String) {
    let app = chain(h);
    let app_arg = super::arg(&app);
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    (app, app_arg)
}

/// Starts a deploy of the chain on dev, sends `signal` once its first
/// service is under way, and returns how it ended.
pub fn deploy_signalled(
    h: &Harness,
    app_arg: &str,
    signal: nix::sys::signal::Signal,
) -> anyhow::Result<super::Run> {
    let child = h.spawn(&["deploy", "dev", "--rehearse", "--app", app_arg])?;
    assert!(h.wait_for_journal("chain", "dev.rehearsal", "base: started"));
    // Signalling our own child.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal);
    Ok(super::Run::from(child.wait_with_output()?))
}
