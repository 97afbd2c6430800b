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

/// A variable of a service's config as written, and the folder of the
/// file that holds it (where its `${file()}` paths start).
#[derive(Debug, Clone)]
pub struct Written {
    pub dir: std::path::PathBuf,
    pub raw: String,
    pub var: Var,
}

/// What a service's config reads: every variable of its text and of every
/// file it includes with `${file()}`, and those files.
#[derive(Debug, Clone, Default)]
pub struct Reads {
    pub variables: Vec<Written>,
    pub included: Vec<std::path::PathBuf>,
}

/// How many files one service may include with `${file()}` before the
/// tool stops following them.
pub const MAX_INCLUDES: usize = 1000;

/// Every variable `text` (in `dir`) reads, following each `${file()}` once.
/// `Err` says why not all of them can be known before deploy: a file whose
/// path only the deploy can tell, or too many files.
pub fn reads(text: &str, dir: &std::path::Path, ctx: &Context) -> Result<Reads, String> {
    let mut out = Reads::default();
    let mut texts = vec![(dir.to_path_buf(), text.to_string())];
    let mut seen = std::collections::BTreeSet::new();
    while let Some((dir, text)) = texts.pop() {
        for var in find_all(&text) {
            if var.source == "file" {
                let Some(path) = var.arg.as_deref().and_then(|a| resolve(a, ctx)) else {
                    return Err(format!(
                        "`{}` names a file only known at deploy time",
                        var.raw(&text)
                    ));
                };
                let path = dir.join(path);
                if seen.insert(path.clone()) {
                    if seen.len() > MAX_INCLUDES {
                        return Err(format!(
                            "it includes more than {MAX_INCLUDES} files with `${{file()}}`"
                        ));
                    }
                    out.included.push(path.clone());
                    // Read as every app file is: never a FIFO, never
                    // unbounded. One that is there but cannot be read hides
                    // what it reads; a missing one is the CLI's to report.
                    match crate::app::yaml::read_text(&path) {
                        Ok(more) => {
                            let parent = path.parent().unwrap_or(&dir).to_path_buf();
                            texts.push((parent, more));
                        }
                        Err(err) if path.exists() => return Err(err.to_string()),
                        Err(_) => {}
                    }
                }
            }
            out.variables.push(Written {
                dir: dir.clone(),
                raw: var.raw(&text).to_string(),
                var,
            });
        }
    }
    Ok(out)
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
    /// The stage `--stage` passes; meaningless when `stage_given` is false.
    pub stage: &'a str,
    pub region: &'a str,
    /// The service's own file, for `self:` references.
    pub doc: &'a crate::app::yaml::Node,
    /// Where `doc` was read from, to name positions in it.
    pub file: &'a std::path::Path,
    /// The service's folder, for `${file(...)}` references.
    pub dir: &'a std::path::Path,
    /// Whether the command line carries `--stage`: this tool always passes
    /// it; someone running the CLI by hand may not.
    pub stage_given: bool,
    /// The params Serverless Compose passes (name, template), when the app
    /// is a Compose app: `None` otherwise.
    pub compose_params: Option<&'a [crate::app::compose::Param]>,
    /// Gives an unset `${env:X}` and an `${ssm:...}` as that text: two names
    /// built from the same deploy-time value compare equal without knowing it.
    pub symbolic: bool,
}

/// What a variable comes to, as the Serverless CLI would see it offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The value, known before deploy.
    Known(String),
    /// Only the deploy can tell (`${ssm:}`, `${cf:}`, an account id, a
    /// section that is not a string): never mistaken for a literal.
    Unknowable(String),
    /// The CLI finds no value and stops with `Value not found` (unless a
    /// fallback gives one).
    Missing(String),
    /// The tool will not evaluate it: a fault of the files (a cycle, a file
    /// that cannot be read whole) or more work than any real file asks. A
    /// fallback does not help; the caller reports it where it is written.
    Refused(Refusal),
}

