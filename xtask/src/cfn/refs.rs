//! What a service produces and consumes across stacks, resolved for a
//! stage: its stack name and exports, and its `${cf:}` and
//! `Fn::ImportValue` references (nested in `Fn::Join`/`Fn::Sub` too).
//!
//! `graph` turns these into deploy order; `validate` checks that every
//! reference is satisfied.

use crate::app::vars;
use crate::app::yaml::{Node, Pos, Value};
use crate::app::Service;
use crate::cfn::intrinsic::{self, Env, Function};

/// A reference from one service to another stack's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Referent {
    /// `${cf:stack.Output}` or `${cf(region):stack.Output}`.
    Stack {
        stack: String,
        output: String,
        region: Option<String>,
    },
    /// `Fn::ImportValue` of an export name.
    Export { name: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub target: Referent,
    /// How it is written, for messages.
    pub written: String,
    /// Whether a fallback stands in when the CLI finds no value
    /// (`${cf:stack.Out, 'x'}`): an order still, but never a refusal.
    pub fallback: bool,
    pub pos: Pos,
    /// The file it is written in (serverless.yml or an included one).
    pub file: std::path::PathBuf,
}

/// A reference whose name depends on something unknown before deploy
/// (`${ssm:}`, `${env:}`, a parameter): it cannot order anything.
#[derive(Debug, Clone)]
pub struct Unresolved {
    pub written: String,
    pub pos: Pos,
    /// The file it is written in (serverless.yml or an included one).
    pub file: std::path::PathBuf,
}

/// An export a service defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub name: String,
    pub output: String,
    pub pos: Pos,
    /// The file it is written in (serverless.yml or an included one).
    pub file: std::path::PathBuf,
}

/// Stage and region a service is resolved for.
pub struct Scope<'a> {
    pub stage: &'a str,
    pub region: &'a str,
}

/// The references a service makes, resolved for the stage.
pub fn references(service: &Service, scope: &Scope) -> (Vec<Reference>, Vec<Unresolved>) {
    let ctx = service.vars_at(scope.stage, scope.region);
    let own_stack = service.stack_name_at(scope.stage, scope.region);
    let mut refs = Vec::new();
    let mut unresolved = Vec::new();
    // Sections included whole from other files (`iamRoleStatements:
    // ${file(./roles.yml)}`) are the service's as much as its own file:
    // their imports order the deploy too. A section that is also a
    // `resources` fragment is read once.
    for (file, document) in &service.documents_and_sections() {
        document.walk(&mut |_, node| {
            // `${cf:...}` in any string.
            if let Some(text) = node.as_str() {
                // A `cf:` among the fallbacks too: the CLI reads the stack
                // wherever what comes before it has no value. A param
                // Compose passes always has one: what follows it is never
                // read (`${env:X, param:Y, cf:Z}`).
                let passed = |v: &vars::Var| {
                    v.source == vars::Source::Param
                        && ctx
                            .compose_params
                            .is_some_and(|ps| ps.iter().any(|p| p.name == v.address))
                };
                let all = vars::find_all(text);
                let reached = all.iter().flat_map(|var| {
                    let chain = vars::with_fallbacks(var);
                    let end = chain.iter().position(passed).map_or(chain.len(), |i| i + 1);
                    chain.into_iter().take(end)
                });
                for var in reached {
                    if var.source != vars::Source::Cf {
                        continue;
                    }
                    let written = var.raw(text).to_string();
                    let pos = node.pos;
                    match vars::resolve(&var.address, &ctx).and_then(|address| split_cf(&address)) {
                        Some((stack, output)) => refs.push(Reference {
                            target: Referent::Stack {
                                stack,
                                output,
                                region: var.arg.clone(),
                            },
                            written,
                            fallback: var.fallback.is_some(),
                            pos,
                            file: file.to_path_buf(),
                        }),
                        None => unresolved.push(Unresolved {
                            written,
                            pos,
                            file: file.to_path_buf(),
                        }),
                    }
                }
            }
            // `Fn::ImportValue` in either spelling.
            if let Some(call) = intrinsic::decode(node) {
                if call.function == Function::ImportValue {
                    let arg = call.arg.to_node();
                    let written = describe(&arg);
                    match resolve_name(&arg, &ctx, own_stack.as_deref()) {
                        Some(name) => refs.push(Reference {
                            target: Referent::Export { name },
                            written,
                            fallback: false,
                            pos: node.pos,
                            file: file.to_path_buf(),
                        }),
                        None => unresolved.push(Unresolved {
                            written,
                            pos: node.pos,
                            file: file.to_path_buf(),
                        }),
                    }
                }
            }
        });
    }
    (refs, unresolved)
}

/// The exports a service defines in `resources.Outputs`, resolved.
pub fn exports(service: &Service, scope: &Scope) -> Vec<Export> {
    let ctx = service.vars_at(scope.stage, scope.region);
    let own_stack = service.stack_name_at(scope.stage, scope.region);
    service
        .entries("Outputs")
        .into_iter()
        .filter_map(|(file, key, output)| {
            let name_node = output.path(&["Export", "Name"])?;
            let name = resolve_name(name_node, &ctx, own_stack.as_deref())?;
            Some(Export {
                name,
                output: key.as_str().unwrap_or("").to_string(),
                pos: name_node.pos,
                file: file.to_path_buf(),
            })
        })
        .collect()
}

