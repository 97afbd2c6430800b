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
--aws-profile is refused (set AWS_PROFILE, which this tool and the CLI both
read). On a protected stage `invoke` runs the function's code on live data: it
asks for the stage's name on a terminal, or takes --yes. The exit code is the
CLI's.";
