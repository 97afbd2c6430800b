//! Deploying ahead on the real emulator, through the real binary: a
//! service reached only through `Fn::ImportValue` starts its deploy while
//! what it needs deploys, is packaged and held, and changes its stack only
//! once they are done; one whose packaging reads a service of the run
//! (`${cf:}`) is packaged after that service is deployed. The stacks are
//! what a plain package makes (`diff` finds nothing), a failed run rolls
//! back as one deployed at its turn does, and the run's timeline is drawn
//! beside its journal and by `report`.

use anyhow::Result;
use serde_json::Value;

use crate::support;
use crate::support::chain::{events, statuses};
use crate::support::{arg, Harness};

pub(super) const MANIFEST: &str = r#"
[app]
name = "relay"

[stages.dev]
region = "us-east-1"
"#;

const PROVIDER: &str = "provider:\n  name: aws\n  runtime: nodejs24.x\n  stage: ${opt:stage}\n  deploymentBucket:\n    name: relay-deployments-${sls:stage}\n";

/// `base` exports its bucket's name.
pub(super) fn base(version: &str) -> String {
    format!(
        "service: relay-base\n{PROVIDER}resources:\n  Resources:\n    Data:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: relay-data-${{sls:stage}}\n        Tags:\n          - Key: version\n            Value: {version}\n  Outputs:\n    Version:\n      Value: {version}\n    DataBucket:\n      Value: !Ref Data\n      Export:\n        Name: relay-${{sls:stage}}-data\n"
    )
}

/// `mid` imports it (CloudFormation resolves that): it starts ahead.
pub(super) fn mid(version: &str) -> String {
    format!(
        "service: relay-mid\n{PROVIDER}  environment:\n    DATA: !ImportValue relay-${{sls:stage}}-data\n    VERSION: {version}\nfunctions:\n  hello:\n    handler: handler.hello\nresources:\n  Outputs:\n    Version:\n      Value: {version}\n"
    )
}

/// `top` reads mid's output while the CLI packages it: it packages after
/// mid is deployed. `extra` goes into its resources.
pub(super) fn top(extra: &str) -> String {
    format!(
        "service: relay-top\n{PROVIDER}  environment:\n    MID: ${{cf:relay-mid-${{sls:stage}}.Version}}\nfunctions:\n  hello:\n    handler: handler.hello\nresources:\n  Resources:\n    Files:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: relay-files-${{sls:stage}}{extra}\n"
    )
}

pub(super) const HANDLER: &str = "module.exports.hello = async () => ({ statusCode: 200, body: process.env.VERSION || 'top' });\n";

/// The relay app (base ← mid ← top, at v1) in `h`'s folder, with `more`
/// files beside it.
pub(super) fn relay(h: &Harness, more: &[(&str, &str)]) -> std::path::PathBuf {
    let (base_v1, mid_v1, top_plain) = (base("v1"), mid("v1"), top(""));
    let mut files: Vec<(&str, &str)> = vec![
        ("deploy.toml", MANIFEST),
        ("base/serverless.yml", &base_v1),
        ("mid/serverless.yml", &mid_v1),
        ("mid/handler.js", HANDLER),
        ("top/serverless.yml", &top_plain),
        ("top/handler.js", HANDLER),
    ];
    files.extend_from_slice(more);
    h.app("relay", &files)
}

pub(super) fn service<'a>(journal: &'a Value, key: &str) -> &'a Value {
    journal["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == key))
        .unwrap_or(&Value::Null)
}

