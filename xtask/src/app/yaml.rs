//! A YAML tree that keeps what Serverless files need and serde drops: the
//! line and column of every node, and CloudFormation short-form tags
//! (`!Ref`, `!GetAtt`, `!ImportValue`, ...).
//!
//! Built from yaml-rust2's event parser, and held to what the Serverless
//! CLI reads: js-yaml with osls's CloudFormation schema (`schema.rs`).
//! Where the two parsers differ, the CLI is followed, since it is what
//! deploys, and `tests/testsuite/yaml_parity.rs` compares them document by document.
//! Aliases are resolved by copying the anchored node, so consumers never
//! see them; merges (`<<`) are applied; tags are resolved, so a node keeps
//! a tag only when it is a CloudFormation function (`!GetAtt`).

use std::fmt;
use std::path::Path;

use saphyr_parser::{Marker, Parser};

mod build;
mod keys;
mod lenient;
mod schema;

pub use schema::Kind;

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
    /// The CloudFormation function of a tag without its `!`, e.g. `GetAtt`
    /// for `!GetAtt`; YAML's own tags (`!!str`) are resolved into the value.
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Any scalar, as written. `quoted` tells `'dev'` from `dev`; `kind`
    /// is what the CLI reads it as (`0x1f` is a number, `yes` a string).
    Scalar {
        text: String,
        quoted: bool,
        kind: Kind,
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

    /// What JavaScript's `String()` makes of a scalar the CLI reads as a
    /// number or a boolean, which is what a variable gives of it: `1.0` is
    /// `1`, `0x1F` is `31`, `True` is `true`. `None` for any other node.
    pub fn typed_text(&self) -> Option<String> {
        match &self.value {
            Value::Scalar {
                kind: Kind::Number(n),
                ..
            } => Some(schema::number_string(*n)),
            Value::Scalar {
                kind: Kind::Bool(b),
                ..
            } => Some(b.to_string()),
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

    /// Whether the CLI reads this node as null (`~`, `null`, nothing).
    pub fn is_null(&self) -> bool {
        self.tag.is_none()
            && matches!(
                self.value,
                Value::Scalar {
                    kind: Kind::Null,
                    ..
                }
            )
    }

    /// The value as the Serverless CLI reads it, as JSON: scalars typed as
    /// js-yaml types them, a tag in the CLI's spelling (`!GetAtt a.b` is
    /// `{"Fn::GetAtt": ["a", "b"]}`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as Json;
        let value = match &self.value {
            Value::Scalar { text, kind, .. } => match (&self.tag, kind) {
                // A tagged scalar is the function's argument as written,
                // never resolved; `!GetAtt a.b.c` splits at the first dot.
                (Some(_), Kind::Null) => Json::Null,
                (Some(f), _) if f == "GetAtt" => {
                    let (first, rest) = text.split_once('.').unwrap_or((text, ""));
                    Json::from(vec![first, rest])
                }
                (Some(_), _) => Json::String(text.clone()),
                (None, kind) => schema::scalar_json(text, kind),
            },
            Value::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => {
                let mut object = serde_json::Map::new();
                for (key, value) in entries {
                    object.insert(keys::key_name(key).unwrap_or_default(), value.to_json());
                }
                Json::Object(object)
            }
        };
        match &self.tag {
            Some(function) => {
                let mut object = serde_json::Map::new();
                object.insert(schema::function_key(function), value);
                Json::Object(object)
            }
            None => value,
        }
    }

    /// Calls `f` on the position of every node below and including this one.
    fn each_pos(&mut self, f: &mut dyn FnMut(&mut Pos)) {
        f(&mut self.pos);
        match &mut self.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => items.iter_mut().for_each(|item| item.each_pos(f)),
            Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.each_pos(f);
                v.each_pos(f);
            }),
        }
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

