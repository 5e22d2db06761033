//! Loading `.epl` files: find them, parse them, bind them into one rule set.
use std::path::{Path, PathBuf};

use cepheus_engine::{BoundScript, TypeRegistry, bind_script};

use crate::diagnostic::RuleDiagnostic;

/// Every `.epl` file under `paths` (directories recursively), sorted so the
/// load order (and so statement order) is deterministic.
pub fn find_epl_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files)?;
        } else if p.exists() {
            files.push(p.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such file or directory", p.display()),
            ));
        }
    }
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "epl") {
            out.push(p);
        }
    }
    Ok(())
}

/// A rule set loaded from files, or every diagnostic found on the way.
pub struct Loaded {
    pub bound: BoundScript,
}

/// Parses and binds `text` (named `file`) on top of `registry`.
pub fn load_text(
    file: &str,
    text: &str,
    registry: &TypeRegistry,
) -> Result<BoundScript, Vec<RuleDiagnostic>> {
    let script = cepheus_parser::parse_script(text)
        .map_err(|e| vec![RuleDiagnostic::parse(file, text, e)])?;
    bind_script(text, &script, registry).map_err(|errs| {
        errs.into_iter()
            .map(|e| RuleDiagnostic::bind(file, text, e))
            .collect()
    })
}

/// Loads files in order; each file sees the event types of those before it.
pub fn load_files(files: &[PathBuf]) -> Result<Loaded, Vec<RuleDiagnostic>> {
    let mut all = BoundScript::default();
    let mut diagnostics = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                diagnostics.push(RuleDiagnostic::parse(&name, "", io_error(&e)));
                continue;
            }
        };
        match load_text(&name, &text, &all.registry) {
            Ok(bound) => {
                all.registry = bound.registry;
                all.statements.extend(bound.statements);
            }
            Err(d) => diagnostics.extend(d),
        }
    }
    if diagnostics.is_empty() {
        Ok(Loaded { bound: all })
    } else {
        Err(diagnostics)
    }
}

fn io_error(e: &std::io::Error) -> cepheus_parser::ParseError {
    cepheus_parser::ParseError {
        span: cepheus_parser::Span::default(),
        kind: cepheus_parser::ParseErrorKind::UnexpectedEof,
        message: format!("cannot read the file: {e}"),
        expected: Vec::new(),
        help: None,
    }
}
