//! A service's functions as the CLI merges them, their events and the
//! runtimes written for them, each read where it is written.

use std::path::PathBuf;

use super::yaml::Node;
use super::Service;

impl Service {
    /// Every event of every function, as written.
    pub fn events(&self) -> Vec<&Node> {
        self.doc
            .get("functions")
            .and_then(Node::as_map)
            .unwrap_or_default()
            .iter()
            .flat_map(|(_, function)| {
                function
                    .get("events")
                    .and_then(Node::as_seq)
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Every function as the CLI merges them: `functions:` as a map, taken
    /// whole from another file, or a list of maps and such files; each
    /// `(name, function)`, the function followed where it is a `${file()}`.
    pub fn functions(&self) -> Vec<(Node, Node)> {
        let Some(functions) = self.doc.get("functions") else {
            return Vec::new();
        };
        let (file, functions) = self.followed(&self.file, functions);
        let parts: Vec<(PathBuf, Node)> = match functions.as_seq() {
            Some(items) => items.iter().map(|i| self.followed(&file, i)).collect(),
            None => vec![(file, functions)],
        };
        let mut out = Vec::new();
        for (file, part) in parts {
            for (key, function) in part.as_map().unwrap_or_default() {
                out.push((key.clone(), self.followed(&file, function).1));
            }
        }
        out
    }

    /// Every `runtime:` written: the provider's and each function's.
    ///
    /// Each with the file it is written in: a section taken whole from
    /// another file (`provider: ${file(./provider.yml)}`) is read there.
    pub fn runtimes(&self) -> Vec<(PathBuf, Node)> {
        let mut nodes = Vec::new();
        if let Some(provider) = self.doc.get("provider") {
            let (file, provider) = self.followed(&self.file, provider);
            if let Some(runtime) = provider.get("runtime") {
                nodes.push((file, runtime.clone()));
            }
        }
        if let Some(functions) = self.doc.get("functions") {
            let (file, functions) = self.followed(&self.file, functions);
            for (_, function) in functions.as_map().unwrap_or_default() {
                let (file, function) = self.followed(&file, function);
                if let Some(runtime) = function.get("runtime") {
                    nodes.push((file, runtime.clone()));
                }
            }
        }
        nodes
    }
}
