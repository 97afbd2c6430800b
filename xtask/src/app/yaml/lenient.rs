//! Whitespace saphyr-parser refuses and js-yaml reads, made readable to
//! saphyr-parser without changing what the text means, so no file the
//! Serverless CLI deploys is refused here. Each is YAML the spec forbids
//! and js-yaml allows (it only warns, or does not look):
//!
//! - a line inside a flow collection or a quoted scalar indented no more
//!   than the block around it (the JSON style `Action: [` … `]` with the
//!   `]` under the key; the test suite's 9C9N, QB6E): the line is
//!   indented further, which inside a flow collection or a quoted scalar
//!   changes nothing;
//! - a tab after a mapping's `:` (`key:<tab>value`): the tab becomes a
//!   space;
//! - a comment right after a flow collection or a quoted scalar
//!   (`[a]#c`, `"a"#c`; 9JBA, SU5Z): a space is put before the `#`;
//! - the first node on the `---` line: glued to it (`---word`; 82AN),
//!   which js-yaml reads as the marker and the word, or a block mapping
//!   (`--- a: b`; 9KBC), which saphyr-parser refuses: the marker becomes
//!   blanks.
//!
//! Each edit is recorded, and positions are moved back to the text as
//! written. The parser is run again after each edit, within a budget of
//! work, since every edit costs a parse.

use saphyr_parser::ScanError;

use super::Pos;

/// A run of characters put into a line: positions on `line` from column
/// `from` (in the edited text) moved `by` columns right.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shift {
    line: usize,
    from: usize,
    by: usize,
}

/// Moves a position in the edited text back to the text as written.
pub(super) fn unshift(pos: &mut Pos, shifts: &[Shift]) {
    for shift in shifts.iter().rev() {
        if pos.line == shift.line && pos.col >= shift.from {
            pos.col -= shift.by;
        }
    }
}

/// The document marker `---` at the start of the first line, with the
/// first node on the same line: glued to it (`---word`, 82AN), which
/// js-yaml reads as the marker and the word; or a block mapping begun
/// there (`--- a: b`, 9KBC), which js-yaml reads and saphyr-parser
/// refuses. The marker becomes blanks (a space is put after a glued one),
/// so the node reads as the top of the document, at the columns it was.
pub(super) fn document_marker(text: &str) -> Option<(String, Option<Shift>)> {
    let mut offset = 0;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let content = line.trim_end_matches(['\n', '\r']);
        let trimmed = content.trim_start_matches([' ', '\t']);
        if content.starts_with('%') {
            // After directives the marker is required: leave it.
            return None;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            offset += line.len();
            continue;
        }
        let rest = content.strip_prefix("---")?;
        let node = rest.trim_start_matches([' ', '\t']);
        if node.is_empty() || node.starts_with(['#', '|', '>']) {
            return None;
        }
        let glued = !rest.starts_with([' ', '\t']);
        let mut edited = String::with_capacity(text.len() + 1);
        edited.push_str(&text[..offset]);
        edited.push_str(if glued { "    " } else { "   " });
        edited.push_str(&text[offset + 3..]);
        let shift = glued.then_some(Shift {
            line: number + 1,
            from: 5,
            by: 1,
        });
        return Some((edited, shift));
    }
    None
}

