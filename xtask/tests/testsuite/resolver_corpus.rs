//! The resolver against the pinned CLI on a corpus, not on picked cases:
//! every source the resolver reads offline (each written several ways),
//! after it every kind of fallback, each form written as a whole value and
//! inside a longer string. One `serverless print` names every form the CLI
//! cannot resolve, a second prints the value of every other; the resolver
//! must refuse the first and give the second, exactly.

use anyhow::{Context, Result};
use serde_json::Value;
use xtask::app::vars::{evaluate, Resolved};
use xtask::app::App;

use crate::resolver::cli_print;

/// What the service reads: plain values of each YAML type, a section, a
/// per-stage map, a chain, values the CLI counts as absent, and params.
const HEAD: &str = "service: corpus
provider:
  name: aws
  stage: ${opt:stage, 'dev'}
  region: us-east-1
params:
  default:
    shared: from-default
    onlyDefault: d
  qa:
    shared: from-qa
custom:
  a: alpha
  n: 3
  flag: 'true'
  off: false
  spaced: 'q v'
  nested:
    x:
      y: deep
  sizes:
    dev: small
    qa: medium
  stageKey: qa
  chain1: ${self:custom.chain2}
  chain2: ${self:custom.a}-chained
  empty: ''
  nullish: null
  list:
    - one
    - two
  numbers:
    - 1
    - 2.50
  decimal: 1.0
  octal: 010
  hex: 0x1F
  exponent: 1e3
  capital: True
  plus: +5
  date: 2001-12-14
  tilde: ~
  inc: ${file(../common.yml):section}
  whole: ${file(../common.yml)}
  fellBack: ${file(../absent.yml), file(../common.yml)}
  fellBackKey: ${file(../absent.yml):nested, file(../common.yml):nested}
  deep: ${self:custom.whole.nested}
";

/// Included files, beside the service's folder.
const FILES: &[(&str, &str)] = &[
    (
        "common.yml",
        "k: from-file\nnested:\n  k: nested-file\nnum: 7\nstage: ${opt:stage, 'dev'}\nselfref: ${self:custom.a}\nsection:\n  k: v\n  num: 2.0\nsub: ${file(./sub/inner.yml):v}\n",
    ),
    ("sub/inner.yml", "v: beside-the-including-file\n"),
    ("svc/sub/inner.yml", "v: beside-the-service\n"),
    ("common-qa.yml", "k: from-qa-file\n"),
    ("vals.json", "{\"k\": \"json-value\", \"n\": 5}\n"),
];

/// Each source the resolver reads offline, found and not found.
const PRIMARIES: &[&str] = &[
    "self:custom.a",
    "self:custom.n",
    "self:custom.flag",
    "self:custom.off",
    "self:custom.spaced",
    "self:custom.nested.x.y",
    "self:custom.sizes.${sls:stage}",
    "self:custom.sizes.${self:custom.stageKey}",
    "self:custom.sizes.prod",
    "self:custom.missing",
    "self:custom.nested.x.missing",
    "self:custom.chain1",
    "self:custom.empty",
    "self:custom.nullish",
    "self:custom.list.1",
    "self:provider.stage",
    "self:provider.region",
    "self:service",
    "sls:stage",
    "opt:stage",
    "opt:region",
    "opt:nope",
    "env:HOME",
    "env:XTASK_REFEREE_UNSET",
    "file(../common.yml):k",
    "file(../common.yml):nested.k",
    "file(../common.yml):num",
    "file(../common.yml):stage",
    "file(../common.yml):selfref",
    "file(../common.yml):missing",
    "file(../common-${sls:stage}.yml):k",
    "file(../absent.yml):k",
    "file(../vals.json):k",
    "file(../vals.json):n",
    "strToBool:true",
    "strToBool:false",
    "strToBool:0",
    "strToBool:${self:custom.flag}",
    "param:shared",
    "param:onlyDefault",
    "param:nope",
    "aws:region",
    "self:custom.list",
    "self:custom.numbers",
    "self:custom.decimal",
    "self:custom.octal",
    "self:custom.hex",
    "self:custom.exponent",
    "self:custom.capital",
    "self:custom.plus",
    "self:custom.date",
    "self:custom.tilde",
    "self:custom.nested",
    "self:custom.${self:custom.missing, 'a'}",
    "file(../common.yml)",
    "file(../common.yml):section",
    "file(../common.yml):section.k",
    "file(../vals.json)",
    "strToBool:yes",
    "self:custom.inc.k",
    "self:custom.inc.num",
    "self:custom.inc.missing",
    "self:custom.whole.selfref",
    "self:custom.whole.stage",
    "self:custom.whole.sub",
    "self:custom.whole.section.k",
    "self:custom.deep.k",
    "file(../common.yml):sub",
    "self:custom.fellBack.k",
    "self:custom.fellBack.nested.k",
    "self:custom.fellBackKey.k",
    "self:custom.fellBack.missing",
];

