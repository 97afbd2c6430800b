//! `cargo xtask audit` against one small app per stage hazard: each must
//! produce exactly its finding, at its line, and nothing else.

use std::path::{Path, PathBuf};
use std::process::Command;

use rstest::rstest;
use xtask::app::App;
use xtask::cfn::rules;

use crate::support;

fn fixture(name: &str) -> PathBuf {
    xtask::sys::paths::workspace_root()
        .join("fixtures")
        .join(name)
}

/// (rule, file relative to the app, line) of every finding.
fn findings(app: &str) -> Vec<(String, String, usize)> {
    let dir = fixture(app);
    let app = App::load(&dir).unwrap_or_else(|e| panic!("{app} loads: {e}"));
    rules::audit_stages(&app, None)
        .findings
        .into_iter()
        .map(|f| {
            let rel = f
                .file
                .strip_prefix(&dir)
                .unwrap_or(&f.file)
                .display()
                .to_string();
            (f.rule.to_string(), rel, f.line)
        })
        .collect()
}

#[rstest]
#[case::opt_stage_with_default(
    "broken/stage-default-fallback",
    "stage-default",
    "serverless.yml",
    5
)]
#[case::literal_provider_stage(
    "broken/stage-literal-provider",
    "stage-default",
    "serverless.yml",
    5
)]
#[case::stage_from_the_environment_with_default(
    "broken/stage-env-default",
    "stage-default",
    "serverless.yml",
    5
)]
#[case::custom_stage_with_default(
    "broken/stage-custom-default",
    "stage-default",
    "serverless.yml",
    3
)]
#[case::default_in_an_included_file("broken/include-default", "stage-default", "custom.yml", 3)]
#[case::literal_stage_in_bucket_name(
    "broken/literal-stage-bucket",
    "literal-stage",
    "serverless.yml",
    14
)]
#[case::literal_stage_in_cf_reference(
    "broken/literal-stage-cf",
    "literal-stage",
    "serverless.yml",
    6
)]
#[case::literal_stage_in_environment(
    "broken/literal-stage-env",
    "literal-stage",
    "serverless.yml",
    10
)]
#[case::unscoped_bucket("broken/unscoped-bucket", "unscoped-name", "serverless.yml", 10)]
#[case::unscoped_table("broken/unscoped-table", "unscoped-name", "serverless.yml", 9)]
#[case::unscoped_export("broken/unscoped-export", "unscoped-name", "serverless.yml", 12)]
#[case::unscoped_role("broken/unscoped-role", "unscoped-name", "serverless.yml", 9)]
#[case::unscoped_stack_name("broken/unscoped-stack-name", "unscoped-name", "serverless.yml", 4)]
#[case::fallback_to_a_literal_provider_stage_is_one_finding(
    "broken/stage-fallback-to-literal",
    "stage-default",
    "serverless.yml",
    7
)]
#[case::sls_stage_without_provider_stage(
    "broken/sls-stage-unset",
    "stage-default",
    "serverless.yml",
    10
)]
#[case::unknown_stage_in_params(
    "broken/unknown-stage-params",
    "unknown-stage",
    "serverless.yml",
    7
)]
#[case::unknown_stage_in_a_name("broken/unknown-stage-name", "unknown-stage", "serverless.yml", 5)]
#[case::a_declared_stage_missing_from_a_map(
    "broken/stage-missing-entry",
    "unresolved-variable",
    "serverless.yml",
    14
)]
#[case::a_declared_stage_falling_back_to_another(
    "broken/fallback-other-stage",
    "fallback-to-another-stage",
    "serverless.yml",
    8
)]
#[case::two_stages_in_one_account_share_a_table(
    "broken/shared-across-stages",
    "shared-across-stages",
    "serverless.yml",
    16
)]
#[case::a_data_store_of_a_protected_stage_not_retained(
    "broken/unretained-data",
    "unretained-data",
    "serverless.yml",
    11
)]
#[case::a_secret_written_into_the_environment(
    "broken/secret-in-environment",
    "secret-in-environment",
    "serverless.yml",
    8
)]
#[case::an_iam_action_on_every_table("broken/iam-wildcard", "iam-wildcard", "serverless.yml", 17)]
#[case::an_arn_of_wildcards_is_every_queue(
    "broken/iam-wildcard-arn",
    "iam-wildcard",
    "serverless.yml",
    23
)]
#[case::eventbridge_actions_on_every_rule(
    "broken/iam-events-everywhere",
    "iam-wildcard",
    "serverless.yml",
    17
)]
#[case::cors_any_origin_with_credentials(
    "broken/cors-any-origin-with-credentials",
    "cors-any-origin-with-credentials",
    "serverless.yml",
    8
)]
#[case::a_prod_bucket_not_blocking_public_access(
    "broken/bucket-public-access",
    "bucket-public-access",
    "serverless.yml",
    9
)]
#[case::a_prod_bucket_without_versions(
    "broken/bucket-unversioned",
    "bucket-unversioned",
    "serverless.yml",
    9
)]
#[case::a_prod_table_without_pitr(
    "broken/table-without-pitr",
    "table-without-pitr",
    "serverless.yml",
    9
)]
#[case::a_prod_route_without_authorizer("broken/open-route", "open-route", "serverless.yml", 14)]
#[case::a_password_policy_weaker_than_the_default(
    "broken/weak-password-policy",
    "weak-password-policy",
    "serverless.yml",
    16
)]
#[case::self_sign_up_where_deploy_toml_closes_it(
    "broken/self-sign-up",
    "self-sign-up",
    "serverless.yml",
    13
)]
#[case::a_runtime_aws_no_longer_patches(
    "broken/deprecated-runtime",
    "deprecated-runtime",
    "serverless.yml",
    13
)]
#[case::a_prod_function_no_alarm_watches("broken/unmonitored", "unmonitored", "serverless.yml", 7)]
fn each_hazard_gives_exactly_its_finding(
    #[case] app: &str,
    #[case] rule: &str,
    #[case] file: &str,
    #[case] line: usize,
) {
    assert_eq!(
        findings(app),
        vec![(rule.to_string(), file.to_string(), line)]
    );
}

/// A custom stage that follows an environment variable with a literal
/// default: two hazards, each at its line. The names built from it spell
/// the stage another way than `--stage`, and the default is where a deploy
/// without a stage goes.
#[test]
fn a_stage_from_the_environment_is_a_spelling_and_a_default() {
    assert_eq!(
        findings("broken/mixed-spelling"),
        vec![
            (
                "stage-default".to_string(),
                "checkout/serverless.yml".to_string(),
                9
            ),
            (
                "stage-spelling".to_string(),
                "checkout/serverless.yml".to_string(),
                15
            ),
        ]
    );
}

#[rstest]
#[case::bundled_app("tb365")]
#[case::diamond_without_manifest_in_another_region("diamond")]
#[case::resources_split_over_included_files("split-resources")]
#[case::spellings_that_always_agree_and_a_shared_custom_block("spellings")]
#[case::every_security_rule_written_the_way_that_passes("secure")]
fn clean_apps_audit_clean(#[case] app: &str) {
    assert_eq!(findings(app), vec![]);
}

