//! `cargo xtask validate`: one broken app per class of CloudFormation error,
//! each asserting its exact finding and line; valid apps stay clean; the
//! deep check maps cfn-lint back to serverless.yml; a deploy that would
//! remove an imported export is refused.

use std::process::Command;

use rstest::rstest;
use xtask::app::App;

use crate::support;
use crate::support::{arg, fixture};

/// `text` as a one-service app's `svc/serverless.yml` in a scratch folder
/// named after `name`, validated for dev: the report, and the folder.
fn validated(name: &str, text: &str) -> (xtask::app::diag::Report, std::path::PathBuf) {
    let dir = support::scratch_app(name, &[("svc/serverless.yml", text)]);
    let app = App::load(&dir).expect("the app loads");
    let stage = app.stage("dev").expect("an allowed stage");
    (xtask::cfn::rules::validate(&app, &stage), dir)
}

fn findings(app: &str, stage: &str) -> Vec<(String, String, usize)> {
    let dir = fixture(app);
    let app = App::load(&dir).unwrap_or_else(|e| panic!("{app} loads: {e}"));
    let stage = app.stage(stage).expect("an allowed stage");
    xtask::cfn::rules::validate(&app, &stage)
        .findings
        .into_iter()
        .map(|f| {
            (
                f.rule.to_string(),
                f.file
                    .strip_prefix(&dir)
                    .unwrap_or(&f.file)
                    .display()
                    .to_string(),
                f.line,
            )
        })
        .collect()
}

#[rstest]
#[case::root_resource_id_short_form(
    "broken/getatt-rootresourceid-short",
    "getatt-unknown-attribute",
    "serverless.yml",
    14
)]
#[case::root_resource_id_long_form(
    "broken/getatt-rootresourceid-long",
    "getatt-unknown-attribute",
    "serverless.yml",
    14
)]
#[case::missing_logical_id(
    "broken/getatt-missing-resource",
    "getatt-unknown-resource",
    "serverless.yml",
    10
)]
#[case::unknown_bucket_attribute(
    "broken/getatt-bad-bucket-attribute",
    "getatt-unknown-attribute",
    "serverless.yml",
    10
)]
#[case::unknown_table_attribute_in_sub(
    "broken/getatt-bad-table-attribute",
    "getatt-unknown-attribute",
    "serverless.yml",
    19
)]
#[case::duplicate_export(
    "broken/duplicate-export",
    "duplicate-export",
    "payments/serverless.yml",
    12
)]
#[case::import_nothing_exports(
    "broken/unresolved-import",
    "unresolved-import",
    "api/serverless.yml",
    5
)]
#[case::bad_attribute_in_an_included_file(
    "broken/getatt-in-included-file",
    "getatt-unknown-attribute",
    "resources/tables.yml",
    14
)]
#[case::malformed_getatt(
    "broken/malformed-intrinsic",
    "malformed-intrinsic",
    "serverless.yml",
    10
)]
#[case::circular_self_references(
    "broken/circular-variable",
    "circular-variable",
    "serverless.yml",
    5
)]
#[case::unquoted_fallback_word("broken/invalid-fallback", "invalid-fallback", "serverless.yml", 6)]
#[case::retired_runtime("broken/retired-runtime", "unsupported-runtime", "serverless.yml", 8)]
#[case::two_services_create_one_table(
    "broken/same-resource-name",
    "same-resource-name",
    "posts/serverless.yml",
    12
)]
#[case::missing_file_key(
    "broken/missing-file-key",
    "unresolved-variable",
    "svc/serverless.yml",
    8
)]
#[case::param_declared_for_another_stage_only(
    "broken/missing-param",
    "unresolved-variable",
    "serverless.yml",
    7
)]
#[case::table_without_its_key_schema(
    "broken/required-property",
    "required-property",
    "serverless.yml",
    10
)]
#[case::bucket_name_s3_refuses("broken/property-value", "property-value", "serverless.yml", 14)]
#[case::an_acl_on_a_bucket_with_acls_disabled(
    "broken/bucket-acl-disabled",
    "bucket-acl-disabled",
    "serverless.yml",
    13
)]
#[case::a_public_policy_s3_blocks(
    "broken/public-policy-blocked",
    "public-policy-blocked",
    "serverless.yml",
    19
)]
#[case::cloudfront_logging_to_a_bucket_without_acls(
    "broken/cloudfront-log-bucket",
    "bucket-acl-disabled",
    "serverless.yml",
    19
)]
#[case::a_shared_api_without_its_root_resource(
    "broken/missing-root-resource",
    "missing-root-resource",
    "serverless.yml",
    9
)]
#[case::an_aurora_serverless_v1_cluster(
    "broken/aurora-serverless-v1",
    "aurora-serverless-v1",
    "serverless.yml",
    14
)]
#[case::an_export_without_a_name("broken/export-shape", "export-shape", "serverless.yml", 13)]
#[case::an_event_item_that_is_a_list(
    "broken/event-list-item",
    "unsupported-value",
    "serverless.yml",
    17
)]
#[case::an_iam_statement_without_a_resource(
    "broken/iam-statement-shape",
    "unsupported-value",
    "serverless.yml",
    10
)]
#[case::a_public_policy_naming_its_bucket_by_name(
    "broken/public-policy-by-name",
    "public-policy-blocked",
    "serverless.yml",
    19
)]
#[case::a_queue_hiding_a_message_less_than_its_function_runs(
    "broken/sqs-visibility-timeout",
    "sqs-visibility-timeout",
    "serverless.yml",
    23
)]
fn each_error_class_gives_exactly_its_finding(
    #[case] app: &str,
    #[case] rule: &str,
    #[case] file: &str,
    #[case] line: usize,
) {
    assert_eq!(
        findings(app, "dev"),
        vec![(rule.to_string(), file.to_string(), line)]
    );
}

