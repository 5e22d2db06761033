//! Running the `cepheus` binary from end-to-end tests (a test binary declares `mod cli_support;`).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `cepheus ARGS` in the repository root and waits for it.
pub fn cepheus<S: AsRef<OsStr>>(args: &[S]) -> Output {
    cepheus_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// Runs `cepheus ARGS` in `dir` and waits for it.
pub fn cepheus_in<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cepheus"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the cepheus binary runs")
}

/// A process's output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
