//! `cargo xtask codegen [--check]`: the generated files the repository
//! commits, written from their sources, or checked to be current.

#![allow(
    clippy::disallowed_methods,
    reason = "runs the pinned cfn-lint's Python to read its schemas"
)]

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::app::App;
use crate::cli::{CodegenArgs, Global};
use crate::sys::paths;

pub mod plugins;

/// Every generated file with its freshly generated content. The resource
/// table needs the pinned cfn-lint, which is installed when missing.
pub fn generated() -> Result<Vec<(PathBuf, String)>> {
    let root = paths::workspace_root();
    // The runbook is of the app this repository names as its own.
    let (_, app_dir) = crate::app::named_by_cargo(&root)?.ok_or_else(|| {
        anyhow::anyhow!(
            "{} names no app under `[workspace.metadata.xtask]`; codegen writes this repository's files",
            root.join("Cargo.toml").display()
        )
    })?;
    let app = App::load(&app_dir)?;
    let first = app
        .policy
        .stage_names()
        .first()
        .map(|s| s.to_string())
        .unwrap_or_else(|| "dev".into());
    let stage = app.stage(&first)?;
    Ok(vec![
        (
            root.join("docs/deploy-order.md"),
            crate::cfn::order::deploy_order_doc(&app, &stage)?,
        ),
        (
            root.join("xtask/src/cfn/resource_types.rs"),
            resource_types()?,
        ),
        (root.join("xtask/src/cfn/runtimes.rs"), runtimes()?),
        (root.join("xtask/src/cfn/iam_actions.rs"), iam_actions()?),
        (
            root.join("xtask/src/cfn/handler_permissions.txt"),
            handler_permissions()?,
        ),
        (
            root.join("xtask/src/cfn/property_rules.json"),
            property_rules()?,
        ),
        (root.join("xtask/src/cfn/cli_schema.json"), cli_schema()?),
        (root.join("docs/runbook-prod.md"), runbook(&app)?),
        (root.join("docs/commands.md"), commands()),
    ])
}

/// The command reference: every command's `--help`, as clap renders it
/// (the same text a terminal shows), at a fixed width.
fn commands() -> String {
    use clap::CommandFactory;
    fn walk(prefix: &str, cmd: &mut clap::Command, out: &mut String) {
        for sub in cmd.get_subcommands_mut() {
            if sub.get_name() == "help" {
                continue;
            }
            let name = format!("{prefix} {}", sub.get_name());
            let help = sub.render_long_help().to_string();
            let help: Vec<&str> = help.lines().map(str::trim_end).collect();
            out.push_str(&format!(
                "## `{name}`\n\n```text\n{}\n```\n\n",
                help.join("\n").trim_end()
            ));
            walk(&name, sub, out);
        }
    }
    // The environment's values are this machine's, not the reference's.
    let mut cli = crate::cli::Cli::command()
        .term_width(100)
        .bin_name("cargo xtask")
        .mut_arg("app", |a| a.hide_env_values(true))
        .mut_arg("emulator", |a| a.hide_env_values(true));
    let mut out = String::from(
        "# Command reference\n\n\
         Every command's `--help`, generated from the command line's own \
         definition by `cargo xtask codegen` (a test keeps it current).\n\n",
    );
    out.push_str(&format!(
        "## `cargo xtask`\n\n```text\n{}\n```\n\n",
        cli.render_long_help().to_string().trim_end()
    ));
    walk("cargo xtask", &mut cli, &mut out);
    out.trim_end().to_string() + "\n"
}

/// The bundled app's prod runbook, as `cargo xtask runbook prod` writes it.
fn runbook(app: &App) -> Result<String> {
    let stage = app.stage("prod")?;
    crate::cfn::runbook::runbook(app, &stage)
}