impl Resolved {
    pub fn known(self) -> Option<String> {
        match self {
            Resolved::Known(value) => Some(value),
            _ => None,
        }
    }
}

/// Why an evaluation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The work budget is spent, or variables nest too deep.
    TooMuch(String),
    /// A variable reads itself back: each link of the loop (the variable,
    /// and where the value it reads is written), outermost first, ending
    /// where it started.
    Cycle {
        chain: Vec<String>,
        /// Whether the loop goes through `${file()}` (a loop of `self:`
        /// addresses alone is `validate`'s `circular-variable` rule).
        through_files: bool,
    },
    /// A file it reads cannot be read whole (the reader's error).
    Unreadable(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TooMuch(why) => f.write_str(why),
            Refusal::Cycle { chain, .. } => {
                write!(f, "it reads itself back: {}", chain.join(" → "))
            }
            Refusal::Unreadable(why) => write!(f, "it reads a file that cannot be read: {why}"),
        }
    }
}

/// How many lookups (a variable resolved, a key followed, a value reused)
/// one evaluation may make: far more than any real value needs, reached in
/// a moment by a hostile one.
pub const MAX_STEPS: usize = 100_000;

/// How many bytes of values one evaluation may build: more than a whole
/// CloudFormation template may hold (1 MB), so no value that could deploy
/// is refused, while `${self:}` references that multiply at each level
/// (4 per level: 4^30 bytes at 30 levels) stop here.
pub const MAX_BYTES: usize = 1 << 20;

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
    let doc = load(&dir.join(path)).ok()?;
    let node = if var.address.is_empty() {
        &*doc
    } else {
        let keys: Vec<&str> = var.address.split('.').collect();
        doc.path(&keys)?
    };
    node.as_str().map(str::to_string)
}

/// Files read through `${file()}`, parsed once per process and read again
/// when they change.
pub(crate) fn load(
    path: &std::path::Path,
) -> Result<std::sync::Arc<crate::app::yaml::Node>, crate::app::yaml::FileError> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Cache = HashMap<std::path::PathBuf, (Option<std::time::SystemTime>, u64, Arc<Node>)>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let meta = std::fs::metadata(path).map_err(|err| crate::app::yaml::FileError {
        path: path.to_path_buf(),
        pos: None,
        message: format!("cannot read: {err}"),
    })?;
    let stamp = (meta.modified().ok(), meta.len());
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(cache) = cache.lock() {
        if let Some((modified, len, node)) = cache.get(path) {
            if (*modified, *len) == stamp {
                return Ok(node.clone());
            }
        }
    }
    let (_, doc) = crate::app::yaml::parse_file(path)?;
    let doc = Arc::new(doc);
    if let Ok(mut cache) = cache.lock() {
        // Bounded: an app reads a handful of shared files.
        if cache.len() > 4096 {
            cache.clear();
        }
        cache.insert(path.to_path_buf(), (stamp.0, stamp.1, doc.clone()));
    }
    Ok(doc)
}

use crate::app::yaml::{Node, Value};

/// `text` with every `${file(...):key}` replaced by the text it stands for,
/// so checks see the name as it is built. Each file value is expanded once
/// and the whole within [`MAX_BYTES`]: past it, or in a loop of files, the
/// rest stays as written (the evaluation reports it).
pub fn expand_files(text: &str, dir: &std::path::Path) -> String {
    let mut memo = std::collections::HashMap::new();
    let mut budget = MAX_BYTES;
    expand_files_in(text, dir, 0, &mut memo, &mut budget)
}

