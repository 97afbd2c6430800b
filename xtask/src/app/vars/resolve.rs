//! Resolution: what a value comes to with its variables resolved the way
//! the Serverless CLI resolves them (osls's resolver is the model,
//! `serverless print` the referee in tests) — every source, fallbacks,
//! sections included with `${file():section}` that `self:` reads through,
//! `provider.stage` as written, `${sls:stage}` without `--stage`,
//! `${param:}` from Compose or `params:`. Each value is [`Resolved`]:
//! known, missing, knowable only at deploy, or refused, never a guess.
//!
//! One evaluation ([`Eval`]) has one [`Budget`] and resolves each `self:`
//! address and file address once (memoized), so references that multiply
//! at each level cost their distinct addresses, not their paths.

use std::path::Path;

use crate::app::template;
use crate::app::yaml::{Node, Value};

use super::budget::{Budget, Refusal, MAX_BYTES};
use super::files::load_for;
use super::{alternatives, find, parse_inner, split_fallback, Alternative, Source, Var};

/// What resolution knows about the deploy.
pub struct Context<'a> {
    /// The stage `--stage` passes; meaningless when `stage_given` is false.
    pub stage: &'a str,
    pub region: &'a str,
    /// The service's own file, for `self:` references.
    pub doc: &'a Node,
    /// Where `doc` was read from, to name positions in it.
    pub file: &'a Path,
    /// The service's folder, for `${file(...)}` references.
    pub dir: &'a Path,
    /// Whether the command line carries `--stage`: this tool always passes
    /// it; someone running the CLI by hand may not.
    pub stage_given: bool,
    /// The params Serverless Compose passes (name, template), when the app
    /// is a Compose app: `None` otherwise.
    pub compose_params: Option<&'a [crate::app::compose::Param]>,
    /// Gives an unset `${env:X}` and an `${ssm:...}` as that text: two names
    /// built from the same deploy-time value compare equal without knowing it.
    pub symbolic: bool,
    /// Whether the service sets `useDotenv: true`: the CLI then loads its
    /// folder's `.env.<stage>` or `.env` before it resolves `${env:}`.
    pub use_dotenv: bool,
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
    /// A list of plain values, joined with commas: what the CLI writes for
    /// a list inside a longer string (JavaScript's `Array.toString`). A
    /// list that is a whole value stays a list, which is no single value:
    /// [`evaluate`] gives it as `Unknowable`.
    List(String),
}

impl Resolved {
    pub fn known(self) -> Option<String> {
        match self {
            Resolved::Known(value) => Some(value),
            _ => None,
        }
    }
}

/// Resolves every variable whose value is known before deploy. Returns
/// `None` when any variable is left (a `${cf:}`, `${ssm:}`, ...).
pub fn resolve(text: &str, ctx: &Context) -> Option<String> {
    evaluate(text, ctx).known()
}

/// What `text` comes to with its variables resolved the way the
/// Serverless CLI resolves them (osls's resolver is the model; `serverless
/// print` is the referee in the tests). One evaluation has one work budget
/// (`MAX_STEPS`, `MAX_BYTES`) and resolves each `self:` address and
/// each file's address once, however often it is read.
pub fn evaluate(text: &str, ctx: &Context) -> Resolved {
    evaluate_traced(text, ctx).0
}

/// [`evaluate`], and, when the value is `Missing`, the file `${file()}`
/// named that is not there (as resolved: `../var/dev.yml`), if that is
/// why: one cause that every use of the file shares.
pub fn evaluate_traced(text: &str, ctx: &Context) -> (Resolved, Option<String>) {
    let (eval, value) = Eval::whole(text, ctx);
    let absent = match value {
        Resolved::Missing(_) => eval.absent_file.take(),
        _ => None,
    };
    (value, absent)
}

