//! The shape of a type's lines, learned by the fast path from one of them:
//! the bytes between its values (keys, colons, commas, spaces) and the field each
//! value goes to. A source's lines are usually written by one program, so
//! the next line of the type has the same bytes between its values: it is
//! decoded by comparing those bytes and reading the values, without finding
//! keys, skipping spaces or checking for repeated keys.
//!
//! A line that differs anywhere between its values (another key order, an
//! extra or missing key, other spacing) is not taken here: the caller
//! decodes it key by key, as before, and learns its shape when the line
//! before it did not fit either (a source whose lines take turns between
//! two shapes keeps the first one instead of learning at every line).
//! Values are read and converted by the same code as the key-by-key path,
//! so a line taken here decodes exactly as it would there.
use std::ops::Range;

/// One value of the learned line.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// Where the bytes before this value (from the end of the previous
    /// value, or from the origin) sit in [`Layout::bytes`].
    pub(super) before: Range<u32>,
    /// The field the value goes to.
    pub(super) slot: usize,
    /// The key is `ts`: an integer here is the event's time when the type
    /// names no timestamp field.
    pub(super) is_ts: bool,
}

/// The learned shape; empty until a line was decoded key by key.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Learned from a line with a leading `type` key: the origin is the end
    /// of the type's name, not the opening brace.
    pub(super) typed: bool,
    pub(super) learned: bool,
    /// The last line did not fit the shape.
    missed: bool,
    pub(super) members: Vec<Member>,
    /// Where the bytes after the last value sit in [`Layout::bytes`].
    pub(super) tail: Range<u32>,
    pub(super) bytes: Vec<u8>,
}

/// A value of a line decoded key by key: where it sits in the line, the
/// field it went to, and whether its key is `ts`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) slot: usize,
    pub(super) is_ts: bool,
}

impl Layout {
    /// Learns the shape of `line`, whose values (in line order) are `spans`,
    /// counted from `origin`. Reuses this layout's memory.
    pub(super) fn learn(&mut self, line: &[u8], typed: bool, origin: usize, spans: &[Span]) {
        self.typed = typed;
        self.members.clear();
        self.bytes.clear();
        let mut at = origin;
        for s in spans {
            let before = self.push(&line[at..s.start]);
            self.members.push(Member {
                before,
                slot: s.slot,
                is_ts: s.is_ts,
            });
            at = s.end;
        }
        self.tail = self.push(&line[at..]);
        self.learned = true;
        self.missed = false;
    }

    /// A line fitted the shape.
    pub(super) fn fitted(&mut self) {
        self.missed = false;
    }

    /// A line did not fit the shape: whether to learn its shape instead
    /// (when there is none yet, or the line before did not fit either).
    pub(super) fn missed_again(&mut self) -> bool {
        let learn = !self.learned || self.missed;
        self.missed = true;
        learn
    }

    fn push(&mut self, b: &[u8]) -> Range<u32> {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(b);
        start..self.bytes.len() as u32
    }

    pub(super) fn bytes_of(&self, r: &Range<u32>) -> &[u8] {
        &self.bytes[r.start as usize..r.end as usize]
    }
}
