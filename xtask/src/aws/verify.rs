//! The smoke driver: every endpoint of the deployed app checked
//! against the app's `smoke.toml`, with real Cognito tokens for protected
//! routes. `deploy` runs it after every successful deploy.
//!
//! On an unprotected stage a throwaway user is created (random name and
//! password), signed in with `USER_PASSWORD_AUTH` and deleted afterwards; on
//! a protected stage the user comes from `SMOKE_USERNAME`/`SMOKE_PASSWORD`
//! and no user is ever created. Tokens and passwords are never printed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType, MessageActionType};
use smoke_tests::{Options, Report, Spec};

use crate::app::stage::Stage;
use crate::app::vars;
use crate::app::yaml::{Node, Value};
use crate::app::App;
use crate::aws::target::StageTarget;
use crate::aws::{self};
use crate::aws::{domains, endpoints};
use crate::cfn::intrinsic::{self, Env};
use crate::sys::hint;

/// The spec's file name, next to deploy.toml.
pub const SPEC_FILE: &str = "smoke.toml";

/// How to run a smoke pass.
pub struct SmokeOptions {
    pub allow_mutating: bool,
    pub run_id: String,
    pub junit: Option<PathBuf>,
    /// How many checks run at once (`None`: the runner's default).
    pub concurrency: Option<usize>,
}

/// What a smoke or load run of the stage works with: the spec, every
/// endpoint with its deployed URL, the runner's options (a token when a
/// route needs one) and the throwaway user made for it, if any.
struct Prepared {
    spec: Spec,
    endpoints: Vec<smoke_tests::Endpoint>,
    options: Options,
    user: Option<(Identity, String)>,
}

impl Prepared {
    async fn new(
        app: &App,
        stage: &Stage,
        target: &StageTarget,
        run_id: &str,
        allow_mutating: bool,
    ) -> Result<Prepared> {
        let stacks = target.stacks();
        let mut states = Vec::new();
        for service in &app.services {
            states.push((
                service.key.clone(),
                stacks.describe_service(service, stage).await?,
            ));
        }
        let endpoints = endpoints::endpoints(app, stage, &states, target.target.endpoint());
        let spec_path = app.root.join(SPEC_FILE);
        let spec = if spec_path.exists() {
            // A FIFO or a device would block the read forever; a huge file is
            // no spec. Both are refused, naming the file.
            crate::app::yaml::read_text(&spec_path)?;
            Spec::load(&spec_path)?
        } else {
            Spec {
                path: spec_path,
                checks: Vec::new(),
                load: Default::default(),
            }
        };
        // A rehearsal of a protected stage runs on the emulator, where there
        // are no real users or data to protect: every check runs, with a
        // throwaway user. The runner's guard refuses, as on the real stage
        // (`protected_stage` is the same), every write to an id this run
        // did not make.
        let rehearsal = target.is_rehearsal();
        let mut options = Options {
            run_id: run_id.to_lowercase(),
            protected_stage: stage.is_protected(),
            allow_mutating: allow_mutating || rehearsal,
            ..Options::default()
        };
        let mut user = None;
        if endpoints.iter().any(|e| e.protected)
            || spec.checks.iter().any(|c| c.protected == Some(true))
        {
            match Identity::find(app, stage, target).await {
                Ok(identity) => match identity.token(stage, rehearsal, run_id).await {
                    Ok((token, created)) => {
                        options.token = Some(token);
                        user = created.map(|name| (identity, name));
                    }
                    Err(err) => options.no_token_reason = Some(format!("{err:#}")),
                },
                Err(err) => options.no_token_reason = Some(format!("{err:#}")),
            }
        }
        Ok(Prepared {
            spec,
            endpoints,
            options,
            user,
        })
    }

    /// Deletes the throwaway user, if one was made.
    async fn finish(self) {
        if let Some((identity, name)) = self.user {
            if let Err(err) = identity.delete_user(&name).await {
                crate::errln!("warning: could not delete the smoke user: {err:#}");
            }
        }
    }
}

