//! A YAML tree that keeps what Serverless files need and serde drops: the
//! line and column of every node, and CloudFormation short-form tags
//! (`!Ref`, `!GetAtt`, `!ImportValue`, ...).
//!
//! Built from yaml-rust2's event parser. Aliases are resolved by copying the
//! anchored node, so consumers never see them.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl Pos {
    fn from_marker(mark: Marker) -> Pos {
        Pos {
            line: mark.line(),
            col: mark.col() + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    /// The tag without its `!`, e.g. `GetAtt` for `!GetAtt`.
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Any scalar, as written. `quoted` tells `'dev'` from `dev`.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error with its position.
#[derive(Debug, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct ParseError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The entry (key node and value node) under `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v))
    }

    /// Follows a path of mapping keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |node, key| node.get(key))
    }

    /// Visits every node below and including this one, with the chain of
    /// mapping keys that leads to it.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&[&'a str], &'a Node)) {
        let mut path = Vec::new();
        self.walk_inner(&mut path, f);
    }

    fn walk_inner<'a>(&'a self, path: &mut Vec<&'a str>, f: &mut dyn FnMut(&[&'a str], &'a Node)) {
        f(path, self);
        match &self.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => {
                for item in items {
                    item.walk_inner(path, f);
                }
            }
            Value::Map(entries) => {
                for (key, value) in entries {
                    path.push(key.as_str().unwrap_or(""));
                    value.walk_inner(path, f);
                    path.pop();
                }
            }
        }
    }
}

/// Parses the first document of `text`. An empty file is an empty mapping.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    // yaml-rust2 takes a NUL for the end of the input: what follows would
    // be dropped without a word. (`parse_file` refuses every character the
    // file's format forbids; this guards any other text.)
    if let Some(offset) = text.find('\0') {
        return Err(ParseError {
            pos: position_of(text, offset),
            message: "holds a NUL byte, which YAML forbids; delete it".into(),
        });
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let loaded = parser.load(&mut builder, false);
    // Our own limits fire first in the stream; say what they found.
    if let Some(err) = builder.error {
        return Err(err);
    }
    loaded.map_err(|err| ParseError {
        pos: Pos::from_marker(*err.marker()),
        message: err.info().to_string(),
    })?;
    Ok(builder.root.unwrap_or(Node {
        value: Value::Map(Vec::new()),
        pos: Pos { line: 1, col: 1 },
        tag: None,
    }))
}

/// The largest file read: far above any real Serverless file.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// How many nodes a document may expand to, aliases included: a few
/// hundred bytes of aliases can otherwise ask for gigabytes.
pub const MAX_NODES: usize = 1_000_000;
/// How deep collections may nest.
pub const MAX_DEPTH: usize = 200;
/// How many `${...}` placeholders one value may hold: far above any real
/// value, while every check reads each of them (a value of 200,000
/// variables took seconds of every command).
pub const MAX_PLACEHOLDERS: usize = 10_000;

