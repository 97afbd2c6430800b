//! The one walker of `${...}` placeholders. Serverless variables
//! (`${sls:stage}`, nested ones included), Serverless Compose outputs
//! (`${users.TableName}`) and CloudFormation `Fn::Sub` names
//! (`${AWS::Region}`) share the syntax; each reader parses what is inside,
//! but all of them find the placeholders here, with nesting and unclosed
//! braces handled the same way.

/// One top-level `${...}` of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placeholder<'t> {
    /// Byte offset of the `$`.
    pub start: usize,
    /// Byte offset just past the closing `}`.
    pub end: usize,
    /// What stands between the braces, nested placeholders included.
    pub inner: &'t str,
    /// The whole placeholder as written.
    pub raw: &'t str,
}

/// The top-level placeholders of `text`, in order. Braces nest; an
/// unclosed `${` ends the scan, since nothing after it can be told apart.
pub fn placeholders(text: &str) -> Vec<Placeholder<'_>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'$' && bytes[i + 1] == b'{' {
            let Some(close) = closing(bytes, i + 2) else {
                break;
            };
            found.push(Placeholder {
                start: i,
                end: close + 1,
                inner: &text[i + 2..close],
                raw: &text[i..=close],
            });
            i = close + 1;
        } else {
            i += 1;
        }
    }
    found
}

/// How many `${` openings `text` holds, nested ones included: a bound on
/// its placeholders, counted without matching braces.
pub fn openings(text: &str) -> usize {
    text.matches("${").count()
}

/// `text` with each top-level placeholder replaced by what `value` gives
/// for it; `None` when `value` gives `None` for any.
pub fn substitute(
    text: &str,
    mut value: impl FnMut(&Placeholder) -> Option<String>,
) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for placeholder in placeholders(text) {
        out.push_str(&text[last..placeholder.start]);
        out.push_str(&value(&placeholder)?);
        last = placeholder.end;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// The index of the `}` that closes a `${` whose content starts at `from`.
fn closing(bytes: &[u8], from: usize) -> Option<usize> {
    let mut depth = 1;
    for (i, b) in bytes.iter().enumerate().skip(from) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_placeholders_stay_inside_their_parent() {
        let found = placeholders("a-${cf:x-${sls:stage}.Out}-${AWS::Region}");
        let inner: Vec<&str> = found.iter().map(|p| p.inner).collect();
        assert_eq!(inner, ["cf:x-${sls:stage}.Out", "AWS::Region"]);
        assert_eq!(found[1].raw, "${AWS::Region}");
    }

    #[test]
    fn an_unclosed_placeholder_ends_the_scan() {
        assert_eq!(placeholders("${a}-${b").len(), 1);
        assert!(placeholders("$ { } $").is_empty());
    }

    #[test]
    fn substitute_replaces_every_top_level_placeholder() {
        let out = substitute("x-${a}-${b}", |p| Some(p.inner.to_uppercase()));
        assert_eq!(out.as_deref(), Some("x-A-B"));
        assert_eq!(substitute("${a}", |_| None), None);
        assert_eq!(substitute("plain", |_| None).as_deref(), Some("plain"));
    }
}
