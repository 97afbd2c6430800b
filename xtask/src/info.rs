//! `cargo xtask info <stage>`: one view of a deployed stage. Every stack in
//! plan order with its status, its last change (when, by which run and
//! commit, from the journals), its outputs and its HTTP endpoints (in the
//! emulator's URL form on the emulator). `--outputs-file` writes the same
//! view as JSON, for the next step of a pipeline.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result};
use aws_sdk_cloudformation::primitives::{DateTime, DateTimeFormat};
use serde::Serialize;

use crate::app::stage::Stage;
use crate::app::App;
use crate::aws::stacks::StackState;
use crate::aws::target::StageTarget;
use crate::aws::{domains, endpoints};
use crate::cfn::order;
use crate::cli::{Global, InfoArgs, ViewFormat};
use crate::run::history::History;
use crate::run::journal::{Journal, StageKey, Status};
use crate::sys::paths;

/// How many of the stage's newest journals are searched for a service's
/// last change: enough for any real history, bounded for a huge one.
const JOURNALS_READ: usize = 200;

#[derive(Debug, Serialize)]
struct StageView {
    app: String,
    stage: String,
    region: String,
    target: String,
    /// Why the services are not in plan order, when they cannot be.
    #[serde(skip_serializing_if = "Option::is_none")]
    order_note: Option<String>,
    services: Vec<ServiceView>,
}

#[derive(Debug, Serialize)]
struct ServiceView {
    service: String,
    stack: String,
    /// CloudFormation's status; `None` when the stack does not exist.
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    changed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_run: Option<LastRun>,
    outputs: BTreeMap<String, String>,
    endpoints: Vec<EndpointView>,
    /// Its custom domains (deploy.toml's `[stages.<stage>.domains]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    domains: Vec<DomainView>,
}

#[derive(Debug, Serialize)]
struct DomainView {
    name: String,
    /// Whether the domain exists in API Gateway.
    created: bool,
    /// Where its DNS record must point.
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_target: Option<String>,
    /// The API its root mapping serves, and that API's stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<String>,
}

/// The newest run that changed a service, from its journal.
#[derive(Debug, Serialize)]
struct LastRun {
    run_id: String,
    command: String,
    /// What the run did to the service: deployed, rolled_back, removed…
    result: String,
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
}

#[derive(Debug, Serialize)]
struct EndpointView {
    method: String,
    path: String,
    url: Option<String>,
    protected: bool,
}

pub(crate) async fn run(global: &Global, args: InfoArgs) -> Result<i32> {
    let (app, stage, target) = global.open_stage(&args.at).await?;
    let view = view(&app, &stage, &target).await?;
    let json = serde_json::to_string_pretty(&view)?;
    if let Some(path) = &args.outputs_file {
        write_file(path, &json)?;
    }
    match args.format {
        ViewFormat::Json => crate::outln!("{json}")?,
        ViewFormat::Text => crate::out!("{}", text(&view))?,
        ViewFormat::Markdown => crate::out!("{}", markdown(&view))?,
    }
    Ok(0)
}

async fn view(app: &App, stage: &Stage, target: &StageTarget) -> Result<StageView> {
    // Plan order when the plan holds; the declared order (said so) when
    // it is refused, since a view of what is deployed must still show.
    let (keys, order_note) = match order::checked(app, stage) {
        Ok((_, waves)) => (waves.concat(), None),
        Err(err) => (
            app.services.iter().map(|s| s.key.clone()).collect(),
            Some(format!(
                "listed in declared order: the plan is refused ({})",
                err.to_string().lines().next().unwrap_or_default()
            )),
        ),
    };
    let stacks = target.stacks();
    let mut states: Vec<(String, StackState)> = Vec::new();
    for key in &keys {
        let service = app.service(key).context("a service of the plan")?;
        states.push((key.clone(), stacks.describe_service(service, stage).await?));
    }
    let all_endpoints = endpoints::endpoints(app, stage, &states, target.target.endpoint());
    let locks = target.locks();
    let keys = StageKey::all(app, stage, target.is_rehearsal());
    let history = History::new(keys.clone()).with_locks(&locks);
    // No lock table (never bootstrapped) means no shared journals; a
    // record that is not what it is kept as is left out.
    let journals = match history.recent(JOURNALS_READ, |_| true).await {
        Ok(runs) => runs.journals,
        Err(_) => History::new(keys)
            .recent(JOURNALS_READ, |_| true)
            .await
            .map(|runs| runs.journals)
            .unwrap_or_default(),
    };
    let mut services = Vec::new();
    for (key, state) in states {
        let service = app.service(&key).context("a service of the plan")?;
        let mut domain_views = Vec::new();
        for domain in stage.domains().iter().filter(|d| d.service == key) {
            let deployed = domains::deployed(target, &domain.name).await?;
            domain_views.push(DomainView {
                name: domain.name.clone(),
                created: deployed.is_some(),
                dns_target: deployed.as_ref().map(|d| d.dns_target.clone()),
                api: deployed
                    .and_then(|d| d.mapping)
                    .map(|m| format!("{} ({})", m.api, m.stage)),
            });
        }
        services.push(ServiceView {
            domains: domain_views,
            stack: service.stack_name(stage).unwrap_or_default(),
            status: state.status.clone(),
            changed_at: state.changed_at.clone(),
            last_run: last_run(&journals, &key),
            outputs: state.outputs.clone(),
            endpoints: all_endpoints
                .iter()
                .filter(|e| e.service == key)
                .map(|e| EndpointView {
                    method: e.method.clone(),
                    path: e.path.clone(),
                    url: e.url(),
                    protected: e.protected,
                })
                .collect(),
            service: key,
        });
    }
    Ok(StageView {
        app: app.name(),
        stage: stage.name().to_string(),
        region: stage.region().to_string(),
        target: target.describe(),
        order_note,
        services,
    })
}