fn expand_files_in(
    text: &str,
    dir: &std::path::Path,
    depth: usize,
    memo: &mut std::collections::HashMap<String, Option<String>>,
    budget: &mut usize,
) -> String {
    if depth > MAX_NESTING {
        return text.to_string();
    }
    template::substitute(text, |p| {
        let expanded = match memo.get(p.raw) {
            Some(done) => done.clone(),
            None => {
                // In a loop the placeholder stays as written.
                memo.insert(p.raw.to_string(), None);
                let expanded = parse_inner(p.inner, p.start, p.end)
                    .and_then(|var| file_value(dir, &var))
                    .map(|value| expand_files_in(&value, dir, depth + 1, memo, budget));
                memo.insert(p.raw.to_string(), expanded.clone());
                expanded
            }
        };
        let value = expanded
            .filter(|value| value.len() <= *budget)
            .unwrap_or_else(|| p.raw.to_string());
        *budget = budget.saturating_sub(value.len());
        Some(value)
    })
    .unwrap_or_else(|| text.to_string())
}

/// Resolves every variable whose value is known before deploy. Returns
/// `None` when any variable is left (a `${cf:}`, `${ssm:}`, ...).
pub fn resolve(text: &str, ctx: &Context) -> Option<String> {
    evaluate(text, ctx).known()
}

/// What `text` comes to with its variables resolved the way the
/// Serverless CLI resolves them (osls's resolver is the model; `serverless
/// print` is the referee in the tests). One evaluation has one work budget
/// ([`MAX_STEPS`], [`MAX_BYTES`]) and resolves each `self:` address and
/// each file's address once, however often it is read.
pub fn evaluate(text: &str, ctx: &Context) -> Resolved {
    let eval = Eval::new(ctx);
    let value = eval.text(text, 0);
    match eval.refused.take() {
        Some(refusal) => Resolved::Refused(refusal),
        None => value,
    }
}

/// Whether the service writes `provider.stage` at all (in its file or a
/// section it includes): `${sls:stage}` without `--stage` is `dev` only
/// when it does not.
pub fn sets_provider_stage(ctx: &Context) -> bool {
    let eval = Eval::new(ctx);
    matches!(eval.written(&["provider", "stage"], 0), Resolved::Known(_))
}

/// One evaluation: its context, the work done so far, the values already
/// resolved, and the variables being resolved (to see a loop).
struct Eval<'c, 'a> {
    ctx: &'c Context<'a>,
    steps: std::cell::Cell<usize>,
    bytes: std::cell::Cell<usize>,
    /// Values by variable (`self:custom.a`, `file(./x.yml):a`), resolved.
    memo: std::cell::RefCell<std::collections::HashMap<String, Resolved>>,
    /// The variables under way, outermost first, with where each one's
    /// value is written once that is known.
    active: std::cell::RefCell<Vec<(String, Option<String>)>>,
    /// The first refusal: the whole evaluation is refused with it.
    refused: std::cell::RefCell<Option<Refusal>>,
}

type Leaf<'f> = dyn Fn(&Node, &std::path::Path, usize) -> Resolved + 'f;

impl<'c, 'a> Eval<'c, 'a> {
    fn new(ctx: &'c Context<'a>) -> Self {
        Eval {
            ctx,
            steps: Default::default(),
            bytes: Default::default(),
            memo: Default::default(),
            active: Default::default(),
            refused: Default::default(),
        }
    }

    /// Refuses the evaluation (the first refusal is the one kept).
    fn refuse(&self, refusal: Refusal) -> Resolved {
        let mut refused = self.refused.borrow_mut();
        Resolved::Refused(refused.get_or_insert(refusal).clone())
    }

    /// Counts one lookup; `Some` (a refusal) once the budget is spent or
    /// the evaluation was refused already, so every level returns at once.
    fn step(&self, depth: usize) -> Option<Resolved> {
        if let Some(refusal) = self.refused.borrow().clone() {
            return Some(Resolved::Refused(refusal));
        }
        self.steps.set(self.steps.get() + 1);
        if self.steps.get() > MAX_STEPS {
            return Some(self.refuse(Refusal::TooMuch(format!(
                "variables expand past {MAX_STEPS} lookups"
            ))));
        }
        if depth > MAX_NESTING {
            return Some(self.refuse(Refusal::TooMuch(format!(
                "variables expand past {MAX_NESTING} levels of nesting"
            ))));
        }
        None
    }

