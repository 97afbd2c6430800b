//! Serverless Framework variables: `${source:address, fallback}`, as
//! written. This file is their syntax: [`Var`], finding them in strings
//! (nested ones included, as in `${cf:app-${sls:stage}.Output}`), the
//! [`Source`]s the CLI knows, the stage spellings, and fallback chains.
//!
//! Below it: `discovery` (every variable a service reads, through the
//! files it includes), `resolve` (what a value comes to, with the CLI's
//! semantics), `budget` (the work one evaluation may do, and why it is
//! refused) and `files` (the files `${file()}` reads, parsed once). Their
//! public items are re-exported here, so callers say `vars::evaluate`.

mod budget;
mod discovery;
mod files;
mod resolve;

pub use budget::{Refusal, MAX_BYTES, MAX_STEPS};
pub use discovery::{reads, Reads, Written, MAX_INCLUDES};
pub(crate) use files::load;
pub use files::{expand_files, file_value};
pub use resolve::{evaluate, resolve, sets_provider_stage, Context, Resolved};

use crate::app::template;
use budget::MAX_NESTING;

/// One variable as written, with its byte range in the enclosing string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    pub start: usize,
    pub end: usize,
    /// `opt`, `sls`, `self`, `cf`, `file`, `env`, `param`, `aws`, `ssm`, ...
    pub source: Source,
    /// The argument in parentheses: the region of `cf(eu-west-1)`, the path of `file(./x.yml)`.
    pub arg: Option<String>,
    /// What follows the colon, before any fallback.
    pub address: String,
    /// The fallback after the first top-level comma, trimmed.
    pub fallback: Option<String>,
}

impl Var {
    /// The variable without its fallbacks: `${self:a, 'x'}` as `${self:a}`.
    pub fn primary(&self) -> String {
        match &self.arg {
            Some(arg) => format!("${{{}({arg}):{}}}", self.source, self.address),
            None => format!("${{{}:{}}}", self.source, self.address),
        }
    }

    /// The text of the variable as written.
    pub fn raw<'a>(&self, text: &'a str) -> &'a str {
        &text[self.start..self.end]
    }
}

/// Where a variable's value comes from: every source the Serverless CLI
/// knows, and any other (a plugin's) as written. Names are exact, as the
/// CLI reads them: `Self:` is no `self:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// `self:` — the service's own file.
    SelfRef,
    /// `opt:` — an option of the command line (`--stage`, `--region`).
    Opt,
    /// `sls:` — what the CLI knows when it runs (`stage`, `instanceId`).
    Sls,
    /// `env:` — an environment variable.
    Env,
    /// `file(path):` — a value of another file.
    File,
    /// `cf:` — an output of a deployed stack.
    Cf,
    /// `ssm:` — an SSM parameter.
    Ssm,
    /// `s3:` — an object in S3.
    S3,
    /// `param:` — a param from Compose, `params:` or the Dashboard.
    Param,
    /// `aws:` — the account and region.
    Aws,
    /// `strToBool:` — a string read as a boolean.
    StrToBool,
    /// A source a plugin adds, as written.
    Other(String),
}

impl Source {
    /// The source of this name.
    pub fn parse(name: &str) -> Source {
        match name {
            "self" => Source::SelfRef,
            "opt" => Source::Opt,
            "sls" => Source::Sls,
            "env" => Source::Env,
            "file" => Source::File,
            "cf" => Source::Cf,
            "ssm" => Source::Ssm,
            "s3" => Source::S3,
            "param" => Source::Param,
            "aws" => Source::Aws,
            "strToBool" => Source::StrToBool,
            other => Source::Other(other.to_string()),
        }
    }

    /// The name as a file writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Source::SelfRef => "self",
            Source::Opt => "opt",
            Source::Sls => "sls",
            Source::Env => "env",
            Source::File => "file",
            Source::Cf => "cf",
            Source::Ssm => "ssm",
            Source::S3 => "s3",
            Source::Param => "param",
            Source::Aws => "aws",
            Source::StrToBool => "strToBool",
            Source::Other(name) => name,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ways a Serverless file can say "the stage".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StageForm {
    Sls,
    Opt,
    SelfProvider,
    SelfCustom,
}

impl StageForm {
    pub fn spelling(self) -> &'static str {
        match self {
            StageForm::Sls => "${sls:stage}",
            StageForm::Opt => "${opt:stage}",
            StageForm::SelfProvider => "${self:provider.stage}",
            StageForm::SelfCustom => "${self:custom.stage}",
        }
    }
}