/// The edit that gets the parser past `err`, if it is one js-yaml would
/// not have made; `open_flow` is where the flow collection the parser was
/// in starts.
pub(super) fn fix(
    text: &str,
    err: &ScanError,
    open_flow: Option<Pos>,
) -> Option<(String, Option<Shift>)> {
    let mark = err.marker();
    let info = err.info();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let at = |i: usize| chars.get(i).map_or('\0', |(_, c)| *c);
    if info == "':' must be followed by a valid YAML whitespace"
        && !opens_block(&chars, mark.index())
    {
        // The mark is past the tabs that follow the `:`.
        let mut i = mark.index();
        let mut edited = text.to_string();
        let mut changed = false;
        while i > 0 && at(i - 1) == '\t' {
            i -= 1;
            edited.replace_range(byte(i)..byte(i) + 1, " ");
            changed = true;
        }
        return changed.then_some((edited, None));
    }
    if info == "comments must be separated from other tokens by whitespace"
        && at(mark.index()) == '#'
    {
        let mut edited = text.to_string();
        edited.insert(byte(mark.index()), ' ');
        return Some((
            edited,
            Some(Shift {
                line: mark.line(),
                from: mark.col() + 2,
                by: 1,
            }),
        ));
    }
    if info == "invalid indentation in quoted scalar" && matches!(at(mark.index()), '"' | '\'') {
        return quoted(text, &chars, mark.index(), mark.col() + 1);
    }
    let indentation = info.contains("indentation") || info.contains("tab");
    if let (true, Some(flow)) = (indentation, open_flow) {
        // The line the parser stopped on is inside the flow collection.
        let start = (0..=mark.index().min(chars.len()))
            .rev()
            .find(|i| *i == 0 || at(i - 1) == '\n' || at(i - 1) == '\r')
            .unwrap_or(0);
        return reindent(text, &chars, start, mark.line(), flow.col).map(|(t, s)| (t, Some(s)));
    }
    None
}

/// Whether the rest of the line from character `i` starts a block
/// collection (`- a`, `b: c`): js-yaml reads none after a tab, and
/// refuses the line (the test suite's Y79Y).
fn opens_block(chars: &[(usize, char)], i: usize) -> bool {
    let line: String = chars[i.min(chars.len())..]
        .iter()
        .map(|(_, c)| *c)
        .take_while(|c| !matches!(c, '\n' | '\r'))
        .collect();
    let indicator = |s: &str| s.len() == 1 || s[1..].starts_with([' ', '\t']);
    (line.starts_with(['-', '?', ':']) && indicator(&line))
        || line.ends_with(':')
        || line.contains(": ")
        || line.contains(":\t")
}

/// Indents every line after a quoted scalar's first, to its end, past
/// its quote (`col`, 1-based). No node starts inside a quoted scalar, so
/// no position moves.
fn quoted(
    text: &str,
    chars: &[(usize, char)],
    open: usize,
    col: usize,
) -> Option<(String, Option<Shift>)> {
    let at = |i: usize| chars.get(i).map_or('\0', |(_, c)| *c);
    let byte = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let quote = at(open);
    let mut edited = String::with_capacity(text.len());
    let mut copied = 0;
    let mut changed = false;
    let mut i = open + 1;
    loop {
        match at(i) {
            '\0' => return None,
            '\\' if quote == '"' => i += 1,
            '\'' if quote == '\'' && at(i + 1) == '\'' => i += 1,
            c if c == quote => break,
            '\n' | '\r' if !(at(i) == '\r' && at(i + 1) == '\n') => {
                let start = i + 1;
                let mut width = 0;
                while matches!(at(start + width), ' ' | '\t') {
                    width += 1;
                }
                let tabs = (start..start + width).any(|j| at(j) == '\t');
                if width < col || tabs {
                    edited.push_str(&text[byte(copied)..byte(start)]);
                    edited.push_str(&" ".repeat(width.max(col)));
                    copied = start + width;
                    changed = true;
                }
                i = start + width;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    edited.push_str(&text[byte(copied)..]);
    changed.then_some((edited, None))
}

/// Replaces the blanks that start the line at character `start` with
/// `target` spaces (or as many as there were, if more).
fn reindent(
    text: &str,
    chars: &[(usize, char)],
    start: usize,
    line: usize,
    target: usize,
) -> Option<(String, Shift)> {
    let at = |i: usize| chars.get(i).map_or('\0', |(_, c)| *c);
    let byte = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let mut width = 0;
    let mut tabs = false;
    while matches!(at(start + width), ' ' | '\t') {
        tabs |= at(start + width) == '\t';
        width += 1;
    }
    if width >= target && !tabs {
        return None;
    }
    let spaces = width.max(target);
    let mut edited = String::with_capacity(text.len() + spaces);
    edited.push_str(&text[..byte(start)]);
    edited.push_str(&" ".repeat(spaces));
    edited.push_str(&text[byte(start + width)..]);
    Some((
        edited,
        Shift {
            line,
            from: spaces + 1,
            by: spaces - width,
        },
    ))
}
