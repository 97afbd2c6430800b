//! From saphyr-parser's events to the tree, the way js-yaml builds its
//! value: tags resolved (`schema.rs`), merges applied, keys compared by
//! the property name JavaScript makes of them, aliases copied within a
//! bound, nesting counted as js-yaml counts it. Where saphyr-parser
//! accepts what js-yaml refuses, the refusal is made here from the source
//! text, each rule naming its case.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, ScalarStyle, Span, SpannedEventReceiver};

use super::keys::{key_name, plain_key, store_pair};
use super::schema::{self, Kind};
use super::{Node, ParseError, Pos, Value, MAX_DEPTH, MAX_NODES, MAX_PLACEHOLDERS};

/// The standard tags js-yaml's default schema knows, with their kind.
const STANDARD: &[(&str, &str)] = &[
    ("str", "scalar"),
    ("null", "scalar"),
    ("bool", "scalar"),
    ("int", "scalar"),
    ("float", "scalar"),
    ("timestamp", "scalar"),
    ("binary", "scalar"),
    ("merge", "scalar"),
    ("seq", "sequence"),
    ("omap", "sequence"),
    ("pairs", "sequence"),
    ("map", "mapping"),
    ("set", "mapping"),
];

/// A node's tag, as the reader resolved it.
#[derive(Debug, Clone, PartialEq)]
enum Tag {
    /// No tag: a plain scalar is resolved from its text.
    None,
    /// `!`, the non-specific tag: a scalar stays a string.
    NonSpecific,
    /// A CloudFormation function (`!GetAtt`), without the `!`.
    Function(String),
    /// A standard type, `!!str` or `!<tag:yaml.org,2002:str>`: the part
    /// after `tag:yaml.org,2002:`.
    Standard(String),
}

impl Tag {
    /// Reads the parser's tag; anything the CLI's schema does not know is
    /// refused, as js-yaml refuses it (`unknown tag`).
    fn read(tag: Option<&saphyr_parser::Tag>, pos: Pos) -> Result<Tag, ParseError> {
        let Some(tag) = tag else {
            return Ok(Tag::None);
        };
        // `!Ref` comes as handle `!` and suffix `Ref`; `!!str` as the
        // handle's prefix `tag:yaml.org,2002:` and `str`; `!` alone, and
        // verbatim tags, with an empty handle.
        let full = match (tag.handle.as_str(), tag.suffix.as_str()) {
            ("", "!") => "!".to_string(),
            ("!", suffix) => format!("!{suffix}"),
            (handle, suffix) => format!("{handle}{suffix}"),
        };
        if full == "!" {
            return Ok(Tag::NonSpecific);
        }
        if let Some(name) = full.strip_prefix('!') {
            if schema::FUNCTIONS.contains(&name) {
                return Ok(Tag::Function(name.to_string()));
            }
        }
        if let Some(name) = full.strip_prefix("tag:yaml.org,2002:") {
            if STANDARD.iter().any(|(n, _)| *n == name) {
                return Ok(Tag::Standard(name.to_string()));
            }
        }
        Err(ParseError {
            pos,
            message: format!(
                "unknown tag `{}`: the Serverless CLI reads CloudFormation's (`!Ref`, `!GetAtt`, `!Sub` …) and YAML's own (`!!str` …) only; remove it",
                full.escape_debug()
            ),
        })
    }

    /// The function name a node keeps.
    fn function(&self) -> Option<String> {
        match self {
            Tag::Function(name) => Some(name.clone()),
            _ => None,
        }
    }

    fn is_standard(&self, name: &str) -> bool {
        matches!(self, Tag::Standard(n) if n == name)
    }

