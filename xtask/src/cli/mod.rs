//! The command line: every subcommand and flag, parsed once by clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod command;
mod help;

use help::*;

use crate::app::diag::{Format, ReportFormat};
use crate::app::stage::Stage;
use crate::app::App;
use crate::aws::emulator::Backend;
use crate::aws::target::StageTarget;
use crate::cfn::order::PlanFormat;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Deploy a multi-stack Serverless app with a validated stage, in the right order",
    version
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The app folder (with deploy.toml or serverless.yml files).
    #[arg(long, global = true, env = "XTASK_APP", value_name = "DIR")]
    pub app: Option<PathBuf>,
    /// The emulator backend for the `local` stage and rehearsals.
    #[arg(long, global = true, env = "XTASK_EMULATOR", value_enum, default_value_t = Backend::Ministack)]
    pub emulator: Backend,
    /// The AWS profile of this run's AWS calls and of the Serverless CLI it runs (else AWS_PROFILE).
    #[arg(long, global = true, value_name = "NAME")]
    pub aws_profile: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report every prerequisite and how to fix what is missing; installs nothing.
    #[command(long_about = DOCTOR_LONG)]
    Doctor(DoctorArgs),
    /// Manage the long-lived local emulator.
    #[command(long_about = LOCAL_LONG)]
    Local(LocalArgs),
    /// Find every stage hazard in the app's Serverless files.
    #[command(after_help = CONFIG_PROGRAMS, long_about = AUDIT_LONG)]
    Audit(AuditArgs),
    /// Show the deploy order, the parallel waves and why.
    #[command(after_help = CONFIG_PROGRAMS, long_about = PLAN_LONG)]
    Plan(PlanArgs),
    /// Catch CloudFormation errors before AWS does.
    #[command(after_help = CONFIG_PROGRAMS, long_about = VALIDATE_LONG)]
    Validate(ValidateArgs),
    /// Create a stage's deployment buckets and the lock table.
    #[command(long_about = BOOTSTRAP_LONG)]
    Bootstrap(StageArgs),
    /// Deploy the app's services in order, with locking and coordinated rollback.
    #[command(long_about = DEPLOY_LONG)]
    Deploy(DeployArgs),
    /// Check every endpoint of the deployed app against its smoke.toml.
    #[command(long_about = SMOKE_LONG)]
    Smoke(SmokeArgs),
    /// Show a deployed stage: every stack in plan order, its last change, outputs and endpoints.
    #[command(long_about = INFO_LONG)]
    Info(InfoArgs),
    /// Show what a deploy would change per service (added, modified, replaced, removed), changing nothing.
    #[command(long_about = DIFF_LONG)]
    Diff(DiffArgs),
    /// Drive the smoke checks under load: throughput, errors and latency percentiles per endpoint.
    #[command(long_about = LOAD_LONG)]
    Load(LoadArgs),
    /// The production checklist as checks, each with its evidence; exit 1 when one is not done.
    #[command(long_about = CHECKLIST_LONG)]
    Checklist(ChecklistArgs),
    /// Write the stage's runbook (order, rollback, endpoints, data, alarms, what to do) from the app.
    #[command(long_about = RUNBOOK_LONG)]
    Runbook(RunbookArgs),
    /// Draw a run as a timeline (where each service's time went, the critical path).
    #[command(long_about = REPORT_LONG)]
    Report(ReportArgs),
    /// Copy a stage's data (S3, DynamoDB, Cognito users) into another stage.
    #[command(long_about = MIGRATE_LONG)]
    Migrate(MigrateArgs),
    /// Back up a stage's tables; check its buckets keep versions.
    #[command(long_about = BACKUP_LONG)]
    Backup(BackupArgs),
    /// Remove every service of a stage, in reverse order.
    #[command(long_about = REMOVE_LONG)]
    Remove(RemoveArgs),
    /// Return every service of a stage to its state before a run.
    #[command(long_about = ROLLBACK_LONG)]
    Rollback(RollbackArgs),
    /// Show or clear a stage's deploy lock.
    #[command(long_about = UNLOCK_LONG)]
    Unlock(UnlockArgs),
    /// Print the IAM policy a role needs to deploy, remove and roll back the stage, scoped to its own stacks and resources.
    #[command(name = "iam-policy", long_about = IAM_POLICY_LONG)]
    IamPolicy(IamPolicyArgs),
    /// List the preview stages (deploy.toml's `pr-*` patterns) that have stacks deployed, with their services.
    #[command(long_about = PREVIEWS_LONG)]
    Previews(PreviewsArgs),
    /// Run the pinned Serverless CLI in one service with the stage's stage, region and credentials (logs, invoke, info, print, metrics, package).
    #[command(long_about = SLS_LONG)]
    Sls(SlsArgs),
    /// Write what a repository needs to run the tool on its app: deploy.toml, smoke.toml, its own xtask crate.
    #[command(long_about = INIT_LONG)]
    Init(InitArgs),
    /// Regenerate the committed generated files (or check them with --check).
    #[command(long_about = CODEGEN_LONG)]
    Codegen(CodegenArgs),
    /// Measure deploys, redeploys, the static checks and smoke against the plain way.
    #[command(long_about = BENCH_LONG)]
    Bench(BenchArgs),
}