/// The prefix of the exports the Serverless Framework adds to every stack
/// it deploys (`sls-<service>-<stage>-HttpApiUrl`, ...).
pub fn framework_export_prefix(service: &Service, scope: &Scope) -> Option<String> {
    let ctx = service.vars_at(scope.stage, scope.region);
    let name = vars::resolve(service.name()?, &ctx)?;
    Some(format!("sls-{name}-{}-", scope.stage))
}

/// `stack.Output` (the output key is after the last dot; stack names have none).
pub(crate) fn split_cf(address: &str) -> Option<(String, String)> {
    let (stack, output) = address.split_once('.')?;
    (!stack.is_empty() && !output.is_empty()).then(|| (stack.to_string(), output.to_string()))
}

/// A short rendering of a name expression for messages.
pub fn describe(node: &Node) -> String {
    let tag = node
        .tag
        .as_deref()
        .map(|t| format!("!{t} "))
        .unwrap_or_default();
    match &node.value {
        Value::Scalar { text, .. } => format!("{tag}{text}"),
        Value::Seq(items) => format!(
            "{tag}[{}]",
            items.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(entries) => format!(
            "{tag}{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", k.as_str().unwrap_or("?"), describe(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What a name expression can use before deploy: Serverless variables and
/// the stack's own name. Resources and exports are not known yet.
struct BeforeDeploy<'a> {
    ctx: &'a vars::Context<'a>,
    own_stack: Option<&'a str>,
}

impl Env for BeforeDeploy<'_> {
    fn vars(&self) -> &vars::Context<'_> {
        self.ctx
    }
    fn stack_name(&self) -> Option<String> {
        self.own_stack.map(str::to_string)
    }
}

/// Resolves a CloudFormation name expression before deploy: a string with
/// Serverless variables, or `Fn::Sub` / `Fn::Join` / `Ref` of pseudo
/// parameters.
pub fn resolve_name(node: &Node, ctx: &vars::Context, own_stack: Option<&str>) -> Option<String> {
    intrinsic::evaluate(node, &BeforeDeploy { ctx, own_stack })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(text: &str) -> Service {
        Service::of_text(text)
    }

    #[test]
    fn finds_cf_and_import_references_in_every_form() {
        let svc = service(
            "service: web\nprovider:\n  environment:\n    A: ${cf:db-${sls:stage}.Table}\n    B: ${cf(eu-west-1):logs-${sls:stage}.Bucket}\n\
             resources:\n  Resources:\n    X:\n      Properties:\n        P: !ImportValue app-${sls:stage}-one\n        Q:\n          Fn::ImportValue: !Sub '${AWS::Region}-two'\n\
                     R: !Join ['', [!ImportValue {'Fn::Join': ['-', [app, '${sls:stage}', three]]}, '/*']]\n",
        );
        let (refs, unresolved) = references(
            &svc,
            &Scope {
                stage: "qa",
                region: "us-west-2",
            },
        );
        assert!(unresolved.is_empty(), "{unresolved:?}");
        let targets: Vec<Referent> = refs.into_iter().map(|r| r.target).collect();
        assert_eq!(
            targets,
            vec![
                Referent::Stack {
                    stack: "db-qa".into(),
                    output: "Table".into(),
                    region: None
                },
                Referent::Stack {
                    stack: "logs-qa".into(),
                    output: "Bucket".into(),
                    region: Some("eu-west-1".into())
                },
                Referent::Export {
                    name: "app-qa-one".into()
                },
                Referent::Export {
                    name: "us-west-2-two".into()
                },
                Referent::Export {
                    name: "app-qa-three".into()
                },
            ]
        );
    }

    #[test]
    fn exports_resolve_sub_with_the_stack_name() {
        let svc = service("service: api\nresources:\n  Outputs:\n    Url:\n      Value: x\n      Export:\n        Name: !Sub '${AWS::StackName}-Url'\n");
        let exports = exports(
            &svc,
            &Scope {
                stage: "dev",
                region: "us-east-1",
            },
        );
        assert_eq!(
            exports,
            vec![Export {
                name: "api-dev-Url".into(),
                output: "Url".into(),
                pos: Pos { line: 7, col: 20 },
                file: "svc/serverless.yml".into(),
            }]
        );
    }

    #[test]
    fn unknowable_names_are_unresolved_not_guessed() {
        let svc = service("service: a\nprovider:\n  environment:\n    X: ${cf:${ssm:/stack/name}.Out}\n    Y: !ImportValue ${env:EXPORT}\n");
        let (refs, unresolved) = references(
            &svc,
            &Scope {
                stage: "dev",
                region: "us-east-1",
            },
        );
        assert!(refs.is_empty());
        assert_eq!(unresolved.len(), 2);
    }
}
