//! Driving `cepheus repl` through a pseudo-terminal, as a person would.
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use expectrl::{Expect, Session};

pub type Repl = expectrl::session::OsSession;

/// Starts `cepheus repl ARGS` in a pseudo-terminal without colors, with its own history file.
pub fn spawn_repl(args: &[&str], history: &Path) -> Repl {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cepheus"));
    cmd.arg("repl")
        .args(args)
        .arg("--history")
        .arg(history)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let mut repl = Session::spawn(cmd).expect("cepheus repl starts in a pseudo-terminal");
    repl.set_expect_timeout(Some(Duration::from_secs(30)));
    repl
}

/// Waits for `text` on the terminal; the error shows what was printed instead.
pub fn expect(repl: &mut Repl, text: &str) {
    if let Err(e) = repl.expect(text) {
        panic!("the terminal never showed {text:?}: {e}");
    }
}

/// Presses one key (`\t` Tab, `\r` Enter, `\x03` Ctrl-C).
pub fn press(repl: &mut Repl, key: &str) {
    repl.send(key).expect("the terminal takes keystrokes");
}

/// Enters `text` as a terminal pastes it (bracketed paste) and waits for its echo.
///
/// Text goes in as one paste, not as a burst of keystrokes: rustyline 17-19 leaves
/// the rest of a keystroke burst unread while an external printer is installed
/// (kkawakam/rustyline#976), which a person typing or pasting never triggers.
pub fn paste(repl: &mut Repl, text: &str) {
    repl.send(format!("\x1b[200~{text}\x1b[201~"))
        .expect("the terminal takes a paste");
    let echo = text.lines().last().unwrap_or(text);
    expect(repl, echo);
}

/// Pastes `text`, presses Enter and waits for `answer`.
pub fn enter(repl: &mut Repl, text: &str, answer: &str) {
    paste(repl, text);
    press(repl, "\r");
    expect(repl, answer);
}

/// Waits for the shell to exit.
pub fn expect_exit(repl: &mut Repl) {
    if let Err(e) = repl.expect(expectrl::Eof) {
        panic!("the shell did not exit: {e}");
    }
}
