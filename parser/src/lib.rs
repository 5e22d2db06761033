//! EPL (Esper's Event Processing Language) text to a syntax tree with spans.
//!
//! No I/O, never panics: every input yields a [`Script`] or a [`ParseError`].
pub mod ast;

pub use ast::*;
