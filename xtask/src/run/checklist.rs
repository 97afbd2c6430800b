//! The production checklist's evidence: the seed's launch checklist as
//! items, each done (with its evidence), not done (with what to do) or
//! not applicable. Evidence comes from the app (audit, review, plan), from
//! the stage's target (resources, alarms, backups), from the stage's
//! journals (this machine's and the shared copies beside the lock, read
//! through `run::history`) and from its load reports, read typed.

use serde::Serialize;
use smoke_tests::load::LoadReport;

use crate::app::diag::Report;
use crate::app::stage::Stage;
use crate::app::App;
use crate::aws::data::{self, Kind};
use crate::aws::target::StageTarget;
use crate::aws::{backups as kept_backups, monitoring};
use crate::cfn::{order, rules};
use crate::run::history::History;
use crate::run::journal::{self, Journal, Outcome, StageKey, Status};
use crate::sys::hint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Done,
    NotDone,
    NotApplicable,
}

impl Mark {
    pub fn symbol(self) -> &'static str {
        match self {
            Mark::Done => "✔",
            Mark::NotDone => "✘",
            Mark::NotApplicable => "–",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: &'static str,
    pub title: &'static str,
    pub mark: Mark,
    pub evidence: String,
}

fn item(id: &'static str, title: &'static str, mark: Mark, evidence: impl Into<String>) -> Item {
    Item {
        id,
        title,
        mark,
        evidence: evidence.into(),
    }
}

/// How many journals are read, newest first: enough for any release.
const JOURNALS: usize = 200;

/// Every item of the checklist for `stage`, with its evidence.
pub async fn items(app: &App, stage: &Stage, target: &StageTarget) -> Vec<Item> {
    let rehearsal = target.is_rehearsal();
    let journals = journals(app, stage, target).await;
    vec![
        references(app),
        resources(app, stage, target).await,
        review(app, stage),
        rehearsed_order(app, stage, &journals, rehearsal).await,
        rehearsed_rollback(stage, &journals),
        endpoints(&journals),
        watched(app, stage, target, &journals).await,
        performance(app, stage, rehearsal),
        backups(app, stage, target).await,
    ]
}

/// The stage's journals, newest first: this machine's, and the shared
/// copies beside the stage's lock (a CI runner's runs, read from a
/// laptop, and the other way round), each run once; a record that is not
/// what it is kept as is left out.
async fn journals(app: &App, stage: &Stage, target: &StageTarget) -> Vec<Journal> {
    let locks = target.locks();
    let keys = StageKey::all(app, stage, target.is_rehearsal());
    // No lock table (never bootstrapped) means no shared journals.
    match History::new(keys.clone())
        .with_locks(&locks)
        .recent(JOURNALS, |_| true)
        .await
    {
        Ok(runs) => runs.journals,
        Err(_) => History::new(keys)
            .recent(JOURNALS, |_| true)
            .await
            .map(|runs| runs.journals)
            .unwrap_or_default(),
    }
}

fn first_line(report: &Report) -> String {
    report
        .findings
        .first()
        .map(|f| format!("{}:{}: {}", f.file.display(), f.line, f.rule))
        .unwrap_or_default()
}

fn references(app: &App) -> Item {
    let title = "Stage references consistent";
    let report = rules::audit(app);
    if report.findings.is_empty() {
        item("stage-references", title, Mark::Done, "audit: no findings")
    } else {
        item(
            "stage-references",
            title,
            Mark::NotDone,
            format!(
                "audit: {} finding(s), first {}; run `{}`",
                report.findings.len(),
                first_line(&report),
                hint::xtask("audit")
            ),
        )
    }
}

fn review(app: &App, stage: &Stage) -> Item {
    let title = "IAM and resources reviewed";
    let report = Report {
        findings: rules::review(app, stage),
        ..Report::default()
    }
    .finish();
    if report.findings.is_empty() {
        item(
            "security-review",
            title,
            Mark::Done,
            "security review: no findings",
        )
    } else {
        item(
            "security-review",
            title,
            Mark::NotDone,
            format!(
                "security review: {} finding(s), first {}; run `{}`",
                report.findings.len(),
                first_line(&report),
                hint::xtask(&format!("audit {stage}"))
            ),
        )
    }
}

async fn resources(app: &App, stage: &Stage, target: &StageTarget) -> Item {
    let title = "Buckets and user pools exist";
    let stacks = target.stacks();
    let mut missing = Vec::new();
    let mut found = (0, 0);
    for bucket in crate::aws::provision::deployment_buckets(app, stage) {
        if !stacks.bucket_exists(&bucket).await.unwrap_or(false) {
            missing.push(format!("deployment bucket {bucket}"));
        }
    }
    match data::resources(app, stage, &target.config).await {
        Ok(services) => {
            for (service, resources) in services {
                let Some(resources) = resources else {
                    missing.push(format!("the stack of {service}"));
                    continue;
                };
                for r in resources {
                    match r.kind {
                        Kind::Bucket => {
                            if stacks.bucket_exists(&r.physical_id).await.unwrap_or(false) {
                                found.0 += 1;
                            } else {
                                missing.push(format!("bucket {}", r.physical_id));
                            }
                        }
                        Kind::UserPool => {
                            if data::user_pool_exists(target, &r.physical_id).await {
                                found.1 += 1;
                            } else {
                                missing.push(format!("user pool {}", r.physical_id));
                            }
                        }
                        Kind::Table => {}
                    }
                }
            }
        }
        Err(err) => missing.push(format!("(cannot read the stacks: {err:#})")),
    }
    if missing.is_empty() {
        item(
            "resources-exist",
            title,
            Mark::Done,
            format!(
                "{} bucket(s), {} user pool(s) and the deployment buckets exist",
                found.0, found.1
            ),
        )
    } else {
        item(
            "resources-exist",
            title,
            Mark::NotDone,
            format!(
                "missing: {}; run `{}` and `{}`",
                missing.join(", "),
                hint::xtask(&format!("bootstrap {stage}")),
                hint::xtask(&format!("deploy {stage}"))
            ),
        )
    }
}

fn describe(j: &Journal) -> String {
    let commit = j
        .commit
        .as_deref()
        .map(|c| format!(", commit {}", &c[..c.len().min(12)]))
        .unwrap_or_default();
    format!("run {}{commit}", j.run_id)
}

async fn rehearsed_order(app: &App, stage: &Stage, journals: &[Journal], rehearsal: bool) -> Item {
    let title = "Deploy order documented and rehearsed";
    let waves = match order::checked(app, stage) {
        Ok((_, waves)) => waves,
        Err(err) => {
            return item(
                "order",
                title,
                Mark::NotDone,
                format!(
                    "the plan is refused: {}",
                    err.to_string().lines().next().unwrap_or_default()
                ),
            )
        }
    };
    let plan = waves
        .iter()
        .map(|w| w.join(" + "))
        .collect::<Vec<_>>()
        .join(" → ");
    let rehearsed = journals.iter().find(|j| {
        j.command == "deploy"
            && j.outcome.as_ref().is_some_and(Outcome::succeeded)
            && j.services.iter().any(|s| s.status == Status::Deployed)
    });
    let on_emulator = rehearsal || stage.on_emulator();
    match rehearsed {
        Some(j) if on_emulator => item(
            "order",
            title,
            Mark::Done,
            format!("plan {plan}; deployed in that order by {}", describe(j)),
        ),
        _ if on_emulator => item(
            "order",
            title,
            Mark::NotDone,
            format!(
                "plan {plan}; never deployed here: run `{}`",
                hint::xtask(&format!(
                    "deploy {stage}{}",
                    if rehearsal { " --rehearse" } else { "" }
                ))
            ),
        ),
        _ => {
            // The real stage: its rehearsal is kept in the rehearsal journals.
            let rehearsals: Vec<Journal> = History::new(StageKey::all(app, stage, true))
                .recent(JOURNALS, |_| true)
                .await
                .map(|runs| runs.journals)
                .unwrap_or_default();
            match rehearsals.iter().find(|j| {
                j.command == "deploy" && j.outcome.as_ref().is_some_and(Outcome::succeeded)
            }) {
                Some(j) => item(
                    "order",
                    title,
                    Mark::Done,
                    format!("plan {plan}; rehearsed on the emulator by {}", describe(j)),
                ),
                None => item(
                    "order",
                    title,
                    Mark::NotDone,
                    format!(
                        "plan {plan}; no rehearsal on this machine: run `{}`",
                        hint::xtask(&format!("deploy {stage} --rehearse"))
                    ),
                ),
            }
        }
    }
}

fn rehearsed_rollback(stage: &Stage, journals: &[Journal]) -> Item {
    let title = "Rollback rehearsed";
    let rolled = journals.iter().find(|j| {
        j.services.iter().any(|s| s.status == Status::RolledBack)
            && !j
                .services
                .iter()
                .any(|s| s.status == Status::RollbackFailed)
    });
    match rolled {
        Some(j) => item(
            "rollback",
            title,
            Mark::Done,
            format!("{} ({}) returned {} service(s) to their state before", describe(j), j.command, j.services.iter().filter(|s| s.status == Status::RolledBack).count()),
        ),
        None => item(
            "rollback",
            title,
            Mark::NotDone,
            format!(
                "no run here has rolled a service back: deploy a change, then `{}` it (or let a bake roll it back)",
                hint::xtask(&format!("rollback {stage}"))
            ),
        ),
    }
}

fn endpoints(journals: &[Journal]) -> Item {
    let title = "Endpoints validated";
    // The newest deploy that left its stacks deployed, whether its smoke
    // test then passed or not.
    let last = journals
        .iter()
        .find(|j| j.command == "deploy" && j.outcome.as_ref().is_some_and(Outcome::deployed));
    let Some(j) = last else {
        return item(
            "endpoints",
            title,
            Mark::NotDone,
            "no successful deploy here yet",
        );
    };
    match &j.smoke {
        Some(smoke) if smoke.passed() => item(
            "endpoints",
            title,
            Mark::Done,
            format!("smoke after the last deploy ({}): {smoke}", describe(j)),
        ),
        Some(smoke) => item(
            "endpoints",
            title,
            Mark::NotDone,
            format!("smoke after the last deploy ({}): {smoke}", describe(j)),
        ),
        None => item(
            "endpoints",
            title,
            Mark::NotDone,
            format!("the last deploy ({}) ran no smoke test", describe(j)),
        ),
    }
}

async fn watched(app: &App, stage: &Stage, target: &StageTarget, journals: &[Journal]) -> Item {
    let title = "Monitoring in place and verified";
    if stage.monitoring().is_none() {
        return item(
            "monitoring",
            title,
            Mark::NotDone,
            format!(
                "no [stages.{stage}.monitoring] in deploy.toml: nothing keeps alarms on the stage"
            ),
        );
    }
    let alarms = match monitoring::alarms(app, stage, target).await {
        Ok(alarms) => alarms,
        Err(err) => {
            return item(
                "monitoring",
                title,
                Mark::NotDone,
                format!("cannot read the alarms: {err:#}"),
            )
        }
    };
    if alarms.is_empty() {
        return item(
            "monitoring",
            title,
            Mark::NotDone,
            format!(
                "no monitoring stack yet: run `{}`",
                hint::xtask(&format!("deploy {stage}"))
            ),
        );
    }
    let baked = journals.iter().find(|j| j.bake.is_some());
    match baked {
        Some(j) => item(
            "monitoring",
            title,
            Mark::Done,
            format!("{} alarm(s), {} firing now; watched after a deploy by {}", alarms.len(), alarms.iter().filter(|a| a.firing).count(), describe(j)),
        ),
        None => item(
            "monitoring",
            title,
            Mark::NotDone,
            format!("{} alarm(s), never watched by a bake: deploy with `--bake 5m` (or set monitoring.bake)", alarms.len()),
        ),
    }
}

fn performance(app: &App, stage: &Stage, rehearsal: bool) -> Item {
    let title = "Performance within objectives";
    let dir = journal::load_reports_dir(&app.name(), stage.name(), rehearsal);
    let reports = journal::json_files(&dir);
    let Some(newest) = reports.first() else {
        return item(
            "performance",
            title,
            Mark::NotDone,
            format!(
                "no load report: run `{}`",
                hint::xtask(&format!(
                    "load {stage}{}",
                    if rehearsal { " --rehearse" } else { "" }
                ))
            ),
        );
    };
    let report: LoadReport = match std::fs::read_to_string(newest)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(report) => report,
        None => {
            return item(
                "performance",
                title,
                Mark::NotDone,
                format!(
                    "{} is not a load report",
                    crate::sys::paths::display(newest)
                ),
            )
        }
    };
    let missed: Vec<String> = report
        .checks
        .iter()
        .flat_map(|c| {
            let route = format!("{} {}", c.method, c.path);
            c.missed.iter().map(move |m| format!("{route}: {m}"))
        })
        .collect();
    let with_objectives = report
        .checks
        .iter()
        .filter(|c| c.objectives.p95_ms.is_some() || c.objectives.error_rate.is_some())
        .count();
    let name = crate::sys::paths::display(newest);
    if !missed.is_empty() {
        item(
            "performance",
            title,
            Mark::NotDone,
            format!("{name}: {}", missed.join("; ")),
        )
    } else if with_objectives == 0 {
        item("performance", title, Mark::NotDone, format!("{name}: no objective to be within; set `[load] p95_ms` and `error_rate` in smoke.toml"))
    } else {
        item(
            "performance",
            title,
            Mark::Done,
            format!(
                "{name}: {} endpoint(s) within their objectives ({})",
                report.checks.len(),
                report.pace
            ),
        )
    }
}

