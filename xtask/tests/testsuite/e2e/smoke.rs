//! `cargo xtask smoke` against a small app on the emulator: coverage is
//! every endpoint or the run fails, naming the endpoint, and so do a
//! handler that answers 500 and a route that lets a request without a token
//! through.

use anyhow::Result;

use crate::support;
use crate::support::{arg, Harness};

const MANIFEST: &str = "[stages.local]\nregion = \"us-east-1\"\nemulator = true\n";

const HANDLERS: &str = r#"
export const hello = async () => ({ statusCode: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ hello: "world" }) });
export const secret = async (event) => ({ statusCode: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ sub: event.requestContext?.authorizer?.jwt?.claims?.sub ?? null }) });
export const broken = async () => ({ statusCode: 500, body: "internal error" });
"#;

/// The service with its routes; `secret_auth` says whether /secret keeps its authorizer.
fn service(extra_functions: &str, secret_auth: bool) -> String {
    let authorizer = if secret_auth {
        "\n          authorizer: users"
    } else {
        ""
    };
    format!(
        r#"service: mini
provider:
  name: aws
  runtime: nodejs24.x
  stage: ${{opt:stage}}
  httpApi:
    authorizers:
      users:
        type: jwt
        identitySource: $request.header.Authorization
        issuerUrl: !Join ['', ['https://cognito-idp.', !Ref AWS::Region, '.amazonaws.com/', !Ref Users]]
        audience:
          - !Ref UsersClient
functions:
  hello:
    handler: handler.hello
    events:
      - httpApi: GET /hello
  secret:
    handler: handler.secret
    events:
      - httpApi:
          method: GET
          path: /secret{authorizer}
{extra_functions}resources:
  Resources:
    Users:
      Type: AWS::Cognito::UserPool
      Properties:
        UserPoolName: mini-users-${{sls:stage}}
        UsernameAttributes: [email]
    UsersClient:
      Type: AWS::Cognito::UserPoolClient
      Properties:
        UserPoolId: !Ref Users
        ExplicitAuthFlows: [ALLOW_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
"#
    )
}

const SPEC: &str = r#"
[[check]]
service = "mini"
method = "GET"
path = "/hello"
expect = 200
json = { hello = "world" }

[[check]]
service = "mini"
method = "GET"
path = "/secret"
protected = true
expect = 200
json = { sub = "*" }
"#;

fn mini(h: &Harness) -> std::path::PathBuf {
    h.app(
        "mini",
        &[
            ("deploy.toml", MANIFEST),
            ("mini/serverless.yml", &service("", true)),
            ("mini/handler.mjs", HANDLERS),
            ("smoke.toml", SPEC),
        ],
    )
}

#[tokio::test]
async fn a_deploy_smoke_tests_every_endpoint_with_a_real_token() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("smoke-ok").await?;
    let app = arg(&mini(&h));
    let run = h.run(&["deploy", "local", "--app", &app]);
    run.ok();
    assert!(run.text.contains("3 passed, 0 failed"), "{}", run.text);
    let journal = h.journal("mini", "local");
    assert_eq!(support::smoke(&journal), (3, 0, 0), "{journal}");
    let junit_dir = h
        .dir
        .join("state/journal/mini/local")
        .join(journal["run_id"].as_str().unwrap_or(""));
    let junit = std::fs::read_to_string(junit_dir.join("smoke.xml"))?;
    let suite = junit
        .lines()
        .find(|l| l.trim_start().starts_with("<testsuite "))
        .unwrap_or_default();
    for attribute in [
        "name=\"smoke\"",
        "tests=\"3\"",
        "failures=\"0\"",
        "timestamp=\"",
    ] {
        assert!(suite.contains(attribute), "{attribute} in {junit}");
    }
    // The throwaway user is gone again.
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&h.sdk().await);
    let pools = cognito.list_user_pools().max_results(10).send().await?;
    for pool in pools.user_pools() {
        let users = cognito
            .list_users()
            .user_pool_id(pool.id().unwrap_or_default())
            .send()
            .await?;
        assert!(
            users.users().is_empty(),
            "smoke users left behind: {:?}",
            users.users()
        );
    }
    let run = h.run(&["smoke", "local", "--format", "json", "--app", &app]);
    run.ok();
    let report: serde_json::Value = serde_json::from_str(&run.text).expect("json");
    assert_eq!(report["passed"], 3);
    assert_eq!(report["failed"], 0);
    let variants: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["variant"].as_str())
        .collect();
    assert_eq!(
        variants,
        ["with token", "without token"],
        "the protected route is checked twice"
    );
    Ok(())
}

