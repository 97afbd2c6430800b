//! The checks before a run changes anything: the audit, the offline
//! validation and the order (no AWS call), then the target — credentials,
//! account, deployment buckets and the lock table.

use anyhow::Result;

use crate::app::diag::{Certainty, Report};
use crate::app::stage::Stage;
use crate::app::App;
use crate::aws::provision;
use crate::aws::target::{Mode, StageTarget};
use crate::cfn::catalogue::Catalogue;
use crate::cfn::graph::Graph;
use crate::cfn::{order, rules};
use crate::sys::hint;
use crate::sys::output::Printer;
use crate::sys::refuse;

/// Hazards on a stage that is not protected: only told on the emulator,
/// else they stop the deploy unless `--allow-findings` is given.
fn hazards_off_protected(
    text: &str,
    stage: &Stage,
    allow_findings: bool,
    out: &Printer,
) -> Result<()> {
    if stage.on_emulator() {
        out.plain(&format!(
            "{text}(told, not blocking: stage {stage} is on the emulator)"
        ));
    } else if !allow_findings {
        refuse!("{text}fix the findings above, or pass --allow-findings to deploy unprotected stage {stage} anyway");
    } else {
        out.plain(&format!("{text}(deploying anyway: --allow-findings)"));
    }
    Ok(())
}

/// The app's audit, validation and order for `stage`: everything that needs
/// no AWS call. Fails before any process starts.
pub fn offline(
    app: &App,
    stage: &Stage,
    allow_findings: bool,
    out: &Printer,
) -> Result<(Graph, Vec<Vec<String>>)> {
    let report = rules::audit(app);
    if !report.findings.is_empty() {
        let text = report.render_text("audit");
        if stage.is_protected() {
            refuse!("{text}the audit must be clean to deploy protected stage {stage}; fix the findings above");
        }
        hazards_off_protected(&text, stage, allow_findings, out)?;
    }
    // The security review blocks a protected stage; elsewhere it is said.
    let review = Report {
        findings: rules::review(app, stage),
        ..Report::default()
    }
    .finish();
    if !review.findings.is_empty() {
        let text = review.render_text("security review");
        if stage.is_protected() {
            refuse!("{text}the security review must be clean to deploy protected stage {stage}; fix the findings above");
        }
        out.plain(&format!("{text}(protected stages refuse these)"));
    }
    // One catalogue of the stage's names serves the checks and the order.
    let catalogue = Catalogue::build(app, stage);
    let report = rules::validate_in(&catalogue);
    let by = |certainty: Certainty| Report {
        findings: report
            .findings
            .iter()
            .filter(|f| f.certainty == certainty)
            .cloned()
            .collect(),
        ..Report::default()
    };
    let certain = by(Certainty::Refusal);
    if !certain.findings.is_empty() {
        refuse!(
            "{}fix the findings above; CloudFormation would reject them",
            certain.render_text("validate")
        );
    }
    let hazards = by(Certainty::Hazard);
    if !hazards.findings.is_empty() {
        let text = hazards.render_text("validate");
        if stage.is_protected() {
            refuse!(
                "{text}protected stage {stage} deploys no stage hazard; fix the findings above"
            );
        }
        hazards_off_protected(&text, stage, allow_findings, out)?;
    }
    let conditional = by(Certainty::Conditional);
    if !conditional.findings.is_empty() {
        let text = conditional.render_text("validate");
        if !allow_findings {
            refuse!("{text}fix the findings above; each holds in the case it names: if the stage is not one, pass --allow-findings");
        }
        out.plain(&format!("{text}(deploying anyway: --allow-findings)"));
    }
    // The CLI runs here, with this environment: an unset variable would
    // stop its service half-way through the run.
    let unset = Report {
        findings: report
            .notes
            .iter()
            .filter(|n| n.rule == rules::variables::UNSET_ENVIRONMENT)
            .cloned()
            .collect(),
        ..Report::default()
    };
    if !unset.findings.is_empty() {
        refuse!(
            "{}the Serverless CLI would stop at these services' turn: set the variables, then deploy",
            unset.render_text("environment")
        );
    }
    order::checked_in(&catalogue)
}

/// Opens the stage's target and checks what a run needs there:
/// credentials, account, deployment buckets, lock table. The `local` stage
/// lives on an emulator that starts empty, so it is bootstrapped here; any
/// other stage (rehearsals included) is bootstrapped on purpose, as on AWS.
pub async fn connect(
    app: &App,
    stage: &Stage,
    mode: Mode,
    out: &Printer,
) -> Result<(StageTarget, String)> {
    let target = StageTarget::open(stage, mode).await?;
    let account = target.check_account(stage).await?;
    out.step(&format!(
        "stage {stage} ({}) on {}, account {account}",
        stage.region(),
        target.describe()
    ));
    if stage.on_emulator() {
        provision::run(app, stage, &target, out).await?;
    }
    let stacks = target.stacks();
    let mut missing = Vec::new();
    for bucket in provision::deployment_buckets(app, stage) {
        if !stacks.bucket_exists(&bucket).await? {
            missing.push(bucket);
        }
    }
    if !missing.is_empty() {
        refuse!(
            "deployment bucket(s) {} do not exist yet; run `{}` first",
            missing.join(", "),
            hint::xtask(&format!("bootstrap {stage}"))
        );
    }
    if !target.locks().table_exists().await? {
        refuse!(
            "the lock table of this account and region does not exist yet; run `{}` first",
            hint::xtask(&format!("bootstrap {stage}"))
        );
    }
    Ok((target, account))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hazard (here an export named alike in every stage) stops a
    /// protected stage whatever the flags, yields to `--allow-findings`
    /// elsewhere, and is only told on the emulator.
    #[test]
    fn what_a_hazard_stops_follows_the_stage() {
        let dir = crate::sys::paths::workspace_root().join("fixtures/broken/unscoped-export");
        let app = App::load(&dir).unwrap();
        let out = Printer::new(true);
        let run = |stage: &str, allow: bool| offline(&app, &app.stage(stage).unwrap(), allow, &out);
        assert!(run("local", false).is_ok());
        assert!(run("dev", false).is_err());
        assert!(run("dev", true).is_ok());
        assert!(run("prod", true).is_err());
    }
}