/// [`evaluate`], but a value that comes from a fallback taken because an
/// environment variable is not set here, or a `${file()}` is not here (a
/// file kept out of git), is `Unknowable`: the deploy's machine may have
/// them, so the fallback says nothing certain of what it deploys.
pub fn evaluate_firm(text: &str, ctx: &Context) -> Resolved {
    match Eval::whole(text, ctx) {
        (eval, Resolved::Known(_)) if eval.guessed.get() => Resolved::Unknowable(
            "a fallback taken for a variable or file this machine lacks".into(),
        ),
        (_, value) => value,
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
    /// The work done so far, and the refusal that ended it.
    budget: Budget,
    /// Values by variable (`self:custom.a`, `file(./x.yml):a`), resolved.
    memo: std::cell::RefCell<std::collections::HashMap<String, Resolved>>,
    /// The variables under way, outermost first, with where each one's
    /// value is written once that is known.
    active: std::cell::RefCell<Vec<(String, Option<String>)>>,
    /// The first file a `${file()}` named that is not there.
    absent_file: std::cell::RefCell<Option<String>>,
    /// Whether a fallback was taken past an environment variable not set
    /// here or a file not here (see [`evaluate_firm`]).
    guessed: std::cell::Cell<bool>,
    /// The service's dotenv variables, read on the first `${env:}` unset
    /// in the environment.
    dotenv: std::cell::OnceCell<Vec<(String, String)>>,
}

type Leaf<'f> = dyn Fn(&Node, &Path, usize) -> Resolved + 'f;

impl<'c, 'a> Eval<'c, 'a> {
    fn new(ctx: &'c Context<'a>) -> Self {
        Eval {
            ctx,
            budget: Budget::default(),
            memo: Default::default(),
            active: Default::default(),
            absent_file: Default::default(),
            guessed: Default::default(),
            dotenv: Default::default(),
        }
    }

    /// What `${file(path)}` gives: a data file's tree, or a program's value
    /// for the stage; a program that needs what only the CLI gives it
    /// (`resolveVariable`) leaves its value the CLI's.
    fn file_doc(
        &self,
        full: &std::path::Path,
        path: &str,
    ) -> Result<std::sync::Arc<Node>, Resolved> {
        load_for(full, self.ctx.stage, self.ctx.region).map_err(|err| {
            if super::files::is_program(full) {
                Resolved::Unknowable(format!(
                    "`{path}` gives its value only as the CLI runs it ({})",
                    err.message
                ))
            } else {
                self.refuse(Refusal::Unreadable(err.to_string()))
            }
        })
    }

    /// One whole value: a list is no single value, and a refusal is the
    /// answer whatever the value came to.
    fn whole(text: &str, ctx: &'c Context<'a>) -> (Self, Resolved) {
        let eval = Eval::new(ctx);
        let value = match eval.text(text, 0) {
            Resolved::List(_) => Resolved::Unknowable("a list, not a single value".into()),
            value => value,
        };
        let value = match eval.budget.take() {
            Some(refusal) => Resolved::Refused(refusal),
            None => value,
        };
        (eval, value)
    }

    /// An environment variable as the CLI sees it (`files::env_var`).
    fn env(&self, name: &str) -> Option<String> {
        super::files::env_var(self.ctx, &self.dotenv, name)
    }

    /// `Missing` for a file that is not there, remembered as the cause.
    fn absent(&self, path: &str) -> Resolved {
        self.guessed.set(true);
        self.absent_file
            .borrow_mut()
            .get_or_insert_with(|| path.to_string());
        Resolved::Missing(format!("`{path}` does not exist"))
    }

    /// Refuses the evaluation (the first refusal is the one kept).
    fn refuse(&self, refusal: Refusal) -> Resolved {
        Resolved::Refused(self.budget.refuse(refusal))
    }

    /// Counts one lookup; `Some` (a refusal) once the budget is spent or
    /// the evaluation was refused already, so every level returns at once.
    fn step(&self, depth: usize) -> Option<Resolved> {
        self.budget.step(depth).err().map(Resolved::Refused)
    }

    /// Counts `n` bytes of value built.
    fn spend(&self, n: usize) -> Option<Resolved> {
        self.budget.spend(n).err().map(Resolved::Refused)
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
                // A list alone is the list; inside a string, its items joined.
                list @ Resolved::List(_) if p.start == 0 && p.end == text.len() => return list,
                Resolved::Known(value) | Resolved::List(value) => {
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
    fn found_at(&self, file: &Path, node: &Node) {
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
        match &var.source {
            Source::Opt => match address {
                "stage" if ctx.stage_given => Resolved::Known(ctx.stage.to_string()),
                // An empty region is a run without `--region` (what the
                // file means on its own: `App`'s default region).
                "region" if !ctx.region.is_empty() => Resolved::Known(ctx.region.to_string()),
                _ => Resolved::Missing(format!("no `--{address}` option is given")),
            },
            Source::Sls => match address {
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
            Source::Aws => match address {
                "region" if !ctx.region.is_empty() => Resolved::Known(ctx.region.to_string()),
                _ => Resolved::Unknowable(format!("`aws:{address}` depends on the account")),
            },
            Source::SelfRef => {
                if address.is_empty() {
                    return Resolved::Unknowable("`self:` is the whole file, not a value".into());
                }
                // `self:provider.region` is what the file says, no more:
                // the CLI stops ("Value not found at \"self\" source") where
                // the file sets no region, whatever `--region` says.
                self.once(format!("self:{address}"), || {
                    let keys: Vec<&str> = address.split('.').collect();
                    self.lookup(ctx.doc, ctx.file, &keys, depth)
                })
            }
            Source::File => {
                let Some(path) = var.arg.as_deref() else {
                    return Resolved::Missing("`file()` names no file".into());
                };
                let path = match self.text(path, depth + 1) {
                    Resolved::Known(path) => path,
                    other => return other,
                };
                let full = crate::sys::paths::normalize(&ctx.dir.join(&path));
                // A file that is not there stops the CLI whatever it would
                // hold (`${file(./secret.pem)}` as much as a YAML file).
                if !full.exists() {
                    return self.absent(&path);
                }
                match full.extension().and_then(|e| e.to_str()) {
                    Some("yml" | "yaml" | "json") => {}
                    _ if super::files::is_program(&full) => {}
                    _ => {
                        return Resolved::Unknowable(format!(
                        "`{path}` is code the CLI runs or text it reads, not data this tool reads"
                    ))
                    }
                }
                self.once(format!("file({path}):{address}"), || {
                    let doc = match self.file_doc(&full, &path) {
                        Ok(doc) => doc,
                        Err(why) => return why,
                    };
                    let keys: Vec<&str> = if address.is_empty() {
                        Vec::new()
                    } else {
                        address.split('.').collect()
                    };
                    match self.lookup(&doc, &full, &keys, depth) {
                        // Said of the file only when the key is not there:
                        // a value that is (`${env:X}` unset) says why itself.
                        Resolved::Missing(why) if self.holds(&doc, &full, &keys, depth) => {
                            Resolved::Missing(why)
                        }
                        Resolved::Missing(_) => {
                            Resolved::Missing(format!("`{path}` has no `{address}`"))
                        }
                        other => other,
                    }
                })
            }
            Source::Param => self.param(address, depth),
            Source::Ssm if ctx.symbolic => Resolved::Known(format!("${{ssm:{address}}}")),
            Source::Env => match self.env(address) {
                None if ctx.symbolic => Resolved::Known(format!("${{env:{address}}}")),
                Some(value) => Resolved::Known(value),
                None => {
                    // Known in the end only through a fallback.
                    self.guessed.set(true);
                    Resolved::Missing(format!("environment variable `{address}` is not set"))
                }
            },
            Source::StrToBool => match self.text(address, depth + 1) {
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

    /// The value at `keys` below `node` (of `file`), following a string
    /// that stands for a whole section (`custom: ${file(../common.yml):custom}`)
    /// as the CLI does.
    fn lookup(&self, node: &Node, file: &Path, keys: &[&str], depth: usize) -> Resolved {
        self.at(node, file, keys, depth, &|leaf: &Node, file, depth| {
            self.found_at(file, leaf);
            match &leaf.value {
                Value::Scalar { text, quoted, .. } => {
                    if !quoted && matches!(text.as_str(), "" | "~" | "null") {
                        Resolved::Missing("the value is empty".into())
                    } else if let Some(typed) = leaf.typed_text() {
                        Resolved::Known(typed)
                    } else {
                        self.text(text, depth + 1)
                    }
                }
                Value::Seq(items) => self.list(items, depth),
                Value::Map(_) => Resolved::Unknowable("a section, not a single value".into()),
            }
        })
    }

    /// A list's items joined with commas, when each is a plain value with
    /// a known text (as JavaScript joins them); else no single value.
    fn list(&self, items: &[Node], depth: usize) -> Resolved {
        let mut texts = Vec::with_capacity(items.len());
        for item in items {
            let Value::Scalar { text, quoted, .. } = &item.value else {
                return Resolved::Unknowable("a list of sections, not a single value".into());
            };
            if !quoted && matches!(text.as_str(), "" | "~" | "null") {
                return Resolved::Unknowable("a list with an empty item".into());
            }
            if let Some(typed) = item.typed_text() {
                texts.push(typed);
                continue;
            }
            match self.text(text, depth + 1) {
                Resolved::Known(text) => texts.push(text),
                Resolved::List(_) => {
                    return Resolved::Unknowable("a list of lists, not a single value".into())
                }
                other => return other,
            }
        }
        Resolved::List(texts.join(","))
    }

    /// Whether `keys` name something written in `doc` (of `file`),
    /// sections followed: a value may still be missing for its own reason.
    fn holds(&self, doc: &Node, file: &Path, keys: &[&str], depth: usize) -> bool {
        matches!(
            self.at(doc, file, keys, depth, &|node: &Node, _, _| {
                if node.is_null() {
                    Resolved::Missing("the value is empty".into())
                } else {
                    Resolved::Known(String::new())
                }
            }),
            Resolved::Known(_)
        )
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
    fn at(&self, node: &Node, file: &Path, keys: &[&str], depth: usize, leaf: &Leaf) -> Resolved {
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

    /// Follows a variable that stands for a section, then `keys` inside it;
    /// where the section is missing, the fallbacks that are sources
    /// (`${file(./a.yml), file(../a.yml)}`), in order, as the CLI takes them.
    fn section(&self, var: &Var, keys: &[&str], depth: usize, leaf: &Leaf) -> Resolved {
        let first = self.one_section(var, keys, depth, leaf);
        let (Resolved::Missing(_), Some(fallback)) = (&first, var.fallback.as_deref()) else {
            return first;
        };
        for alternative in alternatives(fallback) {
            let Alternative::Reference(inner) = alternative else {
                break;
            };
            let Some(next) = parse_inner(inner, 0, inner.len() + 3) else {
                break;
            };
            match self.one_section(&next, keys, depth + 1, leaf) {
                Resolved::Missing(_) => continue,
                other => return other,
            }
        }
        first
    }

    /// [`Eval::section`] of the variable's own source, no fallback.
    fn one_section(&self, var: &Var, keys: &[&str], depth: usize, leaf: &Leaf) -> Resolved {
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
        match &var.source {
            Source::SelfRef => self.at(ctx.doc, ctx.file, &all, depth, leaf),
            Source::File => {
                // The path as the CLI reads it: `../var/${sls:stage}.yml`
                // is the stage's file.
                let path = match self.text(var.arg.as_deref().unwrap_or(""), depth + 1) {
                    Resolved::Known(path) => path,
                    other => return other,
                };
                let full = crate::sys::paths::normalize(&ctx.dir.join(&path));
                if !full.exists() {
                    return self.absent(&path);
                }
                let doc = match self.file_doc(&full, &path) {
                    Ok(doc) => doc,
                    Err(why) => return why,
                };
                match self.at(&doc, &full, &all, depth, leaf) {
                    Resolved::Missing(why) if self.holds(&doc, &full, &all, depth) => {
                        Resolved::Missing(why)
                    }
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

mod params;
#[cfg(test)]
mod tests;
