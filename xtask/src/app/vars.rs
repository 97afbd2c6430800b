//! Serverless Framework variables: `${source:address, fallback}`.
//!
//! Finds them in strings (nested ones included, as in
//! `${cf:app-${sls:stage}.Output}`), tells the stage spellings apart, and
//! resolves the ones whose value is known before deploy: the stage, the
//! region, the service name and `self:` references.

use crate::app::template;

/// One variable as written, with its byte range in the enclosing string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    pub start: usize,
    pub end: usize,
    /// `opt`, `sls`, `self`, `cf`, `file`, `env`, `param`, `aws`, `ssm`, ...
    pub source: String,
    /// The argument in parentheses: the region of `cf(eu-west-1)`, the path of `file(./x.yml)`.
    pub arg: Option<String>,
    /// What follows the colon, before any fallback.
    pub address: String,
    /// The fallback after the first top-level comma, trimmed.
    pub fallback: Option<String>,
}

impl Var {
    /// The text of the variable as written.
    pub fn raw<'a>(&self, text: &'a str) -> &'a str {
        &text[self.start..self.end]
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
        match (self.source.as_str(), self.address.as_str()) {
            ("sls", "stage") => Some(StageForm::Sls),
            ("opt", "stage") => Some(StageForm::Opt),
            ("self", "provider.stage") => Some(StageForm::SelfProvider),
            ("self", "custom.stage") => Some(StageForm::SelfCustom),
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

/// How deep nested variables are looked into: far beyond any real file,
/// short of what a hostile one could make the stack do.
const MAX_NESTING: usize = 64;

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
        source: source.to_string(),
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

/// What resolution knows about the deploy.
pub struct Context<'a> {
    pub stage: &'a str,
    pub region: &'a str,
    /// The service's own file, for `self:` references.
    pub doc: &'a crate::app::yaml::Node,
    /// The service's folder, for `${file(...)}` references.
    pub dir: &'a std::path::Path,
}

/// The raw text a `${file(path):a.b}` variable stands for: the scalar at
/// that address of that YAML file (relative to `dir`), unresolved.
pub fn file_value(dir: &std::path::Path, var: &Var) -> Option<String> {
    if var.source != "file" {
        return None;
    }
    let path = var.arg.as_deref()?;
    if path.contains("${") {
        return None;
    }
    let (_, doc) = crate::app::yaml::parse_file(&dir.join(path)).ok()?;
    let node = if var.address.is_empty() {
        &doc
    } else {
        let keys: Vec<&str> = var.address.split('.').collect();
        doc.path(&keys)?
    };
    node.as_str().map(str::to_string)
}

/// `text` with every `${file(...):key}` replaced by the text it stands for,
/// so checks see the name as it is built.
pub fn expand_files(text: &str, dir: &std::path::Path) -> String {
    expand_files_depth(text, dir, 0)
}

fn expand_files_depth(text: &str, dir: &std::path::Path, depth: usize) -> String {
    // A file that includes itself (directly or not) stops here.
    if depth > MAX_NESTING {
        return text.to_string();
    }
    template::substitute(text, |p| {
        let expanded = parse_inner(p.inner, p.start, p.end)
            .and_then(|var| file_value(dir, &var))
            .map(|value| expand_files_depth(&value, dir, depth + 1));
        Some(expanded.unwrap_or_else(|| p.raw.to_string()))
    })
    .unwrap_or_else(|| text.to_string())
}

/// Resolves every variable whose value is known before deploy. Returns
/// `None` when any variable is left (a `${cf:}`, `${ssm:}`, `${env:}`, ...).
pub fn resolve(text: &str, ctx: &Context) -> Option<String> {
    resolve_depth(text, ctx, 0)
}

fn resolve_depth(text: &str, ctx: &Context, depth: usize) -> Option<String> {
    if depth > 10 {
        return None;
    }
    template::substitute(text, |p| {
        let Some(_) = parse_inner(p.inner, p.start, p.end) else {
            // Not a Serverless variable (an `Fn::Sub` name): kept as written.
            return Some(p.raw.to_string());
        };
        // Nested variables first: `${cf:a-${sls:stage}.X}` becomes `${cf:a-dev.X}`.
        let inner = resolve_depth(p.inner, ctx, depth + 1).unwrap_or_else(|| p.inner.to_string());
        let reparsed = parse_inner(&inner, 0, inner.len() + 3)?;
        resolve_one(&reparsed, ctx, depth)
    })
}

fn resolve_one(var: &Var, ctx: &Context, depth: usize) -> Option<String> {
    let value = match (var.source.as_str(), var.address.as_str()) {
        ("sls" | "opt", "stage") => Some(ctx.stage.to_string()),
        ("opt" | "aws", "region") => Some(ctx.region.to_string()),
        ("self", "provider.stage") => Some(ctx.stage.to_string()),
        ("self", "provider.region") => Some(ctx.region.to_string()),
        ("file", _) => {
            file_value(ctx.dir, var).and_then(|text| resolve_depth(&text, ctx, depth + 1))
        }
        ("self", path) => {
            let keys: Vec<&str> = path.split('.').collect();
            let node = ctx.doc.path(&keys);
            match node.and_then(|n| n.as_str()) {
                Some(text) => resolve_depth(text, ctx, depth + 1),
                None => None,
            }
        }
        _ => None,
    };
    if value.is_some() {
        return value;
    }
    // The first alternative that resolves, in order, as the framework does.
    for alt in alternatives(var.fallback.as_deref()?) {
        match alt {
            Alternative::Literal(text) => return Some(text),
            Alternative::Reference(inner) => {
                if let Some(value) = resolve_depth(&format!("${{{inner}}}"), ctx, depth + 1) {
                    return Some(value);
                }
            }
            Alternative::Invalid(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_variables_and_fallbacks() {
        let text = "x-${cf(eu-west-1):app-${sls:stage}.Out}-${opt:stage, 'dev'}";
        let top = find(text);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].source, "cf");
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

    #[test]
    fn resolves_what_is_known_before_deploy() {
        let doc = crate::app::yaml::parse("service: shop\ncustom:\n  prefix: shop-${sls:stage}\n")
            .unwrap();
        let ctx = Context {
            stage: "qa",
            region: "eu-west-1",
            doc: &doc,
            dir: std::path::Path::new("."),
        };
        assert_eq!(
            resolve("${self:custom.prefix}-${aws:region}", &ctx).as_deref(),
            Some("shop-qa-eu-west-1")
        );
        assert_eq!(
            resolve("${self:service}-${opt:stage, 'dev'}", &ctx).as_deref(),
            Some("shop-qa")
        );
        assert_eq!(resolve("${cf:other-${sls:stage}.Out}", &ctx), None);
        assert_eq!(
            resolve("${env:MISSING, 'fallback'}", &ctx).as_deref(),
            Some("fallback")
        );
    }
}