#[tokio::test]
async fn a_removed_spec_entry_fails_the_run_naming_the_endpoint() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("smoke-removed").await?;
    let dir = mini(&h);
    let app = arg(&dir);
    h.run(&["deploy", "local", "--app", &app]).ok();
    let without_hello = SPEC
        .split("[[check]]")
        .filter(|c| !c.contains("/hello"))
        .collect::<Vec<_>>()
        .join("[[check]]");
    std::fs::write(dir.join("smoke.toml"), without_hello)?;
    h.run(&["smoke", "local", "--app", &app])
        .fails_with("GET /hello in mini has no smoke check");
    Ok(())
}

#[tokio::test]
async fn an_endpoint_added_without_a_check_fails_the_run() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("smoke-added").await?;
    let dir = mini(&h);
    let app = arg(&dir);
    h.run(&["deploy", "local", "--app", &app]).ok();
    let extra = "  extra:\n    handler: handler.hello\n    events:\n      - httpApi: POST /extra\n";
    std::fs::write(dir.join("mini/serverless.yml"), service(extra, true))?;
    // The deploy itself succeeds; its smoke run fails and says why.
    let run = h.run(&["deploy", "local", "--app", &app]);
    run.fails_with("POST /extra in mini has no smoke check");
    run.fails_with("the deploy succeeded but its smoke test failed");
    assert_eq!(
        run.code,
        Some(3),
        "deployed but smoke failed has its own exit code"
    );
    // And its own outcome in the record, which the checklist reads.
    let journal = h.journal("mini", "local");
    assert_eq!(journal["outcome"], "deployed; smoke failed", "{journal}");
    assert_eq!(journal["smoke"]["result"], "ran", "{journal}");
    assert!(support::smoke(&journal).1 >= 1, "{journal}");
    // A check whose endpoint is gone fails too.
    std::fs::write(dir.join("smoke.toml"), format!("{SPEC}\n[[check]]\nservice = \"mini\"\nmethod = \"POST\"\npath = \"/extra\"\nexpect = 200\n\n[[check]]\nservice = \"mini\"\nmethod = \"DELETE\"\npath = \"/gone\"\nexpect = 204\n"))?;
    h.run(&["smoke", "local", "--app", &app])
        .fails_with("DELETE /gone in mini matches no endpoint");
    Ok(())
}

#[tokio::test]
async fn a_handler_that_answers_500_fails_the_run() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("smoke-500").await?;
    let dir = mini(&h);
    let broken =
        "  broken:\n    handler: handler.broken\n    events:\n      - httpApi: GET /broken\n";
    std::fs::write(dir.join("mini/serverless.yml"), service(broken, true))?;
    std::fs::write(dir.join("smoke.toml"), format!("{SPEC}\n[[check]]\nservice = \"mini\"\nmethod = \"GET\"\npath = \"/broken\"\nexpect = 200\n"))?;
    let run = h.run(&["deploy", "local", "--app", &arg(&dir)]);
    run.fails_with("GET /broken in mini answered 500, expected 200");
    Ok(())
}

#[tokio::test]
async fn a_route_that_lets_requests_without_a_token_through_fails_the_run() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("smoke-open").await?;
    let dir = mini(&h);
    // The authorizer is gone from /secret, but the spec says it is protected.
    std::fs::write(dir.join("mini/serverless.yml"), service("", false))?;
    let run = h.run(&["deploy", "local", "--app", &arg(&dir)]);
    run.fails_with("GET /secret in mini answered 200 without a token");
    Ok(())
}

