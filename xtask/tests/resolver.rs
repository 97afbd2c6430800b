//! The variable resolver against its referee, the pinned Serverless CLI:
//! for each fallback form, what `serverless print` resolves is what the
//! resolver resolves. And the audit reads a fallback that is a reference
//! as a reference, not as a stage name.

mod support;

use std::process::Command;

use anyhow::{Context, Result};
use xtask::app::App;

const REFEREE: &str = r#"service: referee
provider:
  name: aws
  stage: ${opt:stage, 'dev'}
custom:
  base: base-${sls:stage}
  quoted: ${env:XTASK_REFEREE_UNSET, 'dflt'}
  reference: ${env:XTASK_REFEREE_UNSET, self:custom.base}
  chain: ${env:XTASK_REFEREE_UNSET, env:XTASK_REFEREE_UNSET_TOO, "third"}
  number: ${env:XTASK_REFEREE_UNSET, 3}
  stage: ${opt:stage, self:provider.stage}
"#;

const KEYS: &[&str] = &["base", "quoted", "reference", "chain", "number", "stage"];

#[test]
fn fallbacks_resolve_as_the_cli_resolves_them() -> Result<()> {
    let dir = xtask::sys::paths::scratch_dir().join(format!("referee-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("svc"))?;
    std::fs::write(dir.join("svc/serverless.yml"), REFEREE)?;

    let cli = xtask::sys::tools::serverless(true)?;
    let output = Command::new(cli)
        .args([
            "print",
            "--stage",
            "qa",
            "--region",
            "us-east-1",
            "--format",
            "json",
        ])
        .current_dir(dir.join("svc"))
        .env("SLS_TELEMETRY_DISABLED", "1")
        .env_remove("XTASK_REFEREE_UNSET")
        .env_remove("XTASK_REFEREE_UNSET_TOO")
        .output()?;
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json_start = printed.find('{').context("print gives JSON")?;
    let referee: serde_json::Value = serde_json::from_str(&printed[json_start..])?;

    let app = App::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let service = &app.services[0];
    let ctx = service.vars_at("qa", "us-east-1");
    for key in KEYS {
        let written = service
            .doc
            .path(&["custom", key])
            .and_then(|n| n.as_str())
            .with_context(|| format!("custom.{key} is a string"))?;
        let ours = xtask::app::vars::resolve(written, &ctx);
        let theirs = match &referee["custom"][key] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        };
        assert_eq!(ours, theirs, "custom.{key}: `{written}`");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `${opt:stage, self:provider.stage}` falls back to another variable: the
/// audit must not read `self:provider.stage` as the name of a stage.
#[test]
fn a_reference_in_a_fallback_is_no_stage_name() -> Result<()> {
    let dir = xtask::sys::paths::scratch_dir().join(format!("fallback-ref-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("svc"))?;
    std::fs::write(
        dir.join("svc/serverless.yml"),
        "service: shop\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  stage: ${opt:stage, self:custom.fallback}\n  tableName: shop-${self:custom.stage}\n",
    )?;
    let app = App::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let report = xtask::cfn::hazards::audit(&app);
    let unknown: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.rule == xtask::cfn::hazards::UNKNOWN_STAGE)
        .map(|f| f.message.clone())
        .collect();
    assert!(unknown.is_empty(), "{unknown:?}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The fallbacks validate calls invalid are the ones the CLI refuses.
#[rstest::rstest]
#[case::unquoted_word("${env:XTASK_REFEREE_UNSET, standard}", false)]
#[case::nested_variable("${env:XTASK_REFEREE_UNSET, ${sls:stage}}", false)]
#[case::quoted_word("${env:XTASK_REFEREE_UNSET, 'standard'}", true)]
#[case::bare_reference("${env:XTASK_REFEREE_UNSET, sls:stage}", true)]
fn invalid_fallbacks_are_the_ones_the_cli_refuses(#[case] value: &str, #[case] cli_accepts: bool) {
    let dir = xtask::sys::paths::scratch_dir().join(format!(
        "fallback-{}-{}",
        value.len(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("svc")).unwrap();
    std::fs::write(
        dir.join("svc/serverless.yml"),
        format!("service: fb\nprovider:\n  name: aws\ncustom:\n  tier: {value}\n"),
    )
    .unwrap();
    let cli = xtask::sys::tools::serverless(true).unwrap();
    let printed = Command::new(cli)
        .args(["print", "--stage", "qa", "--region", "us-east-1"])
        .current_dir(dir.join("svc"))
        .env("SLS_TELEMETRY_DISABLED", "1")
        .env_remove("XTASK_REFEREE_UNSET")
        .output()
        .unwrap();
    assert_eq!(
        printed.status.success(),
        cli_accepts,
        "the CLI on `{value}`"
    );
    let app = App::load(&dir).unwrap();
    let stage = app.stage("dev").unwrap();
    let ours = xtask::cfn::checks::validate(&app, &stage)
        .findings
        .iter()
        .any(|f| f.rule == xtask::cfn::checks::INVALID_FALLBACK);
    assert_eq!(ours, !cli_accepts, "validate on `{value}`");
    let _ = std::fs::remove_dir_all(&dir);
}
