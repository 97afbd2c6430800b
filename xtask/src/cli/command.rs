//! What each subcommand is: its name as typed, whether it reads the app,
//! starts an emulator, rehearses, or only reads.

use super::{Command, LocalAction};

impl Command {
    /// Whether the command reads the app (`--app`) and whether it may
    /// start or reach an emulator (`--emulator`).
    pub fn uses(&self) -> (bool, bool) {
        match self {
            // `doctor` checks the app it finds (or is given) too.
            Command::Doctor(_) => (true, false),
            Command::Codegen(_) | Command::Bench(_) => (false, false),
            // `local` manages the MiniStack emulator of this checkout.
            Command::Local(_) => (false, false),
            Command::Audit(_)
            | Command::Plan(_)
            | Command::Runbook(_)
            | Command::Report(_)
            | Command::Init(_) => (true, false),
            _ => (true, true),
        }
    }

    /// The subcommand as typed.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Command::Doctor(_) => "doctor",
            Command::Local(_) => "local",
            Command::Audit(_) => "audit",
            Command::Plan(_) => "plan",
            Command::Validate(_) => "validate",
            Command::Bootstrap(_) => "bootstrap",
            Command::Deploy(_) => "deploy",
            Command::Smoke(_) => "smoke",
            Command::Info(_) => "info",
            Command::Diff(_) => "diff",
            Command::Load(_) => "load",
            Command::Checklist(_) => "checklist",
            Command::Runbook(_) => "runbook",
            Command::Report(_) => "report",
            Command::Migrate(_) => "migrate",
            Command::Backup(_) => "backup",
            Command::Remove(_) => "remove",
            Command::Rollback(_) => "rollback",
            Command::Unlock(_) => "unlock",
            Command::Previews(_) => "previews",
            Command::IamPolicy(_) => "iam-policy",
            Command::Sls(_) => "sls",
            Command::Init(_) => "init",
            Command::Codegen(_) => "codegen",
            Command::Bench(_) => "bench",
        }
    }

    /// Whether the command runs on a rehearsal (`--rehearse`).
    pub fn rehearses(&self) -> bool {
        let at = match self {
            Command::Bootstrap(args) => &args.at,
            Command::Validate(args) => &args.at,
            Command::Deploy(args) => &args.at,
            Command::Smoke(args) => &args.at,
            Command::Diff(args) => &args.at,
            Command::IamPolicy(args) => &args.at,
            Command::Checklist(args) => &args.at,
            Command::Report(args) => &args.at,
            Command::Load(args) => &args.at,
            Command::Info(args) => &args.at,
            Command::Backup(args) => &args.at,
            Command::Remove(args) => &args.at,
            Command::Rollback(args) => &args.at,
            Command::Unlock(args) => &args.at,
            Command::Sls(args) => &args.at,
            Command::Migrate(args) => return args.rehearse,
            Command::Previews(args) => return args.rehearse,
            _ => return false,
        };
        at.rehearse
    }

    /// Whether the command only reads and reports: it changes no stage,
    /// creates nothing and holds no lock.
    pub fn only_reads(&self) -> bool {
        match self {
            Command::Doctor(_)
            | Command::Audit(_)
            | Command::Plan(_)
            | Command::Validate(_)
            | Command::Info(_)
            | Command::Checklist(_)
            | Command::Runbook(_)
            | Command::Diff(_)
            | Command::IamPolicy(_)
            | Command::Previews(_) => true,
            Command::Codegen(args) => args.check,
            Command::Unlock(args) => !args.force,
            Command::Local(args) => {
                matches!(args.action, LocalAction::Status | LocalAction::Logs { .. })
            }
            _ => false,
        }
    }
}
