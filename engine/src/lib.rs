//! The engine: binder, planner, incremental operators, event time.
