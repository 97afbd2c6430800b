//! Custom domains of a stage's APIs (`[stages.<stage>.domains]` in
//! deploy.toml). Checked before a deploy changes anything: the ACM
//! certificate must exist, be issued, cover the name, and live in the
//! stage's region. Made after a successful deploy: a regional custom
//! domain (which serves HTTP APIs and REST APIs of any endpoint type)
//! with one root API mapping to the service's API, updated when the
//! certificate or the API changes; released when the service is removed.

use anyhow::{bail, Context, Result};
use aws_config::SdkConfig;
use aws_sdk_apigatewayv2::types::{DomainNameConfiguration, EndpointType, SecurityPolicy};

use crate::app::stage::{Domain, Stage};
use crate::app::{App, Service};
use crate::aws;
use crate::aws::target::StageTarget;

/// What ACM says of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub status: String,
    /// Its domain name and subject alternative names.
    pub names: Vec<String>,
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
        if api_of_template(service).is_none() {
            problems.push(format!(
                "{} ({}): the service declares no HTTP API (no `http` or `httpApi` event) to serve on it",
                domain.name, domain.service
            ));
            continue;
        }
        // A regional custom domain's certificate lives in the API's region.
        let needed = stage.region().to_string();
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

/// The kind of API a service's stack holds: an HTTP API (`httpApi`
/// events) mapped on its `$default` stage, or a REST API (`http` events)
/// mapped on the stage's own name. An HTTP API wins when a service has
/// both, as the framework's own domain plugin does.
fn api_of_template(service: &Service) -> Option<&'static str> {
    let events = service.events();
    let has = |kind: &str| events.iter().any(|e| e.get(kind).is_some());
    if has("httpApi") {
        Some("AWS::ApiGatewayV2::Api")
    } else if has("http") {
        Some("AWS::ApiGateway::RestApi")
    } else {
        None
    }
}

/// The deployed API of a service and the API stage a mapping names.
async fn deployed_api(
    target: &StageTarget,
    service: &Service,
    stage: &Stage,
) -> Result<Option<(String, String)>> {
    let Some(kind) = api_of_template(service) else {
        return Ok(None);
    };
    let Some(stack) = service.stack_name(stage) else {
        return Ok(None);
    };
    let resources = aws::stacks::list_resources(&target.cfn(), &stack)
        .await?
        .unwrap_or_default();
    let api_stage = if kind == "AWS::ApiGatewayV2::Api" {
        "$default".to_string()
    } else {
        stage.name().to_string()
    };
    Ok(resources
        .into_iter()
        .find(|r| r.resource_type == kind)
        .map(|r| (r.physical_id, api_stage)))
}

fn client(target: &StageTarget) -> aws_sdk_apigatewayv2::Client {
    aws_sdk_apigatewayv2::Client::new(&target.config)
}

/// Every API mapping of the custom domain `name`.
async fn mappings(
    api: &aws_sdk_apigatewayv2::Client,
    name: &str,
) -> Result<Vec<aws_sdk_apigatewayv2::types::ApiMapping>> {
    let found = api
        .get_api_mappings()
        .domain_name(name)
        .send()
        .await
        .map_err(aws::cannot(format!("read the API mappings of {name}")))?;
    Ok(found.items().to_vec())
}

/// The mapping of a domain's root (no base path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootMapping {
    pub id: String,
    pub api: String,
    /// The API's stage it serves (`$default` for an HTTP API).
    pub stage: String,
}

/// A custom domain as API Gateway has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub certificate: String,
    /// The host name DNS must point the domain at (a CNAME or an alias).
    pub dns_target: String,
    pub mapping: Option<RootMapping>,
}

/// The custom domain `name` as deployed; `None` when it does not exist.
pub async fn deployed(target: &StageTarget, name: &str) -> Result<Option<Deployed>> {
    let api = client(target);
    let found = match api.get_domain_name().domain_name(name).send().await {
        Ok(found) => found,
        Err(err) => {
            if err
                .as_service_error()
                .is_some_and(|e| e.is_not_found_exception())
            {
                return Ok(None);
            }
            bail!(
                "cannot read custom domain {name}: {}",
                aws::error_message(&err)
            )
        }
    };
    let config = found.domain_name_configurations().first();
    let mapping = mappings(&api, name)
        .await?
        .into_iter()
        .find(|m| m.api_mapping_key().unwrap_or_default().is_empty())
        .map(|m| RootMapping {
            id: m.api_mapping_id().unwrap_or_default().to_string(),
            api: m.api_id().unwrap_or_default().to_string(),
            stage: m.stage().unwrap_or_default().to_string(),
        });
    Ok(Some(Deployed {
        certificate: config
            .and_then(|c| c.certificate_arn())
            .unwrap_or_default()
            .to_string(),
        dns_target: config
            .and_then(|c| c.api_gateway_domain_name())
            .unwrap_or_default()
            .to_string(),
        mapping,
    }))
}