/// deploy.toml can say what a plugin or tool adds to a template: a
/// reference to it is then neither a finding nor a note.
#[test]
fn resources_deploy_toml_declares_are_known() {
    let dir = support::scratch_app(
        "declared",
        &[
            (
                "api/serverless.yml",
                "service: declared\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Outputs:\n    Acl:\n      Value: !GetAtt WebAcl.Arn\n    Other:\n      Value: !Ref NotThere\n",
            ),
            (
                "deploy.toml",
                "[services.api]\npath = \"api\"\nresources = [\"WebAcl\"]\n\n[stages.dev]\nregion = \"us-east-1\"\n",
            ),
        ],
    );
    let app = App::load(&dir).unwrap();
    let stage = app.stage("dev").unwrap();
    let report = xtask::cfn::rules::validate(&app, &stage);
    let found: Vec<(&str, usize)> = report.findings.iter().map(|f| (f.rule, f.line)).collect();
    assert_eq!(found, [("ref-unknown", 10)], "only the undeclared one");
    assert!(report.notes.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Compose's side of a param: an output the producer does not declare,
/// and a `${param:}` that Compose never passes, each at its line.
#[test]
fn compose_params_are_checked_both_ways() {
    let files = [
        (
            "serverless-compose.yml",
            "services:\n  store:\n    path: store\n  web:\n    path: web\n    params:\n      table: ${store.TableNam}\n",
        ),
        (
            "store/serverless.yml",
            "service: cp-store\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    T:\n      Type: AWS::SNS::Topic\n  Outputs:\n    TableName:\n      Value: !Ref T\n",
        ),
        (
            "web/serverless.yml",
            "service: cp-web\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    TABLE: ${param:table}\n    QUEUE: ${param:queue}\n",
        ),
    ];
    let dir = support::scratch_app("compose-params", &files);
    let app = App::load(&dir).unwrap();
    let stage = app.stage("dev").unwrap();
    let mut found: Vec<(String, String, usize)> = xtask::cfn::rules::validate(&app, &stage)
        .findings
        .into_iter()
        .map(|f| {
            let file = f
                .file
                .strip_prefix(&dir)
                .unwrap_or(&f.file)
                .display()
                .to_string();
            (f.rule.to_string(), file, f.line)
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (
                "unknown-output".to_string(),
                "serverless-compose.yml".to_string(),
                7
            ),
            (
                "unresolved-variable".to_string(),
                "web/serverless.yml".to_string(),
                7
            ),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a variable comes to differs per stage: each stage is evaluated.
#[rstest]
#[case::a_map_without_the_stage("broken/stage-missing-entry", "staging", "unresolved-variable", 14)]
#[case::a_fallback_to_dev("broken/fallback-other-stage", "prod", "fallback-to-another-stage", 8)]
#[case::a_fallback_to_dev_in_a_shared_section(
    "broken/fallback-in-shared-section",
    "staging",
    "fallback-to-another-stage",
    8
)]
fn a_stage_gets_the_finding_its_values_earn(
    #[case] app: &str,
    #[case] stage: &str,
    #[case] rule: &str,
    #[case] line: usize,
) {
    let file = if app.ends_with("shared-section") {
        "common.yml"
    } else {
        "serverless.yml"
    };
    assert_eq!(
        findings(app, stage),
        vec![(rule.to_string(), file.to_string(), line)]
    );
    // The stages the file does give an entry are clean.
    assert_eq!(findings(app, "dev"), vec![]);
}

#[rstest]
#[case::bundled_app("tb365", "prod")]
#[case::many_valid_attributes("valid-attributes", "dev")]
#[case::diamond("diamond", "dev")]
#[case::resources_split_over_included_files("split-resources", "dev")]
#[case::fallback_chains_the_cli_parses("fallback-chains", "dev")]
// Data a removal would lose is a hazard the audit reports (and a protected
// deploy refuses), not something CloudFormation refuses.
#[case::a_hazard_is_not_a_refusal("broken/unretained-data", "prod")]
fn valid_apps_validate_clean(#[case] app: &str, #[case] stage: &str) {
    assert_eq!(findings(app, stage), vec![]);
}

/// Layers by the framework's rule and the requirements layer by the
/// plugin's are known; what an unknown plugin may create is a note.
#[test]
fn generated_resources_are_known_and_plugin_ones_are_notes() {
    assert_eq!(findings("generated", "dev"), vec![]);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["validate", "dev", "--app", &arg(&fixture("generated"))])
        .env_remove("XTASK_APP")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("note: ")
            && text.contains("`WafWebAcl`")
            && text.contains("serverless-associate-waf"),
        "{text}"
    );
    assert!(!text.contains("LambdaLayer"), "{text}");
    // A plugin known to add nothing a file would reference hides nothing:
    // a `Ref` to a resource that no part makes is a finding.
    let dir = support::scratch_app(
        "known-plugin-ref",
        &[(
            "svc/serverless.yml",
            "service: stage-only\nplugins:\n  - serverless-domain-manager\nprovider:\n  name: aws\nresources:\n  Resources:\n    Stage:\n      Type: AWS::ApiGateway::Stage\n      Properties:\n        RestApiId:\n          Ref: ApiGatewayRestApi\n        DeploymentId: d\n",
        )],
    );
    let app = App::load(&dir).unwrap();
    let stage = app.stage("dev").unwrap();
    let report = xtask::cfn::rules::validate(&app, &stage);
    let found: Vec<(&str, usize)> = report.findings.iter().map(|f| (f.rule, f.line)).collect();
    assert_eq!(found, [("ref-unknown", 12)], "{:?}", report.notes);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_message_lists_the_valid_attributes() {
    let dir = fixture("broken/getatt-rootresourceid-short");
    let app = App::load(&dir).unwrap();
    let report = xtask::cfn::rules::validate(&app, &app.stage("dev").unwrap());
    let finding = &report.findings[0];
    assert!(
        finding
            .message
            .contains("ApiEndpoint, ApiId, ExecuteApiArn"),
        "{}",
        finding.message
    );
    assert!(
        finding.fix.contains("AWS::ApiGateway::RestApi"),
        "{}",
        finding.fix
    );
}

#[test]
fn offline_validation_starts_no_node_process() {
    let dir =
        xtask::sys::paths::scratch_dir().join(format!("validate-offline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("cli-ran");
    let fake = dir.join("fake-serverless");
    std::fs::write(&fake, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    // PATH without node: any attempt to start it fails loudly.
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["validate", "local"])
        .env("SERVERLESS_BIN", &fake)
        .env("PATH", &dir)
        .env("XTASK_STATE_DIR", dir.join("state"))
        .env_remove("XTASK_APP")
        .output()
        .unwrap();
    let run = support::Run::from(output);
    run.ok();
    assert!(run.text.contains("validate: clean"), "{}", run.text);
    assert!(
        !marker.exists(),
        "offline validation ran the Serverless CLI"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// `validate dev --deep --format json` on a fixture, offline.
fn deep(app: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["validate", "dev", "--deep", "--format", "json", "--app"])
        .arg(arg(&fixture(app)))
        .env_remove("XTASK_APP")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .unwrap()
}

/// A v3 pin, a runtime the CLI's schema no longer lists and a Compose
/// param from another service's output do not stop `--deep`: cfn-lint
/// runs, its finding is exit 1 at the line, and the retired runtime and
/// the variable the CLI cannot resolve are each said once, at their line.
#[test]
fn deep_validation_runs_on_any_app() {
    let output = deep("broken/deep-any-app");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("config validation only warns"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json on stdout");
    let found: Vec<(String, String, u64)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["file"]
                    .as_str()
                    .unwrap()
                    .rsplit("deep-any-app/")
                    .next()
                    .unwrap()
                    .to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "unsupported-runtime".to_string(),
                "legacy/serverless.yml".to_string(),
                5
            ),
            (
                "cfn-lint-error".to_string(),
                "legacy/serverless.yml".to_string(),
                15
            ),
            (
                "unresolved-variable".to_string(),
                "worker/serverless.yml".to_string(),
                8
            ),
        ],
        "{report}"
    );
}

#[test]
fn deep_validation_maps_cfn_lint_back_to_the_line() {
    let output = deep("broken/deep-invalid-property");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Progress goes to stderr; stdout is the report alone.
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json on stdout");
    let finding = &report["findings"][0];
    assert_eq!(finding["rule"], "cfn-lint-error");
    assert_eq!(finding["line"], 12);
    assert!(
        finding["message"].as_str().unwrap_or("").contains("99999"),
        "{finding}"
    );
}

/// A per-stage variables file that is not there is one cause: one finding
/// at its first use, naming the file, how many uses it leaves without a
/// value and where the first ones are, not one finding per use.
#[test]
fn a_missing_file_is_one_finding_with_its_count_of_uses() {
    let dir = fixture("broken/missing-stage-file");
    let app = App::load(&dir).expect("the app loads");
    let stage = app.stage("dev").expect("an allowed stage");
    let report = xtask::cfn::rules::validate(&app, &stage);
    let found: Vec<(&str, usize, &str)> = report
        .findings
        .iter()
        .map(|f| (f.rule, f.line, f.message.as_str()))
        .collect();
    assert_eq!(found.len(), 2, "{found:#?}");
    let (rule, line, message) = found[0];
    assert_eq!((rule, line), ("unresolved-variable", 8), "{message}");
    assert!(
        message.contains("`../var/dev.yml` does not exist"),
        "{message}"
    );
    assert!(message.contains("5 uses"), "{message}");
    assert!(message.contains("svc/serverless.yml:9"), "{message}");
    let (rule, line, message) = found[1];
    assert_eq!((rule, line), ("unresolved-variable", 13), "{message}");
    assert!(
        message.contains("`../var/dev-var.yml` does not exist"),
        "{message}"
    );
    assert!(message.contains("3 uses"), "{message}");
    assert!(message.contains("svc/serverless.yml:18"), "{message}");
}

/// What osls 4.3.1 refuses when it reads the configuration (each seen
/// with `serverless package` offline): validate reports it as an error at
/// its line with the CLI's reason; under `configValidationMode: warn` the
/// CLI only warns, and so does validate (a note); under `off`, nothing.
#[rstest]
#[case::lambda_hashing_version(
    "provider:\n  name: aws\n  lambdaHashingVersion: 20201221\nfunctions:\n  f:\n    handler: h.h\n",
    Some(("unrecognized-property", 4, "unrecognized property 'lambdaHashingVersion'"))
)]
#[case::package_exclude(
    "provider:\n  name: aws\npackage:\n  exclude:\n    - tests/**\nfunctions:\n  f:\n    handler: h.h\n",
    Some(("unrecognized-property", 5, "unrecognized property 'exclude'"))
)]
#[case::package_include(
    "provider:\n  name: aws\npackage:\n  include:\n    - src/**\nfunctions:\n  f:\n    handler: h.h\n",
    Some(("unrecognized-property", 5, "unrecognized property 'include'"))
)]
#[case::function_package_exclude(
    "provider:\n  name: aws\nfunctions:\n  f:\n    handler: h.h\n    package:\n      exclude:\n        - tests/**\n",
    Some(("unrecognized-property", 8, "at 'functions.f.package': unrecognized property 'exclude'"))
)]
#[case::function_cors(
    "provider:\n  name: aws\nfunctions:\n  f:\n    handler: h.h\n    cors: true\n",
    Some(("unrecognized-property", 7, "at 'functions.f': unrecognized property 'cors'"))
)]
#[case::sns_import_as_a_sibling(
    "provider:\n  name: aws\nfunctions:\n  f:\n    handler: h.h\n    events:\n      - sns:\n        arn: !ImportValue shared-topic-arn\n",
    Some(("unsupported-event", 9, "at 'functions.f.events.0': unsupported function event"))
)]
#[case::sns_import_nested(
    "provider:\n  name: aws\nfunctions:\n  f:\n    handler: h.h\n    events:\n      - sns:\n          arn: !ImportValue shared-topic-arn\n",
    None
)]
#[case::v4_build_with_an_unknown_plugin(
    "frameworkVersion: '4'\nplugins:\n  - some-team-plugin\nbuild:\n  esbuild: true\nprovider:\n  name: aws\n",
    Some(("unrecognized-property", 5, "Serverless Framework v4's own"))
)]
#[case::misspelled_root_key_with_an_unknown_plugin(
    "plugins:\n  - some-team-plugin\nuseDotEvn: true\nprovider:\n  name: aws\n",
    Some(("unrecognized-property", 4, "unrecognized property 'useDotEvn'"))
)]
#[case::package_patterns(
    "provider:\n  name: aws\npackage:\n  patterns:\n    - '!tests/**'\nfunctions:\n  f:\n    handler: h.h\n",
    None
)]
fn what_the_cli_refuses_to_read_is_an_error(
    #[case] body: &str,
    #[case] expected: Option<(&str, usize, &str)>,
) {
    for mode in [
        "",
        "configValidationMode: warn\n",
        "configValidationMode: off\n",
    ] {
        let text = format!("service: refused\n{mode}{body}");
        let (report, dir) = validated(&format!("cli-refuses-{}-{}", body.len(), mode.len()), &text);
        let said = |list: &[xtask::app::diag::Finding]| -> Vec<(String, usize, String)> {
            list.iter()
                .filter(|f| matches!(f.rule, "unrecognized-property" | "unsupported-event"))
                .map(|f| (f.rule.to_string(), f.line, f.message.clone()))
                .collect()
        };
        let (errors, warnings) = (said(&report.findings), said(&report.notes));
        let shift = usize::from(!mode.is_empty());
        match (expected, mode) {
            (None, _) | (Some(_), "configValidationMode: off\n") => {
                assert_eq!((errors, warnings), (vec![], vec![]), "{text}");
            }
            (Some((rule, line, message)), m) => {
                let (said, silent) = if m.is_empty() {
                    (errors, warnings)
                } else {
                    (warnings, errors)
                };
                assert_eq!(said.len(), 1, "{text}: {said:?}");
                assert_eq!(
                    (said[0].0.as_str(), said[0].1),
                    (rule, line + shift),
                    "{text}"
                );
                assert!(said[0].2.contains(message), "{text}: {}", said[0].2);
                assert!(silent.is_empty(), "{text}: {silent:?}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A `${cf:}` with a fallback is never refused: where the stack or its
/// output is missing, the CLI takes the fallback. Without one, it is.
#[test]
fn a_cf_reference_with_a_fallback_is_not_refused() {
    let app = support::scratch_app(
        "validate-cf-fallback",
        &[
            ("one/serverless.yml", "service: one\nprovider:\n  name: aws\n  stage: ${opt:stage}\n"),
            (
                "two/serverless.yml",
                "service: two\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    T: ${cf:one-${sls:stage}.Missing, 'tbl-${sls:stage}'}\n    U: ${cf:one-${sls:stage}.Missing}\n",
            ),
        ],
    );
    assert_eq!(
        findings(&app.display().to_string(), "dev"),
        vec![(
            "unknown-output".to_string(),
            "two/serverless.yml".to_string(),
            7
        )]
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// serverless-step-functions makes each state machine under its `id` (or
/// its key with a suffix) and defines `stepFunctions`: a reference to one
/// is no unknown resource, and the key no question, even where another
/// listed plugin is one the table does not know.
#[test]
fn the_step_functions_plugin_s_machines_and_key_are_known() {
    let app = support::scratch_app(
        "validate-step-functions",
        &[(
            "flows/serverless.yml",
            "service: flows\nprovider:\n  name: aws\n  stage: ${opt:stage}\nplugins:\n  - serverless-step-functions\n  - some-plugin-of-our-own\nfunctions:\n  work:\n    handler: h.work\n    environment:\n      ALERTS: !Ref AlertingStateMachine\n      NIGHTLY: !Ref NightlyStepFunctionsStateMachine\n      NOPE: !Ref NoSuchMachine\nstepFunctions:\n  stateMachines:\n    alerting:\n      id: AlertingStateMachine\n      definition:\n        StartAt: A\n        States:\n          A:\n            Type: Succeed\n    nightly:\n      definition:\n        StartAt: A\n        States:\n          A:\n            Type: Succeed\n",
        )],
    );
    let loaded = App::load(&app).unwrap();
    let stage = loaded.stage("dev").unwrap();
    let report = xtask::cfn::rules::validate(&loaded, &stage);
    let all: Vec<String> = report
        .findings
        .iter()
        .chain(&report.notes)
        .map(|f| format!("{}:{} {}", f.line, f.rule, f.message))
        .collect();
    assert!(!all.iter().any(|f| f.contains("stepFunctions")), "{all:#?}");
    assert!(
        !all.iter().any(|f| f.contains("AlertingStateMachine")
            || f.contains("NightlyStepFunctionsStateMachine")),
        "{all:#?}"
    );
    assert!(all.iter().any(|f| f.contains("NoSuchMachine")), "{all:#?}");
    let _ = std::fs::remove_dir_all(&app);
}

/// serverless-appsync-plugin adds its API's id and URL to the outputs of
/// the service that declares one API: another service reads them by
/// `${cf:}`; an output neither the plugin nor the file adds is still unknown.
#[test]
fn the_appsync_plugin_s_outputs_are_known() {
    let app = support::scratch_app(
        "validate-appsync-outputs",
        &[
            ("api/serverless.yml", "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\nplugins:\n  - serverless-appsync-plugin\ncustom:\n  appSync:\n    name: graph-${sls:stage}\n    authenticationType: API_KEY\n"),
            (
                "user/serverless.yml",
                "service: user\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    ID: ${cf:api-${sls:stage}.GraphQlApiId}\n    URL: ${cf:api-${sls:stage}.GraphQlApiUrl}\n    NOPE: ${cf:api-${sls:stage}.GraphQlApiNope}\n",
            ),
        ],
    );
    let found: Vec<(String, String, usize)> = findings(&app.display().to_string(), "dev")
        .into_iter()
        .filter(|(rule, ..)| rule == "unknown-output")
        .collect();
    assert_eq!(
        found,
        vec![(
            "unknown-output".to_string(),
            "user/serverless.yml".to_string(),
            8
        )]
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// A stack that imports its own export stops on a new stage: CloudFormation
/// resolves imports before it creates the stack's exports.
#[test]
fn a_stack_importing_its_own_export_is_refused() {
    let app = support::scratch_app(
        "validate-self-import",
        &[(
            "api/serverless.yml",
            "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Api:\n      Type: AWS::ApiGateway::RestApi\n      Properties:\n        Name: api-${sls:stage}\n    Root:\n      Type: AWS::ApiGateway::Resource\n      Properties:\n        RestApiId:\n          Fn::ImportValue: ${sls:stage}-ApiId\n        ParentId: !GetAtt Api.RootResourceId\n        PathPart: items\n  Outputs:\n    ApiId:\n      Value: !Ref Api\n      Export:\n        Name: ${sls:stage}-ApiId\n",
        )],
    );
    assert_eq!(
        findings(&app.display().to_string(), "dev"),
        vec![(
            "self-import".to_string(),
            "api/serverless.yml".to_string(),
            15
        )]
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// An environment variable read with no fallback and set nowhere here: a
/// note of validate (the deploy may run where it is set), one per variable
/// with its count of uses; a refusal of deploy, which runs the CLI here,
/// before any stack changes. A variable the service's dotenv file sets
/// (`useDotenv: true`) is set for the CLI.
#[test]
fn an_unset_environment_variable_is_a_note_and_stops_a_deploy_before_it_starts() {
    let app = support::scratch_app(
        "validate-unset-env",
        &[
            (
                "api/serverless.yml",
                "service: api\nuseDotenv: true\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    A: ${env:XTASK_TEST_UNSET_A}\n    A2: x-${env:XTASK_TEST_UNSET_A}\n    B: ${env:XTASK_TEST_SET_B}\n    C: ${env:XTASK_TEST_DOTENV_C}\n",
            ),
            ("api/.env.dev", "# for dev\nexport XTASK_TEST_DOTENV_C=1\n"),
        ],
    );
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .arg("--app")
            .arg(&app)
            .env_remove("XTASK_APP")
            .env_remove("XTASK_TEST_UNSET_A")
            .env_remove("XTASK_TEST_DOTENV_C")
            .env("XTASK_TEST_SET_B", "set")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .output()
            .expect("xtask runs");
        support::Run::from(output)
    };
    let validate = run(&["validate", "dev"]);
    assert_eq!(validate.code, Some(0), "{}", validate.text);
    let notes: Vec<&str> = validate
        .text
        .lines()
        .filter(|l| l.contains("unset-environment"))
        .collect();
    assert_eq!(notes.len(), 1, "{}", validate.text);
    assert!(
        notes[0].contains("XTASK_TEST_UNSET_A") && notes[0].contains("(2 uses)"),
        "{}",
        validate.text
    );
    let deploy = run(&["deploy", "dev"]);
    assert_eq!(deploy.code, Some(2), "{}", deploy.text);
    deploy
        .fails_with("XTASK_TEST_UNSET_A")
        .fails_with("set the variables, then deploy");
    assert!(
        !deploy.text.contains("XTASK_TEST_DOTENV_C"),
        "{}",
        deploy.text
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// The schema checks judge only what is known: a resource that extends
/// one the framework generates, properties from a variable or an `Fn::If`,
/// a name only the deploy knows, and a resource whose properties two
/// `resources:` fragments split are not findings; an enumerated value
/// CloudFormation does not take is.
#[test]
fn schema_checks_judge_only_what_is_known() {
    let dir = support::scratch_app(
        "schema-known",
        &[
            (
                "svc/serverless.yml",
                "service: known\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  hello:\n    handler: h.hello\nresources:\n  - Resources:\n      HelloLambdaFunction:\n        Properties:\n          MemorySize: 256\n      Props:\n        Type: AWS::DynamoDB::Table\n        Properties: ${file(./table.yml)}\n      Chosen:\n        Type: AWS::DynamoDB::Table\n        Properties:\n          Fn::If: [IsProd, {KeySchema: []}, {KeySchema: []}]\n      Later:\n        Type: AWS::S3::Bucket\n        Properties:\n          BucketName: ${ssm:/names/${sls:stage}}\n      Split:\n        Type: AWS::DynamoDB::Table\n  - Resources:\n      Split:\n        Properties:\n          KeySchema: []\n          BillingMode: PAY_PER_USE\n",
            ),
            ("svc/table.yml", "KeySchema: []\n"),
        ],
    );
    let app = App::load(&dir).unwrap();
    let stage = app.stage("dev").unwrap();
    let report = xtask::cfn::rules::validate(&app, &stage);
    let found: Vec<(&str, usize)> = report
        .findings
        .iter()
        .filter(|f| f.rule.contains("propert"))
        .map(|f| (f.rule, f.line))
        .collect();
    assert_eq!(found, [("property-value", 30)], "{:?}", report.findings);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Services with mistakes the CLI's schema refuses at every level (root,
/// provider, functions, events of each kind, layers, package) beside valid
/// settings of the same places (tags of any name, `custom`, CloudFormation
/// functions, variables): validate says exactly what the pinned CLI says,
/// message for message. The CLI lists every schema error at once.
const SCHEMA_CORPUS: &[&str] = &[
    "service: corpus-a
app: myapp
org: myorg
tenant: t
provider:
  name: aws
  runtime: nodejs20.x
  architecture: arm
  cfLogs: true
  apiKeys:
    - k
  stackTags:
    PROJECT: p
  tags:
    anything-goes: yes
  tracing:
    lambda: true
    apiGateway: maybe
  logs:
    httpApi: true
    restApi:
      level: LOUD
  httpApi:
    cors: true
    corsy: true
  iam:
    role:
      statements:
        - Effect: Allow
          Action: s3:GetObject
          Resource: !Sub 'arn:aws:s3:::b-${AWS::Region}/*'
custom:
  whatever:
    nested: [1024, 2]
functions:
  a:
    handler: h.a
    timout: 3
    memorySize: ${self:custom.whatever.nested.0}
    events:
      - http:
          path: /a/{id}
          method: get
          request:
            path:
              id: true
            parameters:
              paths:
                id: true
      - httpp: /x
      - httpApi:
          path: /b
          method: GET
          authorizr: x
      - schedule:
          rate: rate(5 minutes)
          enabeld: true
      - sqs:
          arn: !GetAtt Q.Arn
          batchSize: 5
          batchsize: 5
      - s3:
          bucket: uploads
          event: s3:ObjectCreated:*
          existing: true
          rules:
            - prefix: in/
  b:
    handler: h.b
    memorySize: 64
    timeout: '30'
    url:
      cors: true
      authType: SOMETIMES
    destinations:
      onFailure: arn:aws:sqs:us-east-1:123456789012:dlq
      onFail: x
layers:
  L:
    path: layer
    compatibleRuntimes:
      - nodejs18.x
package:
  patterns:
    - '!tests/**'
  indvidually: true
resources:
  Resources:
    Q:
      Type: AWS::SQS::Queue
",
    "service: corpus_b
configValidationMode: error
useDotenv: true
provider:
  name: aws
  runtime: python3.12
  stage: ${opt:stage, 'dev'}
  region: us-east-1
  memorySize: 512
  timeout: 10
  versionFunctions: false
  environment:
    ANY_NAME: value
  deploymentBucket:
    name: my-bucket
    blockPublicAccess: true
    serverSideEncryptin: AES256
  apiGateway:
    minimumCompressionSize: 1024
    shouldStartNameWithService: true
  vpc:
    securityGroupIds: [sg-1]
    subnetIds: [subnet-1]
    subnets: [subnet-2]
functions:
  worker:
    handler: app.handler
    reservedConcurrency: 2
    provisionedConcurrency: 1
    environment:
      X: y
    vpc:
      securityGroupIds: [sg-1]
      subnetIds: [subnet-1]
    events:
      - stream:
          type: dynamodb
          arn: arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/1
          startingPosition: LATEST
      - stream:
          type: kinesis
          arn: arn:aws:kinesis:us-east-1:123456789012:stream/s
          startingPosition: MIDDLE
      - sns:
          arn: arn:aws:sns:us-east-1:123456789012:topic
          topicName: topic
      - eventBridge:
          pattern:
            source: [app]
          pattrn: {}
      - cloudwatchLog: /aws/lambda/other
      - alb:
          listenerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/a/1/2
          priority: 1
          conditions:
            path: /x
          condtions: {}
  with.dot:
    handler: app.handler
  image:
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo@sha256:0123456789012345678901234567890123456789012345678901234567890123
    architecture: x86_64
    ephemeralStorageSize: 1024
    snapStart: true
    logRetentionInDays: 7
",
];

#[test]
fn the_schema_says_what_the_cli_says() {
    let cli = xtask::sys::tools::serverless(true).unwrap();
    for (i, text) in SCHEMA_CORPUS.iter().enumerate() {
        let dir = support::scratch_app(
            &format!("schema-corpus-{i}"),
            &[("svc/serverless.yml", text), ("svc/layer/x.txt", "x")],
        );
        let output = Command::new(&cli)
            .args(["print", "--stage", "dev", "--region", "us-east-1"])
            .current_dir(dir.join("svc"))
            .env("SLS_TELEMETRY_DISABLED", "1")
            .env("AWS_ACCESS_KEY_ID", "AKIAXTASKTESTONLY000")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-secret")
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        let mut theirs: Vec<String> = printed
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("at "))
            .map(str::to_string)
            .collect();
        theirs.sort();
        let app = App::load(&dir).unwrap();
        let stage = app.stage("dev").unwrap();
        let report = xtask::cfn::rules::validate(&app, &stage);
        let mut ours: Vec<String> = report
            .findings
            .iter()
            .filter_map(|f| {
                let said = f.message.split("`Configuration error ").nth(1)?;
                Some(said.split('`').next()?.to_string())
            })
            .collect();
        ours.sort();
        assert!(
            theirs.len() >= 4,
            "the corpus exercises the schema: {printed}"
        );
        assert_eq!(ours, theirs, "corpus {i}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A `frameworkVersion` the pinned CLI cannot honour stops it before it
/// reads anything else: validate says so at the pin. A v3 pin the tool
/// honours (from a copy without it) is no finding.
#[test]
fn a_pin_the_cli_cannot_honour_is_a_finding() {
    for (pin, expected) in [
        ("'2'", Some(2)),
        ("'>=1.0.0 <3'", Some(2)),
        ("'3'", None),
        ("'^4'", None),
        // From a variable: what it resolves to, or the CLI's to judge.
        ("${self:custom.version}\ncustom:\n  version: '3'", None),
        ("${self:custom.version}\ncustom:\n  version: '2'", Some(2)),
        ("${env:XTASK_UNSET_PIN}", None),
    ] {
        let text = format!("service: pinned\nframeworkVersion: {pin}\nprovider:\n  name: aws\n");
        let dir = support::scratch_app(
            &format!(
                "pin-{}",
                pin.len() * 7 + pin.bytes().map(usize::from).sum::<usize>()
            ),
            &[("svc/serverless.yml", text.as_str())],
        );
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["validate", "dev", "--format", "json", "--app", &arg(&dir)])
            .env_remove("SERVERLESS_BIN")
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
        let lines: Vec<u64> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "framework-version")
            .filter_map(|f| f["line"].as_u64())
            .collect();
        assert_eq!(
            lines,
            expected.into_iter().collect::<Vec<u64>>(),
            "{pin}: {report}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Sections a service includes whole from other files are what the CLI
/// validates too: validate says the same of them, at their own files.
#[test]
fn sections_included_whole_are_judged_as_the_cli_judges_them() {
    let cli = xtask::sys::tools::serverless(true).unwrap();
    let dir = support::scratch_app(
        "schema-includes",
        &[
            (
                "svc/serverless.yml",
                "service: included\nprovider: ${file(./provider.yml)}\nfunctions:\n  - ${file(./functions.yml)}\n  - other:\n      handler: h.other\ncustom: ${file(./custom.yml):custom}\n",
            ),
            (
                "svc/provider.yml",
                "name: aws\nruntime: nodejs14.x\nmemorySzie: 512\n",
            ),
            (
                "svc/functions.yml",
                "first:\n  handler: h.first\n  timout: 3\n",
            ),
            ("svc/custom.yml", "custom:\n  anything: goes\n"),
        ],
    );
    let output = Command::new(&cli)
        .args(["print", "--stage", "dev", "--region", "us-east-1"])
        .current_dir(dir.join("svc"))
        .env("SLS_TELEMETRY_DISABLED", "1")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    let mut theirs: Vec<String> = printed
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("at "))
        .map(str::to_string)
        .collect();
    theirs.sort();
    let app = App::load(&dir).unwrap();
    let stage = app.stage("dev").unwrap();
    let report = xtask::cfn::rules::validate(&app, &stage);
    let mut ours: Vec<(String, String)> = report
        .findings
        .iter()
        .filter_map(|f| {
            let said = f.message.split("`Configuration error ").nth(1)?;
            let file = f.file.file_name()?.to_string_lossy().to_string();
            Some((said.split('`').next()?.to_string(), file))
        })
        .collect();
    ours.sort();
    assert_eq!(theirs.len(), 3, "{printed}");
    assert_eq!(
        ours.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>(),
        theirs
    );
    let files: Vec<&str> = ours.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(
        files,
        ["functions.yml", "provider.yml", "provider.yml"],
        "{ours:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What may not hold for a stage made long ago (a bucket from before S3's
/// 2023 defaults) stops a deploy before anything runs unless
/// `--allow-findings` says the stage predates it; what is certain stops it
/// either way.
#[test]
fn a_finding_that_may_not_hold_yields_to_allow_findings() {
    let state = xtask::sys::paths::scratch_dir().join(format!("allow-{}", std::process::id()));
    let deploy = |app: &str, allow: bool| {
        let mut args = vec!["deploy", "dev", "--app"];
        let dir = arg(&fixture(app));
        args.push(&dir);
        if allow {
            args.push("--allow-findings");
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(&args)
            .env("XTASK_STATE_DIR", &state)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("XTASK_APP");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(key);
            }
        }
        let output = cmd.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).to_string()
                + &String::from_utf8_lossy(&output.stdout),
        )
    };
    // Each with the case it holds in: a bucket made now; a second stage in
    // one account and region; no stack outside the app exporting the name.
    for (app, condition) in [
        (
            "broken/bucket-acl-disabled",
            "a bucket created before April 2023",
        ),
        (
            "broken/unscoped-export",
            "CloudFormation refuses the second",
        ),
        (
            "broken/unresolved-import",
            "unless a stack outside the app exports it",
        ),
    ] {
        let (code, text) = deploy(app, false);
        assert_eq!(code, Some(2), "{app}: {text}");
        assert!(text.contains("pass --allow-findings"), "{app}: {text}");
        let (_, text) = deploy(app, true);
        assert!(text.contains(condition), "{app}: {text}");
        assert!(
            text.contains("(deploying anyway: --allow-findings)"),
            "{app}: {text}"
        );
    }
    let (code, text) = deploy("broken/required-property", true);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("CloudFormation would reject them"), "{text}");
    let _ = std::fs::remove_dir_all(&state);
}

/// A key a section included whole from a file holds, whose value reads an
/// environment variable unset here, is not "missing from the file": it is
/// the unset variable, a note where it is written.
#[test]
fn an_unset_variable_in_an_included_section_is_said_where_it_is() {
    let dir = support::scratch_app(
        "include-unset-env",
        &[
            (
                "svc/serverless.yml",
                "service: anything\nprovider: ${file(./_provider.yml)}\nresources:\n  Resources:\n    T:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: ${self:provider.environment.NAMESPACE}-main\n",
            ),
            (
                "svc/_provider.yml",
                "name: aws\nruntime: nodejs24.x\nstage: ${opt:stage}\nenvironment:\n  NAMESPACE: anything-${sls:stage}-${env:XTASK_UNSET_UNIQ}\n",
            ),
        ],
    );
    let app = App::load(&dir).unwrap();
    let stage = app.stage("dev").unwrap();
    let report = xtask::cfn::rules::validate(&app, &stage);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let notes: Vec<(&str, String)> = report
        .notes
        .iter()
        .map(|n| {
            (
                n.rule,
                n.file.file_name().unwrap().to_string_lossy().to_string(),
            )
        })
        .collect();
    assert_eq!(notes, [("unset-environment", "_provider.yml".to_string())]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// With plugins listed, a key the CLI's schema does not know is what the
/// plugins define, by the table `codegen --plugins` asked the CLI for: a
/// plugin it knows adds its keys and nothing else; with one it does not
/// know, the key may be that plugin's (a note). The framework's own
/// top-level names the pinned CLI dropped (`org`, `app`, v4's `stages`)
/// are refused whatever the plugins.
#[test]
fn plugins_cannot_excuse_the_framework_s_own_dropped_keys() {
    let lines = |plugin: &str| {
        let dir = support::scratch_app(
            "plugin-keys",
            &[(
                "svc/serverless.yml",
                &format!("service: flows\norg: acme\nprovider:\n  name: aws\nplugins:\n  - {plugin}\nstepFunctions:\n  stateMachines: {{}}\nfunctions:\n  f:\n    handler: h.f\n    events:\n      - httpApi:\n          method: GET\n          path: /x\n          cors: true\n"),
            )],
        );
        let app = App::load(&dir).unwrap();
        let stage = app.stage("dev").unwrap();
        let report = xtask::cfn::rules::validate(&app, &stage);
        let _ = std::fs::remove_dir_all(&dir);
        let of = |list: &[xtask::app::diag::Finding]| -> Vec<usize> {
            list.iter()
                .filter(|f| f.rule == "unrecognized-property")
                .map(|f| f.line)
                .collect()
        };
        (of(&report.findings), of(&report.notes))
    };
    assert_eq!(lines("serverless-step-functions"), (vec![2, 16], vec![]));
    assert_eq!(lines("serverless-offline"), (vec![2, 7, 16], vec![]));
    assert_eq!(lines("./plugins/our-own"), (vec![2], vec![7, 16]));
}

/// One name built from the same environment variable in two services is
/// one resource only where both read one environment: with `useDotenv`,
/// each service reads its own `.env`.
#[test]
fn names_from_a_service_s_own_dotenv_are_not_one_name() {
    let files = |dotenv: &str| {
        vec![
            (
                "a/serverless.yml".to_string(),
                format!("service: a\n{dotenv}provider:\n  name: aws\n  stage: ${{opt:stage}}\nresources:\n  Resources:\n    T:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: q-${{env:XTASK_UNSET_QUEUE}}-${{sls:stage}}\n"),
            ),
            (
                "b/serverless.yml".to_string(),
                format!("service: b\n{dotenv}provider:\n  name: aws\n  stage: ${{opt:stage}}\nresources:\n  Resources:\n    T:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: q-${{env:XTASK_UNSET_QUEUE}}-${{sls:stage}}\n"),
            ),
        ]
    };
    for (dotenv, expected) in [("", 1), ("useDotenv: true\n", 0)] {
        let owned = files(dotenv);
        let borrowed: Vec<(&str, &str)> = owned
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let dir = support::scratch_app(&format!("dotenv-names-{}", dotenv.len()), &borrowed);
        let app = App::load(&dir).unwrap();
        let stage = app.stage("dev").unwrap();
        let report = xtask::cfn::rules::validate(&app, &stage);
        let same = report
            .findings
            .iter()
            .filter(|f| f.rule == "same-resource-name")
            .count();
        assert_eq!(same, expected, "{dotenv}: {:?}", report.findings);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// One export name no service provides, imported in many places, is one
/// cause: said once at its first use, with the count and the first uses.
#[test]
fn an_unexported_name_imported_twice_is_one_finding() {
    let dir = support::scratch_app(
        "import-twice",
        &[
            (
                "a/serverless.yml",
                "service: a\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  apiGateway:\n    restApiId: !ImportValue ${sls:stage}-ExtApiId\n",
            ),
            (
                "b/serverless.yml",
                "service: b\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  apiGateway:\n    restApiId: !ImportValue ${sls:stage}-ExtApiId\n",
            ),
        ],
    );
    let app = App::load(&dir).unwrap();
    let stage = app.stage("dev").unwrap();
    let report = xtask::cfn::rules::validate(&app, &stage);
    // Named like no export of the app: a stack outside it may provide
    // it, which only the deploy can tell: a note.
    let imports: Vec<&xtask::app::diag::Finding> = report
        .notes
        .iter()
        .filter(|f| f.rule == "unresolved-import")
        .collect();
    assert_eq!(imports.len(), 1, "{imports:?}");
    assert!(report
        .findings
        .iter()
        .all(|f| f.rule != "unresolved-import"));
    assert!(
        imports[0].message.contains("(2 uses:"),
        "{}",
        imports[0].message
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A resource written as a whole include (`Q: ${file(./q.yml):MyQueue}`)
/// is what the CLI reads there: its type is the included one, and the
/// checks of CloudFormation run on it at the included file's lines.
#[test]
fn a_resource_included_whole_is_the_included_resource() {
    let dir = support::scratch_app(
        "resource-include",
        &[
            (
                "svc/serverless.yml",
                "service: svc\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Q: ${file('./q.yml'):MyQueue}\n    Bucket: ${file(./b.yml):Bucket}\n    Policy: ${file(./b.yml):Policy}\n  Outputs:\n    QueueArn:\n      Value: !GetAtt Q.Arn\n",
            ),
            ("svc/q.yml", "MyQueue:\n  Type: AWS::SQS::Queue\n"),
            (
                "svc/b.yml",
                "Bucket:\n  Type: AWS::S3::Bucket\nPolicy:\n  Type: AWS::S3::BucketPolicy\n  Properties:\n    Bucket: !Ref Bucket\n    PolicyDocument:\n      Statement:\n        - Effect: Allow\n          Principal: '*'\n          Action: s3:GetObject\n          Resource: !Sub '${Bucket.Arn}/*'\n",
            ),
        ],
    );
    let app = App::load(&dir).unwrap();
    let stage = app.stage("dev").unwrap();
    let report = xtask::cfn::rules::validate(&app, &stage);
    let found: Vec<(&str, String, usize)> = report
        .findings
        .iter()
        .map(|f| {
            let file = f.file.file_name().unwrap().to_string_lossy().to_string();
            (f.rule, file, f.line)
        })
        .collect();
    assert_eq!(found, [("public-policy-blocked", "b.yml".to_string(), 9)]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A variable of a source neither the CLI nor a listed plugin has
/// (`${output:...}`, the Dashboard's) stops the CLI; one a listed plugin
/// adds (`${git:...}`) does not; with a plugin the table does not know, it
/// is a note.
#[test]
fn a_variable_source_nobody_adds_is_refused() {
    let run = |plugins: &str, value: &str| {
        let dir = support::scratch_app(
            "unknown-source",
            &[(
                "svc/serverless.yml",
                &format!("service: svc\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\n  environment:\n    V: {value}\n{plugins}"),
            )],
        );
        let app = App::load(&dir).unwrap();
        let report = xtask::cfn::rules::validate(&app, &app.stage("dev").unwrap());
        let _ = std::fs::remove_dir_all(&dir);
        let of = |list: &[xtask::app::diag::Finding]| -> Vec<usize> {
            list.iter()
                .filter(|f| f.rule == "unknown-source")
                .map(|f| f.line)
                .collect()
        };
        (of(&report.findings), of(&report.notes))
    };
    assert_eq!(run("", "${output:api.url}"), (vec![6], vec![]));
    // No source name to the CLI: text.
    assert_eq!(run("", "${.env:API_URL}"), (vec![], vec![]));
    let git = "plugins:\n  - serverless-plugin-git-variables\n";
    assert_eq!(run(git, "${git:branch}"), (vec![], vec![]));
    assert_eq!(run(git, "${output:api.url}"), (vec![6], vec![]));
    assert_eq!(
        run("plugins:\n  - ./our-plugin\n", "${git:branch}"),
        (vec![], vec![6])
    );
}

/// The layer serverless-python-requirements makes (`custom.pythonRequirements.layer`)
/// is there whether `custom` is written in the file or included whole
/// from another.
#[test]
fn a_plugin_layer_configured_in_an_included_custom_exists() {
    let dir = support::scratch_app(
        "python-layer",
        &[
            (
                "svc/serverless.yml",
                "service: svc\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  runtime: python3.12\nplugins:\n  - serverless-python-requirements\ncustom: ${file(./custom.yml):custom}\nfunctions:\n  f:\n    handler: h.main\n    layers:\n      - Ref: PythonRequirementsLambdaLayer\n",
            ),
            ("svc/custom.yml", "custom:\n  pythonRequirements:\n    layer: true\n"),
        ],
    );
    let app = App::load(&dir).unwrap();
    let report = xtask::cfn::rules::validate(&app, &app.stage("dev").unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert!(
        report
            .notes
            .iter()
            .all(|n| !n.message.contains("PythonRequirementsLambdaLayer")),
        "{:?}",
        report.notes
    );
}

/// A file that is not there stops the CLI whatever kind of file it is:
/// `${file(./secret.pem)}` as much as a YAML file. One that is there, and
/// is text rather than data, is the CLI's to read.
#[test]
fn a_missing_file_of_any_kind_has_no_value() {
    let dir = support::scratch_app(
        "missing-pem",
        &[
            (
                "svc/serverless.yml",
                "service: svc\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    KEY: ${file(./secret.pem)}\n    CERT: ${file(./cert.pem)}\n",
            ),
            ("svc/cert.pem", "-----BEGIN CERTIFICATE-----\n"),
        ],
    );
    let app = App::load(&dir).unwrap();
    let report = xtask::cfn::rules::validate(&app, &app.stage("dev").unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    let lines: Vec<(&str, usize)> = report.findings.iter().map(|f| (f.rule, f.line)).collect();
    assert_eq!(lines, [("unresolved-variable", 6)], "{:?}", report.findings);
}

/// Services hanging `http` routes on one REST API each create their
/// routes' top-level path parts: a part two of them create is refused
/// when the second deploys, whether the API is the first service's own
/// (exported, imported by the other) or another stack's id both are
/// given; a part the second takes as made (`restApiResources`) is not.
#[test]
fn two_services_creating_one_path_part_on_a_shared_api_are_refused() {
    let owner = "service: feed\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  list:\n    handler: h.list\n    events:\n      - http: GET /feed\nresources:\n  Outputs:\n    ApiId:\n      Value: !Ref ApiGatewayRestApi\n      Export:\n        Name: ${sls:stage}-RestApiId\n";
    let consumer = |reuse: &str| {
        format!("service: news\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\n  apiGateway:\n    restApiId:\n      Fn::ImportValue: ${{sls:stage}}-RestApiId\n    restApiRootResourceId: root\n{reuse}functions:\n  hello:\n    handler: h.hello\n    events:\n      - http: GET /feed/hello\n      - http: GET /news\n")
    };
    let app = support::scratch_app(
        "validate-shared-api",
        &[
            ("feed/serverless.yml", owner),
            ("news/serverless.yml", &consumer("")),
        ],
    );
    let found = findings(&app.display().to_string(), "dev");
    assert_eq!(
        found,
        vec![(
            "shared-api-path".to_string(),
            "news/serverless.yml".to_string(),
            13
        )]
    );
    std::fs::write(
        app.join("news/serverless.yml"),
        consumer("    restApiResources:\n      /feed: abc123\n"),
    )
    .unwrap();
    assert_eq!(findings(&app.display().to_string(), "dev"), vec![]);
    let _ = std::fs::remove_dir_all(&app);
    // Two services given one API's id by another stack.
    let by_id = |name: &str| {
        format!("service: {name}\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\n  apiGateway:\n    restApiId: a1b2c3\n    restApiRootResourceId: r00t\nfunctions:\n  get:\n    handler: h.get\n    events:\n      - http: GET /items/{name}\n")
    };
    let app = support::scratch_app(
        "validate-shared-id",
        &[
            ("one/serverless.yml", &by_id("one")),
            ("two/serverless.yml", &by_id("two")),
        ],
    );
    assert_eq!(
        findings(&app.display().to_string(), "dev"),
        vec![(
            "shared-api-path".to_string(),
            "two/serverless.yml".to_string(),
            12
        )]
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// A runtime kept in one place and read through a variable is judged as
/// it resolves, where it is read.
#[test]
fn a_runtime_read_through_a_variable_is_judged_as_it_resolves() {
    let app = support::scratch_app(
        "validate-runtime-var",
        &[(
            "api/serverless.yml",
            "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  runtime: ${self:custom.defaults.runtime}\ncustom:\n  defaults:\n    runtime: python3.8\nfunctions:\n  f:\n    handler: h.f\n",
        )],
    );
    assert_eq!(
        findings(&app.display().to_string(), "dev"),
        vec![(
            "unsupported-runtime".to_string(),
            "api/serverless.yml".to_string(),
            5
        )]
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// `#{Name}` in a property of a service that lists a plugin the tool does
/// not know is that plugin's to rewrite (into `Fn::Sub`), so it is not
/// judged as written; with only known plugins it is text CloudFormation
/// gets as it is.
#[test]
fn a_placeholder_an_unknown_plugin_rewrites_is_not_judged_as_written() {
    let service = |plugin: &str| {
        format!("service: auth\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\nplugins:\n  - {plugin}\nresources:\n  Resources:\n    Scopes:\n      Type: AWS::Cognito::UserPoolResourceServer\n      Properties:\n        UserPoolId: pool\n        Identifier: api\n        Name: '#{{Ident}}-rs'\n")
    };
    let app = support::scratch_app(
        "validate-sub-variables",
        &[(
            "auth/serverless.yml",
            &service("serverless-cloudformation-sub-variables"),
        )],
    );
    assert_eq!(findings(&app.display().to_string(), "dev"), vec![]);
    std::fs::write(
        app.join("auth/serverless.yml"),
        service("serverless-offline"),
    )
    .unwrap();
    assert_eq!(
        findings(&app.display().to_string(), "dev"),
        vec![(
            "property-value".to_string(),
            "auth/serverless.yml".to_string(),
            14
        )]
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// A variable left open stops the CLI; a service of another provider,
/// or one that turns the CLI's validation off, has no AWS runtime to be
/// refused.
#[test]
fn an_open_variable_is_refused_and_another_provider_s_runtime_is_not_judged() {
    let app = support::scratch_app(
        "validate-open-variable",
        &[
            (
                "web/serverless.yml",
                "service: web\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  origins:\n    dev: '*'\n  cors: ${self:custom.origins.${sls:stage}\n",
            ),
            (
                "php/serverless.yml",
                "service: php\nconfigValidationMode: off\nprovider:\n  name: openwhisk\n  runtime: php\nfunctions:\n  f:\n    handler: index.main\n",
            ),
        ],
    );
    let found = findings(&app.display().to_string(), "dev");
    assert_eq!(
        found,
        vec![(
            "unclosed-variable".to_string(),
            "web/serverless.yml".to_string(),
            8
        )]
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// The stage and the region are resolved before Compose params, AWS or
/// the CLI's own values are: read from them, directly or through
/// `${self:}`, the CLI stops ("property is not accessible"); from the
/// environment it goes on.
#[test]
fn a_stage_read_from_a_late_source_is_refused() {
    let service = |stage: &str| {
        format!("service: api\nprovider:\n  name: aws\n  stage: {stage}\ncustom:\n  stage: ${{param:stage, 'dev'}}\n")
    };
    for (stage, refused) in [
        ("${param:stage, 'dev'}", true),
        ("${self:custom.stage}", true),
        ("${ssm:/app/stage, 'dev'}", true),
        ("${opt:env, 'dev'}", true),
        ("${env:STAGE, 'dev'}", false),
        ("${opt:stage, 'dev'}", false),
    ] {
        let app =
            support::scratch_app("validate-early", &[("api/serverless.yml", &service(stage))]);
        let found = findings(&app.display().to_string(), "dev");
        let expected = match refused {
            true => vec![(
                "not-accessible-early".to_string(),
                "api/serverless.yml".to_string(),
                4,
            )],
            false => vec![],
        };
        assert_eq!(found, expected, "{stage}");
        let _ = std::fs::remove_dir_all(&app);
    }
}

/// The region, unlike the service's name and the stage, may come from a
/// param: the pinned CLI resolves `${param:}` there (from `--param` or
/// the service's `params:`) before it needs the region, and says "not
/// accessible" for the other two. The CLI is the referee.
#[test]
fn a_region_may_come_from_a_param_and_the_stage_may_not() {
    for (stage, region, refused_line) in [
        ("${opt:stage}", "${param:R}", None),
        ("${param:S}", "us-east-1", Some(4)),
    ] {
        let text = format!("service: api\nprovider:\n  name: aws\n  stage: {stage}\n  region: {region}\nparams:\n  default:\n    R: eu-central-1\n    S: dev\n");
        let app = support::scratch_app("validate-param-region", &[("api/serverless.yml", &text)]);
        let found = findings(&app.display().to_string(), "dev");
        let expected: Vec<(String, String, usize)> = refused_line
            .map(|line| {
                (
                    "not-accessible-early".into(),
                    "api/serverless.yml".into(),
                    line,
                )
            })
            .into_iter()
            .collect();
        assert_eq!(found, expected, "{stage} {region}");
        let printed = support::pinned_cli(&app.join("api"), &["print", "--stage", "dev"]);
        let said = String::from_utf8_lossy(&printed.stdout).to_string()
            + &String::from_utf8_lossy(&printed.stderr);
        assert_eq!(
            said.contains("is not accessible"),
            refused_line.is_some(),
            "the CLI on {stage} {region}: {said}"
        );
        let _ = std::fs::remove_dir_all(&app);
    }
}

/// `service:` as an object (Framework v1's `service: {name: …}`) is
/// refused in the CLI's own words, which the finding quotes: the CLI is
/// the referee.
#[test]
fn an_object_service_name_is_refused_in_the_cli_s_words() {
    let app = support::scratch_app(
        "validate-object-service",
        &[(
            "svc/serverless.yml",
            "service:\n  name: objname\nprovider:\n  name: aws\n",
        )],
    );
    let loaded = App::load(&app).unwrap();
    let stage = loaded.stage("dev").unwrap();
    let report = xtask::cfn::rules::validate(&loaded, &stage);
    let printed = support::pinned_cli(&app.join("svc"), &["print", "--stage", "dev"]);
    let said = String::from_utf8_lossy(&printed.stdout).to_string()
        + &String::from_utf8_lossy(&printed.stderr);
    let line = said
        .lines()
        .find(|l| l.contains("service"))
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(!line.is_empty(), "{said}");
    assert!(
        report.findings.len() == 1 && report.findings[0].message.contains(&line),
        "the CLI: {line}\nthe tool: {:?}",
        report.findings
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// A key Compose does not know stops Compose (exit 2, said at its line),
/// and the services it names are judged all the same: each is deployable,
/// and refusable, on its own. `plan` still refuses the file.
#[test]
fn a_refused_compose_key_does_not_hide_the_services_findings() {
    let dir = support::scratch_app(
        "compose-key-and-services",
        &[
            (
                "serverless-compose.yml",
                "service: shop\nservices:\n  users:\n    path: users\n    depends_on: [orders]\n  orders:\n    path: orders\n",
            ),
            (
                "users/serverless.yml",
                "service: users\nprovider:\n  name: aws\n  runtime: nodejs12.x\nfunctions:\n  f:\n    handler: h.h\n",
            ),
            (
                "orders/serverless.yml",
                "service: orders\nprovider:\n  name: aws\nfunctions:\n  g:\n    handler: h.h\n    events:\n      - http:\n          path: x\n          method: get\n          parameters:\n            paths:\n              id: true\n",
            ),
        ],
    );
    let run = |command: &str| {
        support::Run::from(
            Command::new(env!("CARGO_BIN_EXE_xtask"))
                .args([command, "dev", "--app"])
                .arg(&dir)
                .env("XTASK_STATE_DIR", dir.join(".state"))
                .output()
                .unwrap(),
        )
    };
    let validate = run("validate");
    assert_eq!(validate.code, Some(2), "{}", validate.text);
    for said in [
        "serverless-compose.yml:1",
        "has key `service`",
        "serverless-compose.yml:5",
        "has key `depends_on`",
        "users/serverless.yml:4",
        "nodejs12.x",
        "orders/serverless.yml:11",
        "parameters",
    ] {
        assert!(validate.text.contains(said), "{said}:\n{}", validate.text);
    }
    let plan = run("plan");
    assert_eq!(plan.code, Some(2), "{}", plan.text);
    assert!(plan.text.contains("has key `service`"), "{}", plan.text);
    assert!(!plan.text.contains("order"), "{}", plan.text);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A name judged from a fallback taken because an environment variable is
/// not set here, or a file kept out of git is not here, is no finding: the
/// deploy's machine may have them. A fallback after a source that is
/// missing wherever the tool deploys (an option it does not pass) is.
#[test]
fn a_name_from_a_fallback_this_machine_took_is_not_judged() {
    let bucket = |user: &str| {
        format!("service: web\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\ncustom:\n  user: \"{user}\"\nresources:\n  Resources:\n    B:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: app-${{sls:stage}}-client-${{self:custom.user}}\n")
    };
    for (name, user, judged) in [
        (
            "env-unset",
            "${opt:username, env:XTASK_UNSET_USER_UNIQ, ''}",
            false,
        ),
        (
            "file-absent",
            "${opt:username, file(../config.json):username, ''}",
            false,
        ),
        ("option-only", "${opt:username, ''}", true),
    ] {
        let text = bucket(user);
        let dir = support::scratch_app(
            &format!("firm-fallback-{name}"),
            &[("svc/serverless.yml", text.as_str())],
        );
        let app = App::load(&dir).unwrap();
        let stage = app.stage("dev").unwrap();
        let report = xtask::cfn::rules::validate(&app, &stage);
        let found: Vec<(&str, usize)> = report.findings.iter().map(|f| (f.rule, f.line)).collect();
        let expected = if judged {
            vec![("property-value", 12)]
        } else {
            vec![]
        };
        assert_eq!(found, expected, "{name}: {:?}", report.findings);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A service file the CLI cannot parse is said at its line (exit 2) and
/// stops every command that deploys; the other services are still judged,
/// by validate and by the audit, as each deploys on its own.
#[test]
fn a_service_file_that_cannot_be_read_does_not_hide_the_others() {
    let dir = support::scratch_app(
        "unreadable-service",
        &[
            (
                "serverless-compose.yml",
                "services:\n  a:\n    path: a\n  b:\n    path: b\n",
            ),
            (
                "a/serverless.yml",
                "service: svc-a\nprovider:\n  name: aws\nfunctions:\n  f:\n    handler: h.f\n    events:\n      - httpApi: { method: GET, path: /x/{id} }\n",
            ),
            (
                "b/serverless.yml",
                "service: svc-b\nprovider: {name: aws, runtime: nodejs12.x, stage: dev}\nresources:\n  Resources:\n    T:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: fixed-queue\n",
            ),
        ],
    );
    let run = |args: &[&str]| {
        support::Run::from(
            Command::new(env!("CARGO_BIN_EXE_xtask"))
                .args(args)
                .arg("--app")
                .arg(&dir)
                .env("XTASK_STATE_DIR", dir.join(".state"))
                .output()
                .unwrap(),
        )
    };
    let validate = run(&["validate", "dev"]);
    assert_eq!(validate.code, Some(2), "{}", validate.text);
    for said in ["a/serverless.yml:8", "b/serverless.yml:2", "nodejs12.x"] {
        assert!(validate.text.contains(said), "{said}:\n{}", validate.text);
    }
    let audit = run(&["audit"]);
    assert_eq!(audit.code, Some(2), "{}", audit.text);
    for said in ["a/serverless.yml:8", "b/serverless.yml:8", "unscoped-name"] {
        assert!(audit.text.contains(said), "{said}:\n{}", audit.text);
    }
    let plan = run(&["plan", "dev"]);
    assert_eq!(plan.code, Some(2), "{}", plan.text);
    assert!(plan.text.contains("a/serverless.yml:8"), "{}", plan.text);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A plugin list kept in a shared file (`plugins: ${file(..):plugins}`)
/// is the service's list: the schema is the CLI's and those plugins'
/// (a retired runtime is a finding, not a note), and a reference a listed
/// plugin the table does not generate ids for may explain is a note.
#[test]
fn a_plugin_list_kept_in_a_shared_file_is_the_service_s() {
    let dir = support::scratch_app(
        "shared-plugins",
        &[
            (
                "common.yml",
                "plugins:\n  - serverless-step-functions\nprovider:\n  name: aws\n  runtime: nodejs12.x\n  stage: ${opt:stage}\n",
            ),
            (
                "svc/serverless.yml",
                "service: flows\nplugins: ${file(../common.yml):plugins}\nprovider: ${file(../common.yml):provider}\nfunctions:\n  work:\n    handler: h.work\nstepFunctions:\n  stateMachines:\n    flow:\n      name: flow-${sls:stage}\n      definition:\n        StartAt: W\n        States:\n          W:\n            Type: Task\n            Resource:\n              Fn::GetAtt: [work, Arn]\n            End: true\n",
            ),
        ],
    );
    let app = App::load(&dir).unwrap();
    let stage = app.stage("dev").unwrap();
    let report = xtask::cfn::rules::validate(&app, &stage);
    let rules =
        |list: &[xtask::app::diag::Finding]| -> Vec<&str> { list.iter().map(|f| f.rule).collect() };
    assert_eq!(
        rules(&report.findings),
        ["unsupported-value"],
        "{:?}",
        report.findings
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.message.contains("serverless-step-functions")),
        "{:?}",
        report.notes
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two folders that deploy to one stack (an old copy of a service beside
/// it) stop every deploy, said as an error (exit 2); each file is still
/// judged.
#[test]
fn two_services_of_one_stack_do_not_hide_the_findings() {
    let service = |runtime: &str| {
        format!("service: once\nprovider:\n  name: aws\n  runtime: {runtime}\n  stage: ${{opt:stage}}\nfunctions:\n  f:\n    handler: h.f\n")
    };
    let dir = support::scratch_app(
        "one-stack-two-folders",
        &[
            ("once/serverless.yml", service("nodejs22.x").as_str()),
            ("old/once/serverless.yml", service("nodejs12.x").as_str()),
        ],
    );
    let validate = support::Run::from(
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["validate", "dev", "--app"])
            .arg(&dir)
            .env("XTASK_STATE_DIR", dir.join(".state"))
            .output()
            .unwrap(),
    );
    assert_eq!(validate.code, Some(2), "{}", validate.text);
    for said in [
        "both deploy to stack once-",
        "old/once/serverless.yml:4",
        "nodejs12.x",
    ] {
        assert!(validate.text.contains(said), "{said}:\n{}", validate.text);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Framework v1 and v2's SSM suffixes (`~true`, `~split`) are part of the
/// name to the pinned CLI, which asks SSM for it: said where written.
#[test]
fn an_ssm_suffix_of_older_frameworks_is_a_finding() {
    let dir = support::scratch_app(
        "ssm-suffix",
        &[(
            "svc/serverless.yml",
            "service: keys\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    KEY: ${ssm:/keys/${sls:stage}/api~true}\n    PLAIN: ${ssm:/keys/${sls:stage}/plain}\n    LIST: ${env:XTASK_UNSET_LIST, ssm:/keys/list~split}\n",
        )],
    );
    let app = App::load(&dir).unwrap();
    let stage = app.stage("dev").unwrap();
    let report = xtask::cfn::rules::validate(&app, &stage);
    let found: Vec<(&str, usize)> = report.findings.iter().map(|f| (f.rule, f.line)).collect();
    assert_eq!(found, [("ssm-suffix", 6), ("ssm-suffix", 8)]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Below a key the CLI stops at, nothing reaches CloudFormation: the key
/// is the finding, not the intrinsic written under it.
#[test]
fn what_is_under_a_refused_key_is_not_judged_again() {
    let text = "service: vpc-id\nprovider:\n  name: aws\n  vpc:\n    id:\n      Ref:\n        Fn::ImportValue: shared-vpc\n    subnetIds:\n      - subnet-1\n    securityGroupIds:\n      - sg-1\nfunctions:\n  f:\n    handler: h.h\n";
    let (report, dir) = validated("under-refused-key", text);
    let rules: Vec<(&str, usize)> = report.findings.iter().map(|f| (f.rule, f.line)).collect();
    assert_eq!(
        rules,
        [("unrecognized-property", 5)],
        "{:#?}",
        report.findings
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// References to ids a listed plugin may create are one note for the
/// service (one cause: the plugin), naming where the others are.
#[test]
fn ids_a_plugin_may_create_are_one_note_for_the_service() {
    let text = "service: waf\nplugins:\n  - some-waf-plugin\nprovider:\n  name: aws\nresources:\n  Resources:\n    A:\n      Type: AWS::WAFv2::WebACLAssociation\n      Properties:\n        ResourceArn: x\n        WebACLArn: !GetAtt WafPluginAcl.Arn\n    B:\n      Type: AWS::SSM::Parameter\n      Properties:\n        Type: String\n        Value: !Ref WafPluginAcl\n        Name: !Ref PluginParam\n";
    let (report, dir) = validated("plugin-ids-one-note", text);
    let unverified: Vec<&xtask::app::diag::Finding> = report
        .notes
        .iter()
        .filter(|n| n.message.contains("may create them"))
        .collect();
    assert_eq!(unverified.len(), 1, "{:#?}", report.notes);
    assert!(
        unverified[0].message.contains("and 2 more reference(s)"),
        "{}",
        unverified[0].message
    );
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Beside an imported REST API (`provider.apiGateway.restApiId`), the
/// CLI's API Gateway events refuse tracing or logs settings for the API
/// it does not make: each at its key, as the pinned CLI's package says.
#[rstest::rstest]
#[case::tracing(
    "  apiGateway:\n    restApiId: abc123\n    restApiRootResourceId: root456\n  tracing:\n    apiGateway: true\n",
    9,
    "API_GATEWAY_EXTERNAL_API_TRACING"
)]
#[case::logs(
    "  apiGateway:\n    restApiId: abc123\n    restApiRootResourceId: root456\n  logs:\n    restApi: true\n",
    9,
    "API_GATEWAY_EXTERNAL_API_LOGS"
)]
fn settings_an_imported_rest_api_refuses_are_errors(
    #[case] provider: &str,
    #[case] line: usize,
    #[case] code: &str,
) {
    let text = format!("service: ext-api\nprovider:\n  name: aws\n  runtime: nodejs22.x\n{provider}functions:\n  f:\n    handler: h.f\n    events:\n      - http:\n          path: x\n          method: get\n");
    let dir = support::scratch_app(
        &format!("external-api-{code}"),
        &[("svc/serverless.yml", text.as_str())],
    );
    let app = App::load(&dir).expect("the app loads");
    let stage = app.stage("dev").expect("an allowed stage");
    let report = xtask::cfn::rules::validate(&app, &stage);
    let found: Vec<(&str, usize)> = report
        .findings
        .iter()
        .filter(|f| f.message.contains(code))
        .map(|f| (f.rule, f.line))
        .collect();
    assert_eq!(
        found,
        [("external-api-setting", line)],
        "{:#?}",
        report.findings
    );
    std::fs::write(dir.join("svc/h.js"), "exports.f = async () => ({});\n").expect("handler");
    let packaged = support::pinned_cli(&dir.join("svc"), &["package", "--stage", "dev"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&packaged.stdout),
        String::from_utf8_lossy(&packaged.stderr)
    );
    let quoted = report
        .findings
        .iter()
        .find(|f| f.message.contains(code))
        .and_then(|f| f.message.split('`').nth(1))
        .unwrap_or("-")
        .to_string();
    assert!(
        !packaged.status.success() && said.contains(&quoted),
        "the CLI: {said}\nquoted: {quoted}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `${cf:}` with no `.` between the stack and the output stops the CLI
/// before it asks AWS anything: an error where it is written, as the
/// pinned CLI says; one with the dot is not.
#[test]
fn a_cf_address_without_its_output_is_refused() {
    let text = "service: cfx\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  bad: ${cf:auth-${sls:stage}-AuthorizerId}\n  good: ${cf:auth-${sls:stage}.AuthorizerId}\n";
    let (report, dir) = validated("cf-address", text);
    let found: Vec<(&str, usize)> = report
        .findings
        .iter()
        .filter(|f| f.rule == "cf-address")
        .map(|f| (f.rule, f.line))
        .collect();
    assert_eq!(found, [("cf-address", 6)], "{:#?}", report.findings);
    std::fs::write(
        dir.join("svc/serverless.yml"),
        "service: cfx\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  bad: ${cf:auth-${sls:stage}-AuthorizerId}\n",
    )
    .expect("rewritten");
    let printed = support::pinned_cli(&dir.join("svc"), &["print", "--stage", "dev"]);
    let said = String::from_utf8_lossy(&printed.stderr).to_string()
        + &String::from_utf8_lossy(&printed.stdout);
    assert!(
        said.contains(
            "Unsupported \"auth-dev-AuthorizerId\" address argument in variable \"cf\" source"
        ),
        "the CLI: {said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `service: {name: …}` stops the CLI before it reads
/// `configValidationMode`: an error in every mode, once.
#[test]
fn an_object_service_is_refused_in_every_mode() {
    for mode in [
        "",
        "configValidationMode: warn\n",
        "configValidationMode: off\n",
    ] {
        let text = format!("service:\n  name: objsvc\n{mode}provider:\n  name: aws\n");
        let (report, dir) = validated(&format!("object-service-{}", mode.len()), &text);
        let said = report
            .findings
            .iter()
            .filter(|f| f.message.contains("Object notation"))
            .count();
        assert_eq!(said, 1, "{mode}: {:#?}", report.findings);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