/// A team's app without smoke.toml: its first deploy succeeds and points
/// at `--init`, which writes one check per declared route; the next
/// deploy then passes its smoke test, and a second `--init` leaves the
/// edited spec alone.
#[tokio::test]
async fn init_writes_a_spec_the_first_deploy_passes() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("smoke-init").await?;
    let dir = h.copy_fixture("formats")?;
    std::fs::remove_file(dir.join("smoke.toml"))?;
    let app = arg(&dir);
    // The first deploy without a spec is no broken deploy: it says what
    // was not checked and how to write the checks.
    let first = h.run(&["deploy", "local", "--app", &app]);
    first.ok();
    assert!(
        first.text.contains("no smoke test:") && first.text.contains("smoke local --init"),
        "{}",
        first.text
    );
    h.run(&["smoke", "local", "--app", &app])
        .fails_with("smoke local --init");
    let init = h.run(&["smoke", "local", "--init", "--app", &app]);
    init.ok();
    let spec = std::fs::read_to_string(dir.join("smoke.toml"))?;
    assert!(
        spec.contains("service = \"web\"") && spec.contains("path = \"/items\""),
        "{spec}"
    );
    h.run(&["deploy", "local", "--app", &app]).ok();
    let again = h.run(&["smoke", "local", "--init", "--app", &app]);
    assert_eq!(again.code, Some(2), "{}", again.text);
    again.fails_with("exists");
    assert_eq!(std::fs::read_to_string(dir.join("smoke.toml"))?, spec);

    // Routes with path parameters and writing methods give a spec the
    // smoke runner reads, one check per route.
    let tb365 = h.copy_fixture("tb365")?;
    std::fs::remove_file(tb365.join("smoke.toml"))?;
    h.run(&["smoke", "dev", "--init", "--app", &arg(&tb365)])
        .ok();
    let written = smoke_tests::spec::Spec::load(&tb365.join("smoke.toml"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(written.checks.len(), 17, "one check per tb365 endpoint");
    assert!(written.checks.iter().any(|c| c.mutates));
    Ok(())
}

/// An authorizer whose issuer and audience come from another stack
/// (`${cf:auth-<stage>.UserPoolId}`, as the deploy resolved them): smoke
/// reads the same outputs and signs in against that pool.
#[tokio::test]
async fn a_cross_stack_authorizer_is_smoke_tested_with_a_real_token() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("smoke-cross-stack").await?;
    let auth = r#"service: auth
provider:
  name: aws
  runtime: nodejs24.x
  stage: ${opt:stage}
resources:
  Resources:
    Users:
      Type: AWS::Cognito::UserPool
      Properties:
        UserPoolName: auth-users-${sls:stage}
        UsernameAttributes: [email]
    UsersClient:
      Type: AWS::Cognito::UserPoolClient
      Properties:
        UserPoolId: !Ref Users
        ExplicitAuthFlows: [ALLOW_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
  Outputs:
    UserPoolId:
      Value: !Ref Users
    ClientId:
      Value: !Ref UsersClient
"#;
    let api = r#"service: api
provider:
  name: aws
  runtime: nodejs24.x
  stage: ${opt:stage}
  httpApi:
    authorizers:
      users:
        type: jwt
        identitySource: $request.header.Authorization
        issuerUrl: https://cognito-idp.${aws:region}.amazonaws.com/${cf:auth-${sls:stage}.UserPoolId}
        audience:
          - ${cf:auth-${sls:stage}.ClientId}
functions:
  hello:
    handler: handler.hello
    events:
      - httpApi: GET /hello
  secret:
    handler: handler.secret
    events:
      - httpApi:
          method: GET
          path: /secret
          authorizer: users
"#;
    let app = h.app(
        "cross",
        &[
            ("deploy.toml", MANIFEST),
            ("auth/serverless.yml", auth),
            ("api/serverless.yml", api),
            ("api/handler.mjs", HANDLERS),
            ("smoke.toml", &SPEC.replace("\"mini\"", "\"api\"")),
        ],
    );
    let run = h.run(&["deploy", "local", "--app", &arg(&app)]);
    run.ok();
    assert!(run.text.contains("3 passed, 0 failed"), "{}", run.text);
    Ok(())
}