/// Parses `text`, a file of one document, as the Serverless CLI reads
/// it. An empty file is an empty mapping.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    // The parser takes a NUL for the end of the input: what follows would
    // be dropped without a word. (`parse_file` refuses every character the
    // file's format forbids; this guards any other text.)
    if let Some(offset) = text.find('\0') {
        return Err(ParseError {
            pos: position_of(text, offset),
            message: "holds a NUL byte, which YAML forbids; delete it".into(),
        });
    }
    let mut source = std::borrow::Cow::Borrowed(text);
    let mut shifts = Vec::new();
    if let Some((edited, shift)) = lenient::document_marker(text) {
        source = edited.into();
        shifts.extend(shift);
    }
    let mut work = 0usize;
    loop {
        work = work.saturating_add(source.len());
        let mut builder = build::Builder::new(&source);
        // Every document is read, to refuse a second one as the CLI does.
        let loaded = Parser::new_from_str(&source).load(&mut builder, true);
        // Our own limits and refusals fire first in the stream.
        if let Some(mut err) = builder.error {
            lenient::unshift(&mut err.pos, &shifts);
            return Err(err);
        }
        match loaded {
            Ok(()) => {
                let mut root = builder.root.unwrap_or(Node {
                    value: Value::Map(Vec::new()),
                    pos: Pos { line: 1, col: 1 },
                    tag: None,
                });
                if !shifts.is_empty() {
                    root.each_pos(&mut |pos| lenient::unshift(pos, &shifts));
                }
                return Ok(root);
            }
            Err(err) => {
                let open_flow = builder.open_flow();
                drop(builder);
                let fixed = if work < MAX_PARSE_WORK {
                    lenient::fix(&source, &err, open_flow)
                } else {
                    None
                };
                let Some((edited, shift)) = fixed else {
                    let mut pos = Pos::from_marker(*err.marker());
                    lenient::unshift(&mut pos, &shifts);
                    // The scanner reads ahead, and may meet its own bound
                    // on flow nesting before the builder meets ours.
                    let message = match err.info() {
                        "recursion limit exceeded" => depth_message(),
                        info => info.to_string(),
                    };
                    return Err(ParseError { pos, message });
                };
                source = edited.into();
                shifts.extend(shift);
            }
        }
    }
}

/// The refusal of a file nested past [`MAX_DEPTH`].
fn depth_message() -> String {
    format!("nests deeper than {MAX_DEPTH} levels, past what the Serverless CLI reads")
}

/// How much text the parser may read for one file, counting each time
/// it reads it again past whitespace js-yaml allows (`lenient.rs`).
const MAX_PARSE_WORK: usize = 64 << 20;

/// The largest file read: far above any real Serverless file.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// How many nodes a document may expand to, aliases included: a few
/// hundred bytes of aliases can otherwise ask for gigabytes.
pub const MAX_NODES: usize = 1_000_000;
/// How deep nodes may nest, a scalar counting as a level: js-yaml's
/// `maxDepth`, past which the CLI refuses the file.
pub const MAX_DEPTH: usize = 100;
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
    let node = parse_source(path, &text)?;
    Ok((text, node))
}