/// The Lambda runtimes the pinned Serverless CLI's configuration schema
/// accepts: a service with any other is refused by the CLI mid-deploy, so
/// validate checks it first.
fn runtimes() -> Result<String> {
    let program = crate::sys::tools::serverless(true)?;
    let real = program.canonicalize()?;
    let package = real
        .ancestors()
        .find(|d| d.join("package.json").exists())
        .ok_or_else(|| anyhow::anyhow!("no package.json above {}", real.display()))?;
    let provider = package.join("lib/plugins/aws/provider.js");
    let text = std::fs::read_to_string(&provider)?;
    let list = text
        .split_once("awsLambdaRuntime: {")
        .and_then(|(_, rest)| rest.split_once("enum: ["))
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} no longer declares awsLambdaRuntime's enum where codegen reads it",
                provider.display()
            )
        })?;
    let names: Vec<&str> = list.split(['\'', '"']).skip(1).step_by(2).collect();
    if names.is_empty() {
        bail!("found no runtimes in {}", provider.display());
    }
    let version = crate::run::pin::cli_version(&program)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let mut out = format!(
        "//! The Lambda runtimes the pinned Serverless CLI (osls {version}) accepts,\n\
         //! from its configuration schema. Generated by `cargo xtask codegen`; do\n\
         //! not edit.\n\n\
         #[rustfmt::skip]\n\
         pub static RUNTIMES: &[&str] = &[\n"
    );
    for name in names {
        out.push_str(&format!("    {name:?},\n"));
    }
    out.push_str("];\n");
    out.push_str(&lifecycle()?);
    Ok(out)
}

