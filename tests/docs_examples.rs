//! The tutorial is executable: every ```epl block in docs/tutorial.md passes
//! `cepheus check`, and the files it shows (blocks tagged `file=PATH`) are
//! written out and checked, tested and run, with the outputs it prints.
mod cli_support;

use cli_support::*;
use std::path::Path;
use std::process::Output;

/// One fenced code block: the info string's first word, the rest of it, the text.
struct Block {
    lang: String,
    attrs: Vec<String>,
    text: String,
    line: usize,
}

impl Block {
    fn file(&self) -> Option<&str> {
        self.attrs.iter().find_map(|a| a.strip_prefix("file="))
    }

    fn has(&self, attr: &str) -> bool {
        self.attrs.iter().any(|a| a == attr)
    }
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(info)) => {
                let mut words = info.split_whitespace().map(str::to_string);
                open = Some(Block {
                    lang: words.next().unwrap_or_default(),
                    attrs: words.collect(),
                    text: String::new(),
                    line: i + 1,
                });
            }
            (Some(b), Some("")) => out.push(b),
            (Some(mut b), _) => {
                b.text.push_str(line);
                b.text.push('\n');
                open = Some(b);
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block in the tutorial");
    out
}

fn tutorial() -> Vec<Block> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/tutorial.md");
    blocks(&std::fs::read_to_string(path).expect("docs/tutorial.md is readable"))
}

fn assert_success(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Each snippet is checked on its own when it declares a schema (it then
/// becomes the context of the snippets after it), else after that context.
#[test]
fn every_epl_snippet_in_the_tutorial_passes_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut context = String::new();
    let mut checked = 0;
    for b in tutorial().iter().filter(|b| b.lang == "epl") {
        let text = if b.text.contains("create schema") {
            context = b.text.clone();
            b.text.clone()
        } else {
            format!("{context}\n{}", b.text)
        };
        let file = dir.path().join(format!("snippet_line_{}.epl", b.line));
        std::fs::write(&file, &text).expect("write");
        let out = cepheus_in(dir.path(), &["check", file.to_str().expect("utf-8")]);
        assert_success(&out, &format!("docs/tutorial.md:{}:\n{text}", b.line));
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} epl snippets found");
}

#[test]
fn the_tutorial_files_check_test_and_run_as_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = tutorial();
    for b in &all {
        if let Some(path) = b.file() {
            let target = dir.path().join(path);
            std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&target, &b.text).expect("write");
        }
    }
    let shown = |attr: &str| {
        all.iter()
            .find(|b| b.has(attr))
            .map(|b| b.text.clone())
            .unwrap_or_else(|| panic!("no block tagged `{attr}` in the tutorial"))
    };

    assert_success(
        &cepheus_in(dir.path(), &["check", "my-rules/"]),
        "cepheus check",
    );
    let tested = assert_success(
        &cepheus_in(dir.path(), &["test", "my-rules/"]),
        "cepheus test",
    );
    assert_eq!(tested, shown("test-output"));
    let run = cepheus_in(
        dir.path(),
        &["run", "my-rules/", "--input", "payments.jsonl"],
    );
    let printed = assert_success(&run, "cepheus run");
    let (printed, expected) = (json_lines(&printed), json_lines(&shown("run-output")));
    assert_eq!(printed.len(), expected.len(), "{printed:?}");
    for (p, e) in printed.iter().zip(&expected) {
        assert_eq!(without_alert_id(p), without_alert_id(e));
        assert_eq!(p.get("alert_id").is_some(), e.get("alert_id").is_some());
    }
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// `alert_id` hashes the position of the input record (its file path included), so only
/// its presence is compared.
fn without_alert_id(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("alert_id");
    }
    v
}
