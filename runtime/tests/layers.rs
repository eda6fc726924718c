//! The runtime's layering rule (docs/architecture.md, "Layers"), checked on its source.
//!
//! `runtime/src` is a stack of folders, one per layer. Every `crate::` or `super::` path
//! outside comments and test modules is an import, and:
//!
//! 1. it names a layer at or below the importing file's own (no import points up);
//! 2. inside its own layer, a file names the other file (`crate::raw::service::...`), not the
//!    layer's re-exports in `mod.rs`, so the edges between files are exact;
//! 3. the files' imports have no cycle (a file can be read knowing only what is below it).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The layers, bottom up, with their rank (two layers may share a rank: they never import
/// each other).
const LAYERS: &[(&str, u32)] = &[
    ("base", 0),
    ("time", 1),
    ("config", 1),
    ("kernel", 2),
    ("raw", 3),
    ("executor", 4),
    ("system", 5),
    ("node", 6),
];

fn rank(layer: &str) -> Option<u32> {
    LAYERS.iter().find(|(l, _)| *l == layer).map(|(_, r)| *r)
}

/// A file's code: no comment lines, nothing from its `#[cfg(test)] mod tests` on.
fn code_of(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers that follow each occurrence of `prefix` in `code`, with the one after
/// that if it is a path segment too: `crate::raw::service::X` gives ("raw", Some("service")).
fn paths<'a>(code: &'a str, prefix: &str) -> Vec<(&'a str, Option<&'a str>)> {
    let ident = |s: &'a str| {
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        &s[..end]
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let boundary = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
        rest = &rest[i + prefix.len()..];
        if !boundary {
            continue;
        }
        let first = ident(rest);
        let second = rest[first.len()..].strip_prefix("::").map(ident);
        out.push((first, second.filter(|s| !s.is_empty())));
    }
    out
}

#[test]
fn every_import_points_down_and_files_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // "layer/file" -> source, for every file of every layer.
    let mut files = BTreeMap::new();
    for (layer, _) in LAYERS {
        let dir = src.join(layer);
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|e| e == "rs") {
                let stem = path.file_stem().expect("a file name").to_string_lossy();
                let text = fs::read_to_string(&path).expect("a readable source file");
                files.insert(format!("{layer}/{stem}"), text);
            }
        }
    }
    // Every folder under src is a known layer.
    for entry in fs::read_dir(&src).expect("runtime/src") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            let name = path
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .to_string();
            assert!(rank(&name).is_some(), "src/{name} is not in LAYERS");
        }
    }

    let mut problems = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, text) in &files {
        let (layer, stem) = name.split_once('/').expect("layer/file");
        let own = rank(layer).expect("a known layer");
        let code = if stem == "tests" {
            String::new()
        } else {
            code_of(text)
        };
        let target = |l: &str, f: Option<&str>| match f {
            Some(f) if files.contains_key(&format!("{l}/{f}")) => format!("{l}/{f}"),
            _ => format!("{l}/mod"),
        };
        let mut deps = BTreeSet::new();
        for (l, f) in paths(&code, "crate::") {
            match rank(l) {
                None => problems.push(format!("{name}: `crate::{l}` is not a layer path")),
                Some(r) => {
                    if r > own {
                        problems.push(format!("{name} imports {l}, a layer above it"));
                    }
                    let t = target(l, f);
                    if l == layer && t.ends_with("/mod") && stem != "mod" {
                        problems.push(format!(
                            "{name} imports its own layer through mod.rs: name the file"
                        ));
                    }
                    deps.insert(t);
                }
            }
        }
        for (f, _) in paths(&code, "super::") {
            deps.insert(target(layer, Some(f)));
        }
        deps.remove(name);
        edges.insert(name.clone(), deps);
    }

    // Cycles, by depth-first search.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        problems: &mut Vec<String>,
    ) {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for t in edges.get(n).into_iter().flatten() {
            match state.get(t.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == t).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(t.clone());
                    problems.push(format!("import cycle: {}", cycle.join(" -> ")));
                }
                Some(_) => {}
                None => visit(t, edges, state, stack, problems),
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if !state.contains_key(n.as_str()) {
            visit(n, &edges, &mut state, &mut Vec::new(), &mut problems);
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() > 50,
        "the checker found too few imports to be reading the source"
    );
}

#[test]
fn the_path_reader_finds_layer_and_file() {
    let code =
        "use crate::raw::service::{Cell, NodeInner};\nlet x = crate::base::Addr(1);\nmy_crate::no";
    assert_eq!(
        paths(code, "crate::"),
        vec![("raw", Some("service")), ("base", Some("Addr"))]
    );
}
