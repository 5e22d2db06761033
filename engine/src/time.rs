//! Event time. The engine has no clock: time only moves when an event or a
//! watermark says so.
use std::fmt;

/// Milliseconds since the Unix epoch, in event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(pub i64);

impl EventTime {
    pub const MIN: EventTime = EventTime(i64::MIN);
    pub fn plus(self, millis: i64) -> EventTime {
        EventTime(self.0.saturating_add(millis))
    }
}

impl fmt::Display for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