fn xtask(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env_remove("XTASK_APP")
        .output()
        .expect("xtask runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

fn app_arg(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn exit_codes_follow_the_outcome() {
    assert_eq!(
        xtask(&["audit"]).0,
        Some(0),
        "the bundled app is the default and audits clean"
    );
    let (code, out) = xtask(&["audit", "--app", &app_arg("broken/unscoped-bucket")]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("serverless.yml:10:21: unscoped-name:") && out.contains("= fix:"),
        "{out}"
    );
    let (code, out) = xtask(&["audit", "--app", &app_arg("broken/unreadable")]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("serverless.yml:5:1: invalid YAML"), "{out}");
    let (code, out) = xtask(&["audit", "--app", &app_arg("no-such-app")]);
    assert_eq!(code, Some(2), "{out}");
}

#[test]
fn json_output_carries_rule_file_and_line() {
    let (code, out) = xtask(&[
        "audit",
        "--format",
        "json",
        "--app",
        &app_arg("broken/literal-stage-cf"),
    ]);
    assert_eq!(code, Some(1), "{out}");
    let value: serde_json::Value = serde_json::from_str(&out).expect("json");
    let finding = &value["findings"][0];
    assert_eq!(finding["rule"], "literal-stage");
    assert_eq!(finding["line"], 6);
    assert!(finding["file"]
        .as_str()
        .unwrap_or("")
        .ends_with("literal-stage-cf/serverless.yml"));
}

/// For a pull request: one workflow command per finding at its file and
/// line, the message and fix escaped so that a newline or a comma in them
/// cannot end the command or add a property.
#[test]
fn github_output_is_one_annotation_per_finding() {
    let (code, out) = xtask(&[
        "audit",
        "--format",
        "github",
        "--app",
        &app_arg("broken/literal-stage-cf"),
    ]);
    assert_eq!(code, Some(1), "{out}");
    // A hazard, which CloudFormation deploys: a warning, not an error.
    let annotations: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("::warning "))
        .collect();
    assert_eq!(annotations.len(), 1, "{out}");
    assert!(!out.contains("::error "), "{out}");
    let (props, text) = annotations[0]["::warning ".len()..]
        .split_once("::")
        .expect("properties, then the message");
    assert!(
        props.contains("literal-stage-cf/serverless.yml,line=6,"),
        "{props}"
    );
    assert!(props.ends_with(",title=literal-stage"), "{props}");
    assert!(!text.contains('\n') && text.contains("%0Afix: "), "{text}");
}

#[rstest]
#[case::unknown("qa", "not allowed")]
#[case::injection("dev;touch x", "not a valid stage name")]
#[case::upper_case("Prod", "not a valid stage name")]
fn bad_stages_are_refused_with_the_allowed_list(#[case] stage: &str, #[case] why: &str) {
    let marker = Path::new("x");
    let (code, out) = xtask(&["audit", "--stage", stage]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(why) && out.contains("local, dev, stage, prod"),
        "{out}"
    );
    assert!(!marker.exists(), "the stage name ran as a command");
}

#[test]
fn a_manifest_can_allow_other_stages() {
    let dir =
        xtask::sys::paths::scratch_dir().join(format!("audit-manifest-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("svc")).unwrap();
    std::fs::write(
        dir.join("deploy.toml"),
        "[stages.qa]\nregion = \"ap-southeast-2\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("svc/serverless.yml"),
        "service: svc\nprovider:\n  name: aws\n  environment:\n    T: t-qa\n",
    )
    .unwrap();
    let (code, out) = xtask(&[
        "audit",
        "--app",
        &dir.display().to_string(),
        "--stage",
        "qa",
    ]);
    std::fs::remove_dir_all(&dir).ok();
    // `qa` is allowed now, so spelling it out is a literal stage, not an unknown one.
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("literal-stage") && out.contains("`qa`"),
        "{out}"
    );
}

#[test]
fn no_input_makes_it_panic() {
    // Every prefix of a real service file (cut at every 5th character) is
    // loaded and audited: each must end in a report or a load error.
    let source = std::fs::read_to_string(fixture("tb365/integration-api/serverless.yml")).unwrap();
    let dir =
        xtask::sys::paths::scratch_dir().join(format!("audit-prefixes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cuts: Vec<usize> = source.char_indices().map(|(i, _)| i).step_by(5).collect();
    for cut in cuts {
        std::fs::write(dir.join("serverless.yml"), &source[..cut]).unwrap();
        if let Ok(app) = App::load(&dir) {
            let _ = rules::audit(&app);
        }
    }
    for garbage in [
        "{",
        "- - -",
        "service: [",
        "!!binary x",
        "a: *nowhere",
        "\t\t",
        "service: ${",
        "x: ${cf:}",
        "resources:\n  Resources: 3",
    ] {
        std::fs::write(dir.join("serverless.yml"), garbage).unwrap();
        if let Ok(app) = App::load(&dir) {
            let _ = rules::audit(&app);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn only_an_alarm_with_an_action_watches_a_function() {
    let dir = fixture("broken/unmonitored");
    let app = App::load(&dir).expect("the fixture loads");
    let report = rules::audit_stages(&app, None);
    let messages: Vec<&str> = report.findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    // `list` has an alarm that pages; `health` has one that tells nobody.
    assert!(
        messages[0].contains("function `health`") && !messages[0].contains("`list`"),
        "{messages:?}"
    );
}

/// A name built from the stack's own id or name is a name per stage, as
/// each stage is its own stack; a literal beside it is not.
#[test]
fn a_name_from_the_stack_id_carries_the_stage() {
    let found = audit_one("stack-id-name", "service: files\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Files:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: !Join ['-', [files, !Select [0, !Split ['-', !Select [2, !Split ['/', !Ref 'AWS::StackId']]]]]]\n    Subbed:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: !Sub 'jobs-${AWS::StackId}'\n    Fixed:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: fixed-jobs\n");
    assert_eq!(found, [("unscoped-name", 18)]);
}

/// Names AWS keeps unique in an account and region, written where the
/// framework or a resource creates them: a function's `name`, the bucket an
/// `s3` event creates or watches (an `existing` one takes a notification
/// per stage, and S3 refuses two that overlap), a state machine's and an
/// alarm's names. Without the stage, two stages fight over them.
#[test]
fn names_the_framework_creates_carry_the_stage() {
    let found = audit_one("framework-names", "service: media\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  resize:\n    handler: h.resize\n    name: media-resize\n    events:\n      - s3: media-uploads\n      - s3:\n          bucket: media-originals-${sls:stage}\n      - s3:\n          bucket: shared-inbox\n          existing: true\n  crop:\n    handler: h.crop\n    name: media-crop-${sls:stage}\nresources:\n  Resources:\n    Flow:\n      Type: AWS::StepFunctions::StateMachine\n      Properties:\n        StateMachineName: media-flow\n        DefinitionString: '{}'\n        RoleArn: arn:aws:iam::123456789012:role/x\n");
    assert_eq!(
        found,
        [
            ("unscoped-name", 8),
            ("unscoped-name", 10),
            ("unscoped-name", 14),
            ("unscoped-name", 24),
            ("shared-literal-arn", 26)
        ]
    );
}

/// CloudWatch Logs actions take log-group ARNs: on `*` they reach every
/// log group of the account, other apps' logs included.
#[test]
fn log_actions_on_every_log_group_are_a_grant_too_wide() {
    let found = audit_one("logs-everywhere", "service: reader\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action:\n            - logs:GetLogEvents\n          Resource: '*'\nfunctions:\n  read:\n    handler: h.read\n");
    assert_eq!(found, [("iam-wildcard", 11)]);
}

/// The provider's statements go into the role the framework makes for
/// the functions: a service without functions (tables, buckets) has no
/// such role, and its statements grant nothing (the CLI packages none).
#[test]
fn statements_of_a_service_without_functions_grant_nothing() {
    let found = audit_one("no-functions", "service: data\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action:\n            - dynamodb:Query\n          Resource: '*'\nresources:\n  Resources:\n    Items:\n      Type: AWS::DynamoDB::Table\n      Properties:\n        TableName: items-${sls:stage}\n        BillingMode: PAY_PER_REQUEST\n        AttributeDefinitions:\n          - AttributeName: id\n            AttributeType: S\n        KeySchema:\n          - AttributeName: id\n            KeyType: HASH\n        PointInTimeRecoverySpecification:\n          PointInTimeRecoveryEnabled: true\n");
    assert_eq!(found, []);
}

/// A secret written as the fallback of a variable is written into the
/// file as surely as one written alone: it deploys wherever the variable
/// is unset.
#[test]
fn a_secret_as_a_fallback_literal_is_a_secret_in_the_file() {
    let found = audit_one("secret-fallback", "service: auth\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    JWT_SECRET: ${env:JWT_SECRET, 'q8Vx2LpR7mZt4Kc9Wb3Nf6Hy1Jd5Gs0A'}\n    TABLE: users-${sls:stage}\n    REGION: ${env:REGION, 'eu-west-1'}\n");
    assert_eq!(found, [("secret-in-environment", 6)]);
}

/// A webhook's URL carries its token: written as a fallback it deploys
/// to every stage that has not set the variable.
#[test]
fn a_webhook_url_as_a_fallback_is_a_secret_in_the_file() {
    let found = audit_one("webhook-fallback", "service: notify\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    ALERTS_HOOK: ${env:ALERTS_HOOK, 'https://discord.com/api/webhooks/1123581321345589/Xk3vQ9pLm2Rt7Yb8Wn4Zc6Hd1Jf5Gs0Aa9Qe3Tr7Uy2Io4Pl'}\n    DOCS: ${env:DOCS, 'https://example.com/docs?page=2'}\n");
    assert_eq!(found, [("secret-in-environment", 6)]);
}

/// A `${file()}` inside an included file is read from the service's
/// folder, as the CLI reads it, and a missing file with a fallback is the
/// fallback's: neither is an unreadable input.
#[test]
fn included_files_resolve_from_the_service_folder() {
    let dir = crate::support::scratch_app(
        "include-base",
        &[
            (
                "svc/serverless.yml",
                "service: base\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom: ${file(./conf/common.yml)}\n",
            ),
            (
                "svc/conf/common.yml",
                "v: ${file(./sub/x.yml):v}\nw: ${file(./missing.yml):w, file(./sub/x.yml):v}\n",
            ),
            ("svc/sub/x.yml", "v: here\n"),
        ],
    );
    let app = xtask::app::App::load(&dir).unwrap();
    let report = xtask::cfn::rules::audit(&app);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let _ = std::fs::remove_dir_all(&dir);

    // A service reading one key of another service's file: that file's
    // own includes (relative to its folder) are not read for this one.
    let dir = crate::support::scratch_app(
        "include-other-service",
        &[
            (
                "chat/serverless.yml",
                "service: chat
provider:
  name: aws
  stage: ${opt:stage}
custom:
  table: ${file(../infra/serverless.yml):custom.table}
",
            ),
            (
                "infra/serverless.yml",
                "service: infra
provider:
  name: aws
  stage: ${opt:stage}
custom:
  table: chat-${sls:stage}
resources:
  - ${file(resources/tables.yml)}
",
            ),
            (
                "infra/resources/tables.yml",
                "Resources: {}
",
            ),
        ],
    );
    let app = xtask::app::App::load(&dir).unwrap();
    let report = xtask::cfn::rules::audit(&app);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A default for a missing `--stage` is a hazard only where the CLI would
/// take it: a `${opt:stage}` with no fallback anywhere in the file stops
/// the CLI without the flag first. A default for an unset environment
/// variable applies whatever `--stage` says, and stays one.
#[test]
fn a_default_the_cli_never_reaches_is_no_hazard() {
    let audit = audit_one;
    let literal = "service: shop\nprovider:\n  name: aws\n  stage: dev\ncustom:\n  table: orders-${sls:stage}\n";
    assert_eq!(audit("default-live", literal), [("stage-default", 4)]);
    let guarded = format!("{literal}  region: ${{opt:stage}}-only\n");
    assert_eq!(audit("default-unreached", &guarded), []);
    let from_env = "service: shop\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  stage: ${env:SHOP_STAGE, 'dev'}\n  table: orders-${self:custom.stage}\nfunctions:\n  f:\n    handler: h.f\n    environment:\n      TABLE: ${self:custom.table}\n";
    // And the name built from it is `dev` in every stage while unset.
    assert_eq!(
        audit("default-from-env", from_env),
        [("stage-default", 6), ("stage-spelling", 7)]
    );
}

/// A secret's value written as `SecretString` is in the template in
/// clear; one Secrets Manager generates, or one read at deploy, is not.
#[test]
fn a_secret_string_written_in_the_file_is_a_secret_in_the_template() {
    let found = audit_one("secret-string", "service: keys\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Written:\n      Type: AWS::SecretsManager::Secret\n      Properties:\n        Name: keys-api-${sls:stage}\n        SecretString: '{\"apiKey\":\"abc123\"}'\n    Generated:\n      Type: AWS::SecretsManager::Secret\n      Properties:\n        Name: keys-db-${sls:stage}\n        GenerateSecretString:\n          PasswordLength: 32\n    FromDeploy:\n      Type: AWS::SecretsManager::Secret\n      Properties:\n        Name: keys-ext-${sls:stage}\n        SecretString: ${ssm:/keys/ext}\n");
    assert_eq!(found, [("secret-in-template", 11)]);
}

/// A default stage is a hazard whatever the service names with the stage:
/// the stack is named after it, so a forgotten `--stage` deploys the code
/// over that stage's stack (`prod`). Said once per setting, at the setting.
#[test]
fn a_default_stage_is_a_hazard_where_no_name_reads_the_stage_too() {
    let plain = |stage: &str, more: &str| {
        format!("service: shop\nprovider:\n  name: aws\n  stage: {stage}\n  environment:\n    NODE_ENV: ${{opt:stage, 'dev'}}\nfunctions:\n  f:\n    handler: h.main\n{more}")
    };
    for stage in ["dev", "prod"] {
        assert_eq!(
            audit_one("literal-unused", &plain(stage, "")),
            [("stage-default", 4), ("stage-default", 6)],
            "{stage}"
        );
    }
    let named = "    name: shop-${sls:stage}-f\n";
    assert_eq!(
        audit_one("literal-prod-named", &plain("prod", named)),
        [("stage-default", 4), ("stage-default", 6)]
    );
    // No default: the CLI stops without `--stage`.
    assert_eq!(
        audit_one(
            "no-default",
            &plain("${opt:stage}", "").replace(", 'dev'", "")
        ),
        []
    );
}

/// A stage default whose first alternative is the stage setting itself
/// (`${opt:stage, self:provider.stage, ""}` with `provider.stage` set) is
/// that setting: nothing after it is ever reached.
#[test]
fn a_default_that_is_the_stage_setting_is_judged_there() {
    let text = "service: shop\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  profile: ${self:custom.profiles.${self:custom.stage}}\ncustom:\n  stage: ${opt:stage, self:provider.stage, \"\"}\n  profiles:\n    dev: dev-profile\n  table: orders-${self:custom.stage}\n";
    assert_eq!(audit_one("stage-chain", text), []);
}

/// `${self:provider.stage, 'dev'}` in a service that sets no
/// `provider.stage` is `dev` whatever `--stage` says (the CLI does not
/// write the flag there): the name never follows the stage.
#[test]
fn a_stage_setting_the_file_lacks_never_follows_the_stage() {
    let text = "service: libs\nprovider:\n  name: aws\nlayers:\n  deps:\n    path: deps\n    name: ${self:provider.stage, 'dev'}-deps\n";
    let found = audit_one("self-stage-unset", text);
    assert_eq!(found, [("stage-spelling", 7)], "{found:?}");
}

/// A name read from an environment variable with a literal default is
/// that literal wherever the variable is unset: the same in every stage.
#[test]
fn a_names_literal_default_for_an_unset_variable_must_carry_the_stage() {
    let text = "service: files\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Fixed:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: ${env:BUCKET_NAME, 'files-uploads'}\n    Staged:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: ${env:ARCHIVE_NAME, 'files-archive-${sls:stage}'}\n    Open:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: ${env:EXPORT_NAME}\n";
    let found = audit_one("env-default-name", text);
    assert_eq!(found, [("unscoped-name", 10)], "{found:?}");
}

/// A REST API's single `origin` is sent as it is, and no browser sends
/// credentials to a literal `*`; a list of origins is matched against the
/// request and its origin sent back, so `*` there lets every site in.
#[test]
fn only_an_origin_sent_back_lets_every_site_in_with_credentials() {
    let api = |cors: &str| {
        format!("service: api\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\nfunctions:\n  f:\n    handler: h.main\n    events:\n      - http:\n          path: /x\n          method: get\n          cors:\n{cors}            allowCredentials: true\n")
    };
    assert_eq!(
        audit_one("cors-static", &api("            origin: '*'\n")),
        []
    );
    assert_eq!(
        audit_one(
            "cors-list",
            &api("            origins:\n              - '*'\n")
        ),
        [("cors-any-origin-with-credentials", 13)]
    );
}

/// Passing any role, running any task and calling any API of the account
/// are grants on every resource like any other.
#[test]
fn roles_tasks_and_apis_on_every_resource_are_wildcards() {
    for action in ["iam:PassRole", "ecs:RunTask", "execute-api:Invoke"] {
        let text = format!("service: jobs\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: {action}\n          Resource: '*'\nfunctions:\n  f:\n    handler: h.f\n");
        assert_eq!(
            audit_one("scoped-more", &text),
            [("iam-wildcard", 10)],
            "{action}"
        );
    }
    let listing = "service: jobs\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: iam:ListRoles\n          Resource: '*'\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(audit_one("star-only-iam", listing), []);
    // A condition narrows `*` (one service-linked role here).
    let linked = "service: jobs\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: iam:CreateServiceLinkedRole\n          Resource: '*'\n          Condition:\n            StringEquals:\n              iam:AWSServiceName: es.amazonaws.com\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(audit_one("linked-role", linked), []);
}

/// Names AWS keeps unique must carry the stage, nested ones included (an
/// SES template's `Template.TemplateName`); a user pool's name is not
/// unique, and a deployment bucket is shared by stages under their own
/// prefixes.
#[test]
fn only_names_aws_keeps_unique_must_carry_the_stage() {
    let text = "service: mail\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  deploymentBucket:\n    name: acme-deployments\nresources:\n  Resources:\n    Pool:\n      Type: AWS::Cognito::UserPool\n      Properties:\n        UserPoolName: mail-users\n    Welcome:\n      Type: AWS::SES::Template\n      Properties:\n        Template:\n          TemplateName: welcome\n          SubjectPart: Hi\n";
    assert_eq!(audit_one("unique-names", text), [("unscoped-name", 17)]);
}

/// The stage picking a per-stage entry or file names what it picks; a
/// variable nested in another (`${${file(./${opt:stage, 'dev'}.json):k}}`)
/// spells no stage with its fallback.
#[test]
fn the_stage_picking_an_entry_names_it() {
    let text = "service: svc\nprovider:\n  name: aws\n  stage: ${opt:stage, 'dev'}\n  environment:\n    CID: ${${file(./settings/${opt:stage, self:provider.stage, 'dev'}.json):id}}\nresources:\n  Resources:\n    T:\n      Type: AWS::DynamoDB::Table\n      Properties:\n        TableName: ${self:custom.names.${self:provider.stage}}\ncustom:\n  names:\n    dev: t-dev\n    prod: t-prod\n";
    assert_eq!(audit_one("stage-picks", text), [("stage-default", 4)]);
}

/// A runtime is a hazard where a function runs on it; `ses:` actions on
/// every resource are a wildcard like the rest.
#[test]
fn a_runtime_with_no_function_is_no_hazard_and_ses_is_scoped() {
    let resources_only =
        "service: data\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  runtime: nodejs20.x\n";
    assert_eq!(audit_one("no-functions", resources_only), []);
    let construct = format!(
        "{resources_only}constructs:\n  jobs:\n    type: queue\n    worker:\n      handler: w.main\n"
    );
    assert_eq!(
        audit_one("construct-worker", &construct),
        [("deprecated-runtime", 5)]
    );
    let mail = "service: mail\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: ses:SendEmail\n          Resource: '*'\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(audit_one("ses-wide", mail), [("iam-wildcard", 10)]);
}

/// CloudFormation does not replace a resource it was given a name for
/// (the update fails instead), so a named table kept on deletion loses no
/// data to a replacement; an unnamed one still would.
#[test]
fn a_named_table_kept_on_deletion_needs_no_replace_policy() {
    let table = |name: &str| {
        format!("service: pay\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\nresources:\n  Resources:\n    Payments:\n      Type: AWS::DynamoDB::Table\n      DeletionPolicy: Retain\n      Properties:\n{name}        BillingMode: PAY_PER_REQUEST\n        AttributeDefinitions:\n          - AttributeName: id\n            AttributeType: S\n        KeySchema:\n          - AttributeName: id\n            KeyType: HASH\n        PointInTimeRecoverySpecification:\n          PointInTimeRecoveryEnabled: true\n")
    };
    let unretained = |text: &str| -> Vec<(&'static str, usize)> {
        let dir = crate::support::scratch_app(
            "named-table",
            &[
                (
                    "deploy.toml",
                    "[stages.prod]\nregion = \"eu-west-1\"\nprotected = true\n",
                ),
                ("serverless.yml", text),
            ],
        );
        let app = App::load(&dir).unwrap();
        let found = rules::audit_stages(&app, None)
            .findings
            .iter()
            .filter(|f| f.rule == "unretained-data")
            .map(|f| (f.rule, f.line))
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        found
    };
    assert_eq!(
        unretained(&table("        TableName: payments-${sls:stage}\n")),
        []
    );
    assert_eq!(unretained(&table("")), [("unretained-data", 8)]);
}

/// A CloudFront alias belongs to one distribution of all accounts: an
/// alias without the stage fails the second stage's deploy; one with it
/// does not.
#[test]
fn a_distribution_alias_carries_the_stage() {
    let text = "service: web\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Site:\n      Type: AWS::CloudFront::Distribution\n      Properties:\n        DistributionConfig:\n          Enabled: true\n          Aliases:\n            - shop.example.com\n            - ${sls:stage}.shop.example.com\n";
    assert_eq!(audit_one("cloudfront-alias", text), [("unscoped-name", 13)]);
}

/// A statement that opens several services whole names each of them, so
/// its fix leaves none.
#[test]
fn every_service_a_statement_opens_whole_is_named() {
    let text = "service: auth\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action:\n            - cognito-sync:*\n            - cognito-identity:*\n          Resource: '*'\nfunctions:\n  f:\n    handler: h.f\n";
    let dir = crate::support::scratch_app("two-wide", &[("svc/serverless.yml", text)]);
    let app = App::load(&dir).unwrap();
    let findings = rules::audit_stages(&app, None).findings;
    assert!(
        findings.len() == 1
            && findings[0]
                .message
                .contains("`cognito-sync:*`, `cognito-identity:*`"),
        "{findings:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A function from a container image runs on no Lambda runtime: where all
/// are, the provider's deprecated runtime is no one's.
#[test]
fn a_runtime_only_image_functions_would_have_is_no_hazard() {
    let images = "service: ml\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  runtime: python3.8\nfunctions:\n  infer:\n    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/ml:latest\n";
    assert_eq!(audit_one("images-only", images), []);
    let mixed = format!("{images}  prep:\n    handler: h.prep\n");
    assert_eq!(
        audit_one("images-and-zip", &mixed),
        [("deprecated-runtime", 5)]
    );
}

/// `${sls:stage}` is `dev` without `--stage`, unless the CLI stops then
/// anyway: a variable it resolves finds no value without a stage
/// (`${opt:stage, self:provider.stage}` with no `provider.stage`), as the
/// pinned CLI says ("Value not found at \"self\" source").
#[test]
fn sls_stage_is_no_default_where_the_cli_stops_without_a_stage() {
    let stops = "service: topics\nprovider:\n  name: aws\n  region: us-east-1\ncustom:\n  stage: ${opt:stage, self:provider.stage}\n  hook: run ${sls:stage}\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(audit_one("sls-stage-stops", stops), []);
    let silent = "service: topics\nprovider:\n  name: aws\n  region: us-east-1\ncustom:\n  hook: run ${sls:stage}\nfunctions:\n  f:\n    handler: h.f\n    environment:\n      HOOK: ${self:custom.hook}\n";
    assert_eq!(
        audit_one("sls-stage-silent", silent),
        [("stage-default", 6)]
    );
}

/// A custom stage built on the stage (`${opt:stage, …}-test`) follows it:
/// every stage gets a name of its own. One that comes to a fixed value
/// for some stage does not.
#[test]
fn a_custom_stage_built_on_the_stage_follows_it() {
    let built = "service: auth\nprovider:\n  name: aws\n  stage: dev\ncustom:\n  stage: ${opt:stage, self:provider.stage}-test\nresources:\n  Resources:\n    Pool:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: ${self:custom.stage}-jobs\n";
    assert!(
        !audit_one("custom-stage-built", built)
            .iter()
            .any(|(rule, _)| *rule == "stage-spelling"),
        "{:?}",
        audit_one("custom-stage-built", built)
    );
    let fixed = "service: auth\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  stage: ${self:custom.stages.${opt:stage}, 'dev'}\n  stages:\n    prod: prod\nresources:\n  Resources:\n    Pool:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: ${self:custom.stage}-jobs\n";
    assert!(
        audit_one("custom-stage-fixed", fixed)
            .iter()
            .any(|(rule, _)| *rule == "stage-spelling"),
        "{:?}",
        audit_one("custom-stage-fixed", fixed)
    );
}

/// A statement kept in a shared file is said where it is written, as used
/// by the service that takes it, not as that service's own.
#[test]
fn a_shared_statement_is_said_as_used_by_the_service() {
    let dir = crate::support::scratch_app(
        "audit-shared-statement",
        &[
            ("common.yml", "statements:\n  - Effect: Allow\n    Action: s3:*\n    Resource: '*'\n"),
            ("svc/serverless.yml", "service: svc\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements: ${file(../common.yml):statements}\nfunctions:\n  f:\n    handler: h.f\n"),
        ],
    );
    let app = App::load(&dir).unwrap();
    let findings = rules::audit_stages(&app, None).findings;
    assert!(
        findings.len() == 1
            && findings[0].file.ends_with("common.yml")
            && findings[0].message.contains("an IAM statement used by svc"),
        "{findings:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A runtime is judged where it is written, in a provider taken whole
/// from another file too; one the CLI no longer lists is still deprecated
/// (a service with `configValidationMode: warn` deploys on it).
#[test]
fn a_deprecated_runtime_is_found_in_an_included_provider_and_past_the_cli_s_list() {
    let dir = crate::support::scratch_app(
        "runtime-included",
        &[
            ("svc/serverless.yml", "service: data\nprovider: ${file(./provider.yml)}\nfunctions:\n  f:\n    handler: h.f\n"),
            ("svc/provider.yml", "name: aws\nstage: ${opt:stage}\nruntime: nodejs20.x\n"),
        ],
    );
    let app = App::load(&dir).unwrap();
    let found: Vec<(&str, String, usize)> = rules::audit_stages(&app, None)
        .findings
        .iter()
        .map(|f| {
            (
                f.rule,
                f.file.file_name().unwrap().to_string_lossy().to_string(),
                f.line,
            )
        })
        .collect();
    assert_eq!(
        found,
        [("deprecated-runtime", "provider.yml".to_string(), 3)]
    );
    let _ = std::fs::remove_dir_all(&dir);
    let unlisted = "service: old\nconfigValidationMode: warn\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  runtime: nodejs18.x\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(
        audit_one("runtime-unlisted", unlisted),
        [("deprecated-runtime", 6)]
    );
}

/// A Compose file that Compose refuses (a key it does not know) stops
/// every command that deploys, but not the audit of the services' own
/// files: their hazards are said after the Compose file's error (exit 2).
#[test]
fn a_compose_file_that_cannot_be_read_still_lets_the_services_be_audited() {
    let dir = crate::support::scratch_app(
        "audit-bad-compose",
        &[
            ("serverless-compose.yml", "sevices: acme\nservices:\n  a:\n    path: a\n"),
            ("a/serverless.yml", "service: a\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    T:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: fixed-queue\n"),
        ],
    );
    let (code, out) = xtask(&["audit", "--app", &dir.to_string_lossy()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("which Serverless Compose does not know"),
        "{out}"
    );
    assert!(
        out.contains("a/serverless.yml:10:20: unscoped-name"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The network interfaces Lambda makes for a function in a VPC cannot be
/// named before they exist: AWS's own execution role for it grants them on
/// `*`, and so may a service; another `ec2:` action on `*` is still wide.
#[test]
fn lambda_s_vpc_interfaces_on_every_resource_are_no_wildcard() {
    let vpc = "service: conn\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action:\n            - ec2:CreateNetworkInterface\n            - ec2:DescribeNetworkInterfaces\n            - ec2:DeleteNetworkInterface\n            - ec2:AssignPrivateIpAddresses\n            - ec2:UnassignPrivateIpAddresses\n          Resource: '*'\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(audit_one("lambda-vpc", vpc), []);
    let more = vpc.replace(
        "            - ec2:UnassignPrivateIpAddresses\n",
        "            - ec2:TerminateInstances\n",
    );
    assert_eq!(audit_one("lambda-vpc-more", &more), [("iam-wildcard", 15)]);
}

/// AWS's managed `…FullAccess` and `AdministratorAccess` policies grant
/// every action of a service (or all) on every resource: on a role of the
/// stack or on the functions' role they are a wildcard; a read-only one
/// is not judged here.
#[test]
fn a_full_access_managed_policy_is_a_wildcard() {
    let text = "service: tasks\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      managedPolicies:\n        - arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess\nfunctions:\n  f:\n    handler: h.f\nresources:\n  Resources:\n    TaskRole:\n      Type: AWS::IAM::Role\n      Properties:\n        AssumeRolePolicyDocument: {}\n        ManagedPolicyArns:\n          - arn:aws:iam::aws:policy/AmazonS3FullAccess\n          - !Sub arn:${AWS::Partition}:iam::aws:policy/AdministratorAccess\n";
    assert_eq!(
        audit_one("managed-full-access", text),
        [("iam-wildcard", 19), ("iam-wildcard", 20)]
    );
}

/// Framework v4's Compose reads `org` and `app` (its dashboard) and
/// `stage` at the top of its file: the tool runs no Compose, so an app
/// written for v4 is planned, not refused for them.
#[test]
fn a_v4_compose_file_with_org_and_app_is_planned() {
    let dir = crate::support::scratch_app(
        "compose-v4-keys",
        &[
            ("serverless-compose.yml", "org: acme\napp: shop\nstage: dev\nservices:\n  a:\n    path: a\n  b:\n    path: b\n    dependsOn: a\n"),
            ("a/serverless.yml", "service: a\nprovider:\n  name: aws\n  stage: ${opt:stage}\n"),
            ("b/serverless.yml", "service: b\nprovider:\n  name: aws\n  stage: ${opt:stage}\n"),
        ],
    );
    let (code, out) = xtask(&["plan", "dev", "--app", &dir.to_string_lossy()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("b needs a"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Framework v4's Compose also reads `provider` and `stages` at the top:
/// `stages.<stage>.params` (and `stages.default.params`) are params every
/// service gets, below its own. The app is planned and validated, not
/// refused, and `${param:}` resolves to the stage's value.
#[test]
fn a_v4_compose_files_stage_params_reach_every_service() {
    let dir = crate::support::scratch_app(
        "compose-v4-stages",
        &[
            ("serverless-compose.yml", "frameworkVersion: '4'\nprovider:\n  stage: dev\nstages:\n  default:\n    params:\n      table: orders-default\n      level: info\n  prod:\n    params:\n      table: orders-prod\nservices:\n  a:\n    path: a\n    params:\n      level: debug\n  b:\n    path: b\n    dependsOn: a\n"),
            ("a/serverless.yml", "service: svc-a\nprovider:\n  name: aws\n  runtime: nodejs22.x\n  stage: ${opt:stage}\n  environment:\n    TABLE: ${param:table}\n    LEVEL: ${param:level}\nfunctions:\n  f:\n    handler: h.f\n"),
            ("b/serverless.yml", "service: svc-b\nprovider:\n  name: aws\n  runtime: nodejs22.x\n  stage: ${opt:stage}\n  environment:\n    TABLE: ${param:table}\nfunctions:\n  f:\n    handler: h.f\n"),
        ],
    );
    let app_arg = dir.to_string_lossy().to_string();
    let (code, out) = xtask(&["plan", "dev", "--app", &app_arg]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("b needs a"), "{out}");
    let (code, out) = xtask(&["validate", "dev", "--app", &app_arg]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("param"), "{out}");
    let app = App::load(&dir).unwrap();
    let value = |key: &str, stage: &str, var: &str| {
        let service = app.service(key).unwrap();
        let ctx = service.vars_at(stage, "us-east-1");
        xtask::app::vars::resolve(&format!("${{param:{var}}}"), &ctx)
    };
    assert_eq!(value("a", "dev", "table"), Some("orders-default".into()));
    assert_eq!(value("b", "prod", "table"), Some("orders-prod".into()));
    // A service's own param comes before the stages'.
    assert_eq!(value("a", "prod", "level"), Some("debug".into()));
    assert_eq!(value("b", "prod", "level"), Some("info".into()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Names in resources included by key (`Q: ${file('./r.yml'):Q}`, the
/// path quoted or not) are judged where they land, each key of the file
/// apart; an ARN of wildcards written with serverless-pseudo-parameters'
/// `#{AWS::Region}` is every resource like one with `${AWS::Region}`.
#[test]
fn names_included_by_key_and_pseudo_parameter_arns_are_judged() {
    let dir = crate::support::scratch_app(
        "audit-keyed-include",
        &[
            ("svc/serverless.yml", "service: svc\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iamRoleStatements:\n    - Effect: Allow\n      Action: lambda:InvokeFunction\n      Resource: 'arn:aws:lambda:#{AWS::Region}:#{AWS::AccountId}:function:*'\nresources:\n  Resources:\n    Q: ${file('./r.yml'):Q}\n    Bus: ${file(./r.yml):Bus}\nfunctions:\n  f:\n    handler: h.f\n"),
            ("svc/r.yml", "Q:\n  Type: AWS::SQS::Queue\n  Properties:\n    QueueName: fixed-queue\nBus:\n  Type: AWS::Events::EventBus\n  Properties:\n    Name: fixed-bus\n"),
        ],
    );
    let app = App::load(&dir).unwrap();
    let mut found: Vec<(&str, String, usize)> = rules::audit_stages(&app, None)
        .findings
        .iter()
        .map(|f| {
            let file = f.file.file_name().unwrap().to_string_lossy().to_string();
            (f.rule, file, f.line)
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("iam-wildcard", "serverless.yml".to_string(), 8),
            ("unscoped-name", "r.yml".to_string(), 4),
            ("unscoped-name", "r.yml".to_string(), 8),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An existing bucket an `s3` event watches is shared by every stage, and
/// a second stage's notification on it overlaps the first's; an
/// authorizer's function ARN that spells a stage points every stage at
/// that stage's authorizer.
#[test]
fn shared_buckets_and_authorizer_arns_follow_the_stage() {
    let text = "service: svc\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  httpApi:\n    authorizers:\n      basic:\n        type: request\n        functionArn: arn:aws:lambda:us-east-1:123456789012:function:auth-dev-basic\nfunctions:\n  f:\n    handler: h.f\n    events:\n      - s3:\n          bucket: shared-uploads\n          existing: true\n      - s3:\n          bucket: shared-uploads\n          existing: true\n          rules:\n            - prefix: ${sls:stage}/\n      - http:\n          path: /x\n          method: get\n          authorizer:\n            arn: arn:aws:lambda:us-east-1:123456789012:function:auth-dev-basicAuthorizer\n";
    assert_eq!(
        audit_one("shared-bucket-authorizer", text),
        [
            ("literal-stage", 9),
            ("unscoped-name", 15),
            ("literal-stage", 26)
        ]
    );
}

/// IAM action names are not case-sensitive (`sns:publish` for text
/// messages is `sns:Publish`); a stage in a plugin's hook command names no
/// resource; a Glue job's name is unique in an account and region; a
/// connection string that carries its password is a secret.
#[test]
fn actions_by_any_case_hooks_glue_jobs_and_connection_strings() {
    let sms = "service: auth\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: sns:publish\n          Resource: '*'\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(audit_one("sms-lower", sms), []);
    let hook = "service: data\nprovider:\n  name: aws\n  stage: ${opt:stage, 'dev'}\ncustom:\n  scriptable:\n    hooks:\n      after:deploy:deploy: aws s3 cp x s3://y --profile ${self:provider.stage}\n";
    // The default itself, and nothing the hook names.
    assert_eq!(audit_one("hook-stage", hook), [("stage-default", 4)]);
    let glue = "service: etl\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    MONGODB_URI: mongodb+srv://app:Hunter2x@cluster0.example.net/db\nresources:\n  Resources:\n    Extract:\n      Type: AWS::Glue::Job\n      Properties:\n        Name: extract-data\n        Role: r\n        Command:\n          Name: glueetl\n";
    assert_eq!(
        audit_one("glue-and-uri", glue),
        [("secret-in-environment", 6), ("unscoped-name", 12)]
    );
    // A hosted-UI domain prefix and a search domain are unique too, and
    // `es:` actions on every domain are a wildcard.
    let domains = "service: search\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: es:ESHttpGet\n          Resource: '*'\nresources:\n  Resources:\n    Login:\n      Type: AWS::Cognito::UserPoolDomain\n      Properties:\n        Domain: acme-login\n        UserPoolId: p\n    Search:\n      Type: AWS::OpenSearchService::Domain\n      Properties:\n        DomainName: acme-search\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(
        audit_one("unique-domains", domains),
        [
            ("iam-wildcard", 10),
            ("unscoped-name", 16),
            ("unscoped-name", 21)
        ]
    );
}

/// `${opt.stage, …}` (a dot for the colon) stays text to the CLI: a broken
/// variable `stage-spelling` reports, not a default; resources in an
/// inline list item of `resources` are judged like a map's; statements a
/// function reads through `${self:custom.x}` are reviewed where they are
/// written; Pinpoint and Personalize actions take resource ARNs.
#[test]
fn broken_stage_variables_list_resources_and_statements_by_reference() {
    let dotted = "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  stage: ${opt.stage, self:provider.stage}\n";
    assert!(
        !audit_one("dotted-stage", dotted).contains(&("stage-default", 6)),
        "{:?}",
        audit_one("dotted-stage", dotted)
    );
    let listed = "service: news\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  - Resources:\n      Topic:\n        Type: AWS::SNS::Topic\n        Properties:\n          TopicName: news-topic\n";
    assert_eq!(
        audit_one("listed-resources", listed),
        [("unscoped-name", 10)]
    );
    let by_reference = "service: crawl\nprovider:\n  name: aws\n  stage: ${opt:stage}\nplugins:\n  - serverless-iam-roles-per-function\ncustom:\n  crawlIam:\n    - Effect: Allow\n      Action: dynamodb:PutItem\n      Resource: '*'\nfunctions:\n  crawl:\n    handler: h.main\n    iamRoleStatements: ${self:custom.crawlIam}\n";
    assert_eq!(
        audit_one("iam-by-reference", by_reference),
        [("iam-wildcard", 11)]
    );
    for action in [
        "mobiletargeting:PutEvents",
        "personalize:PutItems",
        "bedrock:InvokeModel",
    ] {
        let text = format!("service: track\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: {action}\n          Resource: '*'\nfunctions:\n  f:\n    handler: h.f\n");
        assert_eq!(
            audit_one("track-wide", &text),
            [("iam-wildcard", 10)],
            "{action}"
        );
    }
    // An ARN that stops after the service (`arn:aws:ses:*`) matches every
    // resource of it.
    let short = "service: mail\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: ses:SendEmail\n          Resource: arn:aws:ses:*\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(audit_one("short-arn", short), [("iam-wildcard", 10)]);
    // The service authorization reference names no resource for
    // `personalize:PutEvents`: `*` is the only resource it takes.
    let events = "service: track\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: personalize:PutEvents\n          Resource: '*'\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(audit_one("track-events", events), []);
}

/// Statements and CORS settings kept in a shared file are judged where
/// they are written: a statement list item `${file(../common.yml):x}`, a
/// whole list `${file(../roles.yml)}`, a `cors:` from the shared file; and
/// Amazon MQ actions take broker ARNs.
#[test]
fn statements_and_cors_kept_in_a_shared_file_are_judged_there() {
    let dir = support::scratch_app(
        "shared-statements",
        &[
            (
                "common.yml",
                "logPolicy:\n  Effect: Allow\n  Action:\n    - logs:PutLogEvents\n  Resource: '*'\ncorsCfg:\n  origins: '*'\n  allowCredentials: true\n",
            ),
            (
                "roles.yml",
                "- Effect: Allow\n  Action: lambda:AddPermission\n  Resource: '*'\n",
            ),
            (
                "svc/serverless.yml",
                "service: shared\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - ${file(../common.yml):logPolicy}\n        - Effect: Allow\n          Action: mq:DescribeBroker\n          Resource: '*'\nfunctions:\n  f:\n    handler: h.f\n    iamRoleStatements: ${file(../roles.yml)}\n    events:\n      - http:\n          path: x\n          method: get\n          cors: ${file(../common.yml):corsCfg}\n",
            ),
        ],
    );
    let app = App::load(&dir).unwrap();
    let mut found: Vec<(String, String, usize)> = rules::audit_stages(&app, None)
        .findings
        .into_iter()
        .map(|f| {
            let file = f.file.file_name().unwrap().to_string_lossy().to_string();
            (f.rule.to_string(), file, f.line)
        })
        .collect();
    found.sort();
    let expected = [
        ("cors-any-origin-with-credentials", "common.yml", 7),
        ("iam-wildcard", "common.yml", 5),
        ("iam-wildcard", "roles.yml", 3),
        ("iam-wildcard", "serverless.yml", 11),
    ]
    .map(|(r, f, l)| (r.to_string(), f.to_string(), l));
    assert_eq!(found, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A state machine of serverless-step-functions named without the stage
/// is one machine for every stage; with it, one each.
#[test]
fn a_state_machine_named_without_the_stage_is_shared() {
    let machine = |name: &str| {
        format!("service: flows\nplugins:\n  - serverless-step-functions\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\nfunctions:\n  work:\n    handler: h.work\nstepFunctions:\n  stateMachines:\n    flow:\n      name: {name}\n      definition:\n        StartAt: W\n        States:\n          W:\n            Type: Pass\n            End: true\n")
    };
    assert_eq!(
        audit_one("machine-shared", &machine("order-flow")),
        [("unscoped-name", 13)]
    );
    assert_eq!(
        audit_one("machine-staged", &machine("order-flow-${sls:stage}")),
        []
    );
}

/// An `s3` event's bucket is named by the event, unless `resources` gives
/// the framework's `S3Bucket<Name>` its own `BucketName`: that name is
/// the one the bucket gets, and it is judged where it is written.
#[test]
fn an_event_bucket_renamed_in_resources_is_judged_by_its_new_name() {
    let app = |resources: &str| {
        format!("service: media\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\nfunctions:\n  resize:\n    handler: h.resize\n    events:\n      - s3:\n          bucket: photo-uploads\n          event: s3:ObjectCreated:*\n{resources}")
    };
    assert_eq!(audit_one("event-bucket", &app("")), [("unscoped-name", 10)]);
    let renamed = app("resources:\n  Resources:\n    S3BucketPhotouploads:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: photo-uploads-${sls:stage}\n");
    assert_eq!(audit_one("event-bucket-renamed", &renamed), []);
    let still_shared = app("resources:\n  Resources:\n    S3BucketPhotouploads:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: photo-uploads-shared\n");
    assert_eq!(
        audit_one("event-bucket-renamed-shared", &still_shared),
        [("unscoped-name", 17)]
    );
}

/// A database's master password written in the file is in the template
/// in clear; one read with a dynamic reference is not.
#[test]
fn a_master_password_written_in_the_file_is_a_secret() {
    let db = |password: &str| {
        format!("service: data\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\nresources:\n  Resources:\n    Db:\n      Type: AWS::RDS::DBInstance\n      DeletionPolicy: Retain\n      Properties:\n        Engine: postgres\n        DBInstanceClass: db.t4g.micro\n        AllocatedStorage: '20'\n        MasterUsername: app\n        MasterUserPassword: {password}\n")
    };
    let found = |name: &str, password: &str| -> Vec<(&'static str, usize)> {
        audit_one(name, &db(password))
            .into_iter()
            .filter(|(rule, _)| *rule == "secret-in-template")
            .collect()
    };
    assert_eq!(
        found("db-literal", "hunter22secret"),
        [("secret-in-template", 15)]
    );
    assert_eq!(
        found("db-fallback", "\"${env:DB_PASSWORD, 'hunter22secret'}\""),
        [("secret-in-template", 15)]
    );
    assert_eq!(
        found(
            "db-resolved",
            "'{{resolve:secretsmanager:db-${sls:stage}:SecretString:password}}'"
        ),
        []
    );
}

/// A literal stage in a shared value is one wherever the value is used:
/// `custom.table: users-dev` read by `environment` names the dev table in
/// every stage, reported where it is written.
#[test]
fn a_literal_stage_reached_through_custom_is_reported_where_it_is_written() {
    let text = "service: users\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    USERS: ${self:custom.usersTable}\ncustom:\n  usersTable: users-table-dev\n";
    assert_eq!(
        audit_one("literal-via-custom", text),
        [("literal-stage", 8)]
    );
}

/// A tag, a description or an output's value says the stage it is
/// deployed as and names nothing (the default stage is said once, at the
/// setting); a named event rule and an ECS cluster's name are unique
/// in the account and region, so they must carry the stage.
#[test]
fn tags_name_nothing_and_event_rules_and_clusters_do() {
    let tags = "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage, 'dev'}\n  runtime: nodejs22.x\n  stackTags:\n    Stage: ${sls:stage}\n  tags:\n    Stage: ${sls:stage}\nfunctions:\n  f:\n    handler: h.f\nresources:\n  Outputs:\n    Url:\n      Value: https://x.example.com/${sls:stage}\n";
    assert_eq!(audit_one("tags-only", tags), [("stage-default", 4)]);
    let named = "service: jobs\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  runtime: nodejs22.x\nfunctions:\n  f:\n    handler: h.f\n    events:\n      - eventBridge:\n          name: order-placed\n          pattern:\n            source: [shop]\n      - schedule:\n          name: nightly-${sls:stage}\n          rate: rate(1 day)\nresources:\n  Resources:\n    Cluster:\n      Type: AWS::ECS::Cluster\n      Properties:\n        ClusterName: workers\n";
    assert_eq!(
        audit_one("rules-and-clusters", named),
        [("unscoped-name", 11), ("unscoped-name", 22)]
    );
}

/// A layer ARN spelling a stage runs every stage on that stage's layer; a
/// custom domain every stage deploys is one name for all of them; EC2
/// actions that take instance ARNs on every instance are a wildcard, its
/// `Describe*` (which take `*` only) are not.
#[test]
fn layers_domains_and_instances() {
    let text = "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  runtime: nodejs22.x\n  layers:\n    - arn:aws:lambda:us-east-1:123456789012:layer:shared-dev-common:4\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: [ec2:StartInstances, ec2:StopInstances]\n          Resource: '*'\n        - Effect: Allow\n          Action: ec2:DescribeInstances\n          Resource: '*'\nplugins:\n  - serverless-domain-manager\ncustom:\n  customDomain:\n    domainName: api.example.com\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(
        audit_one("layers-domains", text),
        [
            ("literal-stage", 7),
            ("iam-wildcard", 13),
            ("unscoped-name", 21)
        ]
    );
}

/// The (rule, line) of every finding of the audit, the security review
/// included, on an app of one service whose file is `text`.
fn audit_one(name: &str, text: &str) -> Vec<(&'static str, usize)> {
    let dir = crate::support::scratch_app(name, &[("svc/serverless.yml", text)]);
    let app = xtask::app::App::load(&dir).unwrap();
    let found = xtask::cfn::rules::audit_stages(&app, None)
        .findings
        .iter()
        .map(|f| (f.rule, f.line))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    found
}

/// A `custom` value that nothing reads names nothing: its spelling of the
/// stage is not judged (the definition it copies is). Once a name reads
/// it, it is.
#[test]
fn a_custom_value_nothing_reads_is_not_judged() {
    let base = "service: lib\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  stage: ${env:Stage, 'local'}\n  prefix: ${self:custom.stage}-fn\n";
    let dead = audit_one("custom-unread", base);
    assert!(
        dead.iter().all(|(rule, _)| *rule != "stage-spelling"),
        "{dead:?}"
    );
    let read =
        format!("{base}functions:\n  f:\n    handler: h.f\n    name: ${{self:custom.prefix}}\n");
    let found = audit_one("custom-read", &read);
    assert!(found.contains(&("stage-spelling", 7)), "{found:?}");
}

/// A secret written as a Compose param (a service's own, or a v4 stage's,
/// which every service gets) is written into the compose file: one
/// finding where it is written, however many services get it.
#[test]
fn a_secret_written_as_a_compose_param_is_found_once() {
    let dir = crate::support::scratch_app(
        "compose-param-secret",
        &[
            ("serverless-compose.yml", "stages:\n  prod:\n    params:\n      jwtSecret: s3cr3t-signing-v4lue\n      tableName: orders-prod\nservices:\n  a:\n    path: a\n    params:\n      apiToken: ${env:API_TOKEN, 'tok-0123456789abcdef'}\n  b:\n    path: b\n"),
            ("a/serverless.yml", "service: svc-a\nprovider:\n  name: aws\n  stage: ${opt:stage}\n"),
            ("b/serverless.yml", "service: svc-b\nprovider:\n  name: aws\n  stage: ${opt:stage}\n"),
        ],
    );
    let app = App::load(&dir).unwrap();
    let found: Vec<(&str, usize)> = rules::audit(&app)
        .findings
        .iter()
        .filter(|f| f.file.ends_with("serverless-compose.yml"))
        .map(|f| (f.rule, f.line))
        .collect();
    assert_eq!(
        found,
        [("secret-in-environment", 4), ("secret-in-environment", 10)]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A resource policy whose principal is a variable falling back to `"*"`
/// grants every AWS principal wherever the variable is unset: found where
/// the principal is written, through a custom key; one without the
/// fallback is not.
#[test]
fn a_principal_falling_back_to_everyone_is_found() {
    let text = "service: uploads\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  reader: ${env:READER_ROLE, ssm:/config/reader, \"*\"}\n  writer: ${env:WRITER_ROLE}\nresources:\n  Resources:\n    Files:\n      Type: AWS::S3::Bucket\n    FilesPolicy:\n      Type: AWS::S3::BucketPolicy\n      Properties:\n        Bucket: !Ref Files\n        PolicyDocument:\n          Statement:\n            - Effect: Allow\n              Principal:\n                AWS: ${self:custom.reader}\n              Action: s3:GetObject\n              Resource: !Sub ${Files.Arn}/*\n            - Effect: Allow\n              Principal:\n                AWS:\n                  - ${self:custom.writer}\n              Action: s3:PutObject\n              Resource: !Sub ${Files.Arn}/*\n";
    let found = audit_one("principal-everyone", text);
    assert!(
        found.contains(&("principal-falls-back-to-everyone", 20)),
        "{found:?}"
    );
    assert_eq!(
        found
            .iter()
            .filter(|(rule, _)| *rule == "principal-falls-back-to-everyone")
            .count(),
        1,
        "{found:?}"
    );
}

/// A fixed ARN of a kind of resource the app makes in each stage (a user
/// pool an authorizer checks, while another service makes a pool per
/// stage; a role, while the framework makes one per stage) is one
/// resource for every stage. An ARN built from variables is not.
#[test]
fn a_fixed_arn_of_what_the_app_makes_per_stage_is_shared() {
    let dir = crate::support::scratch_app(
        "literal-arns",
        &[
            ("auth/serverless.yml", "service: auth\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Pool:\n      Type: AWS::Cognito::UserPool\n      Properties:\n        UserPoolName: users-${sls:stage}\n"),
            ("api/serverless.yml", "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  f:\n    handler: h.f\n    events:\n      - http:\n          path: x\n          method: get\n          authorizer:\n            arn: arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Ab12Cd\n  g:\n    handler: h.g\n    events:\n      - http:\n          path: y\n          method: get\n          authorizer:\n            arn: arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Ab12Cd\n"),
            ("jobs/serverless.yml", "service: jobs\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role: arn:aws:iam::123456789012:role/jobs-runner\nfunctions:\n  f:\n    handler: h.f\n    environment:\n      POOL: arn:aws:cognito-idp:${aws:region}:${aws:accountId}:userpool/${param:pool}\n"),
        ],
    );
    let app = App::load(&dir).unwrap();
    let mut found: Vec<(String, usize)> = rules::audit_stages(&app, None)
        .findings
        .iter()
        .filter(|f| f.rule == "shared-literal-arn")
        .map(|f| {
            let service = f
                .file
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            (service, f.line)
        })
        .collect();
    found.sort();
    assert_eq!(found, [("api".to_string(), 13), ("jobs".to_string(), 6)]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The provider's statements go into the role the framework makes for
/// functions without one of their own: where every function names its
/// role, that role is never made and the statements grant nothing.
#[test]
fn statements_of_a_role_never_made_grant_nothing() {
    let head = "service: jobs\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: s3:*\n          Resource: '*'\nfunctions:\n  a:\n    handler: h.a\n    role: arn:aws:iam::${aws:accountId}:role/jobs-a-${sls:stage}\n";
    let every_own = format!("{head}  b:\n    handler: h.b\n    role: JobsRole\n");
    assert_eq!(audit_one("role-never-made", &every_own), []);
    let one_without = format!("{head}  b:\n    handler: h.b\n");
    assert_eq!(audit_one("role-made", &one_without), [("iam-wildcard", 9)]);
}

/// An ARN joined from pieces (`Fn::Join` of text and the pseudo
/// parameters) is read as `Fn::Sub` would write it: every API of the
/// account is a wildcard however it is spelled.
#[test]
fn a_joined_arn_of_every_resource_is_a_wildcard() {
    let text = "service: auth\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Authed:\n      Type: AWS::IAM::Role\n      Properties:\n        AssumeRolePolicyDocument: {}\n        Policies:\n          - PolicyName: invoke\n            PolicyDocument:\n              Statement:\n                - Effect: Allow\n                  Action: execute-api:Invoke\n                  Resource:\n                    Fn::Join:\n                      - ''\n                      - - 'arn:aws:execute-api:'\n                        - Ref: AWS::Region\n                        - ':'\n                        - Ref: AWS::AccountId\n                        - ':*/*'\n";
    assert_eq!(audit_one("joined-arn", text), [("iam-wildcard", 18)]);
}

/// `develop` (a branch-named stage) is a stage spelled literally too: an
/// IAM statement on `table/shop-develop-one` reaches that stage's table
/// from every stage.
#[test]
fn a_branch_named_stage_in_an_arn_is_a_literal_stage() {
    let text = "service: admin\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: dynamodb:GetItem\n          Resource: arn:aws:dynamodb:*:*:table/shop-develop-one\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(audit_one("develop-literal", text), [("literal-stage", 10)]);
}

/// A resource's own `Name` that is unique only within its parent (an
/// authorizer of one API) is a label: `dev-Authorizer` in every stage
/// collides with nothing. A `…Name` naming another resource does point
/// at that stage's.
#[test]
fn a_label_is_no_name_to_scope_but_a_reference_is() {
    let text = "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Auth:\n      Type: AWS::ApiGateway::Authorizer\n      Properties:\n        Name: dev-Authorizer\n        RestApiId: !Ref Api\n        Type: TOKEN\n    Allow:\n      Type: AWS::Lambda::Permission\n      Properties:\n        FunctionName: auth-dev-check\n        Action: lambda:InvokeFunction\n        Principal: apigateway.amazonaws.com\n";
    assert_eq!(audit_one("label-name", text), [("literal-stage", 16)]);
}

/// An IAM resource pattern that does not move with the stage but matches
/// the names the app gives in two stages (`table/shop-*` against
/// `shop-orders-dev` and `shop-orders-prod`) reaches every stage's data.
/// One with the stage in it does not.
#[test]
fn a_pattern_matching_two_stages_names_crosses_stages() {
    let dir = crate::support::scratch_app(
        "iam-crosses-stages",
        &[
            ("data/serverless.yml", "service: data\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Orders:\n      Type: AWS::DynamoDB::Table\n      Properties:\n        TableName: shop-orders-${sls:stage}\n        BillingMode: PAY_PER_REQUEST\n        AttributeDefinitions:\n          - AttributeName: id\n            AttributeType: S\n        KeySchema:\n          - AttributeName: id\n            KeyType: HASH\n"),
            ("api/serverless.yml", "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: dynamodb:PutItem\n          Resource: arn:aws:dynamodb:${aws:region}:${aws:accountId}:table/shop-*\n        - Effect: Allow\n          Action: dynamodb:GetItem\n          Resource: arn:aws:dynamodb:${aws:region}:${aws:accountId}:table/shop-*-${sls:stage}\nfunctions:\n  f:\n    handler: h.f\n"),
        ],
    );
    let app = App::load(&dir).unwrap();
    let found: Vec<(String, usize)> = rules::audit_stages(&app, None)
        .findings
        .iter()
        .filter(|f| f.rule == "iam-crosses-stages")
        .map(|f| {
            (
                f.file
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string(),
                f.line,
            )
        })
        .collect();
    assert_eq!(found, [("api".to_string(), 10)]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A per-stage map read by the stage that falls back to one stage's entry
/// gives a stage it does not name that stage's values, silently; one
/// without the fallback stops the CLI instead.
#[test]
fn a_stage_map_falling_back_to_a_stage_is_found() {
    let text = "service: pay\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    TABLE: ${self:custom.env.${sls:stage}.table, self:custom.env.dev.table}\n    API: ${self:custom.env.${sls:stage}.api}\ncustom:\n  env:\n    dev:\n      table: pay-dev\n      api: a1\n    prod:\n      table: pay-prod\n      api: a2\nfunctions:\n  f:\n    handler: h.f\n";
    let found = audit_one("stage-map-fallback", text);
    assert_eq!(
        found
            .iter()
            .filter(|(rule, _)| *rule == "stage-map-fallback")
            .collect::<Vec<_>>(),
        [&("stage-map-fallback", 6)],
        "{found:?}"
    );
}

/// The Data API's statements run on a database cluster's ARN: on `*` they
/// reach every cluster of the account, as a table's actions on `*` do.
#[test]
fn the_data_api_on_every_cluster_is_a_wildcard() {
    let text = "service: ai\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: rds-data:ExecuteStatement\n          Resource: '*'\nfunctions:\n  f:\n    handler: h.f\n";
    assert_eq!(audit_one("rds-data", text), [("iam-wildcard", 10)]);
}
