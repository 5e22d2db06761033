//! A window's state in checkpoint form, and back.
use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{GroupWindow, KeyMap, TimeBatchWindow, TimeWindow, Window, WindowSpec};
use crate::checkpoint::events::{EventLinker, EventWriter, StateError, ValueRecord};
use crate::time::EventTime;

/// Events by sequence number, oldest first; timed entries carry their time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum WindowState {
    Length(Vec<u64>),
    LengthBatch {
        current: Vec<u64>,
        previous: Vec<u64>,
    },
    Time(Vec<(i64, u64)>),
    TimeBatch {
        reference: Option<i64>,
        next_flush: Option<i64>,
        current: Vec<u64>,
        previous: Vec<u64>,
    },
    ExtTimed(Vec<(i64, u64)>),
    KeepAll(Vec<u64>),
    Unique(Vec<(Vec<ValueRecord>, u64)>),
    FirstEvent(Option<u64>),
    LastEvent(Option<u64>),
    GroupWin(Vec<(Vec<ValueRecord>, WindowState)>),
    Intersect(Vec<WindowState>),
}

impl Window {
    pub(crate) fn save(&self, w: &mut EventWriter) -> WindowState {
        match self {
            Window::Length { events, .. } => {
                WindowState::Length(events.iter().map(|e| w.event(e)).collect())
            }
            Window::LengthBatch {
                current, previous, ..
            } => WindowState::LengthBatch {
                current: w.events(current),
                previous: w.events(previous),
            },
            Window::Time(t) => WindowState::Time(
                t.events
                    .iter()
                    .filter(|(_, e)| !t.gone.contains(&e.seq))
                    .map(|(t, e)| (*t, w.event(e)))
                    .collect(),
            ),
            Window::TimeBatch(b) => WindowState::TimeBatch {
                reference: b.reference,
                next_flush: b.next_flush.map(|t| t.0),
                current: w.events(&b.current),
                previous: w.events(&b.previous),
            },
            Window::ExtTimed(x) => {
                WindowState::ExtTimed(x.events.iter().map(|(t, e)| (*t, w.event(e))).collect())
            }
            Window::KeepAll(events) => WindowState::KeepAll(w.events(events)),
            Window::Unique { events, .. } => {
                WindowState::Unique(events.iter().map(|(k, e)| (w.key(k), w.event(e))).collect())
            }
            Window::FirstEvent(e) => WindowState::FirstEvent(e.as_ref().map(|e| w.event(e))),
            Window::LastEvent(e) => WindowState::LastEvent(e.as_ref().map(|e| w.event(e))),
            Window::GroupWin(g) => WindowState::GroupWin(
                g.groups
                    .iter()
                    .map(|(k, inner)| (w.key(k), inner.save(w)))
                    .collect(),
            ),
            Window::Intersect(x) => {
                WindowState::Intersect(x.parts.iter().map(|p| p.save(w)).collect())
            }
        }
    }

    /// The window `spec` holding the saved `state`.
    pub(crate) fn restore(
        spec: &WindowSpec,
        state: &WindowState,
        links: &EventLinker,
    ) -> Result<Window, StateError> {
        let timed = |entries: &[(i64, u64)]| -> Result<VecDeque<_>, StateError> {
            entries
                .iter()
                .map(|(t, s)| Ok((*t, links.event(*s)?)))
                .collect()
        };
        let mut window = Window::new(spec);
        match (&mut window, state) {
            (Window::Length { events, .. }, WindowState::Length(saved)) => {
                *events = links.events(saved)?.into();
            }
            (
                Window::LengthBatch {
                    current, previous, ..
                },
                WindowState::LengthBatch {
                    current: c,
                    previous: p,
                },
            ) => {
                *current = links.events(c)?;
                *previous = links.events(p)?;
            }
            (Window::Time(TimeWindow { events, gone, .. }), WindowState::Time(saved)) => {
                *events = timed(saved)?;
                gone.clear();
            }
            (
                Window::TimeBatch(b),
                WindowState::TimeBatch {
                    reference,
                    next_flush,
                    current,
                    previous,
                },
            ) => {
                *b = TimeBatchWindow {
                    millis: b.millis,
                    reference: *reference,
                    next_flush: next_flush.map(EventTime),
                    current: links.events(current)?,
                    previous: links.events(previous)?,
                };
            }
            (Window::ExtTimed(x), WindowState::ExtTimed(saved)) => {
                x.set_events(timed(saved)?);
            }
            (Window::KeepAll(events), WindowState::KeepAll(saved)) => {
                *events = links.events(saved)?;
            }
            (Window::Unique { events, .. }, WindowState::Unique(saved)) => {
                let mut map = KeyMap::default();
                for (k, s) in saved {
                    map.insert(links.key(k)?, links.event(*s)?);
                }
                *events = map;
            }
            (Window::FirstEvent(e), WindowState::FirstEvent(saved))
            | (Window::LastEvent(e), WindowState::LastEvent(saved)) => {
                *e = saved.map(|s| links.event(s)).transpose()?;
            }
            (Window::GroupWin(g), WindowState::GroupWin(saved)) => {
                let mut groups = KeyMap::default();
                for (k, s) in saved {
                    groups.insert(links.key(k)?, Window::restore(&g.inner, s, links)?);
                }
                *g = GroupWindow::new(g.keys.clone(), g.inner.clone(), groups);
            }
            (Window::Intersect(x), WindowState::Intersect(saved)) => {
                let WindowSpec::Intersect(specs) = spec else {
                    return Err(StateError::new("the saved window is not an intersection"));
                };
                if saved.len() != specs.len() {
                    return Err(StateError::new(
                        "the saved intersection has another number of windows",
                    ));
                }
                x.parts = specs
                    .iter()
                    .zip(saved)
                    .map(|(spec, s)| Window::restore(spec, s, links))
                    .collect::<Result<_, _>>()?;
            }
            _ => {
                return Err(StateError::new(
                    "the saved window is of another kind than the statement's window",
                ));
            }
        }
        Ok(window)
    }
}