/// Builds the pinned CLI's configuration schema as it validates a service
/// of provider `aws`: the base schema and what its own plugins define
/// (events, provider, function properties). Printed as JSON.
const DUMP_CLI_SCHEMA: &str = r#"
const [osls, dir] = process.argv.slice(2);
const Serverless = require(osls + '/lib/serverless');
(async () => {
  const sls = new Serverless({
    serviceDir: dir,
    configurationFilename: 'serverless.yml',
    configuration: { service: 'schema', provider: { name: 'aws' } },
    commands: ['print'],
    options: {},
  });
  await sls.init();
  process.stdout.write(JSON.stringify(sls.configSchemaHandler.schema, null, 1) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// The pinned CLI's configuration schema (see [`DUMP_CLI_SCHEMA`]), which
/// validate reads to say what the CLI will refuse of a service's keys.
fn cli_schema() -> Result<String> {
    let package = crate::sys::tools::serverless_package(true)?;
    // One folder per call: two generations in one process (the tidy tests
    // run them side by side) must not remove each other's.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = paths::scratch_dir().join(format!("cli-schema-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("serverless.yml"),
        "service: schema\nprovider:\n  name: aws\n",
    )?;
    let script = dir.join("dump.cjs");
    std::fs::write(&script, DUMP_CLI_SCHEMA)?;
    let output = std::process::Command::new("node")
        .arg(&script)
        .arg(package)
        .arg(&dir)
        .env("SLS_TELEMETRY_DISABLED", "1")
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let output = output?;
    if !output.status.success() {
        bail!(
            "the CLI's schema could not be built: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8(output.stdout)?;
    // Checked here, so the table validate embeds always parses.
    serde_json::from_str::<serde_json::Value>(&text)?;
    Ok(text)
}

/// cfn-lint's table of Lambda runtime deprecations (the day AWS stops
/// patching each runtime, and its successor), as the pinned cfn-lint has it.
const DUMP_LIFECYCLE: &str = r#"
import json, sys
from cfnlint.helpers import load_resource
from cfnlint.data import AdditionalSpecs
from cfnlint.version import __version__
table = load_resource(AdditionalSpecs, "LmbdRuntimeLifecycle.json")
rows = sorted([name, row.get("deprecated"), row.get("successor")] for name, row in table.items() if row.get("deprecated"))
json.dump({"version": __version__, "rows": rows}, sys.stdout)
"#;

fn lifecycle() -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Dump {
        version: String,
        rows: Vec<(String, String, Option<String>)>,
    }
    let dump: Dump = serde_json::from_slice(&cfn_lint_python(DUMP_LIFECYCLE)?)?;
    let mut out = format!(
        "\n/// Sorted by name: every Lambda runtime with the day AWS deprecates it\n\
         /// (no more security patches; `YYYY-MM-DD`) and its successor, from\n\
         /// cfn-lint {}'s runtime lifecycle table.\n\
         #[rustfmt::skip]\n\
         pub static DEPRECATIONS: &[(&str, &str, Option<&str>)] = &[\n",
        dump.version
    );
    for (name, deprecated, successor) in dump.rows {
        out.push_str(&format!("    ({name:?}, {deprecated:?}, {successor:?}),\n"));
    }
    out.push_str("];\n");
    Ok(out)
}

/// A list of strings as Rust writes it between `&[` and `]`.
fn quoted(list: &[String]) -> String {
    list.iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs a Python snippet in the pinned cfn-lint's environment (installed
/// when missing) and returns what it printed.
fn cfn_lint_python(code: &str) -> Result<Vec<u8>> {
    cfn_lint_python_with(code, &[])
}

/// [`cfn_lint_python`] with arguments for the snippet (`sys.argv[1:]`).
fn cfn_lint_python_with(code: &str, args: &[&str]) -> Result<Vec<u8>> {
    crate::sys::tools::cfn_lint(true)?;
    let python = crate::sys::tools::cfn_lint_venv().join("bin/python");
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(code)
        .args(args)
        .output()?;
    if !output.status.success() {
        bail!(
            "cfn-lint's Python failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output.stdout)
}

/// The IAM service authorization reference as cfn-lint ships it
/// (`Policies.json`): for each service whose actions the review scopes,
/// the actions that name no resource type, which AWS allows on `*` only,
/// and those that do (so a wildcard action, `ec2:Describe*`, is told).
const DUMP_IAM: &str = r#"
import json, sys, importlib.resources
from cfnlint.version import __version__
data = json.loads(importlib.resources.files("cfnlint.data.AdditionalSpecs").joinpath("Policies.json").read_text())
services = json.loads(sys.argv[1])
out = {"version": __version__, "services": []}
for prefix in sorted(services):
    actions = data.get(prefix, {}).get("Actions", {})
    star = sorted(a for a, v in actions.items() if not v.get("Resources"))
    scoped = sorted(a for a, v in actions.items() if v.get("Resources"))
    out["services"].append([prefix, star, scoped])
json.dump(out, sys.stdout)
"#;

fn iam_actions() -> Result<String> {
    // The services the review scopes, and those a deploy role calls
    // (`iam-policy` grants their `*`-only actions on `*`).
    let mut prefixes: Vec<&str> = crate::cfn::rules::iam::scoped_prefixes()
        .chain(crate::iam::build::DEPLOY_PREFIXES.iter().copied())
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let output = cfn_lint_python_with(DUMP_IAM, &[&serde_json::to_string(&prefixes)?])?;
    /// A service's prefix, its `*`-only actions, and those on resources.
    type Service = (String, Vec<String>, Vec<String>);
    #[derive(serde::Deserialize)]
    struct Dump {
        version: String,
        services: Vec<Service>,
    }
    let dump: Dump = serde_json::from_slice(&output)?;
    let mut out = format!(
        "//! The IAM actions that name no resource type, so that AWS allows them\n\
         //! on `Resource: '*'` only, for each service whose actions the security\n\
         //! review scopes; from the service authorization reference cfn-lint {}\n\
         //! ships (`Policies.json`). Generated by `cargo xtask codegen`; do not edit.\n\n\
         /// Sorted by service prefix; actions in lower case, sorted.\n\
         #[rustfmt::skip]\n\
         pub static STAR_ONLY_ACTIONS: &[(&str, &[&str])] = &[\n",
        dump.version
    );
    let table = |out: &mut String, pick: &dyn Fn(&Service) -> &Vec<String>| {
        for service in &dump.services {
            let list: Vec<String> = pick(service).iter().map(|a| format!("{a:?}")).collect();
            out.push_str(&format!("    ({:?}, &[{}]),\n", service.0, list.join(", ")));
        }
        out.push_str("];\n");
    };
    table(&mut out, &|s| &s.1);
    out.push_str(
        "\n/// The actions that name a resource type (AWS allows them on ARNs),\n\
         /// in the same order and form.\n\
         #[rustfmt::skip]\n\
         pub static SCOPED_ACTIONS: &[(&str, &[&str])] = &[\n",
    );
    table(&mut out, &|s| &s.2);
    Ok(out)
}

/// The permissions each resource type's handlers need to create, update,
/// delete and read it: what CloudFormation calls with the deploying
/// role's credentials (`iam-policy` grants them through CloudFormation).
const DUMP_HANDLERS: &str = r#"
import json, sys
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER as m
from cfnlint.version import __version__
out = {"version": __version__, "types": []}
for t in sorted(m.get_resource_types("us-east-1")):
    handlers = m.get_resource_schema("us-east-1", t).schema.get("handlers", {})
    perms = sorted({
        p for k in ("create", "update", "delete", "read")
        for p in handlers.get(k, {}).get("permissions", []) if ":" in p
    })
    if perms:
        out["types"].append([t, perms])
json.dump(out, sys.stdout)
"#;

/// One type a line, its actions grouped by service prefix
/// (`AWS::SQS::Queue sqs:CreateQueue,DeleteQueue kms:Decrypt`): a table
/// of ~1,500 types that `cfn::handlers` reads when asked.
fn handler_permissions() -> Result<String> {
    let output = cfn_lint_python(DUMP_HANDLERS)?;
    #[derive(serde::Deserialize)]
    struct Dump {
        version: String,
        types: Vec<(String, Vec<String>)>,
    }
    let dump: Dump = serde_json::from_slice(&output)?;
    let mut out = format!(
        "# The IAM permissions of each resource type's create, update, delete and read\n\
         # handlers, from the provider schemas of cfn-lint {} (us-east-1).\n\
         # Generated by `cargo xtask codegen`; do not edit.\n",
        dump.version
    );
    for (name, perms) in &dump.types {
        let mut by_prefix: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for p in perms {
            if let Some((prefix, action)) = p.split_once(':') {
                by_prefix.entry(prefix).or_default().push(action);
            }
        }
        let groups: Vec<String> = by_prefix
            .iter()
            .map(|(prefix, actions)| format!("{prefix}:{}", actions.join(",")))
            .collect();
        out.push_str(&format!("{name} {}\n", groups.join(" ")));
    }
    Ok(out)
}

/// Asks cfn-lint itself which attributes `Fn::GetAtt` may name on each
/// resource type, so the table agrees with the linter's own schema code
/// (read-only properties plus its patches), for every type it knows.
const DUMP_TYPES: &str = r#"
import json, sys
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER as m
from cfnlint.version import __version__
out = {"version": __version__, "types": []}
for t in sorted(m.get_resource_types("us-east-1")):
    schema = m.get_resource_schema("us-east-1", t)
    create_only = sorted({
        p.split("/")[2] for p in schema.schema.get("createOnlyProperties", [])
        if p.startswith("/properties/") and len(p.split("/")) > 2
    })
    out["types"].append([t, sorted(schema.get_atts.keys()), create_only])
json.dump(out, sys.stdout)
"#;

fn resource_types() -> Result<String> {
    let output = cfn_lint_python(DUMP_TYPES)?;
    #[derive(serde::Deserialize)]
    struct Dump {
        version: String,
        types: Vec<(String, Vec<String>, Vec<String>)>,
    }
    let dump: Dump = serde_json::from_slice(&output)?;
    let mut out = format!(
        "//! Every CloudFormation resource type, the attributes `Fn::GetAtt` may\n\
         //! name on it and the properties that replace it when they change, from\n\
         //! the provider schemas of cfn-lint {} (us-east-1).\n\
         //! Generated by `cargo xtask codegen`; do not edit.\n\n\
         /// Sorted by type name. An attribute with `*` is a pattern (`.*` is any text).\n\
         #[rustfmt::skip]\n\
         pub static RESOURCE_TYPES: &[(&str, &[&str])] = &[\n",
        dump.version
    );
    for (name, attributes, _) in &dump.types {
        out.push_str(&format!("    ({name:?}, &[{}]),\n", quoted(attributes)));
    }
    out.push_str("];\n");
    out.push_str(
        "\n/// Sorted by type name: the top-level properties a change to which\n\
         /// replaces the resource (the schema's `createOnlyProperties`); types\n\
         /// without any are left out.\n\
         #[rustfmt::skip]\n\
         pub static CREATE_ONLY_PROPERTIES: &[(&str, &[&str])] = &[\n",
    );
    for (name, _, create_only) in dump.types.iter().filter(|(.., c)| !c.is_empty()) {
        out.push_str(&format!("    ({name:?}, &[{}]),\n", quoted(create_only)));
    }
    out.push_str("];\n");
    Ok(out)
}

/// What each resource type's schema demands of its top-level properties:
/// the ones it requires, the values an enumerated one takes, and the
/// pattern and length of a name (`BucketName`, `TableName`, ...): what
/// CloudFormation checks a template against before any resource is made.
const DUMP_PROPERTIES: &str = r#"
import json, sys
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER as m
from cfnlint.version import __version__
out = {"version": __version__, "types": []}
for t in sorted(m.get_resource_types("us-east-1")):
    schema = m.get_resource_schema("us-east-1", t).schema
    required = sorted(schema.get("required", []))
    rules = []
    for name, p in sorted(schema.get("properties", {}).items()):
        if not isinstance(p, dict) or "$ref" in p:
            continue
        values = [str(v) for v in p.get("enum", []) if isinstance(v, (str, int)) and not isinstance(v, bool)]
        if p.get("type") not in ("string", "integer") or len(values) != len(p.get("enum", [])):
            values = []
        named = name.endswith("Name") and p.get("type") == "string"
        rule = [
            name,
            p.get("minLength") if named else None,
            p.get("maxLength") if named else None,
            p.get("pattern") if named else None,
            values,
        ]
        if any(v not in (None, []) for v in rule[1:]):
            rules.append(rule)
    if required or rules:
        out["types"].append([t, required, rules])
json.dump(out, sys.stdout)
"#;

/// A JSON-schema pattern (ECMAScript) as the `regex` crate writes it, or
/// `None` when it has no equal there: such a pattern is left out, never
/// checked loosely.
fn rust_pattern(pattern: &str) -> Option<String> {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'Z' => out.push_str("\\z"),
            'u' => {
                let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                if hex.len() != 4 || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                    return None;
                }
                out.push_str(&format!("\\x{{{hex}}}"));
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    regex::Regex::new(&out).ok().map(|_| out)
}

fn property_rules() -> Result<String> {
    let output = cfn_lint_python(DUMP_PROPERTIES)?;
    type Rule = (
        String,
        Option<u64>,
        Option<u64>,
        Option<String>,
        Vec<String>,
    );
    #[derive(serde::Deserialize)]
    struct Dump {
        version: String,
        types: Vec<(String, Vec<String>, Vec<Rule>)>,
    }
    let dump: Dump = serde_json::from_slice(&output)?;
    // Data, not code: a table of this size compiles slowly as a Rust
    // static, and `properties.rs` reads it once.
    let mut types = Vec::new();
    for (name, required, rules) in &dump.types {
        let rules: Vec<serde_json::Value> = rules
            .iter()
            .filter_map(|(property, min, max, pattern, values)| {
                let pattern = pattern.as_deref().and_then(rust_pattern);
                if min.is_none() && max.is_none() && pattern.is_none() && values.is_empty() {
                    return None;
                }
                Some(serde_json::json!({
                    "property": property,
                    "min": min,
                    "max": max,
                    "pattern": pattern,
                    "values": values,
                }))
            })
            .collect();
        if required.is_empty() && rules.is_empty() {
            continue;
        }
        types.push(serde_json::json!([name, required, rules]));
    }
    // One type a line: small, and a diff shows which types changed.
    let source = serde_json::to_string(&format!(
        "the provider schemas of cfn-lint {} (us-east-1), generated by `cargo xtask codegen`; do not edit",
        dump.version
    ))?;
    let rows: Vec<String> = types
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    Ok(format!(
        "{{\"source\": {source},\n\"types\": [\n{}\n]}}\n",
        rows.join(",\n")
    ))
}

pub(crate) fn run(_global: &Global, args: CodegenArgs) -> Result<i32> {
    let check = args.check;
    let mut stale = Vec::new();
    let files = if args.plugins {
        vec![(
            paths::workspace_root().join("xtask/src/cfn/plugin_schemas.json"),
            plugins::plugin_schemas()?,
        )]
    } else {
        generated()?
    };
    for (path, content) in files {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == content {
            continue;
        }
        if check {
            stale.push(paths::display(&path));
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, content)?;
            crate::outln!("wrote {}", paths::display(&path))?;
        }
    }
    if !stale.is_empty() {
        bail!(
            "out of date: {}; run `cargo xtask codegen` and commit",
            stale.join(", ")
        );
    }
    Ok(0)
}