    /// Counts `n` bytes of value built.
    fn spend(&self, n: usize) -> Option<Resolved> {
        self.bytes.set(self.bytes.get().saturating_add(n));
        (self.bytes.get() > MAX_BYTES).then(|| {
            self.refuse(Refusal::TooMuch(format!(
                "variables expand past {MAX_BYTES} bytes"
            )))
        })
    }

    fn text(&self, text: &str, depth: usize) -> Resolved {
        if let Some(refused) = self.step(depth) {
            return refused;
        }
        let mut out = String::with_capacity(text.len().min(MAX_BYTES));
        let mut last = 0;
        for p in template::placeholders(text) {
            if let Some(refused) = self.spend(p.start - last) {
                return refused;
            }
            out.push_str(&text[last..p.start]);
            last = p.end;
            if parse_inner(p.inner, p.start, p.end).is_none() {
                // Not a Serverless variable (an `Fn::Sub` name): kept as written.
                if let Some(refused) = self.spend(p.raw.len()) {
                    return refused;
                }
                out.push_str(p.raw);
                continue;
            }
            // Nested variables first: `${cf:a-${sls:stage}.X}` becomes `${cf:a-dev.X}`.
            let (head, fallback) = split_fallback(p.inner);
            let head = match (self.text(head, depth + 1), fallback) {
                (Resolved::Known(head), _) => head,
                // The address cannot be built: only the fallbacks can help.
                (Resolved::Missing(why), Some(fallback)) => {
                    match self.fallbacks(fallback, why, depth) {
                        Resolved::Known(value) => {
                            if let Some(refused) = self.spend(value.len()) {
                                return refused;
                            }
                            out.push_str(&value);
                            continue;
                        }
                        other => return other,
                    }
                }
                (other, _) => return other,
            };
            let inner = match fallback {
                Some(fallback) => format!("{head},{fallback}"),
                None => head,
            };
            let Some(var) = parse_inner(&inner, 0, inner.len() + 3) else {
                return Resolved::Unknowable(format!(
                    "`{}` is not a variable the CLI can read",
                    p.raw
                ));
            };
            match self.one(&var, depth) {
                Resolved::Known(value) => {
                    if let Some(refused) = self.spend(value.len()) {
                        return refused;
                    }
                    out.push_str(&value);
                }
                other => return other,
            }
        }
        if let Some(refused) = self.spend(text.len() - last) {
            return refused;
        }
        out.push_str(&text[last..]);
        Resolved::Known(out)
    }

    fn one(&self, var: &Var, depth: usize) -> Resolved {
        let primary = self.source(var, depth);
        let Resolved::Missing(why) = primary else {
            return primary;
        };
        match var.fallback.as_deref() {
            Some(fallback) => self.fallbacks(fallback, why, depth),
            None => Resolved::Missing(why),
        }
    }

    /// The first alternative of a fallback chain that gives a value, in
    /// order, as the CLI does; `why` the first source found nothing.
    fn fallbacks(&self, fallback: &str, why: String, depth: usize) -> Resolved {
        for alt in alternatives(fallback) {
            match alt {
                Alternative::Literal(text) => return Resolved::Known(text),
                Alternative::Reference(inner) => {
                    match self.text(&format!("${{{inner}}}"), depth + 1) {
                        Resolved::Missing(_) => continue,
                        other => return other,
                    }
                }
                Alternative::Invalid(text) => {
                    return Resolved::Unknowable(format!("the CLI refuses the fallback `{text}`"))
                }
            }
        }
        Resolved::Missing(why)
    }

