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
pub use files::{dotenv, expand_files, file_value};
pub use resolve::{
    evaluate, evaluate_firm, evaluate_traced, resolve, sets_provider_stage, Context, Resolved,
};

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
/// The variable and each fallback that is itself a variable, in order:
/// every source the CLI may read for it (`${env:X, cf:db-dev.Table}` reads
/// the stack where `X` is not set). Each keeps the whole variable's range.
pub fn with_fallbacks(var: &Var) -> Vec<Var> {
    let mut out = vec![var.clone()];
    for alternative in var
        .fallback
        .as_deref()
        .map(alternatives)
        .unwrap_or_default()
    {
        if let Alternative::Reference(inner) = alternative {
            out.extend(parse_inner(inner, var.start, var.end));
        }
    }
    out
}

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
    // A parameter may be quoted (`file('./r.yml')`): the CLI reads the
    // string inside.
    let unquoted = |arg: &str| -> String {
        let arg = arg.trim();
        match arg.as_bytes() {
            [q @ (b'\'' | b'"'), .., last] if last == q && arg.len() >= 2 => {
                arg[1..arg.len() - 1].to_string()
            }
            _ => arg.to_string(),
        }
    };
    let (source, arg) = match head.find('(') {
        Some(open) if head.ends_with(')') => (
            &head[..open],
            Some(unquoted(&head[open + 1..head.len() - 1])),
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

/// The alternatives of a fallback (`env:STAGE, "dev"`), in order, read
/// as the CLI's parser reads them (osls `lib/configuration/variables/
/// parse.js`): a source written bare (`ssm:/a/${self:b}/c`,
/// `file(x.yml):k`, `opt:stage`), with params and nested variables; a
/// quoted string, a number, `true`, `false` or `null`, each only last.
/// What the parser refuses is [`Alternative::Invalid`], and nothing after
/// it is read.
pub fn alternatives(fallback: &str) -> Vec<Alternative<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        match alternative(fallback, at) {
            Ok((alt, Some(next))) => {
                out.push(alt);
                at = next;
            }
            Ok((alt, None)) => {
                out.push(alt);
                return out;
            }
            Err(()) => {
                out.push(Alternative::Invalid(fallback[at..].trim()));
                return out;
            }
        }
    }
}

/// The characters the CLI's parser reads as a source name or a literal.
fn word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'-'
}

/// A source name as the CLI's parser accepts it: `^[a-z][a-zA-Z0-9]*$`.
fn is_type(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// A literal as JavaScript's `Number()` reads it (what the parser's
/// `isNaN` test lets through), or `true`, `false`, `null`.
fn is_literal(text: &str) -> bool {
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    let lower = text.to_ascii_lowercase();
    let hex = ["0x", "0o", "0b"]
        .iter()
        .zip([16, 8, 2])
        .any(|(prefix, radix)| lower.strip_prefix(prefix).is_some_and(|d| digits(d, radix)));
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let decimal = unsigned == "Infinity"
        || (!unsigned.is_empty()
            && unsigned
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-'))
            && unsigned.parse::<f64>().is_ok());
    matches!(text, "true" | "false" | "null") || hex || decimal
}

/// One alternative of `text` from byte `at`: what it is, and where the
/// next one starts (`None` at the end). `Err` where the parser refuses.
fn alternative(text: &str, at: usize) -> Result<(Alternative<'_>, Option<usize>), ()> {
    let bytes = text.as_bytes();
    let mut i = skip_spaces(bytes, at);
    let start = i;
    match bytes.get(i) {
        Some(&q @ (b'\'' | b'"')) => {
            let close = closing_quote(bytes, i, q).ok_or(())?;
            let literal = &text[i..=close];
            let content = if q == b'"' {
                serde_json::from_str::<String>(literal).map_err(|_| ())?
            } else {
                literal[1..literal.len() - 1].to_string()
            };
            // A quoted string ends the chain: the parser wants `}` after it.
            if skip_spaces(bytes, close + 1) != bytes.len() {
                return Err(());
            }
            Ok((Alternative::Literal(content), None))
        }
        Some(&c) if word_char(c) => {
            while i < bytes.len() && (word_char(bytes[i]) || bytes[i] == b' ') {
                i += 1;
            }
            match bytes.get(i) {
                None => {
                    let literal = text[start..].trim();
                    if is_literal(literal) {
                        Ok((Alternative::Literal(literal.to_string()), None))
                    } else {
                        Err(())
                    }
                }
                Some(b':' | b'(') => {
                    if !is_type(&text[start..i]) {
                        return Err(());
                    }
                    let end = source_rest(text, i)?;
                    let reference = Alternative::Reference(text[start..end].trim());
                    Ok((reference, (end < bytes.len()).then_some(end + 1)))
                }
                Some(_) => Err(()),
            }
        }
        _ => Err(()),
    }
}

fn skip_spaces(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// The index of the quote that closes the string opening at `open`.
fn closing_quote(bytes: &[u8], open: usize, quote: u8) -> Option<usize> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            c if c == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The rest of a source from its `(` or `:` at `i`: params, then an
/// address; returns the index of the comma that ends it, or the end.
fn source_rest(text: &str, mut i: usize) -> Result<usize, ()> {
    let bytes = text.as_bytes();
    if bytes[i] == b'(' {
        i = params_end(text, i + 1)?;
        i = skip_spaces(bytes, i + 1);
        match bytes.get(i) {
            None => return Ok(i),
            Some(b',') => return Ok(i),
            Some(b':') => {}
            Some(_) => return Err(()),
        }
    }
    // The address after `:`.
    i = skip_spaces(bytes, i + 1);
    match bytes.get(i) {
        None | Some(b',') => Ok(i),
        Some(b':') => Err(()),
        Some(&q @ (b'\'' | b'"')) => {
            let close = closing_quote(bytes, i, q).ok_or(())?;
            if q == b'"' {
                serde_json::from_str::<String>(&text[i..=close]).map_err(|_| ())?;
            }
            let after = skip_spaces(bytes, close + 1);
            match bytes.get(after) {
                None | Some(b',') => Ok(after),
                Some(_) => Err(()),
            }
        }
        Some(_) => {
            while i < bytes.len() && bytes[i] != b',' {
                if bytes[i..].starts_with(b"${") {
                    i = nested_end(text, i)?;
                } else {
                    i += 1;
                }
            }
            Ok(i)
        }
    }
}

/// The index of the `)` that closes params opened before `i`; a nested
/// variable in a param is read as one.
fn params_end(text: &str, mut i: usize) -> Result<usize, ()> {
    let bytes = text.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b')' => return Ok(i),
            b'}' => return Err(()),
            q @ (b'\'' | b'"') if text[..i].trim_end().ends_with(['(', ',']) => {
                i = closing_quote(bytes, i, q).ok_or(())? + 1;
            }
            b'$' if bytes[i..].starts_with(b"${") => i = nested_end(text, i)?,
            _ => i += 1,
        }
    }
    Err(())
}