/// Runs every check of the app on the stage's target.
pub async fn run(
    app: &App,
    stage: &Stage,
    target: &StageTarget,
    opts: &SmokeOptions,
) -> Result<Report> {
    let mut prepared = Prepared::new(app, stage, target, &opts.run_id, opts.allow_mutating).await?;
    if let Some(concurrency) = opts.concurrency {
        prepared.options.concurrency = concurrency;
    }
    let (spec, endpoints, options) = (&prepared.spec, &prepared.endpoints, &prepared.options);
    let mut report = smoke_tests::run(spec, endpoints, options).await;
    let domains = through_domains(stage, target, spec, endpoints, options, &mut report).await;
    if target.is_rehearsal() && stage.is_protected() {
        crate::errln!("{}", real_stage_needs(stage, spec, prepared.user.is_some()));
    }
    prepared.finish().await;
    domains?;
    if let Some(path) = &opts.junit {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, report.junit())
            .with_context(|| format!("cannot write {}", crate::sys::paths::display(path)))?;
    }
    Ok(report)
}

/// Drives the spec's checks under load: on a protected stage only those
/// whose every request reads (a rehearsal included: it rehearses the real
/// stage's load), elsewhere all of them. The generator decides which
/// (`smoke_tests::load::left_out`), and its guard refuses any writing
/// request to a protected stage that came through anyway.
pub async fn load(
    app: &App,
    stage: &Stage,
    target: &StageTarget,
    run_id: &str,
    plan: &smoke_tests::load::Plan,
) -> Result<smoke_tests::load::LoadReport> {
    let mut prepared = Prepared::new(app, stage, target, run_id, !stage.is_protected()).await?;
    prepared.options.timeout = std::time::Duration::from_secs(30);
    let checks = &prepared.spec.checks;
    if checks
        .iter()
        .all(|c| smoke_tests::load::left_out(c, &prepared.options).is_some())
    {
        let some = !checks.is_empty();
        prepared.finish().await;
        let spec = crate::sys::paths::display(&app.root.join(SPEC_FILE));
        if stage.is_protected() && some {
            anyhow::bail!(
                "{spec} has no check that only reads, and stage {stage} is protected: load sends only reads there; add a GET check of an endpoint to {spec}"
            );
        }
        anyhow::bail!(
            "{spec} has no check to drive on stage {stage}; `{}` writes one per endpoint",
            hint::xtask(&format!("smoke {stage} --init"))
        );
    }
    let report = smoke_tests::load::drive(
        &prepared.spec,
        checks,
        &prepared.endpoints,
        &prepared.options,
        plan,
        Vec::new(),
    )
    .await;
    prepared.finish().await;
    Ok(report)
}

/// Every read-only check again through each custom domain of the stage,
/// reached at the address its DNS record must point at (the API Gateway
/// domain on AWS, the emulator, which routes by host name), so a domain is
/// checked before its DNS record exists: certificate, mapping and routes.
/// The outcomes join the report as `via <domain>`.
async fn through_domains(
    stage: &Stage,
    target: &StageTarget,
    spec: &Spec,
    endpoints: &[smoke_tests::Endpoint],
    options: &Options,
    report: &mut Report,
) -> Result<()> {
    for domain in stage.domains() {
        let name = &domain.name;
        let Some(deployed) = domains::deployed(target, name).await? else {
            report.coverage.push(format!(
                "custom domain {name} of {} does not exist yet; `{}` creates it",
                domain.service,
                hint::xtask(&format!("deploy {stage}"))
            ));
            continue;
        };
        let (base, at) = match target.target.endpoint() {
            Some(endpoint) => {
                let authority = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
                let authority = authority.trim_end_matches('/');
                let port = authority.rsplit_once(':').map_or("80", |(_, p)| p);
                (format!("http://{name}:{port}"), authority.to_string())
            }
            None => (
                format!("https://{name}"),
                format!("{}:443", deployed.dns_target),
            ),
        };
        let addr = match tokio::net::lookup_host(at.as_str()).await {
            Ok(mut addrs) => addrs.next(),
            Err(_) => None,
        };
        let Some(addr) = addr else {
            report.coverage.push(format!(
                "custom domain {name}: cannot find the address of {at} to check it"
            ));
            continue;
        };
        let ours: Vec<smoke_tests::Endpoint> = endpoints
            .iter()
            .filter(|e| e.service == domain.service)
            .map(|e| smoke_tests::Endpoint {
                base_url: Some(base.clone()),
                ..e.clone()
            })
            .collect();
        let reads = Spec {
            load: spec.load,
            path: spec.path.clone(),
            checks: spec
                .checks
                .iter()
                .filter(|c| c.service == domain.service && !c.changes_data())
                .cloned()
                .collect(),
        };
        let mut via = options.clone();
        via.resolve.push((name.clone(), addr));
        // Coverage was judged by the first pass; this one only calls.
        let mut outcomes = smoke_tests::run(&reads, &ours, &via).await.checks;
        for outcome in &mut outcomes {
            outcome.variant = format!("{} via {name}", outcome.variant).trim().to_string();
        }
        report.checks.extend(outcomes);
    }
    Ok(())
}