    /// Refuses a standard tag on a node of the wrong kind, as js-yaml
    /// does (`!!str` on a mapping).
    fn check_kind(&self, kind: &str, pos: Pos) -> Result<(), ParseError> {
        if let Tag::Standard(name) = self {
            let want = STANDARD
                .iter()
                .find(|(n, _)| n == name)
                .map_or("scalar", |(_, k)| *k);
            if want != kind {
                return Err(ParseError {
                    pos,
                    message: format!(
                        "`!!{name}` is for a {want}, not a {kind}; fix the value or remove the tag"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// A collection being read.
struct Frame {
    kind: FrameKind,
    pos: Pos,
    tag: Tag,
    anchor: usize,
    /// In flow style (`[a]`, `{a: b}`, or a one-pair mapping in a flow
    /// sequence), where js-yaml does not look at indentation.
    flow: bool,
    /// Where it starts in the text, in characters (its properties
    /// included), to find an explicit key's `?`, and its line.
    start: usize,
    start_line: usize,
    /// js-yaml's nesting level (see [`Builder::level`]).
    level: usize,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        /// Each key as the CLI names it (`String(key)`) with its line, and
        /// whether a merge set it (so one explicit key may override it).
        keys: HashMap<String, (usize, bool)>,
        /// The key read, waiting for its value, with where it stands.
        key: Option<(Node, KeySpan)>,
    },
}

/// How many nodes a tree holds.
fn count(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar { .. } => 0,
        Value::Seq(items) => items.iter().map(count).sum(),
        Value::Map(entries) => entries.iter().map(|(k, v)| count(k) + count(v)).sum(),
    }
}

pub(super) struct Builder {
    /// The text parsed, as characters (saphyr-parser's marks count them).
    chars: Vec<char>,
    stack: Vec<Frame>,
    /// Anchored nodes with how many nodes each stands for.
    anchors: HashMap<usize, (Node, usize)>,
    pub(super) root: Option<Node>,
    /// Documents begun: js-yaml's `load` refuses a second one.
    documents: usize,
    pub(super) error: Option<ParseError>,
    /// Nodes made so far, alias expansions included.
    nodes: usize,
    /// Keys merged so far, as js-yaml counts them.
    merged: usize,
}

impl Builder {
    pub(super) fn new(text: &str) -> Builder {
        Builder {
            chars: text.chars().collect(),
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            documents: 0,
            error: None,
            nodes: 0,
            merged: 0,
        }
    }

    /// Where the outermost flow collection still open starts, if any: the
    /// parser's error happened inside it.
    pub(super) fn open_flow(&self) -> Option<Pos> {
        self.stack.iter().find(|f| f.flow).map(|f| f.pos)
    }

    fn at(&self, i: usize) -> char {
        self.chars.get(i).copied().unwrap_or('\0')
    }

    fn fail(&mut self, pos: Pos, message: String) {
        if self.error.is_none() {
            self.error = Some(ParseError { pos, message });
        }
    }

    /// Where a node's content starts, and the character there.
    /// saphyr-parser's span of a node with a tag or an anchor starts at
    /// them; a finding points at the value (`!GetAtt Api.ApiId` at `Api`).
    /// Without content before the span's end (`a: !Ref` and a line break),
    /// the span's end. A tag run into a flow indicator (`[!!str]`) is
    /// refused here, as js-yaml reads the indicator into the tag.
    fn content_start(&self, span: Span) -> Result<(Pos, usize), ParseError> {
        let end = span.end.index();
        let mut i = span.start.index();
        let (mut line, mut col) = (span.start.line(), span.start.col());
        while i < end && matches!(self.at(i), '!' | '&') {
            let tag = self.at(i) == '!';
            if tag && self.at(i + 1) == '<' {
                // A verbatim tag, `!<tag:yaml.org,2002:str>`, may hold commas.
                while i < end && self.at(i) != '>' {
                    i += 1;
                    col += 1;
                }
            }
            while i < end
                && !matches!(
                    self.at(i),
                    ' ' | '\t' | '\n' | '\r' | ',' | '[' | ']' | '{' | '}'
                )
            {
                i += 1;
                col += 1;
            }
            if tag && matches!(self.at(i), ',' | '[' | ']' | '{' | '}') {
                return Err(ParseError {
                    pos: Pos { line, col: col + 1 },
                    message: "a tag runs into a flow indicator here, which the Serverless CLI reads as part of the tag; put a space after the tag".into(),
                });
            }
            while i < end {
                match self.at(i) {
                    ' ' | '\t' => col += 1,
                    '\n' => (line, col) = (line + 1, 0),
                    '\r' if self.at(i + 1) != '\n' => (line, col) = (line + 1, 0),
                    '\r' => {}
                    '#' => {
                        while i < end && !matches!(self.at(i), '\n' | '\r') {
                            i += 1;
                        }
                        continue;
                    }
                    _ => break,
                }
                i += 1;
            }
        }
        Ok((Pos { line, col: col + 1 }, i))
    }

    /// Counts `n` more nodes; false (with the error set) past the limit.
    fn grow(&mut self, n: usize, pos: Pos) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.fail(pos, format!(
                "expands to more than {MAX_NODES} nodes (aliases that repeat each other?); simplify the anchors"
            ));
            return false;
        }
        true
    }

    /// The nesting level js-yaml reads a new node at: its `composeNode`
    /// calls. A node that is no block collection, read where one could
    /// start (the document, a block sequence's item, a value on a line of
    /// its own), is read inside one more: js-yaml tries it first as the
    /// key of a block mapping. (So `[[x]]` at the top is four levels deep.)
    fn level(&self, block_collection: bool, pos: Pos, empty: bool) -> usize {
        let parent = self.stack.last();
        let tried_as_key = !block_collection
            && !empty
            && match parent {
                None => true,
                Some(frame) if frame.flow => false,
                Some(Frame {
                    kind: FrameKind::Seq(_),
                    ..
                }) => true,
                Some(Frame {
                    kind: FrameKind::Map { key, .. },
                    ..
                }) => key.as_ref().is_some_and(|(k, _)| pos.line > k.pos.line),
            };
        parent.map_or(0, |f| f.level) + 1 + usize::from(tried_as_key)
    }

    /// Refuses a node past js-yaml's `maxDepth`.
    fn check_depth(&mut self, level: usize, pos: Pos) -> bool {
        if level > MAX_DEPTH {
            self.fail(pos, super::depth_message());
            return false;
        }
        true
    }

    /// Whether a new node is in flow style: inside a flow collection, or
    /// a collection that opens with a bracket.
    fn in_flow(&self, opens: char) -> bool {
        self.stack.last().is_some_and(|f| f.flow) || matches!(opens, '[' | '{')
    }

    fn push_node(&mut self, node: Node, anchor: usize, span: (usize, usize, usize)) {
        let (line, start, end) = span;
        if anchor > 0 {
            let size = count(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        let (flow, frame_start) = (frame.flow, frame.start);
        let result = match &mut frame.kind {
            FrameKind::Seq(items) => {
                items.push(node);
                Ok(())
            }
            FrameKind::Map { entries, keys, key } => match key.take() {
                None => {
                    let pos = node.pos;
                    *key = Some((
                        node,
                        KeySpan {
                            pos,
                            line,
                            start,
                            end,
                        },
                    ));
                    return self.check_key(flow, frame_start, start);
                }
                Some((k, key_span)) => {
                    if flow {
                        if let Err(err) = flow_pair_on_one_line(&self.chars, &key_span) {
                            return self.fail(err.pos, err.message);
                        }
                    }
                    store_pair(entries, keys, k, node, &mut self.merged)
                }
            },
        };
        if let Err(err) = result {
            self.fail(err.pos, err.message);
        }
    }

    /// js-yaml refuses a block mapping entry that starts with `:` (`: v`,
    /// an empty key) unless an explicit `?` began it; saphyr-parser reads
    /// the key as null.
    fn check_key(&mut self, flow: bool, frame_start: usize, start: usize) {
        let Some(Frame {
            kind: FrameKind::Map {
                key: Some((k, _)), ..
            },
            ..
        }) = self.stack.last()
        else {
            return;
        };
        let empty = matches!(&k.value, Value::Scalar { text, quoted: false, .. } if text.is_empty())
            && k.tag.is_none();
        if flow || !empty || self.at(start) != ':' {
            return;
        }
        let mut i = start;
        while i > frame_start && matches!(self.at(i - 1), ' ' | '\t' | '\n' | '\r') {
            i -= 1;
        }
        let explicit =
            (i > frame_start && self.at(i - 1) == '?') || (i == frame_start && self.at(i) == '?');
        if !explicit {
            let pos = k.pos;
            self.fail(pos, "a mapping entry starts with `:` and no key, which the Serverless CLI refuses; write the key, or quote an empty one as `'': value`".into());
        }
    }

    /// A scalar's node: its tag checked and resolved as the CLI's parser
    /// resolves it.
    fn scalar(&mut self, text: String, style: ScalarStyle, tag: Tag, pos: Pos) -> Option<Node> {
        let plain = style == ScalarStyle::Plain;
        // The parser gives an empty node as an empty plain scalar; js-yaml
        // reads it as null, tagged or not (`!!str` makes it `''`).
        let empty = plain && text.is_empty();
        let quoted = matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted);
        if let Err(err) = tag.check_kind("scalar", pos) {
            self.fail(err.pos, err.message);
            return None;
        }
        let kind = match &tag {
            // An empty node is null to js-yaml, tagged or not; `!!str`
            // makes it `''`, and a tag that needs text (`!!int`) fails.
            Tag::Standard(name) if empty => match name.as_str() {
                "str" => Some(Kind::Str),
                "null" | "merge" => Some(Kind::Null),
                _ => None,
            },
            _ if empty => Some(Kind::Null),
            Tag::None if plain => Some(schema::resolve_plain(&text)),
            Tag::None | Tag::NonSpecific | Tag::Function(_) => Some(Kind::Str),
            Tag::Standard(name) => match name.as_str() {
                "str" => Some(Kind::Str),
                "null" => schema::null(&text),
                "bool" => schema::bool(&text),
                "int" => schema::int(&text).map(Kind::Number),
                "float" => schema::float(&text).map(Kind::Number),
                "binary" => schema::binary(&text).map(Kind::Other),
                "timestamp" => schema::timestamp(&text).map(Kind::Other),
                "merge" => (text == "<<").then_some(Kind::Str),
                _ => None,
            },
        };
        let Some(kind) = kind else {
            let name = match &tag {
                Tag::Standard(name) => name.as_str(),
                _ => "str",
            };
            self.fail(
                pos,
                format!(
                    "`{}` is not a valid `!!{name}`; fix the value or remove the tag",
                    text.escape_debug()
                ),
            );
            return None;
        };
        // A merge key is a plain `<<` (or `!!merge <<`); a quoted `'<<'`
        // is an ordinary key to js-yaml.
        let merge = text == "<<" && ((tag == Tag::None && plain) || tag.is_standard("merge"));
        Some(Node {
            value: Value::Scalar {
                text,
                quoted,
                kind: if merge { Kind::Merge } else { kind },
            },
            pos,
            tag: tag.function(),
        })
    }

    fn start_collection(
        &mut self,
        span: Span,
        anchor: usize,
        tag: Option<&saphyr_parser::Tag>,
        seq: bool,
    ) {
        let (pos, at) = match self.position(span, anchor, tag.is_some()) {
            Ok(found) => found,
            Err(err) => return self.fail(err.pos, err.message),
        };
        let flow = self.in_flow(self.at(at));
        let level = self.level(!flow, pos, false);
        if !self.check_depth(level, pos) || !self.grow(1, pos) {
            return;
        }
        let kind_name = if seq { "sequence" } else { "mapping" };
        // A tag is refused where it is written.
        let tag = Tag::read(tag, Pos::from_marker(span.start));
        let tag = match tag.and_then(|t| t.check_kind(kind_name, pos).map(|()| t)) {
            Ok(tag) => tag,
            Err(err) => return self.fail(err.pos, err.message),
        };
        self.stack.push(Frame {
            kind: if seq {
                FrameKind::Seq(Vec::new())
            } else {
                FrameKind::Map {
                    entries: Vec::new(),
                    keys: HashMap::new(),
                    key: None,
                }
            },
            pos,
            tag,
            anchor,
            flow,
            start: span.start.index(),
            start_line: span.start.line(),
            level,
        });
    }

    fn end_collection(&mut self, span: Span) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let value = match frame.kind {
            FrameKind::Seq(items) => match sequence(items, &frame.tag) {
                Ok(value) => value,
                Err(err) => return self.fail(err.pos, err.message),
            },
            FrameKind::Map { entries, .. } => {
                if frame.tag.is_standard("set") && entries.iter().any(|(_, v)| !v.is_null()) {
                    return self.fail(
                        frame.pos,
                        "a `!!set` holds keys only (`? a`); remove the values or the tag".into(),
                    );
                }
                Value::Map(entries)
            }
        };
        let node = Node {
            value,
            pos: frame.pos,
            tag: frame.tag.function(),
        };
        self.push_node(
            node,
            frame.anchor,
            (frame.start_line, frame.start, span.end.index()),
        );
    }

    /// A node's position: where its content starts.
    fn position(
        &self,
        span: Span,
        anchor: usize,
        tagged: bool,
    ) -> Result<(Pos, usize), ParseError> {
        if anchor > 0 || tagged {
            self.content_start(span)
        } else {
            Ok((Pos::from_marker(span.start), span.start.index()))
        }
    }
}

/// js-yaml reads a flow mapping's pair only when its `:` is on the line
/// the key starts on (`{"a"\n: b}` and `{"multi\n line": b}` are refused,
/// "missed comma"), unless an explicit `?` began it; saphyr-parser reads
/// the pair.
fn flow_pair_on_one_line(chars: &[char], key: &KeySpan) -> Result<(), ParseError> {
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let is_break = |i: usize| at(i) == '\n' || (at(i) == '\r' && at(i + 1) != '\n');
    let mut line = key.line + (key.start..key.end).filter(|i| is_break(*i)).count();
    let mut i = key.end;
    loop {
        match at(i) {
            ' ' | '\t' => {}
            '\n' | '\r' => line += usize::from(is_break(i)),
            '#' => {
                while !matches!(at(i), '\n' | '\r' | '\0') {
                    i += 1;
                }
                continue;
            }
            ':' => break,
            _ => return Ok(()),
        }
        i += 1;
    }
    let mut before = key.start;
    while before > 0 && matches!(at(before - 1), ' ' | '\t' | '\n' | '\r') {
        before -= 1;
    }
    let explicit = before > 0 && at(before - 1) == '?';
    if line != key.line && !explicit {
        return Err(ParseError {
            pos: key.pos,
            message: "this key's `:` is not on the line the key starts on, which the Serverless CLI refuses in a flow collection (`{...}`, `[...]`); put the key and its `:` on one line".into(),
        });
    }
    Ok(())
}

/// Where a key stands in the text, to check its `:` (saphyr-parser's
/// marks: characters, lines from 1).
struct KeySpan {
    pos: Pos,
    line: usize,
    start: usize,
    end: usize,
}

/// A sequence's value under its tag: `!!omap` and `!!pairs` hold
/// one-key mappings (`!!pairs` becomes `[key, value]` pairs, as js-yaml
/// builds them).
fn sequence(items: Vec<Node>, tag: &Tag) -> Result<Value, ParseError> {
    let name = match tag {
        Tag::Standard(name) if name == "omap" || name == "pairs" => name.as_str(),
        _ => return Ok(Value::Seq(items)),
    };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let pair = match (&item.tag, &item.value) {
            (None, Value::Map(entries)) if entries.len() == 1 => Some(entries[0].clone()),
            _ => None,
        };
        let Some((k, v)) = pair else {
            return Err(ParseError {
                pos: item.pos,
                message: format!(
                    "a `!!{name}` holds one-key mappings only; fix the item or remove the tag"
                ),
            });
        };
        let key = key_name(&k).unwrap_or_default();
        if name == "omap" && !seen.insert(key.clone()) {
            return Err(ParseError {
                pos: k.pos,
                message: format!(
                    "a `!!omap` holds each key once; `{}` is there twice",
                    key.escape_debug()
                ),
            });
        }
        if name == "pairs" {
            let pos = item.pos;
            out.push(Node {
                value: Value::Seq(vec![plain_key(key, k.pos), v]),
                pos,
                tag: None,
            });
        } else {
            out.push(item);
        }
    }
    Ok(Value::Seq(out))
}

impl<'input> SpannedEventReceiver<'input> for Builder {
    fn on_event(&mut self, event: Event<'input>, span: Span) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(Pos::from_marker(span.start), "holds more than one document (`---`), and the Serverless CLI reads a file of one; keep one, or split them into files".into());
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let (pos, _) = match self.position(span, anchor, tag.is_some()) {
                    Ok(found) => found,
                    Err(err) => return self.fail(err.pos, err.message),
                };
                let empty = style == ScalarStyle::Plain && text.is_empty();
                let level = self.level(false, pos, empty);
                if !self.check_depth(level, pos) || !self.grow(1, pos) {
                    return;
                }
                if crate::app::template::openings(&text) > MAX_PLACEHOLDERS {
                    return self.fail(pos, format!(
                        "holds more than {MAX_PLACEHOLDERS} `${{...}}` variables in one value, past what this tool expands; split or simplify it"
                    ));
                }
                let tag = match Tag::read(tag.as_deref(), Pos::from_marker(span.start)) {
                    Ok(tag) => tag,
                    Err(err) => return self.fail(err.pos, err.message),
                };
                if let Some(node) = self.scalar(text.into_owned(), style, tag, pos) {
                    self.push_node(
                        node,
                        anchor,
                        (span.start.line(), span.start.index(), span.end.index()),
                    );
                }
            }
            Event::SequenceStart(anchor, tag) => {
                self.start_collection(span, anchor, tag.as_deref(), true)
            }
            Event::MappingStart(anchor, tag) => {
                self.start_collection(span, anchor, tag.as_deref(), false)
            }
            Event::SequenceEnd | Event::MappingEnd => self.end_collection(span),
            Event::Alias(id) => {
                let pos = Pos::from_marker(span.start);
                let level = self.level(false, pos, false);
                if !self.check_depth(level, pos) {
                    return;
                }
                match self.anchors.get(&id) {
                    Some((node, size)) => {
                        let (mut node, size) = (node.clone(), *size);
                        if !self.grow(size, pos) {
                            return;
                        }
                        node.pos = pos;
                        self.push_node(
                            node,
                            0,
                            (span.start.line(), span.start.index(), span.end.index()),
                        );
                    }
                    None => self.fail(pos, "alias to an unknown anchor".into()),
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}