/// Parses the text of the file at `path` (YAML, or JSON read as YAML),
/// refusing first any character its format forbids.
pub fn parse_source(path: &Path, text: &str) -> Result<Node, FileError> {
    check_characters(path, text)?;
    parse(text).map_err(|err| FileError {
        path: path.to_path_buf(),
        pos: Some(err.pos),
        message: format!("invalid YAML: {}", err.message),
    })
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
                quoted: true,
                kind: Kind::Str,
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

    /// The items of a sequence as text.
    fn texts(node: &Node) -> Vec<Option<&str>> {
        node.as_seq().unwrap().iter().map(Node::as_str).collect()
    }

    #[test]
    fn a_one_pair_mapping_in_a_flow_sequence_reads_as_the_cli_reads_it() {
        // Issue 30: one such output refused the whole app.
        let doc = parse(
            "Outputs:\n  A:\n    Value:\n      Fn::Join: ['/', ['Fn::GetAtt': [T, Arn], 'index', '*']]\n",
        )
        .unwrap();
        let join = doc.path(&["Outputs", "A", "Value", "Fn::Join"]).unwrap();
        let parts = &join.as_seq().unwrap()[1];
        let pair = &parts.as_seq().unwrap()[0];
        assert_eq!(
            texts(pair.get("Fn::GetAtt").unwrap()),
            [Some("T"), Some("Arn")]
        );
        assert_eq!(texts(parts)[1..], [Some("index"), Some("*")]);
        assert_eq!(pair.pos, Pos { line: 4, col: 24 });
    }

    #[test]
    fn json_style_lines_under_their_key_are_read_at_their_own_columns() {
        // The CLI's parser does not look at indentation inside a flow
        // collection or a quoted scalar; IAM statements are often written so.
        let doc = parse(
            "s:\n  - Action: [\n    \"s3:Get\",\n  \"s3:Put\"\n    ]\n    Resource: {\n    a: !Ref b}\n    Sid: \"one\ntwo\"\n",
        )
        .unwrap();
        let statement = &doc.get("s").unwrap().as_seq().unwrap()[0];
        let action = statement.get("Action").unwrap();
        assert_eq!(texts(action), [Some("s3:Get"), Some("s3:Put")]);
        assert_eq!(action.as_seq().unwrap()[1].pos, Pos { line: 4, col: 3 });
        let (key, value) = statement.get("Resource").unwrap().entry("a").unwrap();
        assert_eq!(
            (key.pos, value.pos),
            (Pos { line: 7, col: 5 }, Pos { line: 7, col: 13 })
        );
        assert_eq!(statement.get("Sid").and_then(Node::as_str), Some("one two"));
    }

    #[test]
    fn whitespace_the_cli_allows_is_read_where_it_stands() {
        let doc = parse("a:\tb\nc: [d]# note\n").unwrap();
        assert_eq!(doc.get("a").and_then(Node::as_str), Some("b"));
        assert_eq!(doc.get("c").map(texts), Some(vec![Some("d")]));
        let doc = parse("--- key: value\n    other: x\n").unwrap();
        assert_eq!(doc.entry("other").unwrap().0.pos, Pos { line: 2, col: 5 });
    }

    #[rstest::rstest]
    #[case::second_document("a: 1\n---\nb: 2\n", "2:1", "more than one document")]
    #[case::unknown_tag("a: !Length [x]\n", "1:4", "unknown tag `!Length`")]
    #[case::wrong_standard_tag("a: !!int ten\n", "1:10", "not a valid `!!int`")]
    #[case::keys_the_cli_reads_as_one("0x1f: a\n31: b\n", "2:1", "duplicate key `31`")]
    #[case::merge_of_a_scalar("a: &x text\nb:\n  <<: *x\n", "3:7", "`<<` merges mappings only")]
    #[case::empty_key(": v\n", "1:1", "starts with `:` and no key")]
    #[case::flow_key_apart_from_its_colon(
        "{\"a\"\n: b}\n",
        "1:2",
        "not on the line the key starts on"
    )]
    #[case::tag_into_a_flow_indicator("[!!str, a]\n", "1:7", "runs into a flow indicator")]
    #[case::deeper_than_the_cli_reads(&format!("{}x{}", "[".repeat(99), "]".repeat(99)), "1:100", "nests deeper than 100 levels")]
    fn what_the_cli_refuses_is_refused_at_its_place(
        #[case] text: &str,
        #[case] at: &str,
        #[case] says: &str,
    ) {
        let err = parse(text).unwrap_err();
        assert_eq!(err.pos.to_string(), at, "{err}");
        assert!(err.message.contains(says), "{err}");
    }

    #[test]
    fn scalars_mean_what_they_mean_to_the_cli() {
        let doc = parse(
            "a: yes\nb: 0o17\nc: .inf\nd: ~\ne: 2012-10-17\nf: 017\ng: !!str 1\nh: True\ni: '1'\nj: -.5\n",
        )
        .unwrap();
        let json = doc.to_json();
        assert_eq!(
            json,
            serde_json::json!({"a": "yes", "b": 15, "c": null, "d": null, "e": "2012-10-17",
                "f": 17, "g": "1", "h": true, "i": "1", "j": "-.5"})
        );
        assert_eq!(
            doc.get("c").map(|n| &n.value),
            Some(&Value::Scalar {
                text: ".inf".into(),
                quoted: false,
                kind: Kind::Number(f64::INFINITY)
            })
        );
    }

    #[test]
    fn tags_are_the_clis_intrinsic_functions() {
        let doc = parse("a: !GetAtt T.Arn.Id\nb: !Sub ['${X}', {X: !Ref Y}]\nc: !Ref\n").unwrap();
        assert_eq!(
            doc.to_json(),
            serde_json::json!({
                "a": {"Fn::GetAtt": ["T", "Arn.Id"]},
                "b": {"Fn::Sub": ["${X}", {"X": {"Ref": "Y"}}]},
                "c": {"Ref": null},
            })
        );
    }

    #[test]
    fn merges_follow_the_cli() {
        // A key of the map wins over a merged one, the first merged
        // mapping over the next; a quoted `'<<'` is an ordinary key.
        let doc = parse(
            "x: &x {k: 1, a: x}\ny: &y {k: 2, b: y}\nm:\n  <<: [*x, *y]\n  a: own\nq:\n  '<<': *x\n",
        )
        .unwrap();
        assert_eq!(
            doc.to_json()["m"],
            serde_json::json!({"k": 1, "a": "own", "b": "y"})
        );
        assert_eq!(
            doc.to_json()["q"],
            serde_json::json!({"<<": {"k": 1, "a": "x"}})
        );
    }
}
