//! `cargo xtask codegen --plugins`: what the Serverless plugins teams use
//! most add to the pinned CLI's configuration schema, asked of the CLI
//! itself. Each plugin is installed at its pinned version (npm, into the
//! tools folder), loaded by osls beside a bare service, and the schema it
//! then validates against is compared with the bare one: the keys, events
//! and branches the plugin defines, and the variable sources it adds
//! (`${git:...}`), are `cfn/plugin_schemas.json`, which
//! validate applies to a service that lists only plugins the table knows.
//! A plugin that cannot load without its own configuration or credentials
//! is recorded as such, and a service listing it keeps its notes.
//!
//! Apart from `codegen` proper: it needs the npm registry and about a
//! gigabyte of packages, which the offline tidy check cannot ask for.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::sys::paths;

/// The plugins, by how often the public apps judged for validate list
/// them, each at the version the table was generated from.
pub const PLUGINS: &[(&str, &str)] = &[
    ("serverless-offline", "14.8.5"),
    ("serverless-prune-plugin", "2.1.0"),
    ("serverless-esbuild", "1.57.2"),
    ("serverless-bundle", "6.3.1"),
    ("serverless-dynamodb", "0.2.58"),
    ("serverless-dynamodb-local", "1.0.2"),
    ("serverless-domain-manager", "10.3.1"),
    ("serverless-mocha-plugin", "1.12.0"),
    ("serverless-webpack", "5.16.2"),
    ("serverless-python-requirements", "6.1.2"),
    ("serverless-stack-termination-protection", "2.0.2"),
    ("serverless-cloudformation-changesets-v3", "0.1.0"),
    ("serverless-iam-roles-per-function", "3.2.0"),
    ("serverless-dotenv-plugin", "6.0.0"),
    ("serverless-plugin-tracing", "2.0.0"),
    ("serverless-stack-output", "0.2.3"),
    ("serverless-plugin-scripts", "1.0.2"),
    ("serverless-deployment-bucket", "1.6.0"),
    ("serverless-step-functions", "3.31.2"),
    ("serverless-export-env", "2.2.0"),
    ("serverless-s3-remover", "0.6.0"),
    ("serverless-plugin-typescript", "2.1.5"),
    ("serverless-pseudo-parameters", "2.6.1"),
    ("serverless-latest-layer-version", "2.1.2"),
    ("serverless-finch", "4.0.4"),
    ("serverless-export-outputs", "1.0.2"),
    ("serverless-apigw-binary", "0.4.4"),
    ("serverless-add-api-key", "4.2.1"),
    ("serverless-plugin-warmup", "8.4.1"),
    ("serverless-appsync-plugin", "2.13.0"),
    ("serverless-s3-sync", "3.5.1"),
    ("serverless-api-gateway-throttling", "2.0.3"),
    ("serverless-plugin-split-stacks", "1.15.0"),
    ("serverless-plugin-log-retention", "2.1.0"),
    ("serverless-offline-sqs", "8.0.0"),
    ("serverless-s3-local", "0.8.5"),
    ("serverless-plugin-aws-alerts", "1.7.5"),
    ("serverless-lift", "1.37.7"),
    ("serverless-plugin-common-excludes", "4.0.0"),
    ("serverless-plugin-include-dependencies", "6.1.1"),
    ("serverless-associate-waf", "1.2.1"),
    ("serverless-plugin-canary-deployments", "0.8.0"),
    ("serverless-cloudfront-invalidate", "1.12.2"),
    ("serverless-hooks-plugin", "1.1.0"),
    ("serverless-scriptable-plugin", "1.3.1"),
    ("serverless-openapi-documentation", "0.4.0"),
    ("serverless-aws-documentation", "1.1.0"),
    ("serverless-auto-swagger", "3.0.0"),
    ("serverless-offline-ssm", "6.2.0"),
    ("serverless-plugin-monorepo", "0.11.0"),
    ("serverless-ssm-fetch", "2.0.0"),
    ("serverless-plugin-existing-s3", "2.4.0"),
    ("serverless-go-plugin", "2.4.1"),
    ("serverless-step-functions-local", "0.5.1"),
    ("serverless-single-page-app-plugin", "1.0.4"),
    ("serverless-better-credentials", "2.0.1"),
    ("serverless-plugin-lambda-dead-letter", "1.2.1"),
    ("serverless-plugin-optimize", "4.2.1-rc.1"),
    ("serverless-jetpack", "0.11.2"),
    ("serverless-reqvalidator-plugin", "3.1.0"),
    ("serverless-plugin-resource-tagging", "1.2.0"),
    ("serverless-offline-sns", "0.78.2"),
    ("serverless-plugin-git-variables", "5.2.0"),
    ("serverless-plugin-ifelse", "1.0.7"),
    ("serverless-plugin-datadog", "5.134.1"),
    ("serverless-plugin-simulate", "0.0.17"),
    ("serverless-localstack", "1.3.1"),
];

