//! `cargo xtask iam-policy <stage>`: the IAM policy of a role that
//! deploys, removes and rolls back the stage, as JSON on stdout (for
//! `aws iam put-role-policy --policy-document file://…`), with what a
//! reader should know on stderr. The engine is `run::iam`; the policy's
//! shape `iam::build`.

use std::sync::Arc;

use anyhow::Result;

use crate::cfn::order;
use crate::cli::{Global, IamPolicyArgs};
use crate::sys::output::{paint, Printer, WARN};

/// IAM's limits on a policy's size, in characters without white space:
/// a managed policy, and all inline policies of one role together.
const MANAGED_LIMIT: usize = 6_144;
const INLINE_LIMIT: usize = 10_240;

pub(crate) async fn run(global: &Global, args: IamPolicyArgs) -> Result<i32> {
    let (app, stage, target) = global.open_stage(&args.at).await?;
    // The stage's own account where deploy.toml names it; else the one
    // the credentials (or the emulator) answer for.
    let account = match stage.account() {
        Some(account) => account.to_string(),
        None => target.account().await?,
    };
    // Every service, in plan order where the plan holds.
    let keys = match order::checked(&app, &stage) {
        Ok((_, waves)) => waves.concat(),
        Err(_) => app.services.iter().map(|s| s.key.clone()).collect(),
    };
    let out = Arc::new(Printer::new(true).quiet_tools());
    let (built, notes) =
        crate::run::iam::policy(&app, &stage, &target, &account, &keys, out).await?;
    let document = serde_json::to_string_pretty(&built.policy)?;
    crate::outln!("{document}")?;

    let size = serde_json::to_string(&built.policy)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .count();
    crate::errln!(
        "{} statements, {size} characters, for stage {stage} in account {account}, region {}: the stacks {}",
        built.policy.statements.len(),
        stage.region(),
        keys.iter()
            .filter_map(|k| app.service(k).and_then(|s| s.stack_name(&stage)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if size > INLINE_LIMIT {
        crate::errln!(
            "{} larger than IAM takes in one role's inline policies ({INLINE_LIMIT} characters): split it by statement over managed policies ({MANAGED_LIMIT} each)",
            paint(WARN, "note:")
        );
    } else if size > MANAGED_LIMIT {
        crate::errln!(
            "{} larger than a managed policy may be ({MANAGED_LIMIT} characters): attach it inline (up to {INLINE_LIMIT} per role), or split it by statement",
            paint(WARN, "note:")
        );
    }
    for note in &notes {
        crate::errln!("{} {note}", paint(WARN, "note:"));
    }
    if !built.unknown_types.is_empty() {
        crate::errln!(
            "{} no schema names the permissions of {}: add what their handlers call (a custom resource's Lambda runs with its own role)",
            paint(WARN, "note:"),
            built
                .unknown_types
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(0)
}
