//! The variable resolver against its referee, the pinned Serverless CLI:
//! for each fallback form, what `serverless print` resolves is what the
//! resolver resolves. And the audit reads a fallback that is a reference
//! as a reference, not as a stage name.

use std::process::Command;

use anyhow::{Context, Result};
use xtask::app::App;

use crate::support;

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
    let report = xtask::cfn::rules::audit(&app);
    let unknown: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.rule == xtask::cfn::rules::stages::UNKNOWN_STAGE)
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
    let ours = xtask::cfn::rules::validate(&app, &stage)
        .findings
        .iter()
        .any(|f| f.rule == xtask::cfn::rules::variables::INVALID_FALLBACK);
    assert_eq!(ours, !cli_accepts, "validate on `{value}`");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the CLI prints for a scenario: each `custom` key's value, or
/// `None` for a key whose variable it could not resolve.
pub(crate) fn cli_print(dir: &std::path::Path, stage: Option<&str>) -> Result<serde_json::Value> {
    let cli = xtask::sys::tools::serverless(true)?;
    let mut args = vec!["print", "--region", "us-east-1", "--format", "json"];
    if let Some(stage) = stage {
        args.extend(["--stage", stage]);
    }
    let output = Command::new(cli)
        .args(&args)
        .current_dir(dir)
        .env("SLS_TELEMETRY_DISABLED", "1")
        .env_remove("XTASK_REFEREE_UNSET")
        .output()?;
    let printed = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        let start = printed.find('{').context("print gives JSON")?;
        let end = printed.rfind('}').context("print gives JSON")?;
        return Ok(serde_json::from_str(&printed[start..=end])?);
    }
    // The CLI names every variable it could not resolve.
    let mut failed = serde_json::Map::new();
    for line in printed.lines() {
        if let Some(rest) = line.split("Cannot resolve variable at \"custom.").nth(1) {
            let key = rest.split('"').next().unwrap_or("").to_string();
            failed.insert(key, serde_json::Value::Null);
        }
    }
    // A variable outside `custom` that fails (`provider.stage`) leaves
    // every value that depends on it unresolved.
    let upstream = printed.contains("Cannot resolve variable at \"provider.");
    anyhow::ensure!(
        !failed.is_empty() || upstream,
        "the CLI failed for another reason:\n{printed}"
    );
    Ok(serde_json::json!({ "custom": failed, "failed": true, "upstream": upstream }))
}

