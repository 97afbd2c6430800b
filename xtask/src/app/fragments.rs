//! The `resources:` a service's file holds or includes, as fragments with
//! the file each was read from: items of a `resources` list included whole
//! (`- ${file(./tables.yml)}`), and resources included whole
//! (`Queue: ${file(./queue.yml):Queue}`).

use std::path::Path;

use crate::app::yaml::{self, Node};
use crate::app::{vars, Fragment};

/// The `resources:` fragments of a service: its own map, the items of a
/// list, and the files `${file(path)}` / `${file(path):key}` pull in.
pub(super) fn of(file: &Path, dir: &Path, doc: &Node) -> (Vec<Fragment>, bool) {
    let Some(resources) = doc.get("resources") else {
        return (Vec::new(), true);
    };
    let items: Vec<&Node> = match resources.as_seq() {
        Some(items) => items.iter().collect(),
        None => vec![resources],
    };
    let mut out = Vec::new();
    let mut complete = true;
    for item in items {
        match item.as_str() {
            None => out.push(Fragment {
                file: file.to_path_buf(),
                node: item.clone(),
            }),
            Some(text) => {
                let var = vars::find(text).into_iter().next().filter(|v| {
                    v.source == vars::Source::File && v.start == 0 && v.end == text.len()
                });
                let included = var.and_then(|var| {
                    let path = var.arg.clone().filter(|p| !p.contains("${"))?;
                    // `./x.yml` named as users write it: `dir/x.yml`.
                    let path = crate::sys::paths::normalize(&dir.join(path));
                    let (_, included) = yaml::parse_file(&path).ok()?;
                    let node = if var.address.is_empty() {
                        included
                    } else {
                        let keys: Vec<&str> = var.address.split('.').collect();
                        included.path(&keys)?.clone()
                    };
                    Some(Fragment { file: path, node })
                });
                match included {
                    Some(fragment) => out.push(fragment),
                    None => complete = false,
                }
            }
        }
    }
    let mut resources_included = Vec::new();
    for fragment in &mut out {
        complete &= included_resources(dir, fragment, &mut resources_included);
    }
    out.extend(resources_included);
    (out, complete)
}

/// A resource written as a whole include (`Queue: ${file(./queue.yml):Queue}`)
/// is what the CLI reads there: taken out of `fragment` into one of its
/// own, in `out`, with the included file's positions. False when one
/// cannot be read here (the resolver says why where it is written).
fn included_resources(dir: &Path, fragment: &mut Fragment, out: &mut Vec<Fragment>) -> bool {
    let yaml::Value::Map(top) = &mut fragment.node.value else {
        return true;
    };
    let Some(yaml::Value::Map(entries)) = top
        .iter_mut()
        .find(|(k, _)| k.as_str() == Some("Resources"))
        .map(|(_, v)| &mut v.value)
    else {
        return true;
    };
    let mut complete = true;
    entries.retain(|(key, value)| {
        let Some(text) = value.as_str() else {
            return true;
        };
        let Some(var) = vars::find(text)
            .into_iter()
            .next()
            .filter(|v| v.source == vars::Source::File && v.start == 0 && v.end == text.len())
        else {
            return true;
        };
        let read = var
            .arg
            .clone()
            .filter(|p| !p.contains("${"))
            .and_then(|arg| {
                let path = crate::sys::paths::normalize(&dir.join(arg));
                let (_, doc) = yaml::parse_file(&path).ok()?;
                let keys: Vec<&str> = var.address.split('.').filter(|k| !k.is_empty()).collect();
                let node = doc.path(&keys)?.clone();
                Some((path, node))
            });
        let Some((path, node)) = read.filter(|(_, node)| node.as_map().is_some()) else {
            complete = false;
            return true;
        };
        let key = Node {
            pos: node.pos,
            ..key.clone()
        };
        let resources = Node {
            value: yaml::Value::Map(vec![(key, node.clone())]),
            pos: node.pos,
            tag: None,
        };
        let name = Node {
            value: yaml::Value::Scalar {
                text: "Resources".into(),
                quoted: false,
                kind: yaml::Kind::Str,
            },
            pos: node.pos,
            tag: None,
        };
        out.push(Fragment {
            file: path,
            node: Node {
                value: yaml::Value::Map(vec![(name, resources)]),
                pos: node.pos,
                tag: None,
            },
        });
        false
    });
    complete
}