/// Makes every custom domain of the deployed services serve them: the
/// domain is created (regional, TLS 1.2) or its certificate updated, and
/// its root mapping created or pointed at the service's API. One line per
/// change, for the output and the journal; nothing when all were current.
pub async fn apply(
    app: &App,
    stage: &Stage,
    target: &StageTarget,
    services: &[String],
) -> Result<Vec<String>> {
    let api = client(target);
    let mut said = Vec::new();
    for domain in stage
        .domains()
        .iter()
        .filter(|d| services.contains(&d.service))
    {
        let name = &domain.name;
        let service = app
            .service(&domain.service)
            .context("a domain's service is checked by the precheck")?;
        let Some((api_id, api_stage)) = deployed_api(target, service, stage).await? else {
            bail!(
                "{name}: the stack of {} holds no API to map the domain to",
                domain.service
            );
        };
        let config = DomainNameConfiguration::builder()
            .certificate_arn(&domain.certificate)
            .endpoint_type(EndpointType::Regional)
            .security_policy(SecurityPolicy::Tls12)
            .build();
        let before = deployed(target, name).await?;
        match &before {
            None => {
                api.create_domain_name()
                    .domain_name(name)
                    .domain_name_configurations(config)
                    .send()
                    .await
                    .map_err(aws::cannot(format!("create custom domain {name}")))?;
                said.push(format!("{name}: custom domain created"));
            }
            Some(d) if d.certificate != domain.certificate => {
                api.update_domain_name()
                    .domain_name(name)
                    .domain_name_configurations(config)
                    .send()
                    .await
                    .map_err(aws::cannot(format!("update custom domain {name}")))?;
                said.push(format!(
                    "{name}: certificate {} replaced by {}",
                    d.certificate, domain.certificate
                ));
            }
            Some(_) => {}
        }
        match before.as_ref().and_then(|d| d.mapping.clone()) {
            Some(current) if current.api == api_id && current.stage == api_stage => {}
            Some(current) => {
                let (old_api, id) = (current.api, current.id);
                api.update_api_mapping()
                    .domain_name(name)
                    .api_mapping_id(id)
                    .api_id(&api_id)
                    .stage(&api_stage)
                    .send()
                    .await
                    .map_err(aws::cannot(format!("update the mapping of {name}")))?;
                said.push(format!(
                    "{name}: mapping moved from API {old_api} to API {api_id} ({api_stage}) of {}",
                    domain.service
                ));
            }
            None => {
                api.create_api_mapping()
                    .domain_name(name)
                    .api_id(&api_id)
                    .stage(&api_stage)
                    .send()
                    .await
                    .map_err(aws::cannot(format!("map {name} to API {api_id}")))?;
                said.push(format!(
                    "{name}: mapped to API {api_id} ({api_stage}) of {}",
                    domain.service
                ));
            }
        }
    }
    Ok(said)
}

/// Before a service's stack goes, its custom domains go too: the mapping
/// to its API and, when nothing else is mapped there, the domain. One line
/// per change.
pub async fn release(
    app: &App,
    stage: &Stage,
    target: &StageTarget,
    service_key: &str,
) -> Result<Vec<String>> {
    let api = client(target);
    let mut said = Vec::new();
    let Some(service) = app.service(service_key) else {
        return Ok(said);
    };
    if !stage.domains().iter().any(|d| d.service == service_key) {
        return Ok(said);
    }
    let api_id = deployed_api(target, service, stage)
        .await?
        .map(|(id, _)| id);
    for domain in stage.domains().iter().filter(|d| d.service == service_key) {
        let name = &domain.name;
        if deployed(target, name).await?.is_none() {
            continue;
        }
        let mut left = 0;
        for mapping in mappings(&api, name).await? {
            let mine = api_id.is_some() && mapping.api_id() == api_id.as_deref();
            let Some(id) = mapping.api_mapping_id().filter(|_| mine) else {
                left += 1;
                continue;
            };
            api.delete_api_mapping()
                .domain_name(name)
                .api_mapping_id(id)
                .send()
                .await
                .map_err(aws::cannot(format!("delete the mapping of {name}")))?;
            said.push(format!(
                "{name}: mapping to API {} removed",
                mapping.api_id().unwrap_or_default()
            ));
        }
        if left == 0 {
            api.delete_domain_name()
                .domain_name(name)
                .send()
                .await
                .map_err(aws::cannot(format!("delete custom domain {name}")))?;
            said.push(format!("{name}: custom domain deleted"));
        } else {
            said.push(format!(
                "{name}: kept, {left} other mapping(s) still use it"
            ));
        }
    }
    Ok(said)
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
