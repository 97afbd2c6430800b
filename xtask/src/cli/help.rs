//! The long help of the commands whose text runs past one paragraph.

/// What the commands that read an app say of config files that are programs.
pub(super) const CONFIG_PROGRAMS: &str = "\
A serverless.ts or .js (or serverless-compose.ts/.js) is a program: reading it
runs it with node, as the Serverless CLI would. It runs without the caller's
credentials and tokens (AWS_* but the region, GITHUB_*, ACTIONS_*, names with
TOKEN, SECRET, PASSWORD, KEY, AUTH and the like; deploy.toml's [app] config_env
lets through the ones it needs), within XTASK_CONFIG_TIMEOUT seconds (60), and
every process it starts is killed when the read ends. It can still read any
file you can: check a pull request from outside in a job with no secrets, no
credentials on disk and no OIDC token (no `id-token: write`).";

/// `sls`: what is passed through, what is refused, and why.
pub(super) const SLS_LONG: &str = "\
Run the pinned Serverless CLI in one service of the app with the stage's name,
region and credentials (the emulator's for `local` and --rehearse):

  cargo xtask sls dev --service api -- logs -f hello --tail
  cargo xtask sls prod --service api --yes -- invoke -f hello --data '{}'

Passed through: invoke (and invoke local), logs, info, print, metrics, package,
deploy list; deploy, remove and rollback go through the tool's commands (order,
lock, journal). A --stage or --region passed must agree with the stage;
--aws-profile after the `--` is refused (give the tool's own --aws-profile,
which it and the CLI both use). On a protected stage `invoke` runs the function's code on live data: it
asks for the stage's name on a terminal, or takes --yes. The exit code is the
CLI's.";

pub(super) const DOCTOR_LONG: &str =
    "Report every prerequisite and how to fix what is missing; installs nothing.

cargo xtask doctor
  one table of every prerequisite (node, npm, python, the pinned tools,
  Docker, AWS credentials) with the fix for each, then what the app it finds
  (or `--app`) needs: its files readable, every plugin a service lists
  installed or pinned in a package.json the deploy installs from, a node for
  its Node.js runtimes on an emulator; installs nothing, exits 1 when
  something required is missing";

pub(super) const LOCAL_LONG: &str = "Manage the long-lived local emulator.

cargo xtask local up [--port N]
  the long-lived local emulator: installs and starts it (or reuses the running
  one) and prints the env vars to export

cargo xtask local status / cargo xtask local down
  `status` exits 1 when the emulator is not healthy; `down` stops it and
  everything it started

cargo xtask local logs [--lines N]
  the end of the emulator's log";

pub(super) const AUDIT_LONG: &str = "Find every stage hazard in the app's Serverless files.