impl Cli {
    /// Parses the command line like `Cli::parse`, and also refuses, as a
    /// usage error (exit 2), a global flag typed on the command line for a
    /// command that has no use for it: `--app` where no app is read,
    /// `--emulator` where no emulator is started. The same settings from
    /// the environment (`XTASK_APP`, `XTASK_EMULATOR`) are left alone:
    /// they are meant for every command that uses them.
    pub fn parse_checked() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let mut command = Cli::command();
        let matches = command.get_matches_mut();
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
        let typed = |name: &str| {
            let mut m = &matches;
            loop {
                if m.value_source(name) == Some(clap::parser::ValueSource::CommandLine) {
                    return true;
                }
                match m.subcommand() {
                    Some((_, sub)) => m = sub,
                    None => return false,
                }
            }
        };
        let (reads_app, starts_emulator) = cli.command.uses();
        let unused = [("--app", reads_app), ("--emulator", starts_emulator)]
            .into_iter()
            .find(|(flag, used)| !used && typed(&flag[2..]));
        if let Some((flag, _)) = unused {
            command
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "`{flag}` has no effect on `{}`; leave it out",
                        cli.command.name()
                    ),
                )
                .exit();
        }
        cli
    }
}

/// The stage, as people type it: `deploy prod`, or `deploy --stage prod`
/// (`-s prod`) as the Serverless CLI takes it. One of the two, once.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct StageName {
    /// The stage, as allowed by the app's deploy.toml (or the default policy).
    #[arg(value_name = "STAGE")]
    positional: Option<String>,
    /// The stage, as the Serverless CLI takes it (the same as the positional STAGE).
    #[arg(long = "stage", short = 's', value_name = "STAGE")]
    flag: Option<String>,
}

impl StageName {
    pub fn as_str(&self) -> &str {
        self.positional
            .as_deref()
            .or(self.flag.as_deref())
            .unwrap_or_default()
    }
}

/// The stage a command works on, and where.
#[derive(Debug, Args)]
pub struct StageOpt {
    #[command(flatten)]
    pub name: StageName,
    /// Run against the embedded emulator instead of AWS, with the stage's real names.
    #[arg(long)]
    pub rehearse: bool,
}

impl StageOpt {
    pub fn stage(&self) -> &str {
        self.name.as_str()
    }
}

/// How long a command that changes a stage waits for its lock.
#[derive(Debug, Args)]
pub struct LockOpt {
    /// Wait up to this long for a stage lock another run holds (`90s`,
    /// `5m`, `1h`), showing the holder, before giving up; 0 gives up at once.
    #[arg(long, value_name = "DURATION", value_parser = crate::sys::clock::parse_duration, default_value = "0s")]
    pub lock_timeout: std::time::Duration,
}

