//! Every `.epl` file in the repository parses, and printing it parses back to
//! the same tree.

use std::path::{Path, PathBuf};

use cepheus_parser::parse_script;

fn epl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            epl_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "epl") {
            out.push(path);
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check_round_trip(path: &Path) {
    let src = std::fs::read_to_string(path).expect("readable file");
    let script = match parse_script(&src) {
        Ok(s) => s,
        Err(e) => {
            let (line, col) = e.line_col(&src);
            panic!("{}:{line}:{col}: {}", path.display(), e.message);
        }
    };
    assert!(
        !script.statements.is_empty(),
        "{}: no statements",
        path.display()
    );
    let printed = script.to_string();
    let reparsed = parse_script(&printed).unwrap_or_else(|e| {
        panic!(
            "{}: printed text does not parse: {e}\n{printed}",
            path.display()
        )
    });
    assert_eq!(
        reparsed,
        script,
        "{}: round trip changed the tree\n{printed}",
        path.display()
    );
    // Printing is a fixed point.
    assert_eq!(reparsed.to_string(), printed);
}

#[test]
fn conformance_cases_round_trip() {
    let mut files = Vec::new();
    epl_files(&repo_root().join("tests/conformance/cases"), &mut files);
    assert!(
        files.len() >= 52,
        "expected the conformance cases, found {}",
        files.len()
    );
    for f in &files {
        check_round_trip(f);
    }
}

#[test]
fn rules_round_trip() {
    let mut files = Vec::new();
    epl_files(&repo_root().join("rules"), &mut files);
    assert!(
        files.len() >= 3,
        "expected the shipped rule files, found {}",
        files.len()
    );
    for f in &files {
        check_round_trip(f);
    }
}