/// Sections included from shared files, `self:` read through them,
/// `provider.stage` as written, `${sls:stage}` without `--stage`, per-stage
/// maps and missing keys: what the resolver says is what the CLI prints,
/// and a value the CLI cannot find is `Missing`, never a guess.
#[rstest::rstest]
#[case::sections_from_a_shared_file(
    "service: sec\nprovider: ${file(../common.yml):provider}\ncustom: ${file(../common.yml):custom}\n",
    Some("qa"),
    &["stage", "table", "region"]
)]
#[case::provider_stage_is_read_as_written(
    "service: lit\nprovider:\n  name: aws\n  stage: dev\ncustom:\n  a: ${self:provider.stage}\n  b: ${sls:stage}\n  c: ${opt:stage, self:provider.stage}\n",
    Some("prod"),
    &["a", "b", "c"]
)]
#[case::sls_stage_without_a_flag_is_dev(
    "service: nf\nprovider:\n  name: aws\ncustom:\n  b: ${sls:stage}\n  t: t-${sls:stage}\n",
    None,
    &["b", "t"]
)]
#[case::sls_stage_without_a_flag_fails_when_provider_stage_needs_one(
    "service: nf2\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  b: ${sls:stage}\n",
    None,
    &["b"]
)]
#[case::a_stage_missing_from_a_map(
    "service: map\nprovider:\n  name: aws\ncustom:\n  sizes:\n    dev: small\n  size: ${self:custom.sizes.${sls:stage}}\n",
    Some("prod"),
    &["size"]
)]
#[case::a_fallback_to_another_stage(
    "service: fb\nprovider:\n  name: aws\ncustom:\n  sizes:\n    dev: small\n  size: ${self:custom.sizes.${sls:stage}, self:custom.sizes.dev}\n",
    Some("prod"),
    &["size"]
)]
#[case::a_key_missing_from_a_file(
    "service: key\nprovider:\n  name: aws\ncustom:\n  nope: ${file(../common.yml):custom.nope}\n  there: ${file(../common.yml):custom.table}\n",
    Some("qa"),
    &["nope"]
)]
#[case::a_section_from_a_file_whose_path_is_a_variable(
    "service: common\nprovider:\n  name: aws\n  region: us-east-1\ncustom: ${file(../${self:service}.yml):custom}\n",
    Some("qa"),
    &["stage", "table", "region"]
)]
#[case::dotenv_of_the_stage(
    "service: dot\nuseDotenv: true\nprovider:\n  name: aws\n  region: us-east-1\ncustom:\n  region: ${env:XTASK_DOT_REGION}\n  quoted: ${env:XTASK_DOT_QUOTED}\n  comment: ${env:XTASK_DOT_COMMENT}\n  other: ${env:XTASK_DOT_DEFAULT_ONLY, 'none'}\n",
    Some("qa"),
    &["region", "quoted", "comment", "other"]
)]
#[case::dotenv_without_one_for_the_stage(
    "service: dot\nuseDotenv: true\nprovider:\n  name: aws\n  region: us-east-1\ncustom:\n  region: ${env:XTASK_DOT_REGION, 'none'}\n  other: ${env:XTASK_DOT_DEFAULT_ONLY}\n",
    Some("prod"),
    &["region", "other"]
)]
#[case::dotenv_unread_without_use_dotenv(
    "service: dot\nprovider:\n  name: aws\n  region: us-east-1\ncustom:\n  region: ${env:XTASK_DOT_REGION, 'none'}\n",
    Some("qa"),
    &["region"]
)]
fn the_resolver_agrees_with_the_cli(
    #[case] service: &str,
    #[case] stage: Option<&str>,
    #[case] keys: &[&str],
) -> Result<()> {
    // One folder per case: the cases run at once.
    let case: u32 = service
        .bytes()
        .fold(7, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    let dir =
        xtask::sys::paths::scratch_dir().join(format!("agree-{case:x}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("svc"))?;
    std::fs::write(dir.join("svc/serverless.yml"), service)?;
    // Read by the CLI only where the service sets `useDotenv: true`.
    std::fs::write(
        dir.join("svc/.env.qa"),
        "# the stage's\nXTASK_DOT_REGION=eu-west-2\nexport XTASK_DOT_QUOTED=\"a b # c\"\nXTASK_DOT_COMMENT=x # y\n",
    )?;
    std::fs::write(dir.join("svc/.env"), "XTASK_DOT_DEFAULT_ONLY=z\n")?;
    std::fs::write(
        dir.join("common.yml"),
        "provider:\n  name: aws\n  stage: ${opt:stage, 'dev'}\n  region: us-east-1\ncustom:\n  stage: ${opt:stage, self:provider.stage}\n  table: notes-${self:custom.stage}\n  region: ${self:provider.region}\n",
    )?;
    let referee = cli_print(&dir.join("svc"), stage)?;
    let app = App::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let service = &app.services[0];
    let mut ctx = service.vars_at(stage.unwrap_or("dev"), "us-east-1");
    ctx.stage_given = stage.is_some();
    for key in keys {
        let ours = xtask::app::vars::evaluate(&format!("${{self:custom.{key}}}"), &ctx);
        let theirs = match &referee["custom"][key] {
            serde_json::Value::Null if referee["upstream"] == true => &serde_json::Value::Null,
            theirs => theirs,
        };
        match theirs {
            serde_json::Value::String(theirs) => assert_eq!(
                ours,
                xtask::app::vars::Resolved::Known(theirs.clone()),
                "custom.{key}"
            ),
            serde_json::Value::Null => assert!(
                matches!(ours, xtask::app::vars::Resolved::Missing(_)),
                "custom.{key}: the CLI finds no value, the resolver says {ours:?}"
            ),
            other => panic!("custom.{key}: the CLI printed {other}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Every logical id the CLI generates for functions, events and
/// authorizers is one the tool knows, with the type the CLI gives it: the
/// packaged template is the referee. (Packaging a layer asks AWS for the
/// deployed one, so layers are checked by the naming rule's unit test.)
#[test]
fn generated_ids_are_the_ones_the_cli_packages() -> Result<()> {
    let dir = xtask::sys::paths::scratch_dir().join(format!("generated-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("svc/deps"))?;
    let service = "service: gen\nprovider:\n  name: aws\n  runtime: nodejs24.x\n  stage: ${opt:stage}\nfunctions:\n  work-item:\n    handler: h.work\n    events:\n      - sqs: arn:aws:sqs:us-east-1:000000000000:jobs\n      - schedule: rate(1 hour)\n      - http:\n          path: items\n          method: get\n          authorizer: check\n      - httpApi: GET /things\n      - websocket: $connect\n      - sns: alerts\n  check:\n    handler: h.check\n";
    std::fs::write(dir.join("svc/serverless.yml"), service)?;
    std::fs::write(
        dir.join("svc/h.mjs"),
        "export const work = async () => ({});\nexport const check = async () => ({});\n",
    )?;
    std::fs::write(dir.join("svc/deps/x.txt"), "x")?;
    let template = support::cli_packaged(&dir.join("svc"), "dev");
    let app = App::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let generated = xtask::cfn::generated(&app.services[0]);
    let resources = template["Resources"].as_object().context("resources")?;
    let mut unknown = Vec::new();
    for (id, resource) in resources {
        let ty = resource["Type"].as_str().unwrap_or("");
        if generated.type_of(id) != Some(ty) {
            unknown.push(format!(
                "{id} ({ty}): the tool says {:?}",
                generated.type_of(id)
            ));
        }
    }
    assert!(
        unknown.is_empty(),
        "ids the CLI generates that the tool does not know:\n{}",
        unknown.join("\n")
    );
    let outputs = template["Outputs"].as_object().context("outputs")?;
    for key in outputs.keys() {
        assert!(
            generated.outputs.contains(key),
            "output {key} the tool does not know"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Functions kept in other files, as a list the CLI merges
/// (`functions: [${file(./a.yml)}, ${file(./b.yml)}]`), generate what
/// functions written in place do: the packaged template is the referee.
#[test]
fn functions_from_a_list_of_files_generate_their_resources() -> Result<()> {
    let dir =
        xtask::sys::paths::scratch_dir().join(format!("generated-list-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("svc"))?;
    std::fs::write(
        dir.join("svc/serverless.yml"),
        "service: listed\nprovider:\n  name: aws\n  runtime: nodejs24.x\n  stage: ${opt:stage}\nfunctions:\n  - ${file(./items.yml)}\n  - ${file(./health.yml)}\n",
    )?;
    std::fs::write(
        dir.join("svc/items.yml"),
        "items:\n  handler: h.items\n  events:\n    - http:\n        path: items\n        method: get\n",
    )?;
    std::fs::write(
        dir.join("svc/health.yml"),
        "health:\n  handler: h.health\n  events:\n    - httpApi: GET /health\n",
    )?;
    std::fs::write(
        dir.join("svc/h.mjs"),
        "export const items = async () => ({});\nexport const health = async () => ({});\n",
    )?;
    let template = support::cli_packaged(&dir.join("svc"), "dev");
    let app = App::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let generated = xtask::cfn::generated(&app.services[0]);
    let resources = template["Resources"].as_object().context("resources")?;
    assert!(resources.contains_key("ApiGatewayRestApi") && resources.contains_key("HttpApi"));
    let unknown: Vec<String> = resources
        .iter()
        .filter(|(id, r)| generated.type_of(id) != r["Type"].as_str())
        .map(|(id, r)| format!("{id} ({})", r["Type"]))
        .collect();
    assert!(unknown.is_empty(), "{unknown:#?}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `${file(./x.js)}` is a program the CLI runs for its value: the export,
/// or what its exported function returns for the stage (`options`). The
/// tool runs it as the CLI does, without the caller's credentials; one
/// that asks the CLI to resolve variables stays unknown, not unreadable.
/// The CLI's `print` is the referee for the value.
#[test]
fn a_javascript_file_gives_its_value_as_the_cli_runs_it() -> Result<()> {
    let dir = crate::support::scratch_app(
        "file-program",
        &[
            ("common.js", "module.exports = ({ options }) => ({ apiVersion: 'v2', stage: options.stage, secret: String(process.env.AWS_SECRET_ACCESS_KEY) });\n"),
            ("asks.js", "module.exports = async ({ resolveVariable }) => ({ v: await resolveVariable('self:service') });\n"),
            ("svc/serverless.yml", "service: api-${self:custom.common.apiVersion}\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  common: ${file(../common.js)}\n  seen: ${self:custom.common.secret}\n  asked: ${file(../asks.js):v}\n"),
        ],
    );
    let app = App::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let stage = app.stage("dev").map_err(|e| anyhow::anyhow!("{e}"))?;
    let service = &app.services[0];
    assert_eq!(service.stack_name(&stage).as_deref(), Some("api-v2-dev"));
    let ctx = service.vars(&stage);
    let seen = xtask::app::vars::evaluate("${self:custom.seen}", &ctx);
    assert_eq!(
        seen,
        xtask::app::vars::Resolved::Known("undefined".into()),
        "no credentials reach it"
    );
    let asked = xtask::app::vars::evaluate("${self:custom.asked}", &ctx);
    assert!(
        matches!(asked, xtask::app::vars::Resolved::Unknowable(_)),
        "{asked:?}"
    );
    let printed = support::pinned_cli(
        &dir.join("svc"),
        &["print", "--stage", "dev", "--path", "service"],
    );
    let said = String::from_utf8_lossy(&printed.stdout);
    assert!(
        said.contains("api-v2"),
        "the CLI: {said}{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// An address into a program's export that reaches a function
/// (`${file(./def.js):definition}` with `exports.definition = () => …`):
/// the CLI calls it as it calls an exported one, and so does the tool.
#[test]
fn a_javascript_property_that_is_a_function_is_called_as_the_cli_calls_it() -> Result<()> {
    let dir = crate::support::scratch_app(
        "file-program-property",
        &[
            ("def.js", "module.exports.definition = async ({ options }) => ({ name: 'flow-' + options.stage });\nmodule.exports.plain = 'x';\n"),
            ("svc/serverless.yml", "service: flows\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  def: ${file(../def.js):definition}\n  name: ${self:custom.def.name}\n"),
        ],
    );
    let app = App::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let stage = app.stage("dev").map_err(|e| anyhow::anyhow!("{e}"))?;
    let ctx = app.services[0].vars(&stage);
    assert_eq!(
        xtask::app::vars::evaluate("${self:custom.name}", &ctx),
        xtask::app::vars::Resolved::Known("flow-dev".into())
    );
    let printed = support::pinned_cli(
        &dir.join("svc"),
        &["print", "--stage", "dev", "--path", "custom.name"],
    );
    let said = String::from_utf8_lossy(&printed.stdout);
    assert!(
        said.contains("flow-dev"),
        "the CLI: {said}{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `${self:provider.region}` is what the file says: where it sets no
/// region the CLI stops ("Value not found"), whatever `--region` says,
/// and so does the resolver.
#[test]
fn the_provider_region_is_only_what_the_file_says() -> Result<()> {
    let dir = crate::support::scratch_app(
        "self-provider-region",
        &[("svc/serverless.yml", "service: reg\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  r: ${self:provider.region}\n")],
    );
    let app = App::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let stage = app.stage("dev").map_err(|e| anyhow::anyhow!("{e}"))?;
    let ctx = app.services[0].vars(&stage);
    let found = xtask::app::vars::evaluate("${self:custom.r}", &ctx);
    assert!(
        matches!(found, xtask::app::vars::Resolved::Missing(_)),
        "{found:?}"
    );
    let printed = support::pinned_cli(
        &dir.join("svc"),
        &["print", "--stage", "dev", "--region", "eu-west-1"],
    );
    let said = String::from_utf8_lossy(&printed.stderr).to_string()
        + &String::from_utf8_lossy(&printed.stdout);
    assert!(
        !printed.status.success() && said.contains("Value not found"),
        "the CLI: {said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Each audit advice, applied as written, clears its finding, is accepted
/// by the CLI with `--stage`, and leaves no silent default: without
/// `--stage` the CLI stops instead of deploying somewhere.
#[rstest::rstest]
#[case::default_dropped(
    "service: adv\nprovider:\n  name: aws\n  stage: ${opt:stage, 'dev'}\ncustom:\n  bucket: adv-${sls:stage}\n",
    "${opt:stage, 'dev'}",
    "${opt:stage}"
)]
#[case::sls_default_dropped(
    "service: adv\nprovider:\n  name: aws\ncustom:\n  bucket: adv-${sls:stage, 'dev'}\n",
    "${sls:stage, 'dev'}",
    "${opt:stage}"
)]
#[case::literal_provider_stage(
    "service: adv\nprovider:\n  name: aws\n  stage: dev\ncustom:\n  bucket: adv-${sls:stage}\n",
    "stage: dev",
    "provider.stage: ${opt:stage}"
)]
#[case::sls_stage_without_provider_stage(
    "service: adv\nprovider:\n  name: aws\ncustom:\n  bucket: adv-${sls:stage}\n",
    "  name: aws\n",
    "provider.stage: ${opt:stage}"
)]
#[case::custom_stage_that_does_not_follow(
    "service: adv\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  stage: ${env:XTASK_REFEREE_UNSET, 'dev'}\n  bucket: adv-${self:custom.stage}\n",
    "${env:XTASK_REFEREE_UNSET, 'dev'}",
    "custom.stage: ${opt:stage}"
)]
#[case::literal_stage_in_a_name(
    "service: adv\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    B:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: adv-files-dev\n",
    "adv-files-dev",
    "${sls:stage}"
)]
fn each_advice_is_one_the_cli_accepts_without_a_silent_default(
    #[case] service: &str,
    #[case] written: &str,
    #[case] advised: &str,
) -> Result<()> {
    let case: u32 = service
        .bytes()
        .fold(7, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    let dir =
        xtask::sys::paths::scratch_dir().join(format!("advice-{case:x}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("svc"))?;
    std::fs::write(dir.join("svc/serverless.yml"), service)?;
    let audit = |dir: &std::path::Path| -> Result<Vec<xtask::app::diag::Finding>> {
        let app = App::load(dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(xtask::cfn::rules::audit(&app).findings)
    };
    let before = audit(&dir)?;
    let finding = before
        .iter()
        .find(|f| f.fix.contains(advised))
        .with_context(|| format!("no finding advises `{advised}`: {before:?}"))?;
    // The advice, applied as it reads.
    let fixed = match advised {
        "provider.stage: ${opt:stage}" if written == "stage: dev" => {
            service.replace(written, "stage: ${opt:stage}")
        }
        "provider.stage: ${opt:stage}" => {
            service.replace(written, "  name: aws\n  stage: ${opt:stage}\n")
        }
        "custom.stage: ${opt:stage}" => service.replace(written, "${opt:stage}"),
        "${sls:stage}" => service.replace("-dev", "-${sls:stage}"),
        _ => service.replace(written, advised),
    };
    std::fs::write(dir.join("svc/serverless.yml"), &fixed)?;
    let after = audit(&dir)?;
    assert!(
        !after.iter().any(|f| f.rule == finding.rule),
        "`{}` is still reported after the advice:\n{fixed}\n{after:?}",
        finding.rule
    );
    assert!(
        after.is_empty(),
        "the advice brought new findings: {after:?}"
    );
    let with_stage = cli_print(&dir.join("svc"), Some("qa"))?;
    assert!(
        with_stage.get("failed").is_none(),
        "the CLI refuses the advised file:\n{fixed}"
    );
    let without = cli_print(&dir.join("svc"), None);
    assert!(
        matches!(&without, Ok(v) if v.get("failed").is_some()) || without.is_err(),
        "without --stage the advised file resolves silently:\n{fixed}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn node_is_missing() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_or(true, |s| !s.success())
}

/// The sources a variable may start with: a plain one, one with params,
/// one whose address holds a nested variable.
const PRIMARIES: &[&str] = &[
    "env:XTASK_UNSET",
    "self:custom.a",
    "opt:stage",
    "file(./x.yml):k",
    "ssm:/a/${sls:stage}/b",
];

/// What may follow a comma: every kind of source written bare, with
/// params and nested variables, quoted strings, numbers, the literals,
/// and what the CLI's parser refuses (a bare word, a `${}`, a source
/// name it cannot read, an empty alternative).
const ALTERNATIVES: &[&str] = &[
    "ssm:/a/b",
    "env:X",
    "self:a.b",
    "opt:stage",
    "sls:stage",
    "param:x",
    "aws:region",
    "strToBool:true",
    "file(x.yml):k",
    "file(x.yml)",
    "file(./x-${sls:stage}.yml):k",
    "ssm:/configuration/${self:custom.stage}/vpc/id",
    "self:custom.${sls:stage}",
    "cf(eu-west-1):stack.Out",
    "'dev'",
    "\"dev\"",
    "''",
    "\"a\\\"b\"",
    "\"bad\\q\"",
    "3",
    "-1",
    "1.5",
    "0x10",
    "true",
    "null",
    "dev",
    "a b",
    "${sls:stage}",
    "my_var:x",
    "Env:X",
    ":x",
    "",
    "file('x.yml'):k",
    "file(\"x.yml\"):k",
    "file(x.yml, y):k",
    "file(x.yml):${sls:stage}",
    "self:'a.b'",
    "self:\"a.b\"",
    "self:a.${opt:stage, 'dev'}",
    "self:a.${opt:stage, dev}",
    "env:A_B",
    "s3:bucket/key",
    "cf.eu-west-1:stack.Out",
    "ssm(eu-west-1, true):/a",
    "  'spaced'  ",
    "1e3",
    "Infinity",
    "false",
    "sls:",
    "self:${sls:stage}",
    "opt :stage",
    "file() :k",
    "ssm:/é${sls:stage}/ü",
    "ssm(é${a:é}é",
    "'dé'",
];

/// Every fallback form validate reads is accepted or refused as the
/// CLI's own parser (`lib/configuration/variables/parse.js`, run by node)
/// accepts or refuses it: each alternative after each kind of source,
/// and every pair of alternatives after one.
#[test]
fn fallbacks_are_refused_where_the_cli_parser_refuses_them() -> Result<()> {
    if node_is_missing() {
        eprintln!(
            "skipped: node is not on PATH, and the CLI's variable parser runs on it; install Node.js 20 or later to run this comparison"
        );
        return Ok(());
    }
    let mut forms = Vec::new();
    for primary in PRIMARIES {
        for alt in ALTERNATIVES {
            forms.push(format!("${{{primary}, {alt}}}"));
            forms.push(format!("pre-${{{primary},{alt}}}-post"));
        }
    }
    for a in ALTERNATIVES {
        for b in ALTERNATIVES {
            forms.push(format!("${{env:XTASK_UNSET, {a}, {b}}}"));
        }
    }
    assert!(forms.len() >= 200, "only {} forms", forms.len());

    let osls = xtask::sys::tools::serverless_package(true)?;
    let input =
        xtask::sys::paths::scratch_dir().join(format!("osls-parse-{}.json", std::process::id()));
    std::fs::create_dir_all(input.parent().context("a folder")?)?;
    std::fs::write(&input, serde_json::to_vec(&forms)?)?;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testsuite/support/osls_parse.cjs");
    let output = Command::new("node")
        .arg(&script)
        .arg(&osls)
        .arg(&input)
        .output()?;
    let _ = std::fs::remove_file(&input);
    assert!(
        output.status.success(),
        "the CLI's parser did not run: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout)?;
    assert_eq!(theirs.len(), forms.len());

    let mut disagreements = Vec::new();
    for (form, cli) in forms.iter().zip(&theirs) {
        let cli_accepts = cli["accepted"].as_bool().context("accepted is a boolean")?;
        let refused: Vec<String> = xtask::app::vars::find_all(form)
            .iter()
            .filter_map(|var| var.fallback.clone())
            .flat_map(|fallback| {
                xtask::app::vars::alternatives(&fallback)
                    .into_iter()
                    .filter_map(|alt| match alt {
                        xtask::app::vars::Alternative::Invalid(text) => Some(text.to_string()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        if cli_accepts != refused.is_empty() {
            disagreements.push(format!(
                "`{form}`: the CLI {} ({}), ours refuses {refused:?}",
                if cli_accepts { "accepts" } else { "refuses" },
                cli["message"].as_str().unwrap_or("")
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} forms disagree:\n{}",
        disagreements.len(),
        forms.len(),
        disagreements.join("\n")
    );
    Ok(())
}