/// How much a command that runs the Serverless CLI shows.
#[derive(Debug, Args)]
pub struct VerboseOpt {
    /// Show every CloudFormation stack event as it happens (the CLI's `--verbose`).
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// How a reporting command prints.
#[derive(Debug, Args)]
pub struct FormatOpt {
    /// Output format: human-readable text, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How `audit` and `validate` print findings.
#[derive(Debug, Args)]
pub struct ReportFormatOpt {
    /// Output format: text, JSON for scripts, or GitHub workflow commands
    /// (`::error file=…,line=…::`) a pull request shows on its lines.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// A pace factor: a number from 0 to 10.
fn pace_factor(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=10.0).contains(&f) => Ok(f),
        _ => Err(format!(
            "`{text}` is not a pace: give a number from 0 (the emulator's own) to 10 (AWS's times ten), e.g. 0.1"
        )),
    }
}

/// `doctor` takes no arguments of its own.
#[derive(Debug, Args)]
pub struct DoctorArgs {}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Fewer samples: a few minutes on a 2-core machine.
    #[arg(long)]
    pub quick: bool,
    /// Deploy at this fraction of AWS's pace: each CloudFormation stack
    /// operation takes its modelled AWS time times F (0.1: ten times
    /// faster than AWS, same proportions); 0, the emulator's own pace.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = pace_factor)]
    pub aws_pace: f64,
    /// The model of AWS's times at `--aws-pace`: lines of `type create
    /// update delete source` in seconds; the built-in one otherwise.
    #[arg(long, value_name = "FILE")]
    pub aws_pace_model: Option<std::path::PathBuf>,
    /// At `--aws-pace`, print our run's timeline of each app too.
    #[arg(long)]
    pub timelines: bool,
    /// The size of the generated monorepo deployed at `--aws-pace`.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u16).range(2..=1000))]
    pub services: u16,
    #[command(flatten)]
    pub out: FormatOpt,
}

#[derive(Debug, Args)]
pub struct StageArgs {
    #[command(flatten)]
    pub at: StageOpt,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub stage: StageName,
    /// Output format: text, JSON, or a Mermaid or Graphviz DOT graph.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// Also package each service with the Serverless CLI and lint the template with cfn-lint.
    #[arg(long)]
    pub deep: bool,
    #[command(flatten)]
    pub out: ReportFormatOpt,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// Deploy only these services (their dependencies must be deployed already).
    #[arg(long, num_args = 1..)]
    pub only: Vec<String>,
    /// How many services may package and start their deploy at once; a
    /// deploy that has packaged (what keeps a core busy) waits on
    /// CloudFormation and holds no place.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    /// How many services may start ahead of their turn at once: packaged
    /// while what they depend on deploys, then held until it is done (0:
    /// each starts at its turn).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub package_ahead: usize,
    /// Run every check and show what would be deployed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Confirm a protected stage without a prompt.
    #[arg(long)]
    pub yes: bool,
    /// Deploy an unprotected stage even though the audit has findings.
    #[arg(long)]
    pub allow_findings: bool,
    /// Let the smoke run after the deploy change data on a protected stage (never on ids this run did not make).
    #[arg(long)]
    pub allow_mutating: bool,
    /// Deploy a protected stage without backing up its tables first.
    #[arg(long)]
    pub skip_backup: bool,
    /// Let this deploy of a protected stage replace or remove a resource that
    /// holds data (`LOGICAL_ID` or `SERVICE:LOGICAL_ID`; repeatable).
    #[arg(long, value_name = "ID")]
    pub allow_replace: Vec<String>,
    /// Deploy every service, even those whose fingerprint is unchanged.
    #[arg(long)]
    pub force: bool,
    /// Do not smoke-test after the deploy (when the smoke runs as its own step).
    #[arg(long)]
    pub skip_smoke: bool,
    /// Package the services (or one shard of them, `--shard`) into
    /// `--packages DIR` and stop: the CLI's artifacts and templates with
    /// the commit, stage, CLI and fingerprint they were made from, for a
    /// later `--from-packages` (a CI job per shard, then one deploy job).
    #[arg(long, requires = "packages", conflicts_with_all = ["from_packages", "dry_run"])]
    pub package_only: bool,
    /// With `--package-only`: this shard of the services, `I/N` (1/2, 2/2).
    #[arg(long, value_name = "I/N", requires = "package_only", value_parser = crate::run::deploy::packages::Shard::parse)]
    pub shard: Option<crate::run::deploy::packages::Shard>,
    /// With `--package-only`: the folder the packages go to (one folder a service).
    #[arg(long, value_name = "DIR")]
    pub packages: Option<PathBuf>,
    /// Deploy from the packages in these folders (made by `--package-only`
    /// from this commit, for this stage, with this CLI), under one lock and
    /// one journal; a service without one is packaged at its turn.
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub from_packages: Vec<PathBuf>,
    /// After the smoke test, watch the stage's alarms and the functions'
    /// errors this long (`5m`; `0` not at all) and roll the run back when
    /// one fires; default: the stage's `monitoring.bake` in deploy.toml.
    #[arg(long, value_name = "DURATION", value_parser = crate::sys::clock::parse_duration)]
    pub bake: Option<std::time::Duration>,
    #[command(flatten)]
    pub out: FormatOpt,
    #[command(flatten)]
    pub verbose: VerboseOpt,
    #[command(flatten)]
    pub lock: LockOpt,
}