/// The index after the `}` closing the variable that opens at `i`, once
/// the parser would accept it: a nested variable starts with a source
/// name, and its own fallbacks follow the same rules.
fn nested_end(text: &str, i: usize) -> Result<usize, ()> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut j = i;
    while j < bytes.len() {
        if bytes[j..].starts_with(b"${") {
            depth += 1;
            j += 2;
            continue;
        }
        if bytes[j] == b'}' {
            depth -= 1;
            if depth == 0 {
                break;
            }
        }
        j += 1;
    }
    if j >= bytes.len() {
        return Err(());
    }
    let inner = &text[i + 2..j];
    if !inner.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(());
    }
    let head = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .ok_or(())?;
    if !matches!(inner.as_bytes()[head], b':' | b'(') {
        return Err(());
    }
    let end = source_rest(inner, head)?;
    if end < inner.len() {
        let chain = alternatives(&inner[end + 1..]);
        if chain.iter().any(|a| matches!(a, Alternative::Invalid(_))) {
            return Err(());
        }
    }
    Ok(j + 1)
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
        // Text that is not ASCII is read whole, never cut inside a character.
        assert_eq!(
            alternatives("ssm:/é${sls:stage}/ü, 'dé'"),
            [Reference("ssm:/é${sls:stage}/ü"), Literal("dé".into())]
        );
        assert_eq!(alternatives("ssm:(é${a:é}é"), [Reference("ssm:(é${a:é}é")]);
        assert_eq!(alternatives("ssm(é${a:é}é"), [Invalid("ssm(é${a:é}é")]);
        assert_eq!(literal_fallback("self:custom.defaultStage"), None);
        assert_eq!(literal_fallback("env:STAGE, 'dev'").as_deref(), Some("dev"));
    }

    /// No fallback text makes the reader panic: every cut of forms with
    /// quotes, params, nested variables and characters of several bytes.
    #[test]
    fn every_cut_of_a_fallback_is_read_without_panic() {
        let forms = [
            "ssm:/é${sls:stage}/ü, 'dé', \"x\\\"y\"",
            "file('a,b.yml', ${self:x, 'ü'}):k, self:a.${opt:s, 'd'}, 3",
            "cf(é):${x:${y:${z}}}, \"\\q\", :x, ,",
        ];
        for form in forms {
            for (start, _) in form.char_indices() {
                for (end, _) in form[start..].char_indices() {
                    let _ = alternatives(&form[start..start + end]);
                }
            }
        }
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
