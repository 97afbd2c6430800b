//! The apps the benchmark generates: wide ones of any size (each service a
//! table, a bucket and an HTTP API, importing up to two earlier services)
//! for the static pipeline, and the deep one (waves of services, each
//! with a build step in its packaging) for deploys; and the static
//! pipeline itself, run as `deploy` runs it before anything else.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::app::App;
use crate::cfn::{graph, rules};
use crate::sys::paths;

use super::BUILD_WAIT_MS;

/// Audit, graph and offline validation of the app in `dir`, as `deploy`
/// runs them before anything else.
pub fn static_pipeline(dir: &Path) -> Result<Duration> {
    let started = Instant::now();
    let app = App::load(dir)?;
    let stage = app.stage("dev")?;
    let report = rules::audit(&app);
    let graph = graph::Graph::build(&app, &stage);
    let waves = graph.waves()?;
    let validation = rules::validate(&app, &stage);
    let elapsed = started.elapsed();
    if !report.findings.is_empty() || !validation.findings.is_empty() || waves.is_empty() {
        bail!(
            "the generated app is not clean: {} audit and {} validate findings",
            report.findings.len(),
            validation.findings.len()
        );
    }
    Ok(elapsed)
}

/// An app of `size` services: each owns a table, a bucket and an HTTP API
/// with two functions, exports its table name, and reads the exports of up
/// to two earlier services (a wide, layered graph).
pub fn generate(dir: &Path, size: usize) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", paths::display(dir)))?;
    for i in 0..size {
        let mut imports = String::new();
        for dep in [i / 2, i / 3] {
            if dep < i && !imports.contains(&format!("svc{dep:04}-")) {
                imports.push_str(&format!(
                    "    DEP_{dep}: !ImportValue gen-${{sls:stage}}-svc{dep:04}-table\n"
                ));
            }
        }
        let table = table_yaml(&format!("gen-svc{i:04}"));
        let text = format!(
            r#"service: gen-svc{i:04}
provider:
  name: aws
  runtime: nodejs24.x
  stage: ${{opt:stage}}
  region: eu-west-1
  environment:
    TABLE: !Ref Table
    BUCKET: !GetAtt Bucket.Arn
{imports}functions:
  read:
    handler: handler.read
    events:
      - httpApi: GET /items/{{id}}
  write:
    handler: handler.write
    events:
      - httpApi: POST /items
resources:
  Resources:
{table}    Bucket:
      Type: AWS::S3::Bucket
      Properties:
        BucketName: gen-svc{i:04}-files-${{sls:stage}}
  Outputs:
    TableName:
      Value: !Ref Table
      Export:
        Name: gen-${{sls:stage}}-svc{i:04}-table
    ApiUrl:
      Value: !GetAtt HttpApi.ApiEndpoint
"#
        );
        let service_dir = dir.join(format!("svc{i:04}"));
        std::fs::create_dir_all(&service_dir)?;
        std::fs::write(service_dir.join("serverless.yml"), text)?;
    }
    Ok(dir.to_path_buf())
}

/// The deep app: `waves` waves of `width` services. Each service has a
/// function and a build step of its own (a local plugin that runs before
/// the CLI zips the service: it builds `dist/handler.js` from `src/` and
/// spends [`BUILD_WAIT_MS`] waiting, as a dependency download or a remote
/// build does); each service after the first wave reads a table name of
/// the wave before through `Fn::ImportValue`, so CloudFormation, not the
/// CLI, resolves it: every later service may package ahead.
pub fn generate_deep(dir: &Path, waves: usize, width: usize) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", paths::display(dir)))?;
    std::fs::write(
        dir.join("deploy.toml"),
        "[app]\nname = \"deep\"\n\n[stages.dev]\nregion = \"us-east-1\"\n",
    )?;
    for wave in 0..waves {
        for n in 0..width {
            let key = format!("w{wave}s{n}");
            let import = if wave == 0 {
                String::new()
            } else {
                format!(
                    "    UPSTREAM: !ImportValue deep-${{sls:stage}}-w{}s{n}-table\n",
                    wave - 1
                )
            };
            let table = table_yaml(&format!("deep-{key}"));
            let text = format!(
                r#"service: deep-{key}
plugins:
  - ./build-step
custom:
  build:
    waitMs: {BUILD_WAIT_MS}
provider:
  name: aws
  runtime: nodejs24.x
  stage: ${{opt:stage}}
  region: us-east-1
  deploymentBucket:
    name: deep-deployments-${{sls:stage}}
  environment:
    TABLE: !Ref Table
{import}package:
  patterns:
    - '!**'
    - 'dist/**'
functions:
  handle:
    handler: dist/handler.handle
resources:
  Resources:
{table}  Outputs:
    TableName:
      Value: !Ref Table
      Export:
        Name: deep-${{sls:stage}}-{key}-table
"#
            );
            let service_dir = dir.join(&key);
            std::fs::create_dir_all(service_dir.join("src"))?;
            std::fs::write(service_dir.join("serverless.yml"), text)?;
            std::fs::write(service_dir.join("build-step.js"), BUILD_STEP)?;
            for module in 0..20 {
                std::fs::write(
                    service_dir.join("src").join(format!("part{module:02}.js")),
                    format!("exports.part{module} = (event) => ({{ part: {module}, keys: Object.keys(event || {{}}).length }});\n"),
                )?;
            }
        }
    }
    Ok(dir.to_path_buf())
}