#[derive(Debug, Args)]
pub struct SmokeArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// Also run checks that change data on a protected stage (never on ids this run did not make).
    #[arg(long)]
    pub allow_mutating: bool,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// How many checks run at once (default 4).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Write a first smoke.toml, one check per endpoint the Serverless files declare; runs nothing.
    #[arg(long, conflicts_with_all = ["allow_mutating", "junit"])]
    pub init: bool,
    /// With --init: add checks to an existing smoke.toml for the endpoints it does not check yet, changing nothing else.
    #[arg(long, requires = "init")]
    pub update: bool,
    #[command(flatten)]
    pub out: FormatOpt,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// Only these services.
    #[arg(long, num_args = 1..)]
    pub only: Vec<String>,
    /// Exit 1 when the diff holds this kind of change: any change, a
    /// replacement (or a removal), or a change that destroys data; for a
    /// pull-request check.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub fail_on: Option<crate::run::diff::FailOn>,
    /// Text, JSON, or Markdown for a pull-request comment.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ViewFormat,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where the team's xtask crate gets the engine: a git URL or a folder
    /// (default: the checkout this binary was built from).
    #[arg(long, value_name = "URL|DIR")]
    pub engine: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunbookArgs {
    #[command(flatten)]
    pub stage: StageName,
    /// Write it to this file instead of printing it.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ChecklistArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// Output format: text, JSON, or Markdown (for a CI run summary).
    #[arg(long, value_enum, default_value_t = ViewFormat::Text)]
    pub format: ViewFormat,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// The run to draw (default: the newest deploy of the stage).
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Output format: text, JSON, or Markdown (a Mermaid Gantt chart).
    #[arg(long, value_enum, default_value_t = ViewFormat::Text)]
    pub format: ViewFormat,
    /// Also write the timeline as an SVG picture here.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// Start this many requests a second whatever the answers take (open
    /// loop), with at most --concurrency in flight; without it,
    /// --concurrency requests are kept in flight (closed loop).
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// Requests in flight: always (without --rate) or at most (with it).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub concurrency: usize,
    /// How long to measure (at most 1h).
    #[arg(long, value_name = "DURATION", value_parser = crate::sys::clock::parse_duration, default_value = "30s")]
    pub duration: std::time::Duration,
    /// How long to send before measuring (cold starts, caches).
    #[arg(long, value_name = "DURATION", value_parser = crate::sys::clock::parse_duration, default_value = "5s")]
    pub warmup: std::time::Duration,
    /// Load a protected stage without asking (only its checks whose every request reads run).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub out: FormatOpt,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// Also write the view as JSON to this file (as `--format json` prints it).
    #[arg(long, value_name = "PATH")]
    pub outputs_file: Option<PathBuf>,
    /// Output format: text, JSON, or Markdown (for a CI run summary).
    #[arg(long, value_enum, default_value_t = ViewFormat::Text)]
    pub format: ViewFormat,
}