/// The one spelling the audit asks for: it always follows `--stage` and
/// needs no definition elsewhere in the file.
pub const CANONICAL: StageForm = StageForm::Sls;

impl Var {
    /// Which stage spelling this variable is, if any.
    pub fn stage_form(&self) -> Option<StageForm> {
        match (&self.source, self.address.as_str()) {
            (Source::Sls, "stage") => Some(StageForm::Sls),
            (Source::Opt, "stage") => Some(StageForm::Opt),
            (Source::SelfRef, "provider.stage") => Some(StageForm::SelfProvider),
            (Source::SelfRef, "custom.stage") => Some(StageForm::SelfCustom),
            _ => None,
        }
    }
}

/// The top-level variables of `text`, in order. CloudFormation's own
/// `${AWS::Region}` / `${LogicalId}` (for `Fn::Sub`) are not Serverless
/// variables and are not returned.
pub fn find(text: &str) -> Vec<Var> {
    template::placeholders(text)
        .into_iter()
        .filter_map(|p| parse_inner(p.inner, p.start, p.end))
        .collect()
}

/// Every variable in `text`, nested ones included, outermost first.
pub fn find_all(text: &str) -> Vec<Var> {
    let mut out = Vec::new();
    collect(text, 0, &mut out);
    out
}

fn collect(text: &str, offset: usize, out: &mut Vec<Var>) {
    collect_depth(text, offset, out, 0);
}

fn collect_depth(text: &str, offset: usize, out: &mut Vec<Var>, depth: usize) {
    if depth > MAX_NESTING {
        return;
    }
    for var in find(text) {
        let inner_start = var.start + 2;
        let inner_end = var.end - 1;
        let mut shifted = var.clone();
        shifted.start += offset;
        shifted.end += offset;
        out.push(shifted);
        collect_depth(
            &text[inner_start..inner_end],
            offset + inner_start,
            out,
            depth + 1,
        );
    }
}

fn parse_inner(inner: &str, start: usize, end: usize) -> Option<Var> {
    let (address_part, fallback) = split_fallback(inner);
    let address_part = address_part.trim();
    // `${AWS::Region}` and `${Logical.Attr}` belong to Fn::Sub.
    if address_part.contains("::") || !address_part.contains(':') && !address_part.contains('(') {
        return None;
    }
    let (head, address) = match top_level_colon(address_part) {
        Some(idx) => (&address_part[..idx], &address_part[idx + 1..]),
        None => (address_part, ""),
    };
    let (source, arg) = match head.find('(') {
        Some(open) if head.ends_with(')') => (
            &head[..open],
            Some(head[open + 1..head.len() - 1].trim().to_string()),
        ),
        _ => (head, None),
    };
    if source.is_empty()
        || !source
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return None;
    }
    Some(Var {
        start,
        end,
        source: Source::parse(source),
        arg,
        address: address.trim().to_string(),
        fallback: fallback.map(|f| f.trim().to_string()),
    })
}

/// Splits at the first comma outside nested `${...}` and parentheses.
fn split_fallback(inner: &str) -> (&str, Option<&str>) {
    let mut depth = 0i32;
    for (i, c) in inner.char_indices() {
        match c {
            '{' | '(' => depth += 1,
            '}' | ')' => depth -= 1,
            ',' if depth == 0 => return (&inner[..i], Some(&inner[i + 1..])),
            _ => {}
        }
    }
    (inner, None)
}