/// A monorepo of `size` services in three waves, as large apps are laid
/// out: shared infrastructure (a tenth: a table and a topic each, both
/// exported), services (an HTTP API with a function each; each imports a
/// shared table through `Fn::ImportValue`, one in four also reads a shared
/// topic through `${cf:}` as the CLI packages it, one in five builds its
/// code in a build step), and an edge (a twentieth: a queue and a function
/// reading the API URLs of several services through `${cf:}`). Folder
/// names sort in a valid order, so the plain serial way deploys them in it.
pub fn generate_monorepo(dir: &Path, size: usize) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", paths::display(dir)))?;
    std::fs::write(
        dir.join("deploy.toml"),
        "[app]\nname = \"mono\"\n\n[stages.dev]\nregion = \"us-east-1\"\n",
    )?;
    let infra = (size / 10).max(1);
    let edge = (size / 20).max(1);
    let services = size.saturating_sub(infra + edge).max(1);
    let provider = |environment: &str| {
        format!(
            r#"provider:
  name: aws
  runtime: nodejs24.x
  stage: ${{opt:stage}}
  region: us-east-1
  deploymentBucket:
    name: mono-deployments-${{sls:stage}}
  environment:
{environment}"#
        )
    };
    for i in 0..infra {
        let key = format!("a-infra-{i:02}");
        let table = table_yaml(&format!("mono-{key}"));
        let text = format!(
            r#"service: mono-{key}
{provider}functions:
  handle:
    handler: handler.handle
resources:
  Resources:
{table}    Topic:
      Type: AWS::SNS::Topic
      Properties:
        TopicName: mono-{key}-${{sls:stage}}
  Outputs:
    TableName:
      Value: !Ref Table
      Export:
        Name: mono-${{sls:stage}}-{key}-table
    TopicArn:
      Value: !Ref Topic
"#,
            provider = provider("    TABLE: !Ref Table\n"),
        );
        write_service(dir, &key, &text, false)?;
    }
    for i in 0..services {
        let key = format!("b-svc-{i:03}");
        let shared = format!("a-infra-{:02}", i % infra);
        let mut environment =
            format!("    SHARED_TABLE: !ImportValue mono-${{sls:stage}}-{shared}-table\n");
        if i % 4 == 0 {
            environment.push_str(&format!(
                "    SHARED_TOPIC: ${{cf:mono-{shared}-${{sls:stage}}.TopicArn}}\n"
            ));
        }
        let built = i % 5 == 0;
        let (plugin, handler) = if built {
            (
                "plugins:\n  - ./build-step\ncustom:\n  build:\n    waitMs: 500\npackage:\n  patterns:\n    - '!**'\n    - 'dist/**'\n",
                "dist/handler.handle",
            )
        } else {
            ("", "handler.handle")
        };
        let text = format!(
            r#"service: mono-{key}
{plugin}{provider}functions:
  handle:
    handler: {handler}
    events:
      - httpApi: GET /{key}
  write:
    handler: {handler}
    events:
      - httpApi: POST /{key}
resources:
  Outputs:
    ApiUrl:
      Value: !GetAtt HttpApi.ApiEndpoint
"#,
            provider = provider(&environment),
        );
        write_service(dir, &key, &text, built)?;
    }
    for i in 0..edge {
        let key = format!("c-edge-{i:02}");
        let mut environment = String::new();
        for n in 0..3 {
            let read = (i * 3 + n) % services;
            environment.push_str(&format!(
                "    API_{n}: ${{cf:mono-b-svc-{read:03}-${{sls:stage}}.ApiUrl}}\n"
            ));
        }
        let text = format!(
            r#"service: mono-{key}
{provider}functions:
  handle:
    handler: handler.handle
    events:
      - sqs:
          arn: !GetAtt Queue.Arn
resources:
  Resources:
    Queue:
      Type: AWS::SQS::Queue
      Properties:
        QueueName: mono-{key}-${{sls:stage}}
"#,
            provider = provider(&environment),
        );
        write_service(dir, &key, &text, false)?;
    }
    Ok(dir.to_path_buf())
}