/// How a view of a stage prints: text, JSON, or Markdown for a CI run summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ViewFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The stage to copy data from.
    #[arg(long, value_name = "STAGE")]
    pub from: String,
    /// The stage to copy data into.
    #[arg(long, value_name = "STAGE")]
    pub to: String,
    /// Show the mapping and the counts; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// What to copy: s3, dynamodb, cognito (default: s3 and dynamodb).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Replace target items and objects that differ from the source.
    #[arg(long)]
    pub overwrite: bool,
    /// Run both stages on the emulator.
    #[arg(long)]
    pub rehearse: bool,
    /// Confirm a protected target without a prompt.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub lock: LockOpt,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// List the stage's backups instead of taking one.
    #[arg(long)]
    pub list: bool,
    /// Restore this backup (its ARN) into a new table next to the original.
    #[arg(long, value_name = "ARN")]
    pub restore: Option<String>,
    /// Confirm a restore into a protected stage without a prompt.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// Required, besides confirmation, to remove a protected stage.
    #[arg(long)]
    pub allow_protected: bool,
    /// Confirm without a prompt.
    #[arg(long)]
    pub yes: bool,
    /// Empty the stage's buckets first, and delete its deployment buckets.
    #[arg(long)]
    pub empty_buckets: bool,
    #[command(flatten)]
    pub verbose: VerboseOpt,
    #[command(flatten)]
    pub lock: LockOpt,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// The run to undo (default: the newest deploy run of the stage).
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Confirm a protected stage without a prompt.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub verbose: VerboseOpt,
    #[command(flatten)]
    pub lock: LockOpt,
}

#[derive(Debug, Args)]
pub struct SlsArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// The service to run in, as `plan` names it; needed when the app has more than one.
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// Confirm an `invoke` on a protected stage without a terminal.
    #[arg(long)]
    pub yes: bool,
    /// The Serverless command and its flags, after `--`.
    #[arg(last = true, required = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub at: StageOpt,
    /// Clear the lock whoever holds it.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    #[command(flatten)]
    pub at: StageOpt,
}

#[derive(Debug, Args)]
pub struct PreviewsArgs {
    /// Look on the embedded emulator instead of AWS, as a rehearsal deploys there.
    #[arg(long)]
    pub rehearse: bool,
    /// Output format: text, JSON (for a workflow), or Markdown.
    #[arg(long, value_enum, default_value_t = ViewFormat::Text)]
    pub format: ViewFormat,
}

#[derive(Debug, Args)]
pub struct CodegenArgs {
    /// Fail if a generated file is out of date instead of writing it.
    #[arg(long)]
    pub check: bool,
    /// Regenerate instead what popular plugins add to the CLI's schema (needs the npm registry).
    #[arg(long)]
    pub plugins: bool,
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    #[command(subcommand)]
    pub action: LocalAction,
}

#[derive(Debug, Subcommand)]
pub enum LocalAction {
    /// Start the emulator (installing it first if needed), or reuse the running one.
    Up {
        /// The port to listen on (default: 4566 when free, else any free port).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Stop the emulator and everything it started.
    Down,
    /// Say whether the emulator is running and healthy; exit 1 when it is not.
    Status,
    /// Show the end of the emulator's log.
    Logs {
        /// How many lines.
        #[arg(long, default_value_t = 100)]
        lines: usize,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Audit for this stage only (it must be allowed by the app's policy); all declared stages without it.
    #[arg(value_name = "STAGE")]
    positional: Option<String>,
    /// The same as the positional STAGE, as the Serverless CLI takes it.
    #[arg(
        long = "stage",
        short = 's',
        value_name = "STAGE",
        conflicts_with = "positional"
    )]
    flag: Option<String>,
    #[command(flatten)]
    pub out: ReportFormatOpt,
}

impl AuditArgs {
    /// The one stage asked for, if any.
    pub fn stage(&self) -> Option<&str> {
        self.positional.as_deref().or(self.flag.as_deref())
    }
}

impl Global {
    /// The app folder: `--app`, else `XTASK_APP`, else the app the current
    /// folder is in (`App::resolve_dir`).
    pub fn app_dir(&self) -> anyhow::Result<PathBuf> {
        Ok(App::resolve_dir(self.app.as_deref())?)
    }

    /// The app, the stage of `at` parsed against its policy, and that
    /// stage's target with the account checked.
    pub async fn open_stage(&self, at: &StageOpt) -> anyhow::Result<(App, Stage, StageTarget)> {
        StageTarget::open_stage(&self.app_dir()?, at.stage(), at.rehearse, self.emulator).await
    }
}
