//! `${param:}`: the value Compose passes, or the service's own `params:`
//! for the stage, as the CLI looks them up.

use super::super::{find, Source};
use super::{Eval, Resolved};

impl Eval<'_, '_> {
    /// `${param:name}`: what Compose passes, else the service's own
    /// `params:` for the stage, else its `params.default`, as the CLI
    /// looks them up.
    pub(super) fn param(&self, name: &str, depth: usize) -> Resolved {
        let ctx = self.ctx;
        if let Some(params) = ctx.compose_params {
            if let Some(crate::app::compose::Param { template, .. }) =
                crate::app::compose::for_stage(params, ctx.stage)
                    .into_iter()
                    .find(|p| p.name == name)
            {
                return if !crate::app::compose::references(template).is_empty() {
                    Resolved::Unknowable(format!("param `{name}` is another service's output"))
                } else if template.contains("${") {
                    // Compose's own sources (`${env:AWS_REGION}`,
                    // `${sls:stage}`), read as the CLI reads them.
                    let own = find(template)
                        .iter()
                        .all(|v| matches!(v.source, Source::Env | Source::Sls));
                    if own {
                        self.text(template, depth + 1)
                    } else {
                        Resolved::Unknowable(format!("param `{name}` is read by Compose at deploy"))
                    }
                } else {
                    Resolved::Known(template.clone())
                };
            }
        }
        for scope in [ctx.stage, "default"] {
            if scope == ctx.stage && !ctx.stage_given {
                continue;
            }
            match self.written(&["params", scope, name], depth) {
                Resolved::Known(_) => {
                    return self.lookup(ctx.doc, ctx.file, &["params", scope, name], depth)
                }
                refused @ Resolved::Refused(_) => return refused,
                _ => {}
            }
        }
        // The Serverless Dashboard may hold params for an `org`/`app` service.
        if ctx.doc.get("org").is_some() || ctx.doc.get("app").is_some() {
            return Resolved::Unknowable(format!(
                "param `{name}` may come from the Serverless Dashboard"
            ));
        }
        Resolved::Missing(format!(
            "no param `{name}` is passed or declared for this stage"
        ))
    }
}