/// The newest run that changed `service` (an unchanged or skipped service
/// was not changed by its run).
fn last_run(journals: &[Journal], service: &str) -> Option<LastRun> {
    journals.iter().find_map(|j| {
        let record = j.services.iter().find(|s| s.name == service)?;
        let changed = matches!(
            record.status,
            Status::Deployed | Status::RolledBack | Status::Removed | Status::Failed
        );
        changed.then(|| LastRun {
            run_id: j.run_id.clone(),
            command: j.command.clone(),
            result: record.status.as_str().to_string(),
            at: timestamp(record.ended_at.unwrap_or(j.started_at)),
            commit: j.commit.clone(),
        })
    })
}

fn timestamp(secs: u64) -> String {
    DateTime::from_secs(i64::try_from(secs).unwrap_or(i64::MAX))
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

fn text(view: &StageView) -> String {
    let mut out = format!(
        "{} · stage {} · {} · {}\n",
        view.app, view.stage, view.region, view.target
    );
    if let Some(note) = &view.order_note {
        let _ = writeln!(out, "note: {note}");
    }
    for (i, s) in view.services.iter().enumerate() {
        let status = s.status.as_deref().unwrap_or("not deployed");
        let _ = writeln!(out, "\n{}. {}  {}  {status}", i + 1, s.service, s.stack);
        if let Some(at) = &s.changed_at {
            let _ = writeln!(out, "   changed    {at}");
        }
        if let Some(run) = &s.last_run {
            let commit = run
                .commit
                .as_deref()
                .map(|c| format!(", commit {}", &c[..c.len().min(12)]))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "   last run   {} {} ({}) at {}{commit}",
                run.command, run.run_id, run.result, run.at
            );
        }
        for (key, value) in &s.outputs {
            let _ = writeln!(out, "   output     {key} = {value}");
        }
        for e in &s.endpoints {
            let url = e.url.as_deref().unwrap_or("(not deployed)");
            let lock = if e.protected { "  [token]" } else { "" };
            let _ = writeln!(out, "   endpoint   {:6} {url}{lock}", e.method);
        }
        for d in &s.domains {
            let how = match (&d.dns_target, &d.api) {
                (Some(dns), Some(api)) => format!("API {api}; DNS → {dns}"),
                (Some(dns), None) => format!("not mapped to an API; DNS → {dns}"),
                _ => "not created yet (deploy creates it)".to_string(),
            };
            let _ = writeln!(out, "   domain     https://{}  {how}", d.name);
        }
    }
    out
}

/// The view for a CI run summary: one table of stacks, one of endpoints.
fn markdown(view: &StageView) -> String {
    let cell = |text: &str| text.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "### {} · stage {} · {}\n\n| service | stack | status | last run |\n| --- | --- | --- | --- |\n",
        cell(&view.app),
        cell(&view.stage),
        cell(&view.region)
    );
    for s in &view.services {
        let run = s
            .last_run
            .as_ref()
            .map(|r| format!("{} `{}` ({}) at {}", r.command, r.run_id, r.result, r.at))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            cell(&s.service),
            cell(&s.stack),
            cell(s.status.as_deref().unwrap_or("not deployed")),
            cell(&run)
        );
    }
    let endpoints: Vec<(&ServiceView, &EndpointView)> = view
        .services
        .iter()
        .flat_map(|s| s.endpoints.iter().map(move |e| (s, e)))
        .collect();
    if !endpoints.is_empty() {
        out.push_str("\n| service | method | URL | token |\n| --- | --- | --- | --- |\n");
        for (s, e) in endpoints {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&s.service),
                cell(&e.method),
                cell(e.url.as_deref().unwrap_or("(not deployed)")),
                if e.protected { "yes" } else { "" }
            );
        }
    }
    let domains: Vec<(&ServiceView, &DomainView)> = view
        .services
        .iter()
        .flat_map(|s| s.domains.iter().map(move |d| (s, d)))
        .collect();
    if !domains.is_empty() {
        out.push_str("\n| service | domain | API | DNS target |\n| --- | --- | --- | --- |\n");
        for (s, d) in domains {
            let _ = writeln!(
                out,
                "| {} | https://{} | {} | {} |",
                cell(&s.service),
                cell(&d.name),
                cell(d.api.as_deref().unwrap_or(if d.created {
                    "not mapped"
                } else {
                    "not created"
                })),
                cell(d.dns_target.as_deref().unwrap_or_default())
            );
        }
    }
    out
}

/// Writes the file whole or not at all (a temporary file renamed into
/// place), naming the path when it cannot.
fn write_file(path: &std::path::Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp-xtask");
    std::fs::write(&tmp, format!("{text}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write the outputs file {}", paths::display(path)))
}