/// A generated service's folder: its `serverless.yml`, a handler, and, when
/// `built`, the build step and its sources.
fn write_service(dir: &Path, key: &str, text: &str, built: bool) -> Result<()> {
    let service_dir = dir.join(key);
    std::fs::create_dir_all(&service_dir)?;
    std::fs::write(service_dir.join("serverless.yml"), text)?;
    std::fs::write(
        service_dir.join("handler.js"),
        "exports.handle = async () => ({ statusCode: 200, body: 'ok' });\n",
    )?;
    if built {
        std::fs::create_dir_all(service_dir.join("src"))?;
        std::fs::write(service_dir.join("build-step.js"), BUILD_STEP)?;
        std::fs::write(
            service_dir.join("src").join("part.js"),
            "exports.part = (event) => ({ keys: Object.keys(event || {}).length });\n",
        )?;
    }
    Ok(())
}

/// A generated service's table, `<name>-<stage>`, keyed by `id`.
fn table_yaml(name: &str) -> String {
    format!(
        r#"    Table:
      Type: AWS::DynamoDB::Table
      Properties:
        TableName: {name}-${{sls:stage}}
        BillingMode: PAY_PER_REQUEST
        AttributeDefinitions:
          - AttributeName: id
            AttributeType: S
        KeySchema:
          - AttributeName: id
            KeyType: HASH
"#
    )
}

/// The deep app's build step: a local plugin that builds `dist/handler.js`
/// from the service's `src/` before the CLI zips it.
const BUILD_STEP: &str = r#"'use strict';
const fs = require('fs');
const path = require('path');

class BuildStep {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:package:createDeploymentArtifacts': () => this.build() };
  }

  async build() {
    const dir = this.serverless.serviceDir;
    const custom = (this.serverless.service.custom || {}).build || {};
    // The wait a dependency download or a remote build spends.
    await new Promise((resolve) => setTimeout(resolve, Number(custom.waitMs) || 0));
    const src = path.join(dir, 'src');
    const parts = fs.readdirSync(src).filter((f) => f.endsWith('.js')).sort();
    const modules = parts.map((f) => `// ${f}
(function (exports) {
${fs.readFileSync(path.join(src, f), 'utf8')}})(module.exports);
`);
    fs.mkdirSync(path.join(dir, 'dist'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'dist', 'handler.js'),
      `${modules.join('')}
module.exports.handle = async (event) => ({ statusCode: 200, body: JSON.stringify(Object.keys(module.exports)) });
`
    );
  }
}

module.exports = BuildStep;
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::STAGE;

    /// The generated apps are what the benchmark says they are: clean, and
    /// the deep one in waves whose later services all start ahead.
    #[test]
    fn the_generated_apps_are_clean_and_the_deep_one_starts_ahead() {
        let root = paths::scratch_dir().join(format!("bench-gen-{}", std::process::id()));
        let wide = generate(&root.join("wide"), 10).expect("generated");
        static_pipeline(&wide).expect("a clean generated app");

        let deep_dir = generate_deep(&root.join("deep"), 3, 2).expect("generated");
        let deep = App::load(&deep_dir).expect("the deep app loads");
        let stage = deep.stage(STAGE).expect("its stage");
        let (graph, waves) = crate::cfn::order::checked(&deep, &stage).expect("ordered");
        assert_eq!(
            waves,
            [["w0s0", "w0s1"], ["w1s0", "w1s1"], ["w2s0", "w2s1"]]
        );
        let all: Vec<String> = waves.iter().flatten().cloned().collect();
        let packaging = crate::cfn::order::packaging(&deep, &stage, &graph, &all);
        assert_eq!(
            packaging.ahead.iter().collect::<Vec<_>>(),
            ["w1s0", "w1s1", "w2s0", "w2s1"]
        );
        assert!(packaging.at_turn.is_empty(), "{:?}", packaging.at_turn);

        // The monorepo: three waves, clean, each kind of edge present.
        let mono_dir = generate_monorepo(&root.join("mono"), 40).expect("generated");
        static_pipeline(&mono_dir).expect("a clean monorepo");
        let mono = App::load(&mono_dir).expect("the monorepo loads");
        assert_eq!(mono.services.len(), 40);
        let stage = mono.stage(STAGE).expect("its stage");
        let (graph, waves) = crate::cfn::order::checked(&mono, &stage).expect("ordered");
        assert_eq!(waves.len(), 3, "{waves:?}");
        assert_eq!((waves[0].len(), waves[2].len()), (4, 2), "{waves:?}");
        assert!(graph.edges.iter().any(|e| e.read_at_package));
        assert!(graph.edges.iter().any(|e| !e.read_at_package));
        let _ = std::fs::remove_dir_all(&root);
    }
}
