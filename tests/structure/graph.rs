//! A crate's file-level import graph, from the `crate::`, `super::` and `self::` paths in its
//! files (test modules left out), and its cycles (Tarjan's strongly connected components).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub struct Graph {
    src: PathBuf,
    /// Each file, and the files its paths name.
    edges: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
}

impl Graph {
    pub fn of(src: &Path) -> Self {
        let mut files = Vec::new();
        super::rust_files(src, &mut files);
        let by_module: BTreeMap<Vec<String>, PathBuf> = files
            .iter()
            .map(|f| (module_of(src, f), f.clone()))
            .collect();
        let mut edges = BTreeMap::new();
        for file in &files {
            let text = without_tests(&strip(&std::fs::read_to_string(file).unwrap_or_default()));
            let me = module_of(src, file);
            let mut to = BTreeSet::new();
            for path in paths(&text) {
                if let Some(target) = resolve(&me, &path, &by_module)
                    && target != *file
                {
                    to.insert(target);
                }
            }
            edges.insert(file.clone(), to);
        }
        Self {
            src: src.to_path_buf(),
            edges,
        }
    }

    pub fn files(&self) -> usize {
        self.edges.len()
    }

    /// Each cycle: its files, and the edges between them.
    pub fn cycles(&self) -> Vec<String> {
        let mut tarjan = Tarjan::default();
        for file in self.edges.keys() {
            if !tarjan.index.contains_key(file) {
                tarjan.visit(file, &self.edges);
            }
        }
        let name = |p: &PathBuf| p.strip_prefix(&self.src).unwrap_or(p).display().to_string();
        tarjan
            .components
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|component| {
                let set: BTreeSet<&PathBuf> = component.iter().collect();
                let mut lines = Vec::new();
                for from in &component {
                    for to in &self.edges[from] {
                        if set.contains(to) {
                            lines.push(format!("{} -> {}", name(from), name(to)));
                        }
                    }
                }
                lines.sort();
                lines.join(", ")
            })
            .collect()
    }
}

#[derive(Default)]
struct Tarjan {
    next: usize,
    index: BTreeMap<PathBuf, usize>,
    low: BTreeMap<PathBuf, usize>,
    stack: Vec<PathBuf>,
    on_stack: BTreeSet<PathBuf>,
    components: Vec<Vec<PathBuf>>,
}

impl Tarjan {
    fn visit(&mut self, v: &PathBuf, edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) {
        self.index.insert(v.clone(), self.next);
        self.low.insert(v.clone(), self.next);
        self.next += 1;
        self.stack.push(v.clone());
        self.on_stack.insert(v.clone());
        for w in edges.get(v).into_iter().flatten() {
            if !self.index.contains_key(w) {
                self.visit(w, edges);
                let low = self.low[v].min(self.low[w]);
                self.low.insert(v.clone(), low);
            } else if self.on_stack.contains(w) {
                let low = self.low[v].min(self.index[w]);
                self.low.insert(v.clone(), low);
            }
        }
        if self.low[v] == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack.remove(&w);
                let done = w == *v;
                component.push(w);
                if done {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

/// A file's module path: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `lib.rs` is the root.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code without comments and string contents (which may hold paths that are not).
fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' => {
                out.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push('"');
            }
            c => out.push(c),
        }
    }
    out
}

/// The code before its test module (tests may reach anywhere).
fn without_tests(text: &str) -> String {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

/// Every `crate::`, `super::` and `self::` path, as its segments (the braces of a `use` list
/// each give one path).
fn paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .find(|p| text[i..].starts_with(**p) && (i == 0 || !word(bytes[i - 1])));
        let Some(start) = starts else {
            i += 1;
            continue;
        };
        let head = start.trim_end_matches("::");
        let mut segments = vec![head.to_owned()];
        let mut j = i + start.len();
        loop {
            let begin = j;
            while j < bytes.len() && word(bytes[j]) {
                j += 1;
            }
            if j == begin {
                break;
            }
            segments.push(text[begin..j].to_owned());
            if text[j..].starts_with("::") {
                j += 2;
            } else {
                break;
            }
        }
        // `crate::a::{b, c::d}`: one path per item.
        if text[j..].starts_with('{')
            && let Some(end) = text[j..].find('}')
        {
            for item in text[j + 1..j + end].split(',') {
                let mut path = segments.clone();
                path.extend(
                    item.trim()
                        .split("::")
                        .map(|s| s.split_whitespace().next().unwrap_or_default().to_owned())
                        .filter(|s| !s.is_empty() && s != "self" && s != "*"),
                );
                out.push(path);
            }
        } else {
            out.push(segments);
        }
        i = j.max(i + 1);
    }
    out
}

/// The file a path from module `me` names: the longest of its prefixes that is a file.
fn resolve(
    me: &[String],
    path: &[String],
    by_module: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<PathBuf> {
    let mut at: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("self") => me.to_vec(),
        Some("super") => {
            let mut base = me.to_vec();
            base.pop();
            base
        }
        _ => return None,
    };
    let mut rest = &path[1..];
    while rest.first().map(String::as_str) == Some("super") {
        at.pop();
        rest = &rest[1..];
    }
    at.extend(rest.iter().cloned());
    (0..=at.len())
        .rev()
        .find_map(|n| by_module.get(&at[..n]).cloned())
}