    /// The value of a variable that reads the files (`self:`, `file()`),
    /// resolved once per evaluation; met again while it is being resolved,
    /// it is a loop.
    fn once(&self, key: String, resolve: impl FnOnce() -> Resolved) -> Resolved {
        if let Some(done) = self.memo.borrow().get(&key) {
            return done.clone();
        }
        let start = self.active.borrow().iter().position(|(k, _)| *k == key);
        if let Some(start) = start {
            let active = self.active.borrow();
            let through_files = active[start..].iter().any(|(k, _)| k.starts_with("file("));
            let mut chain: Vec<String> = active[start..]
                .iter()
                .map(|(k, at)| match at {
                    Some(at) => format!("`${{{k}}}` ({at})"),
                    None => format!("`${{{k}}}`"),
                })
                .collect();
            chain.push(format!("`${{{key}}}`"));
            drop(active);
            return self.refuse(Refusal::Cycle {
                chain,
                through_files,
            });
        }
        self.active.borrow_mut().push((key.clone(), None));
        let value = resolve();
        self.active.borrow_mut().pop();
        self.memo.borrow_mut().insert(key, value.clone());
        value
    }

    /// Notes where the value of the variable being resolved is written.
    fn found_at(&self, file: &std::path::Path, node: &Node) {
        if let Some((_, at @ None)) = self.active.borrow_mut().last_mut() {
            *at = Some(format!(
                "{}:{}",
                crate::sys::paths::display(&crate::sys::paths::normalize(file)),
                node.pos.line
            ));
        }
    }

    /// The value of one variable's source, before any fallback.
    fn source(&self, var: &Var, depth: usize) -> Resolved {
        let ctx = self.ctx;
        let address = var.address.as_str();
        match var.source.as_str() {
            "opt" => match address {
                "stage" if ctx.stage_given => Resolved::Known(ctx.stage.to_string()),
                "region" => Resolved::Known(ctx.region.to_string()),
                _ => Resolved::Missing(format!("no `--{address}` option is given")),
            },
            "sls" => match address {
                "stage" if ctx.stage_given => Resolved::Known(ctx.stage.to_string()),
                // `--stage`, else `provider.stage`, else `dev`.
                "stage" => match self.written(&["provider", "stage"], depth) {
                    Resolved::Missing(_) => Resolved::Known("dev".into()),
                    _ => self.lookup(ctx.doc, ctx.file, &["provider", "stage"], depth),
                },
                _ => {
                    Resolved::Unknowable(format!("`sls:{address}` is known only when the CLI runs"))
                }
            },
            "aws" => match address {
                "region" => Resolved::Known(ctx.region.to_string()),
                _ => Resolved::Unknowable(format!("`aws:{address}` depends on the account")),
            },
            "self" => {
                if address.is_empty() {
                    return Resolved::Unknowable("`self:` is the whole file, not a value".into());
                }
                self.once(format!("self:{address}"), || {
                    if address == "provider.region" {
                        if let Resolved::Missing(_) =
                            self.lookup(ctx.doc, ctx.file, &["provider", "region"], depth)
                        {
                            return Resolved::Known(ctx.region.to_string());
                        }
                    }
                    let keys: Vec<&str> = address.split('.').collect();
                    self.lookup(ctx.doc, ctx.file, &keys, depth)
                })
            }
            "file" => {
                let Some(path) = var.arg.as_deref() else {
                    return Resolved::Missing("`file()` names no file".into());
                };
                let path = match self.text(path, depth + 1) {
                    Resolved::Known(path) => path,
                    other => return other,
                };
                let full = crate::sys::paths::normalize(&ctx.dir.join(&path));
                match full.extension().and_then(|e| e.to_str()) {
                    Some("yml" | "yaml" | "json") => {}
                    _ => {
                        return Resolved::Unknowable(format!(
                            "`{path}` is code the CLI runs, not data this tool reads"
                        ))
                    }
                }
                if !full.exists() {
                    return Resolved::Missing(format!("`{path}` does not exist"));
                }
                self.once(format!("file({path}):{address}"), || {
                    let doc = match load(&full) {
                        Ok(doc) => doc,
                        Err(err) => return self.refuse(Refusal::Unreadable(err.to_string())),
                    };
                    let keys: Vec<&str> = if address.is_empty() {
                        Vec::new()
                    } else {
                        address.split('.').collect()
                    };
                    match self.lookup(&doc, &full, &keys, depth) {
                        Resolved::Missing(_) => {
                            Resolved::Missing(format!("`{path}` has no `{address}`"))
                        }
                        other => other,
                    }
                })
            }
            "param" => self.param(address, depth),
            "env" if ctx.symbolic && std::env::var(address).is_err() => {
                Resolved::Known(format!("${{env:{address}}}"))
            }
            "ssm" if ctx.symbolic => Resolved::Known(format!("${{ssm:{address}}}")),
            "env" => match std::env::var(address) {
                Ok(value) => Resolved::Known(value),
                Err(_) => Resolved::Missing(format!("environment variable `{address}` is not set")),
            },
            "strToBool" => match self.text(address, depth + 1) {
                Resolved::Known(text) => match text.trim() {
                    "true" | "1" => Resolved::Known("true".into()),
                    "false" | "0" | "null" => Resolved::Known("false".into()),
                    other => Resolved::Unknowable(format!("`{other}` is not a boolean")),
                },
                other => other,
            },
            source => {
                Resolved::Unknowable(format!("`{source}:` values are known only at deploy time"))
            }
        }
    }