cargo xtask audit [<stage> | --stage <stage>] [--format text|json|github]
  every stage hazard, compiler style (`file:line:col: rule: message` and the
  fix): silent stage defaults (`${sls:stage}` with no `provider.stage`
  included), literal stage names, names that do not carry the stage, a
  spelling of the stage that does not follow `--stage` (different spellings
  that always agree are fine), stages the policy does not allow, and — for
  every stage deploy.toml declares — variables the CLI will find no value for,
  fallbacks to another stage's entry, and two stages in one account and region
  that give a resource the same name; variables are resolved the way the
  Serverless CLI resolves them. The security review is part of it: on every
  stage a secret written into `environment` (an AWS key id, a private key, a
  literal value under a secret's name, a high-entropy token, a variable's
  literal fallback — read it from `${ssm:}` instead), as a Secrets Manager
  secret's `SecretString` or as a database's master password, IAM statements allowing every action, a whole
  service (`s3:*`) or `Resource: '*'` (or an ARN of wildcards,
  `arn:aws:sqs:*:*:*`) with actions that take ARNs (the fix names the
  service's own resources; never actions AWS allows on `*` only, such as
  `dynamodb:ListTables`, from the authorization reference the pinned cfn-lint
  ships), CORS open to any origin with credentials, a runtime past its
  deprecation date (AWS no longer patches it; dates from the pinned cfn-lint's
  lifecycle table), a user pool open to sign-up in a service deploy.toml marks
  `self_sign_up = false`; on protected stages buckets whose public-access
  block turns a setting off (S3 blocks all four when the block is left out) or
  without versioning, tables without point-in-time recovery, data stores not
  retained (not buckets, which CloudFormation cannot delete while they hold
  objects, nor stores with deletion protection), routes without an authorizer
  that deploy.toml does not list as `public`, and password policies weaker
  than Cognito's default, and functions or APIs no alarm watches
  (`unmonitored`: fixed by `[stages.<stage>.monitoring]` or alarms of the
  app's own). Deploy runs the review in its preflight: a protected stage must
  pass it, other stages are told. `--format github` prints each finding as a
  workflow command, which a pull request shows on its line (`review.yml`).
  Exit 0 clean, 1 findings, 2 unreadable input";

pub(super) const PLAN_LONG: &str = "Show the deploy order, the parallel waves and why.

cargo xtask plan (<stage> | --stage <stage>) [--format text|json|mermaid|dot]
  the deploy order, the waves that may run in parallel, and the reference
  behind every edge; a reference whose name only the deploy can tell (an
  `${ssm:}` in an import name) refuses the plan, at its line, until
  `deploy.toml` declares that service's `depends_on` (`[]` for none)";

pub(super) const VALIDATE_LONG: &str = "Catch CloudFormation errors before AWS does.

cargo xtask validate (<stage> | --stage <stage>) [--deep] [--rehearse] [--format text|json|github]
  CloudFormation errors before AWS sees them: every `Fn::GetAtt` (resource and
  attribute, checked against every resource type's attributes), `Ref` and
  `Fn::Sub` reference, resource types, unique stage-scoped exports, imports
  and `${cf:}` outputs that no service provides, intrinsic functions of a
  shape CloudFormation rejects, `${self:}` loops and `${file()}` loops (the
  chain of files and lines), values the tool will not expand (one evaluation
  has a budget: 100,000 lookups and 1 MiB of value, past which
  `expansion-budget` names the line; a value of more than 10,000 variables is
  refused as it is read), fallbacks the Serverless CLI refuses, Lambda
  runtimes it no longer accepts, everything its configuration schema refuses
  (unknown keys and events, values outside an enumeration, range or type, in
  the CLI's own words; notes where a listed plugin may extend the schema) and
  a `frameworkVersion` it cannot honour, an output's `Export` without a
  `Name`, an SSM suffix of older frameworks (`${ssm:/a~true}`), a shared
  REST API named without its root resource, an Aurora Serverless v1
  cluster (retired; RDS makes no new one), what AWS refuses while CloudFormation
  creates a resource (a property the type's schema requires or a value it
  forbids, a queue hiding messages for less time than its function runs, an
  ACL or a public policy under S3's defaults for new buckets — none of which
  the emulator checks), every variable evaluated for the stage (a per-stage
  map without the stage, a `${file():key}` the file lacks, a `${param:}`
  nobody passes, a fallback that lands on another stage's entry), and Compose
  params reading outputs their producer does not declare; an `${env:X}` with
  no fallback that is not set here (nor in the service's dotenv file with
  `useDotenv: true`) is a note, one per variable with its count of uses, since
  the deploy may run where it is set — and `deploy`, which runs the CLI here,
  refuses it before any stack changes; references to resources the framework
  (layers included) or common plugins generate are known, and one an unknown
  plugin may create is a note; offline, no node process for YAML and JSON
  configs. `--deep` packages each service (from a copy whose config validation
  only warns, with placeholder params, so a v3 pin or a retired runtime does
  not stop it) and runs the pinned cfn-lint on the template, mapped back to
  the serverless.yml line; what the CLI cannot resolve is a finding at its
  line. `deploy` runs the offline part first, and refuses to remove an export
  another deployed stack imports";

pub(super) const BOOTSTRAP_LONG: &str = "Create a stage's deployment buckets and the lock table.

cargo xtask bootstrap (<stage> | --stage <stage>) [--rehearse]
  creates the stage's deployment buckets (versioned, encrypted, public access
  blocked) and the lock table; idempotent";

pub(super) const DEPLOY_LONG: &str = "Deploy the app's services in order, with locking and coordinated rollback.

cargo xtask deploy (<stage> | --stage <stage>) [--only svc…] [--concurrency N] [--package-ahead N] [--dry-run] [--yes] [--rehearse] [--force] [--allow-findings] [--allow-mutating] [--skip-backup] [--skip-smoke] [--bake DURATION] [--allow-replace ID…] [--lock-timeout DURATION] [--verbose] [--format text|json]
  preflight (stage, audit, offline validate, graph, credentials and account,
  buckets, exports still imported, protected-stage rules, lock), then every
  service as soon as what it needs is deployed (at most `--concurrency` at
  once), while the services whose packaging reads nothing the run changes
  (they reach the others only through `Fn::ImportValue`, and ask the account
  for no value and run no code of their own while the CLI resolves them:
  `plan` says which and why) start ahead of their turn, `--package-ahead` at a
  time (default 4; 0 starts each at its turn): their `serverless deploy`
  starts node, resolves the config and packages at a lower CPU priority, then
  is held before it touches the stack or the bucket until what it needs is
  deployed — one CLI run per service, the same command as at its turn, so
  plugins run as they always do (the pinned CLI only; a CLI of your own via
  `SERVERLESS_BIN` deploys each at its turn); then on failure a rollback of
  what the run changed; then the custom domains and the monitoring stack, the
  smoke test, and the bake: for `--bake` (default: the stage's
  `monitoring.bake`; on an emulator at most 5 s unless `--bake` says more) the
  stage's alarms and its functions' errors are watched, and when one fires the
  run is rolled back like a failed one, the journal naming what fired. A
  service rolled back to an older deployment than the newest the CLI keeps is
  deployed with the CLI's `--force` next time (the CLI's own change check
  would skip it), and a later rollback returns it to the deployment it ran. A
  service whose SHA-256 fingerprint (every file of its folder, dot-files and
  symlinks included; `${file()}` includes; `../` package patterns and imports;
  installed plugin versions; `${cf:}`/`${env:}`/param values; stage; CLI)
  matches its last deploy is skipped without starting node; a service that
  reads what cannot be known offline (`${ssm:}`, a bundler plugin without
  declared `inputs`) is always deployed, and the journal says why; `--force`
  deploys every service";

pub(super) const SMOKE_LONG: &str = "Check every endpoint of the deployed app against its smoke.toml.

cargo xtask smoke (<stage> | --stage <stage>) [--rehearse] [--allow-mutating] [--junit PATH] [--concurrency N] [--init [--update]] [--format text|json]
  `--concurrency` checks run at once (default 4); `--init` writes a first
  `smoke.toml`, one check per declared route (GETs expect 200, or 404 with a
  path parameter; writes expect 200), and runs nothing; `--init --update` adds
  checks for the routes an existing `smoke.toml` does not check, leaving its
  own text as it is; otherwise every `http`/`httpApi` endpoint of every
  service, checked against the app's `smoke.toml`: an endpoint without a
  check, or a check without an endpoint, fails the run (an app with no
  `smoke.toml` at all deploys, says which endpoints went unchecked, and points
  at `--init`). Protected routes are called without a token (must be 401) and
  with a real Cognito token (a throwaway user on unprotected stages,
  `SMOKE_USERNAME`/`SMOKE_PASSWORD` on protected ones, where checks that
  change data run only with `--allow-mutating`). `deploy` runs it after every
  successful deploy and keeps a JUnit report with the journal";

pub(super) const INFO_LONG: &str = "Show a deployed stage: every stack in plan order, its last change, outputs and endpoints.

cargo xtask info (<stage> | --stage <stage>) [--rehearse] [--format text|json|markdown] [--outputs-file PATH]
  one view of a deployed stage: every stack in plan order with its status and
  when CloudFormation last changed it, the last run that changed it (deploy,
  rollback or remove, with its run id, time and commit, from the journals),
  its outputs, and its HTTP endpoints with their URLs (the emulator's URL form
  on the emulator); `--outputs-file` also writes the JSON view to a file for
  the next step of a pipeline";

pub(super) const DIFF_LONG: &str = "Show what a deploy would change per service (added, modified, replaced, removed), changing nothing.

cargo xtask diff (<stage> | --stage <stage>) [--only svc…] [--rehearse] [--fail-on changes|replacements|data-loss] [--format text|json|markdown]
  what a deploy would change, per service in plan order, changing nothing:
  each service is packaged by the pinned CLI and its template compared with
  the one its stack was deployed with — resources added, modified (with the
  properties), replaced (with the properties that force it: the resource
  schemas' create-only properties, plus AWS's replacement rules for tables,
  buckets and user pools) and removed; outputs added, changed and removed,
  with the deployed stacks that import an export that goes away. Lambda code
  is compared by content (the packaged artifact's SHA-256 against the one
  recorded on the deployed artifact). Then CloudFormation is asked too: a
  change set per deployed stack (created, read and deleted, never executed; a
  template over 51,200 bytes goes through the deployment bucket): where it
  says a resource is replaced or not, that is shown (`cloudformation` in the
  JSON); where it says conditional, the schema rules above decide; resources
  whose text is unchanged but which reference a changed value are listed as it
  lists them. When no change set can be made (permissions, an emulator without
  them), the diff says so and the schema rules decide alone. A replacement
  that would destroy data is marked, and one under an unchanged custom name
  (which CloudFormation refuses) is named as such. Each modified property
  shows its value before and after (values under a secret's name, and AWS key
  ids, masked); the Lambda versions that follow a function's code change are
  counted, not listed. For review: `--format markdown` is a pull-request
  comment, and `--fail-on` exits 1 when the diff holds any change, a
  replacement (or removal), or a change that destroys data (an export another
  stack imports, taken away, fails every gate)";

pub(super) const LOAD_LONG: &str = "Drive the smoke checks under load: throughput, errors and latency percentiles per endpoint.

cargo xtask load (<stage> | --stage <stage>) [--rate PER_SECOND] [--concurrency N] [--duration 30s] [--warmup 5s] [--yes] [--rehearse] [--format text|json]
  drives the smoke spec's checks under load — each request a whole check with
  its own `${id}`, sent once, never retried — at a rate (open loop, at most
  `--concurrency` in flight; a start that finds them all busy is counted as
  missed) or at a fixed concurrency (closed loop), after a warm-up that is not
  measured; per endpoint the requests, throughput, error rate and
  p50/p95/p99/max latency from an HDR histogram, as a table or JSON, and a
  JSON report with an SVG chart next to the stage's journals. Objectives in
  `smoke.toml` — `[load] p95_ms = 500, error_rate = 0.01`, or per check — make
  it exit 1 when missed. On a protected stage only checks whose every request
  reads (GET, HEAD, OPTIONS) run, and only with `--yes`: load sends no writing
  method there. Bounded: at most 1 h, 10,000 requests a second, 1,024 in
  flight. `cargo xtask bench` reports the generator's own ceiling against a
  trivial local endpoint";

pub(super) const CHECKLIST_LONG: &str =
    "The production checklist as checks, each with its evidence; exit 1 when one is not done.

cargo xtask checklist (<stage> | --stage <stage>) [--rehearse] [--format text|json|markdown]
  the production checklist as checks, each ✔ with its evidence, ✘ with what to
  do, or – when it does not apply: stage references consistent (audit),
  buckets and user pools exist, IAM and resources reviewed (security review),
  deploy order documented and rehearsed (plan, and a deploy on the emulator),
  rollback rehearsed (a run that rolled a service back), endpoints validated
  (the last deploy's smoke test), monitoring in place and verified (the
  monitoring stack's alarms, watched by a bake), performance within objectives
  (the last `load` report, with objectives set), backups tested (every table
  backed up, one restored). Evidence comes from the app, the stage's target,
  its journals (this machine's and the shared copies beside the stage's lock,
  so a fresh CI runner sees a laptop's runs and the other way round) and its
  load reports. Exit 1 when an item is not done; the release workflow
  rehearses every step and runs it into the run summary before the prod job";

pub(super) const INIT_LONG: &str = "Write what a repository needs to run the tool on its app: deploy.toml, smoke.toml, its own xtask crate.

cargo xtask init [--engine URL|DIR]
  writes, for the app found as every command finds it: a deploy.toml with
  the app's name, its services as found (unless a Serverless Compose file
  declares them) and the stages local (on the emulator), dev, stage, prod
  (protected) and pr-* in the region the services name; a smoke.toml with
  one check per endpoint (as `smoke --init`); and, where the repository has
  no Cargo.toml yet, a workspace naming the app (`[workspace.metadata.xtask]
  app`), an xtask crate of its own whose main is `xtask::entry::run()`, and
  the `cargo xtask` alias; and a .gitignore of the tool's folders (target/,
  .xtask/) where there is none. A file already there stops it before anything is
  written (exit 2). `--engine` is where the crate gets the engine: a git URL
  or a folder (default: the checkout this binary was built from)";

pub(super) const RUNBOOK_LONG: &str =
    "Write the stage's runbook (order, rollback, endpoints, data, alarms, what to do) from the app.

cargo xtask runbook (<stage> | --stage <stage>) [--output FILE]
  the stage's runbook in Markdown, written from the app alone: the release
  steps (checklist, diff, rehearsal, deploy) and the waves, what each exit
  code means and what to do, per service its stack, functions, endpoints with
  their access and data stores with what removal does to them, rollback and
  removal order, backups, and the alarms with what to do when each fires. The
  bundled app's is committed as [docs/runbook-prod.md](docs/runbook-prod.md)
  and checked current with the other generated files";

pub(super) const REPORT_LONG: &str = "Draw a run as a timeline (where each service's time went, the critical path).

cargo xtask report (<stage> | --stage <stage>) [--run ID] [--rehearse] [--format text|json|markdown] [--svg PATH]
  a run drawn as a timeline from its journal on this machine (default: the
  stage's newest deploy): per service how long it waited for what it needs,
  waited for a free place or its package, packaged ahead, spent in the CLI
  (its start, packaging at its turn, the upload) and in CloudFormation (its
  stack's first to last event), the run's smoke test and bake, and the
  critical path — the chain of services, each waiting on the one before, that
  set the run's length. Text (a table and bars), JSON, Markdown (a Mermaid
  Gantt chart, the critical path marked `crit`), and with `--svg` a picture.
  Every deploy writes the picture beside its journal (`<run>.svg`) and the
  Gantt chart into the GitHub step summary";

pub(super) const MIGRATE_LONG: &str = "Copy a stage's data (S3, DynamoDB, Cognito users) into another stage.

cargo xtask migrate --from <stage> --to <stage> [--dry-run] [--only s3,dynamodb,cognito] [--overwrite] [--rehearse] [--yes] [--lock-timeout DURATION]
  copies a stage's data into another: every bucket, table and (when asked)
  user pool of the source paired with its counterpart by service and logical
  id, shown first (`--dry-run` adds counts and writes nothing). S3 objects are
  copied server-side with their content type and metadata, DynamoDB items by a
  parallel scan and conditional writes; identical ones are skipped and
  different ones kept unless `--overwrite`. Cognito users are created with a
  forced password reset (passwords cannot be migrated). Resumable from a
  checkpoint after an interruption; verified at the end by counts and
  fingerprints (exit 1 on a mismatch). A protected target needs confirmation
  and is backed up first";

pub(super) const BACKUP_LONG: &str = "Back up a stage's tables; check its buckets keep versions.

cargo xtask backup (<stage> | --stage <stage>) [--list] [--restore ARN] [--yes] [--rehearse]
  on-demand backups of every table of the stage with its
  point-in-time-recovery state, and a check that every bucket keeps versions
  (exit 1 when one does not); `--restore` restores into a new table beside the
  original (`--yes` confirms a protected stage). `deploy` backs up a protected
  stage first (`--skip-backup` to skip) and records the backups in the journal";

pub(super) const REMOVE_LONG: &str = "Remove every service of a stage, in reverse order.

cargo xtask remove (<stage> | --stage <stage>) [--empty-buckets] [--allow-protected] [--yes] [--rehearse] [--lock-timeout DURATION] [--verbose]
  every service in reverse order, under the lock";

pub(super) const ROLLBACK_LONG: &str = "Return every service of a stage to its state before a run.

cargo xtask rollback (<stage> | --stage <stage>) [--run ID] [--yes] [--rehearse] [--lock-timeout DURATION] [--verbose]
  every service the run changed back to its state before the run, from that
  run's journal: a stack the run created is removed, an updated one returns to
  its earlier deployment; services the run never started, skipped or left
  unchanged are left alone. The plan is printed first; a protected stage asks
  for confirmation (`--yes`)";

pub(super) const UNLOCK_LONG: &str = "Show or clear a stage's deploy lock.

cargo xtask unlock (<stage> | --stage <stage>) [--force] [--rehearse]
  who holds a stage's lock; `--force` clears a stale one";

pub(super) const PREVIEWS_LONG: &str = "List the preview stages (deploy.toml's `pr-*` patterns) that have stacks deployed, with their services.

cargo xtask previews [--format text|json|markdown] [--rehearse]
  the stages a `[stages.\"pr-*\"]` pattern allows that have a stack of the
  app deployed (found by the stack names the services give a stage, in the
  pattern's account and region), with the services deployed in each; for a
  scheduled job that removes the previews of closed pull requests
  (`preview-sweep.yml`)";

pub(super) const IAM_POLICY_LONG: &str = "Print the IAM policy a role needs to deploy, remove and roll back the stage, scoped to its own stacks and resources.

cargo xtask iam-policy <stage> [--rehearse]
  packages every service with the pinned CLI for the stage and prints, as
  JSON on stdout, the policy of a role that runs `deploy`, `remove` and
  `rollback` of that stage (with smoke users, backups, the lock and the
  journals): the stage's stacks and deployment buckets by name; the
  permissions the templates' resource types need from CloudFormation,
  usable only through CloudFormation (`aws:CalledVia`); the stage lock's
  own keys; `*` only for actions AWS allows on nothing else. No `*` action.
  Notes on stderr: types whose permissions no schema names, and the
  policy's size against IAM's limits";

pub(super) const CODEGEN_LONG: &str =
    "Regenerate the committed generated files (or check them with --check).

cargo xtask codegen [--check]
  regenerates the committed generated files: `docs/deploy-order.md`,
  `xtask/src/cfn/resource_types.rs` (every CloudFormation type and its
  `GetAtt` attributes, from the pinned cfn-lint's schemas),
  `xtask/src/cfn/runtimes.rs` (the Lambda runtimes the pinned Serverless CLI
  accepts), the CLI's configuration schema and the rest

cargo xtask codegen --plugins
  regenerates `xtask/src/cfn/plugin_schemas.json`: installs the pinned popular
  Serverless plugins from npm into `target/tools/plugins` and asks the CLI
  what each adds to its schema (validate judges a service's keys by it)";

pub(super) const BENCH_LONG: &str =
    "Measure deploys, redeploys, the static checks and smoke against the plain way.

cargo xtask bench [--quick] [--format text|json]
  medians of deploy, no-op redeploy and smoke against the plain way (ratios),
  a generated deep app against the plain way and against wave-by-wave deploys,
  the static pipeline per service on generated apps of 10, 100 and 1000
  services, and emulator start time

cargo xtask bench --aws-pace F [--aws-pace-model FILE] [--services N]
  the same deploys with CloudFormation at F of AWS's pace (0.1: ten times
  faster than AWS): each stack operation's answer held for its modelled time
  (a committed table of typical durations by resource type, its sources
  named; FILE for your own). The app, the deep app and a generated monorepo
  of N services (100) are each deployed ours, plain serial and wave by wave,
  against the critical-path bound: the longest chain of modelled stack
  operations, with a CLI's start and packaging at its head";