pub(super) fn ms(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

#[tokio::test]
async fn packaged_ahead_deploys_the_same_stacks_and_rolls_back_the_same_way() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("ahead").await?;
    let app = relay(&h, &[]);
    let app_arg = arg(&app);
    let xtask = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--rehearse", "--app", &app_arg]);
        h.run(&all)
    };
    xtask(&["bootstrap", "dev"]).ok();
    // As in a GitHub job: the run's summary goes to the step summary.
    let summary = h.dir.join("step-summary.md");
    let first = support::Run::from(
        h.xtask(&["deploy", "dev", "--rehearse", "--app", &app_arg])
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()?,
    );
    first.ok();
    let journal = h.journal("relay", "dev.rehearsal");
    assert_eq!(journal["outcome"], "succeeded", "{}", first.text);
    let (base_t, mid_t, top_t) = (
        &service(&journal, "base")["timings"],
        &service(&journal, "mid")["timings"],
        &service(&journal, "top")["timings"],
    );
    // mid started ahead: packaged while base deployed, held, and changed
    // its stack only once base was done.
    assert!(
        ms(&mid_t["package"]["start"]) < ms(&base_t["deploy"]["end"]),
        "{journal:#}"
    );
    assert!(ms(&mid_t["deploy"]["start"]) >= ms(&base_t["deploy"]["end"]));
    assert!(
        ms(&mid_t["cloudformation"]["start"]) >= ms(&base_t["cloudformation"]["end"]),
        "{journal:#}"
    );
    assert!(events(&journal).contains(&"mid: started ahead of its turn".to_string()));
    // One CLI run, as at its turn: the same command, held, not a second one.
    let journals = h.dir.join("state/journal/relay/dev.rehearsal");
    let run_id = journal["run_id"].as_str().unwrap_or("").to_string();
    let mid_log = std::fs::read_to_string(journals.join(&run_id).join("mid.log"))?;
    assert_eq!(
        mid_log.matches("$ serverless ").count(),
        1,
        "mid's log:\n{mid_log}"
    );
    assert!(
        mid_log.contains("$ serverless deploy --stage dev"),
        "{mid_log}"
    );
    // top reads mid's output while packaging: packaged at its turn, after
    // mid was deployed, and says why.
    assert!(top_t.get("package").is_none(), "{journal:#}");
    assert!(ms(&top_t["deploy"]["start"]) >= ms(&mid_t["deploy"]["end"]));
    assert!(
        events(&journal).iter().any(
            |e| e.starts_with("top: packaged at its turn: its packaging reads mid as deployed")
        ),
        "{:?}",
        events(&journal)
    );
    let (_, outputs) = h.stack("relay-top-dev").await?.expect("top deployed");
    assert!(
        outputs.contains_key("HelloLambdaFunctionQualifiedArn"),
        "{outputs:?}"
    );

    // The stacks are what a plain package of each service makes.
    let diff = xtask(&["diff", "dev"]);
    diff.ok();
    for key in ["base", "mid", "top"] {
        assert!(
            diff.stdout
                .contains(&format!("{key} (relay-{key}-dev): no changes")),
            "{}",
            diff.text
        );
    }

    // The timeline: in the step summary as a Gantt chart, beside the
    // journal as a picture, and drawn by `report`.
    let summary = std::fs::read_to_string(&summary)?;
    assert!(
        summary.contains("```mermaid\ngantt\n") && summary.contains("section top"),
        "{summary}"
    );
    let svg = journals.join(format!("{run_id}.svg"));
    let picture = std::fs::read_to_string(&svg)?;
    assert!(picture.starts_with("<svg") && picture.contains("packaged ahead"));
    let report = xtask(&["report", "dev", "--format", "json"]);
    report.ok();
    let timeline: Value = serde_json::from_str(&report.stdout)?;
    assert_eq!(timeline["run_id"], journal["run_id"]);
    let path: Vec<&str> = timeline["critical_path"]
        .as_array()
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(path.last(), Some(&"top"), "{timeline:#}");
    let mermaid = xtask(&["report", "dev", "--format", "markdown"]);
    mermaid.ok();
    assert!(
        mermaid.stdout.starts_with("```mermaid\ngantt\n")
            && mermaid.stdout.contains("section mid")
            && mermaid.stdout.contains(":crit, "),
        "{}",
        mermaid.stdout
    );

    // A failed run: base and mid move to v2 (mid started ahead), then
    // top cannot deploy (its new bucket's name is taken). Both are rolled
    // back, with packaging ahead and without it alike.
    let s3 = xtask::aws::s3_client(&h.sdk().await, &h.target);
    s3.create_bucket().bucket("relay-taken-dev").send().await?;
    std::fs::write(app.join("base/serverless.yml"), base("v2"))?;
    std::fs::write(app.join("mid/serverless.yml"), mid("v2"))?;
    let broken = "\n    Taken:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: relay-taken-${sls:stage}";
    std::fs::write(app.join("top/serverless.yml"), top(broken))?;
    for package_ahead in ["2", "0"] {
        xtask(&["deploy", "dev", "--package-ahead", package_ahead]).fails_with("relay-top");
        let failed = h.journal("relay", "dev.rehearsal");
        assert_eq!(failed["outcome"], "failed");
        assert_eq!(
            statuses(&failed),
            vec![
                ("base".into(), "rolled_back".into()),
                ("mid".into(), "rolled_back".into()),
                ("top".into(), "failed".into())
            ],
            "--package-ahead {package_ahead}: {:#}",
            failed["services"]
        );
        assert_eq!(
            service(&failed, "mid")["timings"].get("package").is_some(),
            package_ahead != "0",
            "--package-ahead {package_ahead}: {failed:#}"
        );
        for stack in ["relay-base-dev", "relay-mid-dev"] {
            let (status, outputs) = h.stack(stack).await?.expect("still deployed");
            assert_eq!(
                outputs.get("Version").map(String::as_str),
                Some("v1"),
                "{stack} was not rolled back ({status}), --package-ahead {package_ahead}"
            );
        }
    }
    Ok(())
}