async fn backups(app: &App, stage: &Stage, target: &StageTarget) -> Item {
    let title = "Backups tested";
    let services = match data::resources(app, stage, &target.config).await {
        Ok(services) => services,
        Err(err) => {
            return item(
                "backups",
                title,
                Mark::NotDone,
                format!("cannot read the stacks: {err:#}"),
            )
        }
    };
    let undeployed: Vec<&str> = services
        .iter()
        .filter(|(_, r)| r.is_none())
        .map(|(s, _)| s.as_str())
        .collect();
    if !undeployed.is_empty() {
        return item(
            "backups",
            title,
            Mark::NotDone,
            format!(
                "not deployed: {}; what they hold cannot be backed up yet",
                undeployed.join(", ")
            ),
        );
    }
    let tables: Vec<String> = services
        .into_values()
        .flatten()
        .flatten()
        .filter(|r| r.kind == Kind::Table)
        .map(|r| r.physical_id)
        .collect();
    if tables.is_empty() {
        return item(
            "backups",
            title,
            Mark::NotApplicable,
            "the stage has no tables",
        );
    }
    let mut unbacked = Vec::new();
    for table in &tables {
        if !kept_backups::has_backup(&target.config, table).await {
            unbacked.push(table.clone());
        }
    }
    // A restore makes `<table>-restored-<id>` next to the original.
    let restored = kept_backups::restored_copies(&target.config, &tables).await;
    if !unbacked.is_empty() {
        return item(
            "backups",
            title,
            Mark::NotDone,
            format!(
                "no backup of {}: run `{}`",
                unbacked.join(", "),
                hint::xtask(&format!("backup {stage}"))
            ),
        );
    }
    match restored.first() {
        Some(table) => item(
            "backups",
            title,
            Mark::Done,
            format!(
                "every table ({}) has a backup; restored into {table}",
                tables.len()
            ),
        ),
        None => item(
            "backups",
            title,
            Mark::NotDone,
            format!(
                "every table ({}) has a backup, none was ever restored: `{}`, then `--restore ARN`",
                tables.len(),
                hint::xtask(&format!("backup {stage} --list"))
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::journal::SmokeResult;

    fn deploy(outcome: Outcome, smoke: Option<SmokeResult>) -> Journal {
        let mut journal = Journal::for_tests("deploy", "prod");
        journal.outcome = Some(outcome);
        journal.smoke = smoke;
        journal
    }

    #[test]
    fn endpoints_are_validated_only_by_a_smoke_test_that_passed() {
        let ran = |failed| SmokeResult::Ran {
            passed: 5,
            failed,
            skipped: 0,
            report: None,
        };
        let passed = endpoints(&[deploy(Outcome::Succeeded, Some(ran(0)))]);
        assert!(matches!(passed.mark, Mark::Done), "{}", passed.evidence);
        assert!(
            passed.evidence.contains("5 passed, 0 failed"),
            "{}",
            passed.evidence
        );
        // A deploy whose smoke test failed is its own outcome, and the
        // newest one: the item is not done, and says why.
        let failed = endpoints(&[
            deploy(Outcome::SmokeFailed, Some(ran(2))),
            deploy(Outcome::Succeeded, Some(ran(0))),
        ]);
        assert!(matches!(failed.mark, Mark::NotDone), "{}", failed.evidence);
        assert!(failed.evidence.contains("2 failed"), "{}", failed.evidence);
        let skipped = endpoints(&[deploy(
            Outcome::Succeeded,
            Some(SmokeResult::NotRun {
                why: "--skip-smoke".into(),
            }),
        )]);
        assert!(
            matches!(skipped.mark, Mark::NotDone),
            "{}",
            skipped.evidence
        );
    }
}
