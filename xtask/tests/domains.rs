//! The custom-domain precheck on the real emulator: a deploy whose domain
//! certificate is missing, covers another name, or lives in another region
//! is refused before any change, each with its own message; with the right
//! certificate it goes ahead. (The emulator issues every certificate at
//! once, so "not issued" is shown by the unit test of `judge`.)

mod support;

use anyhow::{Context, Result};
use support::{arg, Harness};

const SERVICE: &str = "service: web\nprovider:\n  name: aws\n  stage: ${opt:stage}\n  deploymentBucket:\n    name: web-deployments-${sls:stage}\nresources:\n  Resources:\n    Files:\n      Type: AWS::S3::Bucket\n      Properties:\n        BucketName: web-files-${sls:stage}\n";

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
async fn a_certificate_that_cannot_serve_the_domain_refuses_the_deploy() -> Result<()> {
    let h = Harness::start("domains").await?;
    let issued = certificate(&h, "us-east-1", "api.example.com").await?;
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
            ("web/serverless.yml", SERVICE),
        ],
    );
    let app_arg = arg(&app);
    h.run(&["bootstrap", "dev", "--rehearse", "--app", &app_arg])
        .ok();
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
    h.run(&["deploy", "dev", "--rehearse", "--app", &app_arg])
        .ok();
    assert!(h.stack("web-dev").await?.is_some());
    Ok(())
}