/// What the smoke test of the real stage will need that a rehearsal did
/// not: a test user, and `--allow-mutating` for the checks that write.
fn real_stage_needs(stage: &Stage, spec: &Spec, had_user: bool) -> String {
    let writing = spec.checks.iter().filter(|c| c.changes_data()).count();
    let mut out = format!("rehearsal of protected stage {stage}: the smoke test ran every check with a throwaway user on the emulator; on the real stage:");
    if had_user {
        out.push_str("\n  - set SMOKE_USERNAME and SMOKE_PASSWORD to a test user of its user pool (no user is ever created there)");
    }
    if writing > 0 {
        out.push_str(&format!("\n  - {writing} check(s) that change data are skipped unless the deploy or smoke passes --allow-mutating"));
    }
    out
}

/// The Cognito user pool and app client behind the app's JWT authorizer.
struct Identity {
    client: aws_sdk_cognitoidentityprovider::Client,
    pool_id: String,
    client_id: String,
}

impl Identity {
    /// Reads the authorizer's issuer and audience from the service's file
    /// and resolves them against what is deployed.
    async fn find(app: &App, stage: &Stage, target: &StageTarget) -> Result<Identity> {
        let cfn = target.cfn();
        let exports = list_exports(&cfn).await?;
        for service in &app.services {
            let Some(authorizers) = service
                .doc
                .path(&["provider", "httpApi", "authorizers"])
                .and_then(Node::as_map)
            else {
                continue;
            };
            for (name, config) in authorizers {
                let (Some(issuer), Some(audience)) =
                    (config.get("issuerUrl"), config.get("audience"))
                else {
                    continue;
                };
                let Some(stack) = service.stack_name(stage) else {
                    continue;
                };
                let resources: BTreeMap<String, String> =
                    crate::aws::stacks::list_resources(&cfn, &stack)
                        .await?
                        .unwrap_or_default()
                        .into_iter()
                        .map(|r| (r.logical_id, r.physical_id))
                        .collect();
                let ctx = service.vars(stage);
                let eval = Eval {
                    ctx: &ctx,
                    resources: &resources,
                    exports: &exports,
                    region: stage.region(),
                };
                // `${cf:stack.Output}` is what the deploy read from another
                // stack; read the same outputs now.
                let outputs = stack_outputs(target, &ctx, &[issuer, audience]).await?;
                let (issuer, audience) = (
                    &with_outputs(issuer, &ctx, &outputs),
                    &with_outputs(audience, &ctx, &outputs),
                );
                let issuer = eval.value(issuer).with_context(|| {
                    format!(
                        "cannot resolve the issuerUrl of authorizer `{}` in {}",
                        name.as_str().unwrap_or("?"),
                        service.display_file()
                    )
                })?;
                let audience = match audience.as_seq() {
                    Some(items) => items.first().and_then(|a| eval.value(a)),
                    None => eval.value(audience),
                }
                .context("cannot resolve the authorizer's audience (the app client id)")?;
                let pool_id = issuer
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                return Ok(Identity {
                    client: target.cognito(),
                    pool_id,
                    client_id: audience,
                });
            }
        }
        bail!("no JWT authorizer with issuerUrl and audience was found in the app's services")
    }

