//! A filesystem described by its paths, for the checks' tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::listing::{Listing, host_elf_class};

/// A filesystem described by its paths, for tests.
#[derive(Default)]
pub struct Fake {
    nodes: BTreeMap<PathBuf, Node>,
}

#[derive(Clone, Copy)]
enum Node {
    Dir,
    File { elf: Option<u8>, exec: bool },
}

impl Fake {
    /// A shared library of the host's word size at `path` (parents created).
    pub fn lib(self, path: &str) -> Self {
        self.insert(
            path,
            Node::File {
                elf: Some(host_elf_class()),
                exec: false,
            },
        )
    }

    /// A file at `path` that is not a library: a text file, a linker script.
    pub fn text(self, path: &str) -> Self {
        self.insert(
            path,
            Node::File {
                elf: None,
                exec: false,
            },
        )
    }

    /// A 32-bit shared library on a 64-bit host (and the reverse).
    pub fn foreign_lib(self, path: &str) -> Self {
        self.insert(
            path,
            Node::File {
                elf: Some(3 - host_elf_class()),
                exec: false,
            },
        )
    }

    /// An executable at `path`.
    pub fn exe(self, path: &str) -> Self {
        self.insert(
            path,
            Node::File {
                elf: Some(host_elf_class()),
                exec: true,
            },
        )
    }

    fn insert(mut self, path: &str, node: Node) -> Self {
        let path = PathBuf::from(path);
        for ancestor in path.ancestors().skip(1) {
            self.nodes.insert(ancestor.to_path_buf(), Node::Dir);
        }
        self.nodes.insert(path, node);
        self
    }
}

impl Listing for Fake {
    fn entries(&self, dir: &Path) -> Vec<(String, bool)> {
        self.nodes
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .filter_map(|(p, n)| {
                let name = p.file_name()?.to_str()?.to_owned();
                Some((name, matches!(n, Node::Dir)))
            })
            .collect()
    }

    fn elf_class(&self, path: &Path) -> Option<u8> {
        match self.nodes.get(path) {
            Some(Node::File { elf, .. }) => *elf,
            _ => None,
        }
    }

    fn is_executable(&self, path: &Path) -> bool {
        matches!(self.nodes.get(path), Some(Node::File { exec: true, .. }))
    }
}