/// Loads osls with each plugin and prints, per plugin, how its schema
/// differs from the bare one: keys it adds, items it appends to a list (a
/// branch of an event's `anyOf`), values it replaces. Arguments: the osls
/// package, the folder with `node_modules`, the plugin names.
const DUMP_PLUGIN_SCHEMAS: &str = r#"
const [osls, dir, ...plugins] = process.argv.slice(2);
const Serverless = require(osls + '/lib/serverless');
async function schemaWith(list) {
  const sls = new Serverless({
    serviceDir: dir,
    configurationFilename: 'serverless.yml',
    configuration: { service: 'schema', provider: { name: 'aws', region: 'us-east-1', stage: 'dev' }, custom: {}, plugins: list },
    commands: ['print'],
    options: {},
  });
  await sls.init();
  const sources = new Set();
  for (const plugin of sls.pluginManager.plugins) {
    for (const name of Object.keys(plugin.configurationVariablesSources || {})) sources.add(name);
  }
  return { schema: JSON.parse(JSON.stringify(sls.configSchemaHandler.schema)), sources };
}
function diff(base, ext, path, out) {
  if (Array.isArray(base) && Array.isArray(ext)) {
    const seen = new Set(base.map((b) => JSON.stringify(b)));
    ext.forEach((e) => { if (!seen.has(JSON.stringify(e))) out.push({ op: 'append', path, value: e }); });
    return;
  }
  if (base && ext && typeof base === 'object' && typeof ext === 'object') {
    for (const k of Object.keys(ext)) {
      if (!(k in base)) out.push({ op: 'add', path: path.concat(k), value: ext[k] });
      else diff(base[k], ext[k], path.concat(k), out);
    }
    return;
  }
  if (JSON.stringify(base) !== JSON.stringify(ext)) out.push({ op: 'replace', path, value: ext });
}
(async () => {
  const base = await schemaWith([]);
  const sources = {};
  const loaded = {};
  const unloadable = {};
  for (const p of plugins) {
    try {
      const out = [];
      const withIt = await schemaWith([p]);
      diff(base.schema, withIt.schema, [], out);
      loaded[p] = out;
      sources[p] = [...withIt.sources].filter((s) => !base.sources.has(s)).sort();
    } catch (e) {
      unloadable[p] = String((e && e.message) || e).split('\n')[0].slice(0, 200);
    }
  }
  process.stdout.write(JSON.stringify({ loaded, sources, unloadable }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// Installs the pinned plugins (once) and returns the folder that holds
/// their `node_modules`.
fn install() -> Result<PathBuf> {
    let dir = paths::tools_dir().join("plugins");
    std::fs::create_dir_all(&dir)?;
    let dependencies: serde_json::Map<String, serde_json::Value> = PLUGINS
        .iter()
        .map(|(name, version)| (name.to_string(), serde_json::Value::from(*version)))
        .collect();
    let manifest = serde_json::json!({
        "name": "xtask-plugin-schemas",
        "private": true,
        "description": "The Serverless plugins `cargo xtask codegen --plugins` asks the CLI about",
        "dependencies": dependencies,
    });
    let manifest = serde_json::to_string_pretty(&manifest)? + "\n";
    let path = dir.join("package.json");
    let installed = std::fs::read_to_string(&path).ok() == Some(manifest.clone())
        && dir.join("node_modules").is_dir();
    if !installed {
        std::fs::write(&path, manifest)?;
        let status = std::process::Command::new("npm")
            .args([
                "install",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--legacy-peer-deps",
            ])
            .current_dir(&dir)
            .status()
            .context("running npm")?;
        if !status.success() {
            bail!("npm could not install the plugins into {}", dir.display());
        }
    }
    Ok(dir)
}

/// `cfn/plugin_schemas.json`, generated.
pub fn plugin_schemas() -> Result<String> {
    let package = crate::sys::tools::serverless_package(true)?;
    let dir = install()?;
    let script = dir.join("dump.cjs");
    std::fs::write(&script, DUMP_PLUGIN_SCHEMAS)?;
    let output = std::process::Command::new("node")
        .arg(&script)
        .arg(&package)
        .arg(&dir)
        .args(PLUGINS.iter().map(|(name, _)| name))
        .env("SLS_TELEMETRY_DISABLED", "1")
        .current_dir(&dir)
        .output()?;
    if !output.status.success() {
        bail!(
            "the plugins' schemas could not be read: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    #[derive(serde::Deserialize)]
    struct Dump {
        loaded: serde_json::Map<String, serde_json::Value>,
        sources: serde_json::Map<String, serde_json::Value>,
        unloadable: serde_json::Map<String, serde_json::Value>,
    }
    let dump: Dump = serde_json::from_slice(&output.stdout)?;
    let version = crate::sys::tools::pinned_cli_version()
        .map(|v| v.to_string())
        .unwrap_or_default();
    let mut plugins = serde_json::Map::new();
    for (name, pinned) in PLUGINS {
        let entry = match (dump.loaded.get(*name), dump.unloadable.get(*name)) {
            (Some(extends), _) => serde_json::json!({
                "version": pinned,
                "extends": extends,
                "sources": dump.sources.get(*name).cloned().unwrap_or_default(),
            }),
            (None, Some(why)) => serde_json::json!({ "version": pinned, "unloadable": why }),
            (None, None) => bail!("the dump says nothing of {name}"),
        };
        plugins.insert(name.to_string(), entry);
    }
    let table = serde_json::json!({ "cli": format!("osls {version}"), "plugins": plugins });
    Ok(serde_json::to_string(&table)? + "\n")
}
