//! Custom domains on the real emulator. Before a deploy changes anything,
//! a certificate that is missing, covers another name or lives in another
//! region refuses it, as does a domain for a service with no API, each with
//! its own message. After the deploy the domain exists, its root mapping
//! serves the service's HTTP API, the smoke test calls every read-only
//! check through it (the emulator routes by host name), `info` shows it, a
//! new certificate updates it, and `remove` deletes it with the stack.
//! (The emulator issues every certificate at once, so "not issued" is
//! shown by the unit test of `judge`.)

use anyhow::{Context, Result};

use crate::support;
use crate::support::{arg, Harness};

const SERVICE: &str = "service: web\nprovider:\n  name: aws\n  runtime: nodejs24.x\n  stage: ${opt:stage}\n  deploymentBucket:\n    name: web-deployments-${sls:stage}\nfunctions:\n  hello:\n    handler: handler.hello\n    events:\n      - httpApi: GET /hello\n";

const NO_API: &str = "service: web\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  deploymentBucket:\n    name: web-deployments-${sls:stage}\nresources:\n  Resources:\n    Files:\n      Type: AWS::S3::Bucket\n";

const HANDLER: &str = r#"export const hello = async (event) => ({ statusCode: 200, headers: { "content-type": "application/json" }, body: JSON.stringify({ host: event.headers?.host ?? null }) });"#;

const SPEC: &str =
    "[[check]]\nservice = \"web\"\nmethod = \"GET\"\npath = \"/hello\"\nexpect = 200\n";

fn manifest(certificate: &str) -> String {
    format!(
        "[app]\nname = \"web\"\n\n[services.web]\npath = \"web\"\n\n[stages.dev]\nregion = \"us-east-1\"\n\n[stages.dev.domains]\nweb = {{ name = \"api.example.com\", certificate = \"{certificate}\" }}\n"
    )
}

async fn certificate(h: &Harness, region: &str, name: &str) -> Result<String> {
    let config = h.target.sdk_config(region).await;
    let acm = aws_sdk_acm::Client::new(&config);
    let out = acm.request_certificate().domain_name(name).send().await?;
    out.certificate_arn().map(str::to_string).context("an ARN")
}

#[tokio::test]
async fn a_custom_domain_is_checked_made_smoke_tested_and_removed() -> Result<()> {
    if support::e2e_skipped() {
        return Ok(());
    }
    let h = Harness::start("domains").await?;
    let issued = certificate(&h, "us-east-1", "api.example.com").await?;
    let wildcard = certificate(&h, "us-east-1", "*.example.com").await?;
    let other = certificate(&h, "us-east-1", "www.example.com").await?;
    let elsewhere = certificate(&h, "eu-west-1", "api.example.com").await?;
    let missing = issued
        .rsplit_once('/')
        .map(|(head, _)| format!("{head}/0000dead-beef-4000-8000-000000000000"))
        .context("an id")?;
    let app = h.app(
        "web",
        &[
            ("deploy.toml", &manifest(&issued)),
            ("web/serverless.yml", NO_API),
            ("web/handler.mjs", HANDLER),
            ("smoke.toml", SPEC),
        ],
    );
    let app_arg = arg(&app);
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .fails_with("the service declares no HTTP API");
    std::fs::write(app.join("web/serverless.yml"), SERVICE)?;
    for (certificate, needle) in [
        (&missing, "does not exist"),
        (&other, "covers www.example.com, not api.example.com"),
        (
            &elsewhere,
            "lives in eu-west-1, but its API needs one in us-east-1",
        ),
    ] {
        std::fs::write(app.join("deploy.toml"), manifest(certificate))?;
        let refused = h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg]);
        refused.fails_with(needle);
        refused.fails_with("nothing was deployed");
        assert!(
            h.stack("web-dev").await?.is_none(),
            "refused before any change"
        );
    }

    std::fs::write(app.join("deploy.toml"), manifest(&issued))?;
    let deployed = h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg]);
    deployed.ok();
    assert!(
        deployed
            .text
            .contains("api.example.com: custom domain created")
            && deployed.text.contains("api.example.com: mapped to API"),
        "{}",
        deployed.text
    );
    // The smoke test called the route through the domain, and passed.
    assert!(
        deployed.text.contains("via api.example.com")
            && deployed.text.contains("2 passed, 0 failed"),
        "{}",
        deployed.text
    );
    let (_, outputs) = h.stack("web-dev").await?.context("deployed")?;
    let api_id = outputs.get("HttpApiId").context("an HTTP API")?.clone();
    let config = h.target.sdk_config("us-east-1").await;
    let apigw = aws_sdk_apigatewayv2::Client::new(&config);
    let domain = apigw
        .get_domain_name()
        .domain_name("api.example.com")
        .send()
        .await?;
    let cert_now = |d: &aws_sdk_apigatewayv2::operation::get_domain_name::GetDomainNameOutput| {
        d.domain_name_configurations()
            .first()
            .and_then(|c| c.certificate_arn())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(cert_now(&domain), issued);
    let mappings = apigw
        .get_api_mappings()
        .domain_name("api.example.com")
        .send()
        .await?;
    let mapped: Vec<(Option<&str>, Option<&str>)> = mappings
        .items()
        .iter()
        .map(|m| (m.api_id(), m.stage()))
        .collect();
    assert_eq!(mapped, vec![(Some(api_id.as_str()), Some("$default"))]);

    let info = h.run(&["info", "dev", "--rehearse", "--app", &app_arg]);
    info.ok();
    assert!(
        info.text.contains(&format!(
            "domain     https://api.example.com  API {api_id} ($default)"
        )),
        "{}",
        info.text
    );

    // A new certificate updates the domain; the mapping stays as it is.
    std::fs::write(app.join("deploy.toml"), manifest(&wildcard))?;
    let again = h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg]);
    again.ok();
    assert!(
        again
            .text
            .contains(&format!("certificate {issued} replaced by {wildcard}"))
            && !again.text.contains("mapped to API"),
        "{}",
        again.text
    );
    let domain = apigw
        .get_domain_name()
        .domain_name("api.example.com")
        .send()
        .await?;
    assert_eq!(cert_now(&domain), wildcard);

    let removed = h.run(&["remove", "dev", "--rehearse", "--yes", "--app", &app_arg]);
    removed.ok();
    assert!(
        removed
            .text
            .contains("api.example.com: custom domain deleted"),
        "{}",
        removed.text
    );
    let gone = apigw
        .get_domain_name()
        .domain_name("api.example.com")
        .send()
        .await;
    assert!(
        gone.is_err_and(|e| e
            .as_service_error()
            .is_some_and(|e| e.is_not_found_exception())),
        "the domain went with its stack"
    );
    assert!(h.stack("web-dev").await?.is_none());
    Ok(())
}