/// What may follow the source: nothing, each kind of literal, a found and
/// a missing reference, and chains of them.
const FALLBACKS: &[&str] = &[
    "",
    ", 'lit'",
    ", \"dq\"",
    ", 3",
    ", true",
    ", self:custom.a",
    ", env:XTASK_REFEREE_UNSET, 'second'",
    ", self:custom.missing, self:custom.n",
    ", opt:stage",
    ", file(../common.yml):k",
    ", param:shared",
    ", self:custom.nullish, 'after-null'",
    ", ''",
    ", 0",
    ", -1.5",
    ", self:custom.empty",
    ", self:custom.nested.x",
];

/// The forms: each source with each fallback, alone and inside a string.
fn corpus() -> Vec<String> {
    let mut forms = Vec::new();
    for primary in PRIMARIES {
        for fallback in FALLBACKS {
            let variable = format!("${{{primary}{fallback}}}");
            forms.push(format!("pre-{variable}-post"));
            forms.push(variable);
        }
    }
    forms.push("${self:custom.a}-${sls:stage}-${param:shared}".into());
    forms.push("${self:custom.a}${self:custom.n}".into());
    forms.push("${sls:stage}-${opt:stage}-${self:provider.stage}".into());
    forms
}

/// A YAML value that is `form` exactly: single-quoted, quotes doubled.
fn quoted(form: &str) -> String {
    format!("'{}'", form.replace('\'', "''"))
}

fn write_service(dir: &std::path::Path, forms: &[(usize, &String)]) -> Result<()> {
    let mut text = HEAD.to_string();
    for (i, form) in forms {
        text.push_str(&format!("  k{i}: {}\n", quoted(form)));
    }
    std::fs::write(dir.join("svc/serverless.yml"), text)?;
    Ok(())
}

/// A value as the resolver gives a scalar: strings as they are, numbers
/// and booleans as YAML would write them.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

#[test]
fn the_resolver_resolves_the_corpus_as_the_cli_does() -> Result<()> {
    let forms = corpus();
    assert!(forms.len() >= 200, "only {} forms", forms.len());

    let dir = xtask::sys::paths::scratch_dir().join(format!("corpus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("svc"))?;
    for (name, text) in FILES {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().context("a folder")?)?;
        std::fs::write(path, text)?;
    }

    // The CLI names the forms it cannot resolve, a phase of its resolution
    // at a time: print again without them until it prints the rest.
    let all: Vec<(usize, &String)> = forms.iter().enumerate().collect();
    let mut refused = std::collections::BTreeSet::new();
    let mut printed = None;
    for _ in 0..4 {
        let resolvable: Vec<(usize, &String)> = all
            .iter()
            .copied()
            .filter(|(i, _)| !refused.contains(i))
            .collect();
        write_service(&dir, &resolvable)?;
        let run = cli_print(&dir.join("svc"), Some("qa"))?;
        anyhow::ensure!(
            run["upstream"] != true,
            "the corpus's own head failed: {run}"
        );
        if run.get("failed").is_none() {
            printed = Some(run);
            break;
        }
        let named = run["custom"]
            .as_object()
            .context("the keys the CLI named")?;
        let before = refused.len();
        refused.extend(
            named
                .keys()
                .filter_map(|k| k.strip_prefix('k')?.parse::<usize>().ok()),
        );
        anyhow::ensure!(
            refused.len() > before,
            "the CLI failed on no form of ours: {run}"
        );
    }
    let printed = printed.context("the CLI still refused forms after four runs")?;
    let refused = |i: usize| refused.contains(&i);

    let app = App::load(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    let service = &app.services[0];
    let ctx = service.vars_at("qa", "us-east-1");
    let mut disagreements = Vec::new();
    let mut counts = (0, 0);
    for (i, form) in &all {
        let ours = evaluate(&format!("${{self:custom.k{i}}}"), &ctx);
        let agree = if refused(*i) {
            counts.1 += 1;
            matches!(ours, Resolved::Missing(_) | Resolved::Refused(_))
        } else {
            counts.0 += 1;
            let theirs = &printed["custom"][format!("k{i}")];
            match (as_text(theirs), &ours) {
                (Some(theirs), Resolved::Known(ours)) => &theirs == ours,
                // A section is known only as a whole, which the resolver
                // does not give as a value.
                (None, Resolved::Unknowable(_)) => theirs.is_object() || theirs.is_array(),
                _ => false,
            }
        };
        if !agree {
            let theirs = if refused(*i) {
                "cannot resolve it".to_string()
            } else {
                format!("prints {}", printed["custom"][format!("k{i}")])
            };
            disagreements.push(format!("`{form}`: the CLI {theirs}, ours {ours:?}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} forms disagree:\n{}",
        disagreements.len(),
        all.len(),
        disagreements.join("\n")
    );
    // Both outcomes are exercised, or the comparison proves little.
    assert!(
        counts.0 >= 100 && counts.1 >= 50,
        "resolved {}, refused {}",
        counts.0,
        counts.1
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