    /// `${param:name}`: what Compose passes, else the service's own
    /// `params:` for the stage, else its `params.default`, as the CLI
    /// looks them up.
    fn param(&self, name: &str, depth: usize) -> Resolved {
        let ctx = self.ctx;
        if let Some(params) = ctx.compose_params {
            if let Some(crate::app::compose::Param { template, .. }) =
                params.iter().find(|p| p.name == name)
            {
                return if template.contains("${") {
                    Resolved::Unknowable(format!("param `{name}` is another service's output"))
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

    /// The value at `keys` below `node` (of `file`), following a string
    /// that stands for a whole section (`custom: ${file(../common.yml):custom}`)
    /// as the CLI does.
    fn lookup(&self, node: &Node, file: &std::path::Path, keys: &[&str], depth: usize) -> Resolved {
        self.at(node, file, keys, depth, &|leaf: &Node, file, depth| {
            self.found_at(file, leaf);
            match &leaf.value {
                Value::Scalar { text, quoted, .. } => {
                    if !quoted && matches!(text.as_str(), "" | "~" | "null") {
                        Resolved::Missing("the value is empty".into())
                    } else {
                        self.text(text, depth + 1)
                    }
                }
                _ => Resolved::Unknowable("a section, not a single value".into()),
            }
        })
    }

    /// Whether `keys` name something in the service's file, sections
    /// followed: `Known` when they do, `Missing` when nothing is written there.
    fn written(&self, keys: &[&str], depth: usize) -> Resolved {
        self.at(self.ctx.doc, self.ctx.file, keys, depth, &|_, _, _| {
            Resolved::Known(String::new())
        })
    }

    /// Walks `keys` below `node` and gives what `leaf` says of the node
    /// there. Each key is a lookup; a string standing for a section is a
    /// reference followed (one level deeper).
    fn at(
        &self,
        node: &Node,
        file: &std::path::Path,
        keys: &[&str],
        depth: usize,
        leaf: &Leaf,
    ) -> Resolved {
        let mut node = node;
        for (i, key) in keys.iter().enumerate() {
            if let Some(refused) = self.step(depth) {
                return refused;
            }
            node = match &node.value {
                Value::Map(_) => match node.get(key) {
                    Some(child) => child,
                    None => return Resolved::Missing(format!("no `{key}` there")),
                },
                Value::Seq(items) => match key.parse::<usize>().ok().and_then(|i| items.get(i)) {
                    Some(child) => child,
                    None => return Resolved::Missing(format!("no item `{key}` there")),
                },
                Value::Scalar { text, .. } => {
                    return match find(text).as_slice() {
                        [var] if var.start == 0 && var.end == text.len() => {
                            self.section(var, &keys[i..], depth + 1, leaf)
                        }
                        _ => Resolved::Missing(format!("no `{key}` in a plain value")),
                    };
                }
            };
        }
        leaf(node, file, depth)
    }

    /// Follows a variable that stands for a section, then `keys` inside it.
    fn section(&self, var: &Var, keys: &[&str], depth: usize, leaf: &Leaf) -> Resolved {
        let ctx = self.ctx;
        let address = match self.text(&var.address, depth) {
            Resolved::Known(address) => address,
            other => return other,
        };
        let all: Vec<String> = address
            .split('.')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .chain(keys.iter().map(|k| k.to_string()))
            .collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        match var.source.as_str() {
            "self" => self.at(ctx.doc, ctx.file, &all, depth, leaf),
            "file" => {
                let path = var.arg.as_deref().unwrap_or("");
                let full = crate::sys::paths::normalize(&ctx.dir.join(path));
                if !full.exists() {
                    return Resolved::Missing(format!("`{path}` does not exist"));
                }
                let doc = match load(&full) {
                    Ok(doc) => doc,
                    Err(err) => return self.refuse(Refusal::Unreadable(err.to_string())),
                };
                match self.at(&doc, &full, &all, depth, leaf) {
                    Resolved::Missing(_) => {
                        Resolved::Missing(format!("`{path}` has no `{}`", all.join(".")))
                    }
                    other => other,
                }
            }
            source => Resolved::Unknowable(format!(
                "a section from `{source}:` is known only at deploy time"
            )),
        }
    }
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
            file: std::path::Path::new("serverless.yml"),
            dir: std::path::Path::new("."),
            stage_given: true,
            compose_params: None,
            symbolic: false,
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

    /// Evaluates `text` in a service folder holding `files` (the service's
    /// own file first).
    fn evaluate_in(name: &str, files: &[(&str, &str)], text: &str) -> Resolved {
        let dir = std::env::temp_dir().join(format!("xtask-vars-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (path, content) in files {
            std::fs::write(dir.join(path), content).unwrap();
        }
        let doc = crate::app::yaml::parse(files[0].1).unwrap();
        let file = dir.join(files[0].0);
        let ctx = Context {
            stage: "dev",
            region: "us-east-1",
            doc: &doc,
            file: &file,
            dir: &dir,
            stage_given: true,
            compose_params: None,
            symbolic: false,
        };
        let value = evaluate(text, &ctx);
        let _ = std::fs::remove_dir_all(&dir);
        value
    }

    /// `${self:}` four times per level: resolved once per address, so the
    /// thirtieth level is refused as soon as its bytes pass the budget,
    /// not after 4^30 lookups.
    #[test]
    fn references_that_multiply_are_refused_at_the_byte_budget() {
        let mut text = String::from("service: svc\ncustom:\n  l0: x\n");
        for level in 1..=30 {
            let below = format!("${{self:custom.l{}}}", level - 1);
            text.push_str(&format!("  l{level}: {}\n", below.repeat(4)));
        }
        let files = [("serverless.yml", text.as_str())];
        let Resolved::Known(nine) = evaluate_in("levels", &files, "${self:custom.l9}") else {
            panic!("four to the ninth bytes are within the budget");
        };
        assert_eq!(nine.len(), 1 << 18);
        assert_eq!(
            evaluate_in("levels", &files, "${self:custom.l30}"),
            Resolved::Refused(Refusal::TooMuch(format!(
                "variables expand past {MAX_BYTES} bytes"
            )))
        );
    }

    #[test]
    fn a_long_chain_resolves_and_a_longer_one_is_refused() {
        let chain = |levels: usize| {
            let mut text = String::from("service: svc\ncustom:\n  l0: x\n");
            for level in 1..=levels {
                text.push_str(&format!("  l{level}: ${{self:custom.l{}}}\n", level - 1));
            }
            text
        };
        let text = chain(60);
        let value = evaluate_in("chain", &[("serverless.yml", &text)], "${self:custom.l60}");
        assert_eq!(value, Resolved::Known("x".into()));
        let text = chain(100);
        let value = evaluate_in("chain", &[("serverless.yml", &text)], "${self:custom.l100}");
        assert_eq!(
            value,
            Resolved::Refused(Refusal::TooMuch(format!(
                "variables expand past {MAX_NESTING} levels of nesting"
            )))
        );
    }

    #[test]
    fn too_many_lookups_are_refused() {
        let text = "service: svc\na: x\n";
        let many = "${self:a}".repeat(MAX_STEPS);
        let value = evaluate_in("steps", &[("serverless.yml", text)], &many);
        assert_eq!(
            value,
            Resolved::Refused(Refusal::TooMuch(format!(
                "variables expand past {MAX_STEPS} lookups"
            )))
        );
    }

    /// A loop through files is named link by link, with the line each
    /// value is written on; a loop of `self:` addresses too, marked as such.
    #[test]
    fn loops_are_refused_with_their_chain() {
        let files = [
            ("serverless.yml", "service: ${file(./a.yml):name}\n"),
            ("a.yml", "other: 1\nname: ${file(./b.yml):name}\n"),
            ("b.yml", "name: ${file(./a.yml):name}-b\n"),
        ];
        let Resolved::Refused(Refusal::Cycle {
            chain,
            through_files: true,
        }) = evaluate_in("file-loop", &files, "${self:service}")
        else {
            panic!("a loop through files");
        };
        let chain = chain.join(" → ");
        assert!(
            chain.contains("`${file(./a.yml):name}` (")
                && chain.contains("a.yml:2) → `${file(./b.yml):name}` (")
                && chain.ends_with("b.yml:1) → `${file(./a.yml):name}`"),
            "{chain}"
        );
        let files = [(
            "serverless.yml",
            "service: svc\ncustom:\n  a: ${self:custom.b}\n  b: x-${self:custom.a}\n",
        )];
        assert!(matches!(
            evaluate_in("self-loop", &files, "${self:custom.a}"),
            Resolved::Refused(Refusal::Cycle {
                through_files: false,
                ..
            })
        ));
    }

    /// A fallback never hides a refusal: the CLI stops on those too.
    #[test]
    fn a_refusal_is_not_a_missing_value() {
        let files = [
            ("serverless.yml", "service: svc\n"),
            ("bad.yml", "name: a\u{0}b\n"),
        ];
        let value = evaluate_in("unreadable", &files, "${file(./bad.yml):name, 'x'}");
        let Resolved::Refused(Refusal::Unreadable(why)) = value else {
            panic!("{value:?}");
        };
        assert!(
            why.contains("bad.yml:1:8") && why.contains("U+0000"),
            "{why}"
        );
    }

    /// `reads` follows includes as every reader does: a FIFO where a file
    /// should be is refused at once (it would block a plain read forever).
    #[test]
    fn reads_never_block_on_a_fifo() {
        let dir = std::env::temp_dir().join(format!("xtask-vars-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("pipe.yml");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        let doc = crate::app::yaml::parse("service: svc\n").unwrap();
        let file = dir.join("serverless.yml");
        let ctx = Context {
            stage: "dev",
            region: "us-east-1",
            doc: &doc,
            file: &file,
            dir: &dir,
            stage_given: true,
            compose_params: None,
            symbolic: false,
        };
        let why = reads("custom: ${file(./pipe.yml):a}\n", &dir, &ctx).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(why.contains("is not a regular file"), "{why}");
    }
}
