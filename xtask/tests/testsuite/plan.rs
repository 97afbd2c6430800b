//! `cargo xtask plan` on apps of several shapes: every kind of reference
//! makes an edge, waves allow parallel deploys, cycles are named.

use std::process::Command;

use serde_json::Value;

use crate::support;
use crate::support::{arg, fixture};

fn xtask(args: &[&str]) -> support::Run {
    support::Run::from(
        Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(args)
            .env_remove("XTASK_APP")
            .output()
            .expect("xtask runs"),
    )
}

fn plan_json(app: &std::path::Path, stage: &str) -> Value {
    let run = xtask(&["plan", stage, "--format", "json", "--app", &arg(app)]);
    run.ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.text))
}

fn write_app(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    support::scratch_app(&format!("plan-{name}"), files)
}

fn edges(plan: &Value) -> Vec<(String, String, String)> {
    plan["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().into(),
                e["to"].as_str().unwrap().into(),
                e["at"].as_str().unwrap().rsplit('/').next().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn tb365_deploys_the_data_stack_first_and_the_apis_together() {
    let plan = plan_json(&fixture("tb365"), "prod");
    assert_eq!(plan["stage"], "prod");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["dynamodb"], ["image-api", "integration-api"]])
    );
}

/// Packaging ahead: a service reached only through `Fn::ImportValue`
/// packages while what it needs deploys; one whose packaging reads a
/// service of the run (`${cf:}`), asks the account for a value (`${ssm:}`),
/// or runs code to resolve one (`${file(x.js)}`) packages at its turn.
#[test]
fn only_services_whose_packaging_reads_nothing_the_run_changes_package_ahead() {
    let plan = plan_json(&fixture("tb365"), "dev");
    assert_eq!(
        plan["package_ahead"],
        serde_json::json!(["integration-api"])
    );
    let why = plan["package_at_turn"]["image-api"].as_str().unwrap_or("");
    assert!(
        why.contains("reads dynamodb as deployed") && why.contains("${cf:tb365-dynamodb-"),
        "{why}"
    );

    let importer = |extra: &str| {
        format!(
            "service: {{name}}\nprovider:\n  name: aws\n  environment:\n    BASE: !ImportValue base-${{sls:stage}}-name\n{extra}"
        )
    };
    let app = write_app(
        "ahead",
        &[
            (
                "base/serverless.yml",
                "service: base\nprovider:\n  name: aws\nresources:\n  Outputs:\n    Name:\n      Value: x\n      Export:\n        Name: base-${sls:stage}-name\n",
            ),
            ("plain/serverless.yml", &importer("").replace("{name}", "plain")),
            (
                "ssm/serverless.yml",
                &importer("    KEY: ${ssm:/base/key}\n").replace("{name}", "ssm"),
            ),
            (
                "code/serverless.yml",
                &importer("    KEY: ${file(./values.js):key}\n").replace("{name}", "code"),
            ),
            ("code/values.js", "module.exports.key = () => 'k';\n"),
            (
                "shared/serverless.yml",
                &importer("    KEY: ${file(../common.yml):key}\n").replace("{name}", "shared"),
            ),
            ("common.yml", "key: ${ssm:/common/key}\n"),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["package_ahead"],
        serde_json::json!(["plain"]),
        "{plan}"
    );
    let at_turn = &plan["package_at_turn"];
    assert!(
        at_turn["ssm"]
            .as_str()
            .unwrap_or("")
            .contains("${ssm:/base/key}"),
        "{at_turn}"
    );
    assert!(
        at_turn["code"].as_str().unwrap_or("").contains("runs code"),
        "{at_turn}"
    );
    // Through a file it includes, too.
    assert!(
        at_turn["shared"]
            .as_str()
            .unwrap_or("")
            .contains("${ssm:/common/key}"),
        "{at_turn}"
    );
    assert!(at_turn.get("base").is_none(), "{at_turn}");
    let text = xtask(&["plan", "dev", "--app", &arg(&app)]);
    text.ok();
    assert!(
        text.stdout
            .contains("packaged ahead, while what they need deploys: plain"),
        "{}",
        text.stdout
    );
    let _ = std::fs::remove_dir_all(&app);

    // What the files cannot show, deploy.toml can: a plugin that reads the
    // account while packaging.
    let declared = write_app(
        "ahead-declared",
        &[
            (
                "deploy.toml",
                "[app]\nname = \"declared\"\n\n[services.base]\npath = \"base\"\n\n[services.plain]\npath = \"plain\"\npackage_ahead = false\n\n[stages.dev]\nregion = \"us-east-1\"\n",
            ),
            (
                "base/serverless.yml",
                "service: base\nprovider:\n  name: aws\nresources:\n  Outputs:\n    Name:\n      Value: x\n      Export:\n        Name: base-${sls:stage}-name\n",
            ),
            ("plain/serverless.yml", &importer("").replace("{name}", "plain")),
        ],
    );
    let plan = plan_json(&declared, "dev");
    assert_eq!(plan["package_ahead"], serde_json::json!([]), "{plan}");
    assert_eq!(
        plan["package_at_turn"]["plain"],
        "deploy.toml says `package_ahead = false`"
    );
    let _ = std::fs::remove_dir_all(&declared);
}

#[test]
fn a_diamond_without_manifest_gets_three_waves() {
    let plan = plan_json(&fixture("diamond"), "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["core"], ["auth", "media"], ["edge"]])
    );
    assert_eq!(plan["region"], "eu-central-1");
}

#[test]
fn a_serverless_compose_app_is_ordered_by_depends_on_and_params() {
    let plan = plan_json(&fixture("compose"), "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["users"], ["orders"], ["notify"]])
    );
    let reasons: Vec<&str> = plan["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("${users.UsersTableName}")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("dependsOn")),
        "{reasons:?}"
    );
}

/// A service folder that is a link out of the app escapes it as `..`
/// would: refused, naming where it leads.
#[test]
fn a_service_folder_linked_out_of_the_app_is_refused() {
    let outside = write_app(
        "linked-target",
        &[("serverless.yml", "service: away\nprovider:\n  name: aws\n")],
    );
    let app = write_app(
        "linked",
        &[(
            "serverless-compose.yml",
            "services:\n  away:\n    path: away\n",
        )],
    );
    std::os::unix::fs::symlink(&outside, app.join("away")).unwrap();
    let run = xtask(&["plan", "dev", "--app", &arg(&app)]);
    assert_ne!(run.code, Some(0), "{}", run.text);
    run.fails_with("leads outside the app folder");
    let _ = std::fs::remove_dir_all(&app);
    let _ = std::fs::remove_dir_all(&outside);
}

/// A Compose file in TypeScript, a service in TypeScript and one in JSON:
/// read the way the CLI reads them, ordered by the param between them.
#[test]
fn typescript_and_json_configs_are_read_and_ordered() {
    let plan = plan_json(&fixture("formats"), "dev");
    assert_eq!(plan["waves"], serde_json::json!([["store"], ["web"]]));
    assert_eq!(
        edges(&plan),
        [(
            "web".to_string(),
            "store".to_string(),
            "serverless-compose.ts:10".to_string()
        )]
    );
    for command in [&["audit"][..], &["validate", "dev"]] {
        let mut args = command.to_vec();
        let app = arg(&fixture("formats"));
        args.extend(["--app", &app]);
        xtask(&args).ok();
    }
}

/// A Compose program that finds a service's config with `require.resolve`
/// (the path and the file name from it): the CLI's TypeScript loader puts
/// a `?namespace=` query on the path, which Compose's own loader does not,
/// so the service is its file, not a file that does not exist.
#[test]
fn a_config_found_by_require_resolve_is_the_file_it_names() {
    let app = write_app(
        "compose-resolve",
        &[
            (
                "serverless-compose.ts",
                "import path from 'path'\n\
                 const at = (name: string) => path.relative(__dirname, require.resolve(`./${name}/${name}.sls.yml`))\n\
                 const service = (name: string, extra: object = {}) => ({ path: path.dirname(at(name)), config: path.basename(at(name)), ...extra })\n\
                 module.exports = { services: { data: service('data'), api: service('api', { dependsOn: ['data'] }) } }\n",
            ),
            ("data/data.sls.yml", "service: data\nprovider:\n  name: aws\n  stage: ${opt:stage}\n"),
            ("api/api.sls.yml", "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\n"),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["data"], ["api"]]),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// A Compose param read from the environment (`${env:AWS_REGION}`) is
/// the environment's value, as Compose reads it, not another service's
/// output: a region set so is known, and one unset is said to be unset.
#[test]
fn a_compose_param_from_the_environment_is_its_value() {
    let app = write_app(
        "compose-env-param",
        &[
            (
                "serverless-compose.yml",
                "services:\n  a:\n    path: a\n    params:\n      REGION: ${env:XTASK_TEST_PARAM_REGION}\n",
            ),
            ("a/serverless.yml", "service: a\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  region: ${param:REGION}\n"),
        ],
    );
    let plan = |region: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(["plan", "dev", "--format", "json", "--app", &arg(&app)])
            .env_remove("XTASK_APP")
            .env_remove("XTASK_TEST_PARAM_REGION");
        if let Some(region) = region {
            cmd.env("XTASK_TEST_PARAM_REGION", region);
        }
        support::Run::from(cmd.output().expect("xtask runs"))
    };
    plan(Some("eu-west-1")).ok();
    let unset = plan(None);
    assert!(
        !unset.text.contains("another service's output"),
        "{}",
        unset.text
    );
    assert!(
        unset.text.contains("XTASK_TEST_PARAM_REGION"),
        "{}",
        unset.text
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// An import inside a section the service includes whole from a file
/// (`iamRoleStatements: ${file(./roles.yml)}`) orders the deploy like one
/// written in the service's own file.
#[test]
fn an_import_in_a_section_included_whole_orders_the_deploy() {
    let app = write_app(
        "import-in-section",
        &[
            (
                "orders/serverless.yml",
                "service: orders\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iamRoleStatements: ${file(./roles.yml)}\n",
            ),
            (
                "orders/roles.yml",
                "- Effect: Allow\n  Action: dynamodb:GetItem\n  Resource:\n    Fn::ImportValue: tables-${sls:stage}-arn\n",
            ),
            (
                "tables/serverless.yml",
                "service: tables\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    T:\n      Type: AWS::SQS::Queue\n  Outputs:\n    Arn:\n      Value: !GetAtt T.Arn\n      Export:\n        Name: tables-${sls:stage}-arn\n",
            ),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["tables"], ["orders"]]),
        "{plan}"
    );
    assert_eq!(
        edges(&plan),
        [(
            "orders".to_string(),
            "tables".to_string(),
            "roles.yml:4".to_string()
        )]
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// A config program that logs while it loads (`console.log` in a shared
/// base file) is read as the CLI reads it: the log is no part of the
/// config.
#[test]
fn a_config_program_that_logs_is_read() {
    let app = write_app(
        "program-logs",
        &[
            ("base.ts", "console.log('loading the base config');\nexport const provider = { name: 'aws', stage: '${opt:stage}' };\n"),
            ("api/serverless.ts", "import { provider } from '../base';\nconsole.info('api');\nmodule.exports = { service: 'api', provider };\n"),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(plan["waves"], serde_json::json!([["api"]]), "{plan}");
    let _ = std::fs::remove_dir_all(&app);
}

/// A function that runs as a role another service creates, named by ARN,
/// deploys after it: Lambda refuses a function whose role is not there.
#[test]
fn a_role_named_by_arn_orders_the_deploy() {
    let app = write_app(
        "role-by-arn",
        &[
            (
                "infra/serverless.yml",
                "service: infra\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Runner:\n      Type: AWS::IAM::Role\n      Properties:\n        RoleName: runner-${sls:stage}\n        AssumeRolePolicyDocument: {}\n",
            ),
            (
                "api/serverless.yml",
                "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  f:\n    handler: h.f\n    role: arn:aws:iam::${aws:accountId}:role/runner-${sls:stage}\n",
            ),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["infra"], ["api"]]),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// An authorizer calling another service's function by ARN deploys after
/// that service: the CLI grants API Gateway leave to invoke the function,
/// which must exist. The framework names it `<service>-<stage>-<key>`, or
/// its `name`; the ARN reaches it by either, for an HTTP API's authorizer
/// and a REST event's.
#[test]
fn an_authorizer_calling_another_service_s_function_orders_the_deploy() {
    let auth = "service: auth\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  check:\n    handler: h.check\n  legacy:\n    handler: h.legacy\n    name: legacy-check-${sls:stage}\n";
    let http_api = "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  httpApi:\n    authorizers:\n      token:\n        type: request\n        functionArn: arn:aws:lambda:${aws:region}:${aws:accountId}:function:auth-${sls:stage}-check\nfunctions:\n  f:\n    handler: h.f\n    events:\n      - httpApi:\n          method: GET\n          path: /x\n          authorizer:\n            name: token\n";
    let rest = "service: rest\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  g:\n    handler: h.g\n    events:\n      - http:\n          method: get\n          path: /y\n          authorizer:\n            arn: arn:aws:lambda:${aws:region}:${aws:accountId}:function:legacy-check-${sls:stage}\n";
    // The same settings kept in a shared file.
    let common = "httpApiConfig:\n  authorizers:\n    token:\n      type: request\n      functionArn: arn:aws:lambda:${aws:region}:${aws:accountId}:function:auth-${sls:stage}-check\n";
    let shared = "service: shared\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  httpApi: ${file(../common.yml):httpApiConfig}\nfunctions:\n  f:\n    handler: h.f\n    events:\n      - httpApi:\n          method: GET\n          path: /z\n          authorizer:\n            name: token\n";
    let app = write_app(
        "authorizer-by-arn",
        &[
            ("auth/serverless.yml", auth),
            ("api/serverless.yml", http_api),
            ("rest/serverless.yml", rest),
            ("common.yml", common),
            ("shared/serverless.yml", shared),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["auth"], ["api", "rest", "shared"]]),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// A subscription to another service's topic by an ARN joined from the
/// region and account pseudo-parameters and the topic's name deploys
/// after the topic's service: CloudFormation refuses a subscription to a
/// topic that is not there.
#[test]
fn a_topic_named_by_a_joined_arn_orders_the_deploy() {
    let app = write_app(
        "topic-by-join",
        &[
            (
                "storage/serverless.yml",
                "service: storage\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Removed:\n      Type: AWS::SNS::Topic\n      Properties:\n        TopicName: ${sls:stage}-object-removed\n",
            ),
            (
                "cleaner/serverless.yml",
                "service: cleaner\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  clean:\n    handler: h.clean\n    events:\n      - sns:\n          topicName: ${sls:stage}-object-removed\n          arn:\n            Fn::Join:\n              - ''\n              - - 'arn:aws:sns:'\n                - Ref: AWS::Region\n                - ':'\n                - Ref: AWS::AccountId\n                - ':${sls:stage}-object-removed'\n",
            ),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["storage"], ["cleaner"]]),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// A stack read in a fallback (`${env:X, cf:db-dev.Table}`) is read
/// wherever `X` is not set: it orders the deploy as a stack read first
/// does.
#[test]
fn a_stack_read_in_a_fallback_orders_the_deploy() {
    let app = write_app(
        "cf-in-fallback",
        &[
            (
                "db/serverless.yml",
                "service: db\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    T:\n      Type: AWS::SQS::Queue\n  Outputs:\n    TName:\n      Value: !GetAtt T.QueueName\n",
            ),
            (
                "api/serverless.yml",
                "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    TABLE: ${env:XTASK_TEST_UNSET_TABLE, cf:db-${sls:stage}.TName}\n",
            ),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["db"], ["api"]]),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// An SSM parameter another service creates, read by `${ssm:}` (resolved
/// while the CLI packages) or `{{resolve:ssm:}}` (when the stack deploys),
/// orders the deploy; and an authorizer's ARN given through a custom value
/// orders it as one written inline does.
#[test]
fn a_parameter_read_by_name_and_an_authorizer_through_custom_order_the_deploy() {
    let app = write_app(
        "ssm-and-custom-arn",
        &[
            (
                "auth/serverless.yml",
                "service: auth\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  check:\n    handler: h.check\nresources:\n  Resources:\n    PoolId:\n      Type: AWS::SSM::Parameter\n      Properties:\n        Name: /shop/${sls:stage}/pool-id\n        Type: String\n        Value: x\n",
            ),
            (
                "compute/serverless.yml",
                "service: compute\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    POOL: ${ssm:/shop/${sls:stage}/pool-id}\n",
            ),
            (
                "later/serverless.yml",
                "service: later\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Q:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: '{{resolve:ssm:/shop/${sls:stage}/pool-id}}'\n",
            ),
            (
                "api/serverless.yml",
                "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\ncustom:\n  authorizerArn: arn:aws:lambda:${aws:region}:${aws:accountId}:function:auth-${sls:stage}-check\nfunctions:\n  g:\n    handler: h.g\n    events:\n      - http:\n          method: get\n          path: /y\n          authorizer:\n            arn: ${self:custom.authorizerArn}\n",
            ),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["auth"], ["api", "compute", "later"]]),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// An import whose name only the deploy can tell (an SSM parameter here)
/// may hang on a service of the app: the plan refuses, at the included
/// file's line, until deploy.toml declares the order.
#[test]
fn an_unknowable_import_refuses_the_plan_until_the_order_is_declared() {
    let files = [
        (
            "table/serverless.yml",
            "service: table\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    T:\n      Type: AWS::SNS::Topic\n  Outputs:\n    T:\n      Value: !Ref T\n      Export:\n        Name: table-${sls:stage}-topic\n",
        ),
        (
            "api/serverless.yml",
            "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  - ${file(./imports.yml)}\n",
        ),
        (
            "api/imports.yml",
            "Resources:\n  Sub:\n    Type: AWS::SNS::Subscription\n    Properties:\n      Protocol: sqs\n      Endpoint: x\n      TopicArn: !ImportValue ${ssm:/shop/topic-export}\n",
        ),
    ];
    let app = write_app("unknowable", &files);
    let run = xtask(&["plan", "dev", "--app", &arg(&app)]);
    assert_eq!(run.code, Some(1), "{}", run.text);
    run.fails_with("api/imports.yml:7");
    run.fails_with("cannot be resolved before deploy");
    run.fails_with("[services.api]");

    std::fs::write(
        app.join("deploy.toml"),
        "[services.table]\npath = \"table\"\n\n[services.api]\npath = \"api\"\ndepends_on = [\"table\"]\n",
    )
    .unwrap();
    let plan = plan_json(&app, "dev");
    assert_eq!(plan["waves"], serde_json::json!([["table"], ["api"]]));
    let _ = std::fs::remove_dir_all(&app);
}

/// `${cf(region):stack.Output}` of a stack in another region is outside
/// what this stage deploys, even when a service of the app has that name:
/// said so, with the way out.
#[test]
fn a_stack_in_another_region_is_named_as_such() {
    let app = write_app(
        "other-region",
        &[
            ("one/serverless.yml", "service: one\nprovider:\n  name: aws\n  stage: ${opt:stage}\n"),
            (
                "two/serverless.yml",
                "service: two\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    X: ${cf(eu-west-1):one-${sls:stage}.Out}\n",
            ),
        ],
    );
    let run = xtask(&["plan", "dev", "--app", &arg(&app)]);
    assert_eq!(run.code, Some(1), "{}", run.text);
    run.fails_with("reads stack `one-dev` in eu-west-1, but stage dev deploys to us-east-1");
    run.fails_with("two/serverless.yml:6");
    run.fails_with("[external]");
    let _ = std::fs::remove_dir_all(&app);
}

/// Without deploy.toml, a stage's region is what the services' files say
/// when the CLI runs without `--region` (the tool passes `--region`, which
/// wins over the file): the default of `${opt:region, …}`, a custom key.
/// A region that differs by stage or service, or that only the deploy can
/// tell, is refused at its line, never guessed.
#[test]
fn the_region_is_what_the_files_say_or_a_refusal() {
    let service = |name: &str, region: &str| {
        format!("service: {name}\nprovider:\n  name: aws\n  stage: ${{opt:stage}}\n  region: {region}\ncustom:\n  region: us-west-2\n  regions:\n    dev: us-east-1\n    prod: eu-west-1\n")
    };
    let app = |name: &str, one: &str, two: &str| {
        write_app(
            name,
            &[
                ("one/serverless.yml", &service("one", one)),
                ("two/serverless.yml", &service("two", two)),
            ],
        )
    };
    for (name, one, two, region) in [
        (
            "region-option-default",
            "${opt:region, 'eu-west-1'}",
            "eu-west-1",
            "eu-west-1",
        ),
        (
            "region-custom-key",
            "${self:custom.region}",
            "us-west-2",
            "us-west-2",
        ),
    ] {
        let dir = app(name, one, two);
        assert_eq!(plan_json(&dir, "prod")["region"], region, "{one}");
        let _ = std::fs::remove_dir_all(&dir);
    }
    for (name, one, two, says) in [
        (
            "region-by-stage",
            "${self:custom.regions.${sls:stage}, 'us-east-1'}",
            "us-east-1",
            "here for stage prod and",
        ),
        (
            "region-by-service",
            "eu-west-1",
            "us-west-2",
            "is us-west-2 here for stage prod and eu-west-1 in one",
        ),
        (
            "region-unknowable",
            "${ssm:/config/region}",
            "eu-west-1",
            "cannot be known before the deploy for stage prod",
        ),
    ] {
        let dir = app(name, one, two);
        let run = xtask(&["plan", "prod", "--app", &arg(&dir)]);
        assert_eq!(run.code, Some(2), "{one}: {}", run.text);
        run.fails_with(says)
            .fails_with("serverless.yml:5")
            .fails_with("deploy.toml");
        // The audit and the offline validation judge the files all the
        // same; the validation says on which region's terms.
        let audit = xtask(&["audit", "prod", "--app", &arg(&dir)]);
        assert_eq!(audit.code, Some(0), "{one}: {}", audit.text);
        let validate = xtask(&["validate", "prod", "--app", &arg(&dir)]);
        assert_ne!(validate.code, Some(2), "{one}: {}", validate.text);
        assert!(validate.text.contains("note: "), "{}", validate.text);
        // Said of the stage validated, not of another default stage.
        assert!(!validate.text.contains("stage local"), "{}", validate.text);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A region a per-stage file gives for some stages only is known for
/// those: `plan dev` works in dev's region; a stage the file leaves out
/// is refused, naming itself.
#[test]
fn a_region_a_file_gives_per_stage_is_that_stage_s() {
    let dir = write_app(
        "region-per-stage-file",
        &[
            ("env.yml", "dev:\n  region: eu-west-1\nprod:\n  region: eu-central-1\n"),
            (
                "svc/serverless.yml",
                "service: per\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  region: ${file(../env.yml):${opt:stage}.region}\n",
            ),
        ],
    );
    assert_eq!(plan_json(&dir, "dev")["region"], "eu-west-1");
    assert_eq!(plan_json(&dir, "prod")["region"], "eu-central-1");
    let refused = xtask(&["plan", "stage", "--app", &arg(&dir)]);
    assert_eq!(refused.code, Some(2), "{}", refused.text);
    refused.fails_with("for stage stage");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `useDotenv: true` the CLI loads the service's `.env.<stage>`, else
/// `.env`, before it resolves `${env:}`: a region written there is known.
#[test]
fn a_region_from_the_service_s_dotenv_file_is_known() {
    let dir = write_app(
        "region-dotenv",
        &[
            (
                "svc/serverless.yml",
                "service: dot\nuseDotenv: true\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  region: ${env:XTASK_TEST_DOT_REGION}\n",
            ),
            ("svc/.env", "XTASK_TEST_DOT_REGION=ap-northeast-1\n"),
            ("svc/.env.prod", "XTASK_TEST_DOT_REGION='ap-northeast-1'\n"),
        ],
    );
    assert_eq!(plan_json(&dir, "dev")["region"], "ap-northeast-1");
    assert_eq!(plan_json(&dir, "prod")["region"], "ap-northeast-1");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exports_and_outputs_in_included_files_make_edges() {
    let plan = plan_json(&fixture("split-resources"), "dev");
    assert_eq!(plan["waves"], serde_json::json!([["catalog"], ["orders"]]));
    assert_eq!(plan["region"], "ap-southeast-2");
}

#[test]
fn every_kind_of_reference_makes_an_edge() {
    let app = write_app(
        "kinds",
        &[
            ("deploy.toml", "[services.a]\n[services.b]\n[services.c]\n[services.d]\n[services.e]\ndepends_on = [\"a\"]\n[stages.dev]\nregion = \"ap-south-1\"\n"),
            ("a/serverless.yml", "service: ka\nresources:\n  Outputs:\n    X:\n      Value: x\n      Export:\n        Name: !Sub '${AWS::StackName}-x'\n    Y:\n      Value: y\n      Export:\n        Name: ka-${sls:stage}-y\n"),
            ("b/serverless.yml", "service: kb\nprovider:\n  environment:\n    X: ${cf:ka-${sls:stage}.X}\n"),
            ("c/serverless.yml", "service: kc\nprovider:\n  environment:\n    X: !ImportValue ka-${sls:stage}-x\n"),
            ("d/serverless.yml", "service: kd\nprovider:\n  environment:\n    X:\n      Fn::Join:\n        - ''\n        - - !ImportValue\n            Fn::Sub: ka-${sls:stage}-y\n          - /suffix\n"),
            ("e/serverless.yml", "service: ke\n"),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        edges(&plan),
        vec![
            ("b".into(), "a".into(), "serverless.yml:4".into()),
            ("c".into(), "a".into(), "serverless.yml:4".into()),
            ("d".into(), "a".into(), "serverless.yml:8".into()),
            ("e".into(), "a".into(), "deploy.toml:5".into()),
        ]
    );
    assert_eq!(
        plan["waves"],
        serde_json::json!([["a"], ["b", "c", "d", "e"]])
    );
    std::fs::remove_dir_all(app).ok();
}

#[test]
fn a_cycle_is_named_with_the_reference_behind_each_edge() {
    let app = write_app(
        "cycle",
        &[
            (
                "one/serverless.yml",
                "service: one\nprovider:\n  environment:\n    T: ${cf:two-${sls:stage}.Out}\n",
            ),
            (
                "two/serverless.yml",
                "service: two\nprovider:\n  environment:\n    T: ${cf:one-${sls:stage}.Out}\n",
            ),
        ],
    );
    let run = xtask(&["plan", "dev", "--app", &arg(&app)]);
    run.fails_with("one -> two -> one");
    run.fails_with("one/serverless.yml:4");
    run.fails_with("two/serverless.yml:4");
    std::fs::remove_dir_all(app).ok();
}

#[test]
fn a_reference_nothing_produces_is_an_error_unless_declared_external() {
    let files = [(
        "svc/serverless.yml",
        "service: svc\nprovider:\n  environment:\n    V: !ImportValue network-${sls:stage}-vpc\n",
    )];
    let app = write_app("dangling", &files);
    xtask(&["plan", "dev", "--app", &arg(&app)]).fails_with("network-${sls:stage}-vpc");
    std::fs::write(
        app.join("deploy.toml"),
        "[external]\nexports = [\"network-${stage}-vpc\"]\n",
    )
    .unwrap();
    let run = xtask(&["plan", "dev", "--app", &arg(&app)]);
    run.ok();
    assert!(run.text.contains("declared external"), "{}", run.text);
    std::fs::remove_dir_all(app).ok();
}

#[test]
fn bad_stages_are_refused_before_any_process_starts() {
    let dir = xtask::sys::paths::scratch_dir().join(format!("plan-stages-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("cli-ran");
    let fake_cli = dir.join("fake-serverless");
    std::fs::write(
        &fake_cli,
        format!("#!/bin/sh\ntouch {}\n", marker.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake_cli, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (args, why) in [
        (vec!["deploy"], "<STAGE>"),
        (vec!["deploy", "qa"], "not allowed"),
        (vec!["deploy", "dev;touch x"], "not a valid stage name"),
        (vec!["deploy", "PROD"], "not a valid stage name"),
        (vec!["remove", "qa"], "not allowed"),
        (vec!["bootstrap", "../prod"], "not a valid stage name"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(&args)
            .env("SERVERLESS_BIN", &fake_cli)
            .env("XTASK_STATE_DIR", dir.join("state"))
            .env_remove("XTASK_APP")
            .output()
            .unwrap();
        let run = support::Run::from(output);
        run.fails_with(why);
        assert!(!marker.exists(), "{args:?} ran the Serverless CLI");
        assert!(
            !dir.join("state/local").exists(),
            "{args:?} started an emulator"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Apps whose services would share a stack, or whose names would leave
/// their folder, are refused before anything is planned, naming the files.
#[rstest::rstest]
#[case::same_service_name(
    &[
        ("a/serverless.yml", "service: shop\nprovider:\n  name: aws\n"),
        ("b/serverless.yml", "service: shop\nprovider:\n  name: aws\n"),
    ],
    &["services `a`", "and `b` both deploy to stack shop-local (in stage local; in every stage alike)", "b/serverless.yml", "if one is a template or a copy, list the services the app deploys in deploy.toml"]
)]
#[case::same_stack_name(
    &[
        ("a/serverless.yml", "service: one\nprovider:\n  name: aws\n  stackName: shared-${sls:stage}\n"),
        ("b/serverless.yml", "service: two\nprovider:\n  name: aws\n  stackName: shared-${sls:stage}\n"),
    ],
    &["both deploy to stack shared-local"]
)]
#[case::same_folder_twice(
    &[
        ("deploy.toml", "[services.one]\npath = \"svc\"\n[services.two]\npath = \"svc\"\n[stages.dev]\nregion = \"us-east-1\"\n"),
        ("svc/serverless.yml", "service: svc\nprovider:\n  name: aws\n"),
    ],
    &["services `one` and `two` are the same folder", "deploy.toml:"]
)]
#[case::app_name_with_a_path(
    &[
        ("deploy.toml", "[app]\nname = \"../../escape\"\n[stages.dev]\nregion = \"us-east-1\"\n"),
        ("svc/serverless.yml", "service: svc\nprovider:\n  name: aws\n"),
    ],
    &["app name `../../escape` must be", "deploy.toml:"]
)]
#[case::compose_key_with_a_path(
    &[
        ("serverless-compose.yml", "services:\n  ../../up:\n    path: svc\n"),
        ("svc/serverless.yml", "service: svc\nprovider:\n  name: aws\n"),
    ],
    &["service key `../../up` must be", "serverless-compose.yml:2"]
)]
#[case::compose_path_out_of_the_app(
    &[
        ("serverless-compose.yml", "services:\n  out:\n    path: ../elsewhere\n"),
        ("svc/serverless.yml", "service: svc\nprovider:\n  name: aws\n"),
    ],
    &["path `../elsewhere` must stay inside the app folder", "serverless-compose.yml:2"]
)]
#[case::compose_depends_on_spelt_as_docker_compose_spells_it(
    &[
        ("serverless-compose.yml", "services:\n  users:\n    path: users\n  orders:\n    path: orders\n    depends_on:\n      - users\n"),
        ("users/serverless.yml", "service: users\nprovider:\n  name: aws\n"),
        ("orders/serverless.yml", "service: orders\nprovider:\n  name: aws\n"),
    ],
    &["serverless-compose.yml:6", "service `orders` has key `depends_on`", "did you mean `dependsOn`"]
)]
#[case::compose_unknown_top_level_key(
    &[
        ("serverless-compose.yml", "service:\n  users:\n    path: users\nservices:\n  users:\n    path: users\n"),
        ("users/serverless.yml", "service: users\nprovider:\n  name: aws\n"),
    ],
    &["serverless-compose.yml:1", "has key `service`", "did you mean `services`"]
)]
#[case::compose_top_level_name_which_compose_dropped(
    &[
        ("serverless-compose.yml", "name: shop\nservices:\n  users:\n    path: users\n"),
        ("users/serverless.yml", "service: users\nprovider:\n  name: aws\n"),
    ],
    &["serverless-compose.yml:1", "has key `name`", "Compose knows services, state"]
)]
#[case::compose_param_from_a_source_compose_does_not_resolve(
    &[
        ("serverless-compose.yml", "services:\n  users:\n    path: users\n    region: eu-west-1\n    params:\n      table: ${self:custom.table}\n"),
        ("users/serverless.yml", "service: users\nprovider:\n  name: aws\n"),
    ],
    &["serverless-compose.yml:6", "Unrecognized configuration variable sources: \"self\""]
)]
#[case::compose_config_out_of_its_folder(
    &[
        ("serverless-compose.yml", "services:\n  api:\n    path: api\n    config: ../other/serverless.yml\n"),
        ("api/serverless.yml", "service: api\nprovider:\n  name: aws\n"),
    ],
    &["serverless-compose.yml:4", "`config` must name a file in its `path` folder"]
)]
#[case::deploy_toml_config_out_of_its_folder(
    &[
        ("deploy.toml", "[services.db]\npath = \"resources\"\nconfig = \"../db.yml\"\n"),
        ("resources/db.yml", "service: db\nprovider:\n  name: aws\n"),
    ],
    &["deploy.toml:1", "config `../db.yml` must name a file in the service's folder"]
)]
#[case::compose_config_that_is_not_there(
    &[
        ("serverless-compose.yml", "services:\n  api:\n    path: api\n    config: serverless.api.yml\n"),
        ("api/serverless.yml", "service: api\nprovider:\n  name: aws\n"),
    ],
    &["serverless-compose.yml:2", "its config file `serverless.api.yml` is not in"]
)]
#[case::two_config_files_in_one_folder(
    &[
        ("svc/serverless.yml", "service: svc\nprovider:\n  name: aws\n"),
        ("svc/serverless.ts", "module.exports = { service: 'svc', provider: { name: 'aws' } };\n"),
    ],
    &["serverless.yml: is one of 2 config files", "svc/serverless.ts"]
)]
#[case::a_config_program_that_throws(
    &[("svc/serverless.js", "throw new Error('no config for you');\n")],
    &["svc/serverless.js: is a program the Serverless CLI cannot load", "no config for you"]
)]
fn apps_that_cannot_be_deployed_safely_are_refused_at_load(
    #[case] files: &[(&str, &str)],
    #[case] expected: &[&str],
) {
    // One folder per case: cases run at once.
    let name = format!(
        "refused-{:x}",
        expected
            .concat()
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
    );
    let app = write_app(&name, files);
    for command in ["plan", "validate"] {
        let run = xtask(&[command, "dev", "--app", &arg(&app)]);
        assert_ne!(run.code, Some(0), "{command}: {}", run.text);
        for needle in expected {
            assert!(
                run.text.contains(needle),
                "{command}: `{needle}` not in:\n{}",
                run.text
            );
        }
    }
    let _ = std::fs::remove_dir_all(&app);
}

