//! Custom domains of a stage's APIs (`[stages.<stage>.domains]` in
//! deploy.toml), checked before a deploy changes anything: the ACM
//! certificate must exist, be issued, cover the name, and live in the
//! region the API type needs (the stage's region for HTTP APIs and
//! regional REST APIs, us-east-1 for edge-optimized REST APIs).

use anyhow::{bail, Result};
use aws_config::SdkConfig;

use crate::app::routes;
use crate::app::stage::{Domain, Stage};
use crate::app::yaml::Node;
use crate::app::{App, Service};
use crate::aws;

/// What ACM says of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub status: String,
    /// Its domain name and subject alternative names.
    pub names: Vec<String>,
}

/// The region a custom domain's certificate must live in for the
/// service's API: us-east-1 for an edge-optimized REST API (the
/// framework's default for `http` events), else the stage's region.
pub fn needed_region(service: &Service, stage: &Stage) -> String {
    let rest = routes::routes(service, stage)
        .iter()
        .any(|r| r.kind == "http");
    let endpoint = service
        .doc
        .path(&["provider", "endpointType"])
        .and_then(Node::as_str)
        .map(str::to_ascii_uppercase);
    if rest && !matches!(endpoint.as_deref(), Some("REGIONAL" | "PRIVATE")) {
        "us-east-1".into()
    } else {
        stage.region().to_string()
    }
}

/// Whether the certificate serves the domain; the reason when it does not.
pub fn judge(domain: &Domain, found: Option<&Certificate>, needed: &str) -> Result<(), String> {
    let arn = &domain.certificate;
    let lives = Domain::certificate_region(arn).unwrap_or_default();
    if lives != needed {
        return Err(format!(
            "{} ({}): certificate {arn} lives in {lives}, but its API needs one in {needed}",
            domain.name, domain.service
        ));
    }
    let Some(cert) = found else {
        return Err(format!(
            "{} ({}): certificate {arn} does not exist (or these credentials cannot read it)",
            domain.name, domain.service
        ));
    };
    if cert.status != "ISSUED" {
        return Err(format!(
            "{} ({}): certificate {arn} is {}, not issued; finish its validation (DNS record) first",
            domain.name, domain.service, cert.status
        ));
    }
    if !cert.names.iter().any(|n| domain.covered_by(n)) {
        return Err(format!(
            "{} ({}): certificate {arn} covers {}, not {}",
            domain.name,
            domain.service,
            cert.names.join(", "),
            domain.name
        ));
    }
    Ok(())
}

/// Checks every custom domain of the stage; one error naming each that
/// cannot be served.
pub async fn precheck(app: &App, stage: &Stage, config: &SdkConfig) -> Result<()> {
    let mut problems = Vec::new();
    for domain in stage.domains() {
        let Some(service) = app.service(&domain.service) else {
            problems.push(format!(
                "{}: no service `{}` in the app",
                domain.name, domain.service
            ));
            continue;
        };
        let needed = needed_region(service, stage);
        let region = Domain::certificate_region(&domain.certificate).unwrap_or_default();
        let found = if region == needed {
            describe(config, region, &domain.certificate).await?
        } else {
            None
        };
        if let Err(problem) = judge(domain, found.as_ref(), &needed) {
            problems.push(problem);
        }
    }
    if !problems.is_empty() {
        bail!(
            "the custom domains of stage {stage} cannot be served:\n  {}\nnothing was deployed",
            problems.join("\n  ")
        );
    }
    Ok(())
}

async fn describe(config: &SdkConfig, region: &str, arn: &str) -> Result<Option<Certificate>> {
    let acm = aws_sdk_acm::Client::from_conf(
        aws_sdk_acm::config::Builder::from(config)
            .region(aws_sdk_acm::config::Region::new(region.to_string()))
            .build(),
    );
    match acm.describe_certificate().certificate_arn(arn).send().await {
        Ok(out) => Ok(out.certificate().map(|c| {
            let mut names: Vec<String> = c.domain_name().map(str::to_string).into_iter().collect();
            for name in c.subject_alternative_names() {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
            Certificate {
                status: c
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "UNKNOWN".into()),
                names,
            }
        })),
        Err(err) => {
            let not_found = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception());
            let message = aws::error_message(&err);
            if not_found || message.contains("not found") || message.contains("does not exist") {
                Ok(None)
            } else {
                bail!("cannot read certificate {arn}: {message}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(name: &str, region: &str) -> Domain {
        Domain {
            service: "api".into(),
            name: name.into(),
            certificate: format!("arn:aws:acm:{region}:123456789012:certificate/abc"),
        }
    }

    fn cert(status: &str, names: &[&str]) -> Certificate {
        Certificate {
            status: status.into(),
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn each_reason_a_certificate_cannot_serve_has_its_own_message() {
        let d = domain("api.example.com", "eu-west-1");
        assert_eq!(
            judge(&d, Some(&cert("ISSUED", &["api.example.com"])), "eu-west-1"),
            Ok(())
        );
        assert_eq!(
            judge(&d, Some(&cert("ISSUED", &["*.example.com"])), "eu-west-1"),
            Ok(())
        );
        let missing = judge(&d, None, "eu-west-1").unwrap_err();
        assert!(missing.contains("does not exist"), "{missing}");
        let pending = judge(
            &d,
            Some(&cert("PENDING_VALIDATION", &["api.example.com"])),
            "eu-west-1",
        )
        .unwrap_err();
        assert!(
            pending.contains("is PENDING_VALIDATION, not issued"),
            "{pending}"
        );
        let other = judge(
            &d,
            Some(&cert("ISSUED", &["www.example.com", "*.other.com"])),
            "eu-west-1",
        )
        .unwrap_err();
        assert!(
            other.contains("covers www.example.com, *.other.com, not api.example.com"),
            "{other}"
        );
        let far = judge(&d, Some(&cert("ISSUED", &["api.example.com"])), "us-east-1").unwrap_err();
        assert!(
            far.contains("lives in eu-west-1, but its API needs one in us-east-1"),
            "{far}"
        );
        // A wildcard covers one label, never the apex or two labels.
        let deep = domain("a.b.example.com", "eu-west-1");
        assert!(judge(
            &deep,
            Some(&cert("ISSUED", &["*.example.com"])),
            "eu-west-1"
        )
        .is_err());
        let apex = domain("example.com", "eu-west-1");
        assert!(judge(
            &apex,
            Some(&cert("ISSUED", &["*.example.com"])),
            "eu-west-1"
        )
        .is_err());
    }
}