fn top_level_colon(text: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in text.char_indices() {
        match c {
            '{' | '(' => depth += 1,
            '}' | ')' => depth -= 1,
            ':' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// One alternative of a fallback chain, as the framework reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alternative<'a> {
    /// `'dev'`, `"dev"`, a number, `true`, `false` or `null`.
    Literal(String),
    /// `self:provider.stage`, `env:STAGE`: another variable, written bare.
    Reference(&'a str),
    /// An unquoted word, or a `${...}`: the framework refuses both.
    Invalid(&'a str),
}

/// The alternatives of a fallback (`env:STAGE, "dev"`), in order.
pub fn alternatives(fallback: &str) -> Vec<Alternative<'_>> {
    let mut out = Vec::new();
    let mut rest = fallback;
    loop {
        let (first, more) = split_fallback(rest);
        let alt = first.trim();
        out.push(classify(alt));
        match more {
            Some(more) => rest = more,
            None => return out,
        }
    }
}

fn classify(alt: &str) -> Alternative<'_> {
    let quoted = alt.len() >= 2
        && ((alt.starts_with('\'') && alt.ends_with('\''))
            || (alt.starts_with('"') && alt.ends_with('"')));
    if quoted {
        return Alternative::Literal(alt[1..alt.len() - 1].to_string());
    }
    // The framework's parser refuses a `${...}` in a fallback position
    // ("Invalid variable source"): a fallback reference is written bare.
    if alt.contains("${") {
        return Alternative::Invalid(alt);
    }
    if matches!(alt, "true" | "false" | "null") || alt.parse::<f64>().is_ok() {
        return Alternative::Literal(alt.to_string());
    }
    // `source:address`, `source(arg):address`: a reference without `${}`.
    let head = alt.split(':').next().unwrap_or("");
    let source = head.split('(').next().unwrap_or("");
    if alt.contains(':')
        && !source.is_empty()
        && source
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Alternative::Reference(alt);
    }
    Alternative::Invalid(alt)
}

/// The literal a fallback chain ends in when every reference before it is
/// unset: `'dev'` in `${opt:stage, env:STAGE, 'dev'}`. `None` when the
/// chain holds no literal (its default is another variable).
pub fn literal_fallback(fallback: &str) -> Option<String> {
    alternatives(fallback)
        .into_iter()
        .find_map(|alt| match alt {
            Alternative::Literal(text) => Some(text),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_variables_and_fallbacks() {
        let text = "x-${cf(eu-west-1):app-${sls:stage}.Out}-${opt:stage, 'dev'}";
        let top = find(text);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].source, Source::Cf);
        assert_eq!(top[0].arg.as_deref(), Some("eu-west-1"));
        assert_eq!(top[0].address, "app-${sls:stage}.Out");
        assert_eq!(top[1].fallback.as_deref(), Some("'dev'"));
        assert_eq!(top[1].stage_form(), Some(StageForm::Opt));
        let all = find_all(text);
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].raw(text), "${sls:stage}");
    }

    #[test]
    fn fallbacks_read_as_the_framework_reads_them() {
        use Alternative::*;
        assert_eq!(
            alternatives("self:provider.stage"),
            [Reference("self:provider.stage")]
        );
        assert_eq!(
            alternatives("env:STAGE, \"dev\""),
            [Reference("env:STAGE"), Literal("dev".into())]
        );
        assert_eq!(alternatives("'dev'"), [Literal("dev".into())]);
        assert_eq!(alternatives("3"), [Literal("3".into())]);
        assert_eq!(alternatives("${sls:stage}"), [Invalid("${sls:stage}")]);
        assert_eq!(
            alternatives("cf(eu-west-1):a.b"),
            [Reference("cf(eu-west-1):a.b")]
        );
        assert_eq!(alternatives("dev"), [Invalid("dev")]);
        assert_eq!(literal_fallback("self:custom.defaultStage"), None);
        assert_eq!(literal_fallback("env:STAGE, 'dev'").as_deref(), Some("dev"));
    }

    #[test]
    fn cloudformation_sub_references_are_not_serverless_variables() {
        assert!(find("${AWS::Region}-${MyBucket.Arn}-${Bucket}").is_empty());
    }

    /// Every source the CLI knows is told apart by name, exactly as
    /// written; any other (a plugin's) is kept as written.
    #[test]
    fn sources_are_the_ones_the_cli_names() {
        for (written, source) in [
            ("self", Source::SelfRef),
            ("opt", Source::Opt),
            ("sls", Source::Sls),
            ("env", Source::Env),
            ("file", Source::File),
            ("cf", Source::Cf),
            ("ssm", Source::Ssm),
            ("s3", Source::S3),
            ("param", Source::Param),
            ("aws", Source::Aws),
            ("strToBool", Source::StrToBool),
            ("vault", Source::Other("vault".into())),
            ("Self", Source::Other("Self".into())),
        ] {
            assert_eq!(Source::parse(written), source, "{written}");
            assert_eq!(source.to_string(), written);
        }
        let var = &find("${file(./a.yml):b, 'x'}")[0];
        assert_eq!(var.source, Source::File);
        assert_eq!(var.primary(), "${file(./a.yml):b}");
    }
}
