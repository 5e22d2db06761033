//! Sources and sinks. All I/O of the product lives in this crate.
pub mod generate;
pub mod jsonl;