    /// A token, and the throwaway user's name when one was created. A
    /// rehearsal's emulator has no real users, so it gets one too.
    async fn token(
        &self,
        stage: &Stage,
        rehearsal: bool,
        run_id: &str,
    ) -> Result<(String, Option<String>)> {
        if stage.is_protected() && !rehearsal {
            let (Ok(username), Ok(password)) = (
                std::env::var("SMOKE_USERNAME"),
                std::env::var("SMOKE_PASSWORD"),
            ) else {
                bail!("stage {stage} is protected: smoke tests never create users there; set SMOKE_USERNAME and SMOKE_PASSWORD to a test user");
            };
            return Ok((self.sign_in(&username, &password).await?, None));
        }
        // From the system's random source, with no weaker fallback: a
        // password nobody can guess, for a user that lives one run.
        let random = || {
            crate::sys::random_token()
                .context("cannot make the smoke user's password from the system's random source")
        };
        let username = format!(
            "smoke-{}-{}@example.com",
            run_id.to_lowercase(),
            &random()?[..8]
        );
        let password = format!("Sm0ke-{}-Aa1!", random()?);
        let created = self
            .client
            .admin_create_user()
            .user_pool_id(&self.pool_id)
            .username(&username)
            .message_action(MessageActionType::Suppress)
            .user_attributes(
                AttributeType::builder()
                    .name("email")
                    .value(&username)
                    .build()?,
            )
            .user_attributes(
                AttributeType::builder()
                    .name("email_verified")
                    .value("true")
                    .build()?,
            )
            .send()
            .await;
        if let Err(err) = created {
            bail!(
                "cannot create a smoke user in pool {}: {}",
                self.pool_id,
                aws::error_message(&err)
            );
        }
        let set = self
            .client
            .admin_set_user_password()
            .user_pool_id(&self.pool_id)
            .username(&username)
            .password(&password)
            .permanent(true)
            .send()
            .await;
        if let Err(err) = set {
            let _ = self.delete_user(&username).await;
            bail!(
                "cannot set the smoke user's password: {}",
                aws::error_message(&err)
            );
        }
        match self.sign_in(&username, &password).await {
            Ok(token) => Ok((token, Some(username))),
            Err(err) => {
                let _ = self.delete_user(&username).await;
                Err(err)
            }
        }
    }

    async fn sign_in(&self, username: &str, password: &str) -> Result<String> {
        let auth = self
            .client
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", password)
            .send()
            .await;
        match auth {
            Ok(out) => out
                .authentication_result()
                .and_then(|r| r.id_token())
                .map(str::to_string)
                .context("Cognito answered without an id token (is a challenge pending for the user?)"),
            Err(err) => bail!(
                "cannot sign in to app client {} with USER_PASSWORD_AUTH: {} (the client must allow ALLOW_USER_PASSWORD_AUTH)",
                self.client_id,
                aws::error_message(&err)
            ),
        }
    }

    async fn delete_user(&self, username: &str) -> Result<()> {
        if let Err(err) = self
            .client
            .admin_delete_user()
            .user_pool_id(&self.pool_id)
            .username(username)
            .send()
            .await
        {
            bail!("{}", aws::error_message(&err));
        }
        Ok(())
    }
}

async fn list_exports(cfn: &aws_sdk_cloudformation::Client) -> Result<BTreeMap<String, String>> {
    let mut exports = BTreeMap::new();
    let mut token = None;
    loop {
        let mut request = cfn.list_exports();
        if let Some(t) = token.take() {
            request = request.next_token(t);
        }
        let page = match request.send().await {
            Ok(page) => page,
            Err(err) => bail!("cannot list exports: {}", aws::error_message(&err)),
        };
        for export in page.exports() {
            if let (Some(name), Some(value)) = (export.name(), export.value()) {
                exports.insert(name.to_string(), value.to_string());
            }
        }
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(exports),
        }
    }
}