/// A service file of another name, named in deploy.toml or Compose, is
/// the service: its references order the plan like any other's.
#[test]
fn a_service_file_of_another_name_is_read_where_it_is_named() {
    let app = write_app(
        "named-config",
        &[
            (
                "deploy.toml",
                "[services.db]\npath = \"resources\"\nconfig = \"db.yml\"\n\n[services.api]\npath = \"api\"\n\n[stages.dev]\nregion = \"us-east-1\"\n",
            ),
            (
                "resources/db.yml",
                "service: db\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Outputs:\n    TableName:\n      Value: db-${sls:stage}\n",
            ),
            (
                "api/serverless.yml",
                "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    TABLE: ${cf:db-${sls:stage}.TableName}\n",
            ),
        ],
    );
    let run = xtask(&["plan", "dev", "--app", &arg(&app), "--format", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        plan["waves"],
        serde_json::json!([["db"], ["api"]]),
        "{}",
        run.text
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// A queue an event reads and a layer a function runs with, named by ARN
/// in another service, order that service after the one creating them; an
/// IAM statement naming the same queue needs nothing to exist and orders
/// nothing.
#[test]
fn a_resource_named_by_arn_orders_its_user_after_its_creator() {
    let app = write_app(
        "named-by-arn",
        &[
            (
                "shared/serverless.yml",
                "service: shared\nprovider:\n  name: aws\n  stage: ${opt:stage}\nlayers:\n  common:\n    name: common-${sls:stage}\n    path: layer\nresources:\n  Resources:\n    Jobs:\n      Type: AWS::SQS::Queue\n      Properties:\n        QueueName: jobs-${sls:stage}\n",
            ),
            (
                "worker/serverless.yml",
                "service: worker\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  layers:\n    - arn:aws:lambda:${aws:region}:${aws:accountId}:layer:common-${sls:stage}:latest\nfunctions:\n  work:\n    handler: h.work\n    events:\n      - sqs: arn:aws:sqs:${aws:region}:${aws:accountId}:jobs-${sls:stage}\n",
            ),
            (
                "api/serverless.yml",
                "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  iam:\n    role:\n      statements:\n        - Effect: Allow\n          Action: sqs:SendMessage\n          Resource: arn:aws:sqs:${aws:region}:${aws:accountId}:jobs-${sls:stage}\n",
            ),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["api", "shared"], ["worker"]]),
        "{plan}"
    );
    let reasons: Vec<&str> = plan["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("queue `jobs-dev` by name")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("layer `common-dev` by name")),
        "{reasons:?}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// Two service folders of one name in different places are two services,
/// keyed by their paths, not an app refused for a clash of keys.
#[test]
fn folders_of_one_name_are_keyed_by_their_paths() {
    let app = write_app(
        "same-folder-names",
        &[
            (
                "api/users/serverless.yml",
                "service: users-api\nprovider:\n  name: aws\n  stage: ${opt:stage}\n",
            ),
            (
                "data/users/serverless.yml",
                "service: users-data\nprovider:\n  name: aws\n  stage: ${opt:stage}\n",
            ),
            (
                "billing/serverless.yml",
                "service: billing\nprovider:\n  name: aws\n  stage: ${opt:stage}\n",
            ),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["api-users", "billing", "data-users"]]),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// Discovered services: a folder with a service file. Below one, a
/// `serverless.ts` is the service's code (a handler named so), which the
/// CLI never reads as a config; a YAML one is a service of its own.
#[test]
fn a_handler_named_serverless_ts_below_a_service_is_no_service() {
    let app = write_app(
        "handler-named-serverless",
        &[
            ("auth/serverless.yml", "service: auth\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  api:\n    handler: src/serverless.handler\n"),
            ("auth/src/serverless.ts", "import serverless from 'serverless-http';\nimport { missing } from './nowhere';\nexport const handler = serverless(missing);\n"),
            ("auth/jobs/serverless.yml", "service: auth-jobs\nprovider:\n  name: aws\n  stage: ${opt:stage}\n"),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["auth", "jobs"]]),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// The CLI takes the first alternative that has a value: a param Compose
/// passes always has one, so a `cf:` after it is never read and orders
/// nothing (it names a stack outside the app here, which would refuse the
/// plan if it were read).
#[test]
fn a_cf_after_a_param_compose_passes_is_never_read() {
    let app = write_app(
        "param-then-cf",
        &[
            (
                "serverless-compose.yml",
                "services:\n  data:\n    path: data\n  api:\n    path: api\n    params:\n      StreamArn: ${data.StreamArn}\n",
            ),
            (
                "data/serverless.yml",
                "service: data\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Outputs:\n    StreamArn:\n      Value: arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/1\n",
            ),
            (
                "api/serverless.yml",
                "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  environment:\n    STREAM: ${env:STREAM_ARN, param:StreamArn, cf:legacy-master.StreamArn}\n",
            ),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["data"], ["api"]]),
        "{plan}"
    );
    assert_eq!(plan["external"], serde_json::json!([]), "{plan}");
    let _ = std::fs::remove_dir_all(&app);
}

/// A state machine a service creates (a resource, or the step-functions
/// plugin's) orders after it a service whose rule targets it by ARN.
#[test]
fn a_state_machine_named_by_arn_orders_its_user_after_its_creator() {
    let app = write_app(
        "machine-by-arn",
        &[
            (
                "flows/serverless.yml",
                "service: flows\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Flow:\n      Type: AWS::StepFunctions::StateMachine\n      Properties:\n        StateMachineName: orders-flow-${sls:stage}\n        DefinitionString: '{}'\n        RoleArn: arn:aws:iam::123456789012:role/x\n",
            ),
            (
                "orders/serverless.yml",
                "service: orders\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Placed:\n      Type: AWS::Events::Rule\n      Properties:\n        EventPattern:\n          source: [orders]\n        Targets:\n          - Arn: arn:aws:states:${aws:region}:${aws:accountId}:stateMachine:orders-flow-${sls:stage}\n            Id: flow\n",
            ),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["flows"], ["orders"]]),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// An event bus a service creates (a resource, or an `eventBridge` event
/// naming it) orders after it the services whose rules use it by ARN or
/// by name.
#[test]
fn an_event_bus_named_by_arn_orders_its_user_after_its_creator() {
    let app = write_app(
        "bus-by-arn",
        &[
            (
                "bus/serverless.yml",
                "service: bus\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  audit:\n    handler: h.audit\n    events:\n      - eventBridge:\n          eventBus: app-bus-${sls:stage}\n          pattern:\n            source: [app]\n",
            ),
            (
                "orders/serverless.yml",
                "service: orders\nprovider:\n  name: aws\n  stage: ${opt:stage}\nfunctions:\n  placed:\n    handler: h.placed\n    events:\n      - eventBridge:\n          eventBus: arn:aws:events:${aws:region}:${aws:accountId}:event-bus/app-bus-${sls:stage}\n          pattern:\n            source: [orders]\n",
            ),
            (
                "billing/serverless.yml",
                "service: billing\nprovider:\n  name: aws\n  stage: ${opt:stage}\nresources:\n  Resources:\n    Invoices:\n      Type: AWS::Events::Rule\n      Properties:\n        EventBusName: app-bus-${sls:stage}\n        EventPattern:\n          source: [billing]\n",
            ),
        ],
    );
    let plan = plan_json(&app, "dev");
    assert_eq!(
        plan["waves"],
        serde_json::json!([["bus"], ["billing", "orders"]]),
        "{plan}"
    );
    let _ = std::fs::remove_dir_all(&app);
}

/// A layer ARN kept in a shared file that the service includes under
/// `custom` (`custom.shared: ${file(../shared.yml)}`, then
/// `${self:custom.shared.commonLayer}`) names the layer another service
/// makes: the layer's maker deploys first.
#[test]
fn a_layer_arn_kept_in_an_included_file_orders_its_maker_first() {
    let app = write_app(
        "layer-arn-included",
        &[
            ("shared.yml", "commonLayer: arn:aws:lambda:${aws:region}:${aws:accountId}:layer:common-${sls:stage}:latest\n"),
            ("a-users/serverless.yml", "service: users\ncustom:\n  shared: ${file(../shared.yml)}\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  layers:\n    - ${self:custom.shared.commonLayer}\nfunctions:\n  f:\n    handler: h.f\n"),
            ("b-layer/serverless.yml", "service: layer\nprovider:\n  name: aws\n  stage: ${opt:stage}\nlayers:\n  common:\n    path: layer\n    name: common-${sls:stage}\n"),
        ],
    );
    let plan = plan_json(&app, "dev");
    let found = edges(&plan);
    assert!(
        found
            .iter()
            .any(|(from, to, _)| from == "a-users" && to == "b-layer"),
        "{found:?}\n{plan:#}"
    );
}

/// A Compose param that reads an output of a service the file does not
/// have stops Compose ("The service … does not exist"): refused at its
/// line, not read as no order.
#[test]
fn a_compose_param_reading_no_service_of_the_file_is_refused() {
    let app = write_app(
        "compose-param-unknown-service",
        &[
            (
                "serverless-compose.yml",
                "services:\n  api:\n    path: api\n    params:\n      vpc: ${shared.VpcId}\n",
            ),
            (
                "api/serverless.yml",
                "service: api\nprovider:\n  name: aws\n  stage: ${opt:stage}\n",
            ),
        ],
    );
    let run = xtask(&["plan", "dev", "--app", &arg(&app)]);
    assert_ne!(run.code, Some(0), "{}", run.text);
    assert!(
        run.text.contains("serverless-compose.yml:5")
            && run
                .text
                .contains("`shared`, which is not a service of this file"),
        "{}",
        run.text
    );
}
