//! Driving `cepheus repl` through a pseudo-terminal, as a person would.
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use expectrl::process::unix::{PtyStream, UnixProcess};
use expectrl::stream::log::LogStream;
use expectrl::{Expect, Regex, Session};

/// Everything the terminal showed, for failure messages.
#[derive(Clone, Default)]
struct Transcript(Arc<Mutex<Vec<u8>>>);

impl Write for Transcript {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut t) = self.0.lock() {
            t.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Repl {
    session: Session<UnixProcess, LogStream<PtyStream, Transcript>>,
    transcript: Transcript,
}

/// Starts `cepheus repl ARGS` in a pseudo-terminal without colors, with its own history file.
pub fn spawn_repl(args: &[&str], history: &Path) -> Repl {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cepheus"));
    cmd.arg("repl")
        .args(args)
        .arg("--history")
        .arg(history)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let session = Session::spawn(cmd).expect("cepheus repl starts in a pseudo-terminal");
    let transcript = Transcript::default();
    let mut session = expectrl::session::log(session, transcript.clone()).expect("log");
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    Repl {
        session,
        transcript,
    }
}

impl Repl {
    fn fail(&self, what: &str, e: expectrl::Error) -> ! {
        let shown = self
            .transcript
            .0
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        let shown = String::from_utf8_lossy(&shown);
        let tail: String = shown
            .chars()
            .rev()
            .take(3000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        panic!("{what}: {e}\n--- the terminal showed (end) ---\n{tail}");
    }

    /// Waits for `text` on the terminal.
    pub fn expect(&mut self, text: &str) {
        if let Err(e) = self.session.expect(text) {
            self.fail(&format!("the terminal never showed {text:?}"), e);
        }
    }

    /// Waits for a match of `pattern`; returns every match (and group) in what was read.
    #[allow(dead_code)] // not every test binary uses it
    pub fn expect_regex(&mut self, pattern: &str) -> Vec<String> {
        match self.session.expect(Regex(pattern)) {
            Ok(found) => found
                .matches()
                .map(|m| String::from_utf8_lossy(m).into_owned())
                .collect(),
            Err(e) => self.fail(&format!("the terminal never matched {pattern:?}"), e),
        }
    }

    /// Presses one key (`\t` Tab, `\r` Enter, `\x03` Ctrl-C).
    pub fn press(&mut self, key: &str) {
        self.session
            .send(key)
            .expect("the terminal takes keystrokes");
    }

    /// Enters `text` as a terminal pastes it (bracketed paste) and waits for its echo.
    ///
    /// Text goes in as one paste, not as a burst of keystrokes: rustyline 17-19 leaves
    /// the rest of a keystroke burst unread while an external printer is installed
    /// (kkawakam/rustyline#976), which a person typing or pasting never triggers.
    pub fn paste(&mut self, text: &str) {
        self.session
            .send(format!("\x1b[200~{text}\x1b[201~"))
            .expect("the terminal takes a paste");
        let echo = text.lines().last().unwrap_or(text);
        self.expect(echo);
    }

    /// Pastes `text`, presses Enter and waits for `answer`.
    pub fn enter(&mut self, text: &str, answer: &str) {
        self.paste(text);
        self.press("\r");
        self.expect(answer);
    }

    /// Types `.quit` and waits for the shell to exit.
    pub fn quit(&mut self) {
        self.paste(".quit");
        self.press("\r");
        if let Err(e) = self.session.expect(expectrl::Eof) {
            self.fail("the shell did not exit on .quit", e);
        }
    }
}