/// The `${cf:stack.Output}` variables written in `nodes` (in this region),
/// each stack's outputs read once from CloudFormation: `(stack, output)`
/// to value. A stack that is not there has no outputs.
async fn stack_outputs(
    target: &StageTarget,
    ctx: &vars::Context<'_>,
    nodes: &[&Node],
) -> Result<BTreeMap<(String, String), String>> {
    let mut wanted: Vec<(String, String)> = Vec::new();
    for node in nodes {
        node.walk(&mut |_, n| {
            for (stack, output) in n.as_str().map(|t| cf_refs(t, ctx)).unwrap_or_default() {
                if !wanted.contains(&(stack.clone(), output.clone())) {
                    wanted.push((stack, output));
                }
            }
        });
    }
    let stacks = target.stacks();
    let mut read: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (stack, output) in wanted {
        if !read.contains_key(&stack) {
            let state = stacks.describe(&stack).await?;
            read.insert(stack.clone(), state.outputs);
        }
        if let Some(value) = read.get(&stack).and_then(|o| o.get(&output)) {
            out.insert((stack, output), value.clone());
        }
    }
    Ok(out)
}

/// The `${cf:stack.Output}` variables of `text` in the stage's region, as
/// `(stack, output)`, with the stack name resolved for the stage.
fn cf_refs(text: &str, ctx: &vars::Context<'_>) -> Vec<(String, String)> {
    vars::find_all(text)
        .iter()
        .filter_map(|v| cf_key(v, ctx))
        .collect()
}

/// `(stack, output)` of a `${cf:}` variable of the stage's region; `None`
/// for any other variable.
fn cf_key(var: &vars::Var, ctx: &vars::Context<'_>) -> Option<(String, String)> {
    if var.source != vars::Source::Cf || var.arg.as_deref().is_some_and(|r| r != ctx.region) {
        return None;
    }
    crate::cfn::refs::split_cf(&vars::resolve(&var.address, ctx)?)
}

/// `node` with each `${cf:stack.Output}` of its strings replaced by the
/// output's deployed value, where `outputs` has it.
fn with_outputs(
    node: &Node,
    ctx: &vars::Context<'_>,
    outputs: &BTreeMap<(String, String), String>,
) -> Node {
    let mut node = node.clone();
    substitute(&mut node, ctx, outputs);
    node
}

fn substitute(
    node: &mut Node,
    ctx: &vars::Context<'_>,
    outputs: &BTreeMap<(String, String), String>,
) {
    match &mut node.value {
        Value::Scalar { text, .. } => {
            for var in vars::find_all(text).into_iter().rev() {
                if let Some(value) = cf_key(&var, ctx).and_then(|key| outputs.get(&key)) {
                    text.replace_range(var.start..var.end, value);
                }
            }
        }
        Value::Seq(items) => items.iter_mut().for_each(|n| substitute(n, ctx, outputs)),
        Value::Map(entries) => entries
            .iter_mut()
            .for_each(|(_, v)| substitute(v, ctx, outputs)),
    }
}

/// Evaluates the intrinsic functions an authorizer's settings use, against
/// the deployed stack's resources and the account's exports.
struct Eval<'a> {
    ctx: &'a vars::Context<'a>,
    resources: &'a BTreeMap<String, String>,
    exports: &'a BTreeMap<String, String>,
    region: &'a str,
}

impl Env for Eval<'_> {
    fn vars(&self) -> &vars::Context<'_> {
        self.ctx
    }

    fn stack_name(&self) -> Option<String> {
        None
    }

    fn resource(&self, logical_id: &str) -> Option<String> {
        self.resources.get(logical_id).cloned()
    }

    /// The attributes a smoke token needs: a user pool's id and issuer.
    fn attribute(&self, logical_id: &str, attribute: &str) -> Option<String> {
        let physical = self.resources.get(logical_id)?;
        match attribute {
            "ProviderURL" => Some(format!(
                "https://cognito-idp.{}.amazonaws.com/{physical}",
                self.region
            )),
            "UserPoolId" => Some(physical.clone()),
            _ => None,
        }
    }

    fn import(&self, name: &str) -> Option<String> {
        self.exports.get(name).cloned()
    }
}

impl Eval<'_> {
    fn value(&self, node: &Node) -> Option<String> {
        intrinsic::evaluate(node, self)
    }
}
