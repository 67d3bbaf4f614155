//! What the webhook worker takes: the events committed units wrote, in
//! commit order, so that it sends them without reading them back.

use std::sync::{Mutex, PoisonError};

use super::Desk;
use crate::store::EventRecord;

/// Most committed events held for the worker (about 2 KB each); past it
/// they are dropped here and the worker reads the outbox instead.
const HANDOFF_CAP: usize = 16_384;

/// Events handed over by committed units, in commit order, until the
/// worker takes them.
#[derive(Default)]
pub(super) struct EventHandoff(Mutex<HandedEvents>);

/// What the worker takes: the events handed over since it last took, in
/// id order, and whether that is all the outbox gained.
#[derive(Debug, Default)]
pub struct HandedEvents {
    pub events: Vec<EventRecord>,
    /// Some events were not kept (the worker fell behind), or dead events
    /// were made pending again: the worker must read the outbox.
    pub incomplete: bool,
}

impl EventHandoff {
    /// Called as a unit finishes, one unit after the other.
    pub(super) fn push(&self, events: Vec<EventRecord>, replayed: bool) {
        if events.is_empty() && !replayed {
            return;
        }
        let mut handed = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        handed.incomplete |= replayed;
        if handed.events.len() + events.len() > HANDOFF_CAP {
            handed.incomplete = true;
        } else {
            handed.events.extend(events);
        }
    }
}

impl Desk {
    /// Whether committed events are handed to the worker
    /// ([`Desk::take_handed_events`]): only where the store finishes units
    /// in commit order.
    pub fn hands_events_over(&self) -> bool {
        self.store.finishes_in_commit_order()
    }

    /// The events units handed over as they committed.
    pub fn take_handed_events(&self) -> HandedEvents {
        let mut handed = self.events.0.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *handed)
    }
}
