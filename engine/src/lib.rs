//! The engine: binder, planner, incremental operators, event time.
//!
//! Synchronous and deterministic: no I/O, no clock. Time moves only through
//! [`Engine::advance_to`]; events enter through [`Engine::send`].
pub mod aggregate;
pub mod binder;
pub mod checkpoint;
pub mod engine;
pub mod event;
pub mod expr;
pub mod fingerprint;
pub mod matcher;
pub mod output;
pub mod pattern;
pub mod plan;
pub mod reload;
pub mod result_set;
pub mod schema;
pub mod statement;
pub mod time;
pub mod value;
pub mod window;

pub use binder::{BindError, BoundScript, bind_script};
pub use checkpoint::{
    CHECKPOINT_FORMAT_VERSION, EngineCheckpoint, RestoreError, RestoreReport, StateReset,
};
pub use engine::{Delivery, Engine, UnsupportedError};
pub use event::{DecodeError, Event, EventFields, IntoEventFields, decode_fields, timestamp_of};
pub use fingerprint::Fingerprint;
pub use reload::ReloadReport;
pub use schema::{EventType, TypeId, TypeRegistry};
pub use statement::{Output, StateSize};
pub use time::EventTime;
pub use value::{Type, Value};