/// Reads a user's text file: a regular file (never a FIFO or a device,
/// which could block forever) of at most [`MAX_FILE_BYTES`].
pub fn read_text(path: &Path) -> Result<String, FileError> {
    let error = |message: String| FileError {
        path: path.to_path_buf(),
        pos: None,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|err| error(format!("cannot read: {err}")))?;
    if !meta.is_file() {
        return Err(error("is not a regular file; replace it with one".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(error(format!(
            "is {} bytes, more than the {MAX_FILE_BYTES} a configuration file may have",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|err| error(format!("cannot read: {err}")))?;
    String::from_utf8(bytes).map_err(|err| {
        let bytes = err.as_bytes();
        let valid = err.utf8_error().valid_up_to();
        // The part before the bad byte is UTF-8: count lines there.
        let before = String::from_utf8_lossy(&bytes[..valid]);
        FileError {
            path: path.to_path_buf(),
            pos: Some(position_of(&before, before.len())),
            message: format!(
                "is not UTF-8 text (byte 0x{:02X} here); save it as UTF-8",
                bytes.get(valid).copied().unwrap_or_default()
            ),
        }
    })
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn position_of(text: &str, offset: usize) -> Pos {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Pos {
        line: before.matches('\n').count() + 1,
        col: before[line_start..].chars().count() + 1,
    }
}

/// Whether the CLI's parser refuses `c` in a YAML file: js-yaml's
/// `PATTERN_NON_PRINTABLE` (the C0 and C1 controls but tab, line breaks
/// and NEL, DEL, and U+FFFE/U+FFFF; a Rust string holds no lone
/// surrogate). js-yaml lets other controls than NUL pass in a comment;
/// YAML forbids them everywhere, and so does this reader.
fn forbidden_in_yaml(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}'
        | '\u{7f}'..='\u{84}' | '\u{86}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}')
}

/// Whether `JSON.parse` (the CLI's reader of `.json` files) refuses `c`
/// anywhere: the C0 controls but the whitespace between tokens.
fn forbidden_in_json(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}')
}

/// Refuses a file holding a character its format forbids, at its line and
/// column: the CLI refuses such a file, and yaml-rust2 would stop reading
/// at a NUL as if the file ended there, silently keeping only its start.
pub fn check_characters(path: &Path, text: &str) -> Result<(), FileError> {
    let json = path.extension().is_some_and(|e| e == "json");
    let forbidden = if json {
        forbidden_in_json
    } else {
        forbidden_in_yaml
    };
    let Some((offset, c)) = text.char_indices().find(|(_, c)| forbidden(*c)) else {
        return Ok(());
    };
    let code = c as u32;
    let what = match c {
        '\u{0}' => "a NUL byte",
        '\u{fffe}' | '\u{ffff}' => "a non-character",
        _ => "a control character",
    };
    let escape = match (json, code) {
        (false, 0) => "\\0".to_string(),
        (false, 0..=0xff) => format!("\\x{code:02X}"),
        _ => format!("\\u{code:04X}"),
    };
    Err(FileError {
        path: path.to_path_buf(),
        pos: Some(position_of(text, offset)),
        message: format!(
            "holds U+{code:04X} ({what}), which {} forbids and the Serverless CLI refuses; delete it, or write it as `{escape}` inside a double-quoted string",
            if json { "JSON" } else { "YAML" }
        ),
    })
}

/// Reads and parses a file (YAML, or JSON, which this parser reads as
/// YAML); errors name the file and the position.
pub fn parse_file(path: &Path) -> Result<(String, Node), FileError> {
    let text = read_text(path)?;
    check_characters(path, &text)?;
    let node = parse(&text).map_err(|err| FileError {
        path: path.to_path_buf(),
        pos: Some(err.pos),
        message: format!("invalid YAML: {}", err.message),
    })?;
    Ok((text, node))
}

/// An input that cannot be read or parsed.
#[derive(Debug, Clone, thiserror::Error)]
pub struct FileError {
    pub path: std::path::PathBuf,
    pub pos: Option<Pos>,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = crate::sys::paths::display(&self.path);
        match self.pos {
            Some(pos) => write!(f, "{path}:{pos}: {}", self.message),
            None => write!(f, "{path}: {}", self.message),
        }
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        pos: Pos,
        tag: Option<String>,
        anchor: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        /// Each key's text and line, to find one given twice in one look.
        lines: HashMap<String, usize>,
        key: Option<Node>,
        pos: Pos,
        tag: Option<String>,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Anchored nodes with how many nodes each stands for.
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    done: bool,
    error: Option<ParseError>,
    /// Nodes made so far, alias expansions included.
    nodes: usize,
}

/// How many nodes a tree holds.
fn count(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar { .. } => 0,
        Value::Seq(items) => items.iter().map(count).sum(),
        Value::Map(entries) => entries.iter().map(|(k, v)| count(k) + count(v)).sum(),
    }
}

impl Builder {
    /// Counts `n` more nodes; false (with the error set) past the limit.
    fn grow(&mut self, n: usize, pos: Pos) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.error = Some(ParseError {
                pos,
                message: format!(
                    "expands to more than {MAX_NODES} nodes (aliases that repeat each other?); simplify the anchors"
                ),
            });
            return false;
        }
        true
    }

    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let size = count(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
                self.done = true;
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                lines,
                key,
                ..
            }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    // The framework's parser refuses a key given twice; so
                    // do we, rather than silently keep one of them.
                    if let Some(text) = k.as_str().filter(|t| *t != "<<") {
                        if let Some(first) = lines.get(text) {
                            self.error = Some(ParseError {
                                pos: k.pos,
                                message: format!(
                                    "duplicate key `{}` (first at line {first}); keep one",
                                    text.escape_debug(),
                                ),
                            });
                            return;
                        }
                        lines.insert(text.to_string(), k.pos.line);
                    }
                    entries.push((k, node))
                }
            },
        }
    }
}

/// YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`), as the framework's
/// parser applies them: the merged maps' entries, unless the map sets the
/// same key itself.
fn merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    if !entries.iter().any(|(k, _)| k.as_str() == Some("<<")) {
        return entries;
    }
    let (merges, mut own): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|(k, _)| k.as_str() == Some("<<"));
    for (_, value) in merges {
        let sources: Vec<Node> = match value.value {
            Value::Seq(items) => items,
            _ => vec![value],
        };
        for source in sources {
            if let Value::Map(merged) = source.value {
                for (k, v) in merged {
                    if !own
                        .iter()
                        .any(|(o, _)| o.as_str().is_some() && o.as_str() == k.as_str())
                    {
                        own.push((k, v));
                    }
                }
            }
        }
    }
    own
}

fn tag_name(tag: Option<yaml_rust2::parser::Tag>) -> Option<String> {
    let tag = tag?;
    // `!Ref` has handle `!` and suffix `Ref`; standard tags (`!!str`) keep
    // their suffix too, which no consumer mistakes for an intrinsic.
    Some(tag.suffix)
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.done || self.error.is_some() {
            return;
        }
        let pos = Pos::from_marker(mark);
        if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..))
            && self.stack.len() >= MAX_DEPTH
        {
            self.error = Some(ParseError {
                pos,
                message: format!("nests deeper than {MAX_DEPTH} levels"),
            });
            return;
        }
        if matches!(
            event,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..)
        ) && !self.grow(1, pos)
        {
            return;
        }
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                if crate::app::template::openings(&text) > MAX_PLACEHOLDERS {
                    self.error = Some(ParseError {
                        pos,
                        message: format!(
                            "holds more than {MAX_PLACEHOLDERS} `${{...}}` variables in one value, past what this tool expands; split or simplify it"
                        ),
                    });
                    return;
                }
                let quoted = matches!(
                    style,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
                );
                let node = Node {
                    value: Value::Scalar { text, quoted },
                    pos,
                    tag: tag_name(tag),
                };
                self.push_node(node, anchor);
            }
            Event::SequenceStart(anchor, tag) => {
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    pos,
                    tag: tag_name(tag),
                    anchor,
                });
            }
            Event::MappingStart(anchor, tag) => {
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    lines: HashMap::new(),
                    key: None,
                    pos,
                    tag: tag_name(tag),
                    anchor,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    pos,
                    tag,
                    anchor,
                }) = self.stack.pop()
                {
                    self.push_node(
                        Node {
                            value: Value::Seq(items),
                            pos,
                            tag,
                        },
                        anchor,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    entries,
                    pos,
                    tag,
                    anchor,
                    ..
                }) = self.stack.pop()
                {
                    self.push_node(
                        Node {
                            value: Value::Map(merge_keys(entries)),
                            pos,
                            tag,
                        },
                        anchor,
                    );
                }
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some((node, size)) => {
                    let (mut node, size) = (node.clone(), *size);
                    if !self.grow(size, pos) {
                        return;
                    }
                    node.pos = pos;
                    self.push_node(node, 0);
                }
                None => {
                    self.error = Some(ParseError {
                        pos,
                        message: "alias to an unknown anchor".into(),
                    })
                }
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_tags_are_kept() {
        let doc = parse("a:\n  b: !GetAtt Api.ApiId\n  c: [x, 'y']\n").unwrap();
        let b = doc.path(&["a", "b"]).unwrap();
        // A tagged scalar starts at its value, after the tag.
        assert_eq!(b.pos, Pos { line: 2, col: 14 });
        assert_eq!(b.tag.as_deref(), Some("GetAtt"));
        assert_eq!(b.as_str(), Some("Api.ApiId"));
        let c = doc.path(&["a", "c"]).unwrap().as_seq().unwrap();
        assert_eq!(
            c[1].value,
            Value::Scalar {
                text: "y".into(),
                quoted: true
            }
        );
    }

    #[test]
    fn aliases_resolve_to_the_anchored_node() {
        let doc = parse("x: &n {k: v}\ny: *n\n").unwrap();
        assert_eq!(doc.path(&["y", "k"]).and_then(Node::as_str), Some("v"));
    }

    #[test]
    fn syntax_errors_carry_the_position() {
        let err = parse("a: [b, c\nd: e\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err}");
    }

    #[rstest::rstest]
    #[case::nul(
        "a: b\0c\n",
        "x.yml",
        Some("1:5"),
        "U+0000 (a NUL byte), which YAML forbids"
    )]
    #[case::nul_in_a_comment("a: b\n# c\0\n", "x.yml", Some("2:4"), "U+0000")]
    #[case::control(
        "a:\n  - \u{1b}[2J\n",
        "x.yml",
        Some("2:5"),
        "U+001B (a control character)"
    )]
    #[case::c1("a: \u{9f}\n", "x.yml", Some("1:4"), "write it as `\\x9F`")]
    #[case::non_character("a: \u{ffff}\n", "x.yml", Some("1:4"), "U+FFFF (a non-character)")]
    #[case::after_wide_characters("a: ü€\u{7f}\n", "x.yml", Some("1:6"), "U+007F")]
    #[case::json_nul("{\"a\": \"\0\"}", "x.json", Some("1:8"), "which JSON forbids")]
    #[case::tab_newline_nel_bom("\u{feff}a:\tb\r\nc: \"d\u{85}e\"\n", "x.yml", None, "")]
    #[case::json_allows_delete("{\"a\": \"\u{7f}\"}", "x.json", None, "")]
    fn characters_the_format_forbids_are_refused_where_they_are(
        #[case] text: &str,
        #[case] name: &str,
        #[case] at: Option<&str>,
        #[case] says: &str,
    ) {
        let result = check_characters(Path::new(name), text);
        match at {
            None => assert!(result.is_ok(), "{result:?}"),
            Some(at) => {
                let err = result.unwrap_err();
                assert_eq!(err.pos.map(|p| p.to_string()).as_deref(), Some(at));
                assert!(err.message.contains(says), "{}", err.message);
            }
        }
    }

    #[test]
    fn a_value_with_too_many_variables_is_refused_at_its_line() {
        let many = "${sls:stage}".repeat(MAX_PLACEHOLDERS);
        assert!(parse(&format!("a:\n  b: {many}\n")).is_ok());
        let err = parse(&format!("a:\n  b: {many}-${{x:y}}\n")).unwrap_err();
        assert_eq!(err.pos, Pos { line: 2, col: 6 });
        assert!(err.message.contains("more than 10000"), "{err}");
    }

    #[test]
    fn a_nul_never_ends_the_parse_silently() {
        let err = parse("service: web\0\nfunctions: {}\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 1, col: 13 });
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_at_its_line() {
        let path = std::env::temp_dir().join(format!("xtask-latin1-{}.yml", std::process::id()));
        std::fs::write(&path, b"a: b\nc: caf\xe9\n").unwrap();
        let err = read_text(&path).unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert_eq!(err.pos, Some(Pos { line: 2, col: 7 }));
        assert!(err.message.contains("not UTF-8 text (byte 0xE9"), "{err}");
    }

    #[test]
    fn empty_text_is_an_empty_mapping() {
        assert_eq!(parse("").unwrap().as_map().map(<[_]>::len), Some(0));
    }
}
