//! Sources and sinks. All I/O of the product lives in this crate.
//!
//! - [`source`]: files (optionally followed), stdin, the generator, Kafka; each on a thread
//!   with a bounded channel to the pipeline.
//! - [`pipeline`]: decoding, event-time ordering ([`watermark`]), the engine, alerts to sinks.
//! - [`sink`]: stdout, JSON-lines files, webhooks, Kafka; [`dead_letter`] for what fails.
//! - [`offsets`]: which Kafka offsets are safe to commit.
pub mod alert;
pub mod dead_letter;
pub mod duration;
pub mod generate;
pub mod json_fields;
pub mod jsonl;
pub mod offsets;
pub mod pipeline;
pub mod sink;
pub mod source;
pub mod watermark;
