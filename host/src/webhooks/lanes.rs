//! What the worker knows of the outbox: per lane (a conversation, or an
//! event of no conversation), the pending events it holds, in order, and
//! up to where it holds all of them.
//!
//! Where the store hands committed events over in commit order (SQLite's
//! one writer, [`Desk::take_handed_events`](crate::desk::Desk)), the worker
//! holds what it will send: a new event goes from the unit that wrote it
//! to its lane here, and a failed attempt stays here until its retry, so
//! the outbox is written to but not read back. The outbox is read only to
//! learn what is not held: at start, after events were not handed over
//! (the worker fell behind, a dead event was replayed), and past a lane
//! read from the outbox only in part. Where instances share the outbox
//! (PostgreSQL) nothing is kept between lanes: every lane is read, and
//! leased, from the outbox.
//!
//! Order: a lane sends one batch at a time, and only events it holds from
//! the lane's earliest pending one on, without a gap — what the outbox
//! may hold before or between them is read first and merged in.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::desk::HandedEvents;
use crate::store::{EventRecord, WaitingLane};

/// An event to send, with its attempts so far.
pub(super) type Due = (EventRecord, u32);

/// Most events held; past it the worker forgets what it holds and reads
/// the outbox instead (a receiver down for long: its backlog stays on
/// disk).
const HELD_CAP: usize = 65_536;

/// `whole_upto` of a lane held whole.
const ALL: i64 = i64::MAX;

/// What a lane is: a conversation, or one event of no conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum LaneKey {
    Conversation(i64),
    Event(i64),
}

impl LaneKey {
    pub(super) fn of(event: &EventRecord) -> Self {
        match event.conversation_id {
            Some(conversation) => Self::Conversation(conversation),
            None => Self::Event(event.id),
        }
    }

    fn of_waiting(lane: &WaitingLane) -> Self {
        match lane.conversation_id {
            Some(conversation) => Self::Conversation(conversation),
            None => Self::Event(lane.head),
        }
    }
}

#[derive(Debug)]
struct Lane {
    held: VecDeque<Due>,
    /// The held events up to this id are all the outbox's pending events
    /// of the lane up to it; past it the outbox may hold events not here,
    /// so the lane is read again before they are sent. [`ALL`]: held
    /// whole.
    whole_upto: i64,
    /// A failed attempt waits for its retry: nothing is sent before.
    not_before: Option<DateTime<Utc>>,
    /// The inbox of the batch being sent now.
    sending: Option<i64>,
    /// The newest event handed to a batch.
    last_sent: i64,
}

impl Lane {
    fn new(whole: bool) -> Self {
        Self {
            held: VecDeque::new(),
            whole_upto: if whole { ALL } else { 0 },
            not_before: None,
            sending: None,
            last_sent: 0,
        }
    }

    fn due(&self, now: DateTime<Utc>) -> bool {
        self.sending.is_none() && self.not_before.is_none_or(|at| at <= now)
    }

    /// The first event it may send, if it holds one.
    fn sendable(&self) -> Option<&Due> {
        self.held.front().filter(|(e, _)| e.id <= self.whole_upto)
    }

    /// Whether the outbox must be read before this lane sends again.
    fn needs_reading(&self, now: DateTime<Utc>) -> bool {
        self.due(now) && self.whole_upto != ALL && self.sendable().is_none()
    }

    fn idle_and_empty(&self) -> bool {
        self.sending.is_none() && self.held.is_empty() && self.whole_upto == ALL
    }
}

pub(super) struct Lanes {
    /// Whether events are handed over and held between lanes (one
    /// process delivers from the outbox).
    keeps: bool,
    /// Every pending event of the outbox is held here, being sent, or past
    /// a lane's `whole_upto`.
    synced: bool,
    lanes: HashMap<LaneKey, Lane>,
    held: usize,
}

impl Lanes {
    pub(super) fn new(keeps: bool) -> Self {
        Self {
            keeps,
            synced: false,
            lanes: HashMap::new(),
            held: 0,
        }
    }

    #[cfg(test)]
    fn synced(&self) -> bool {
        self.synced
    }

    /// Events held, in all lanes.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.held
    }

    /// Takes what committed units handed over, in commit order.
    pub(super) fn hand(&mut self, handed: HandedEvents) {
        if handed.incomplete {
            self.forget();
        }
        for event in handed.events {
            if self.held >= HELD_CAP {
                self.forget();
            }
            self.add(event);
        }
    }

    fn add(&mut self, event: EventRecord) {
        let synced = self.synced;
        let lane = self
            .lanes
            .entry(LaneKey::of(&event))
            .or_insert_with(|| Lane::new(synced));
        // A lane read from the outbox may already hold it.
        let newest = lane.held.back().map_or(lane.last_sent, |(e, _)| e.id);
        if event.id > newest {
            lane.held.push_back((event, 0));
            self.held += 1;
        }
    }

    /// Forgets what is held: the outbox is read again. Lanes being sent
    /// keep only what they are sending.
    fn forget(&mut self) {
        self.synced = false;
        self.held = 0;
        self.lanes.retain(|_, lane| lane.sending.is_some());
        for lane in self.lanes.values_mut() {
            lane.held.clear();
            lane.whole_upto = lane.last_sent;
            lane.not_before = None;
        }
    }

    /// Whether the outbox must be read now.
    pub(super) fn claim_needed(&self, now: DateTime<Utc>) -> bool {
        !self.synced || self.lanes.values().any(|lane| lane.needs_reading(now))
    }

    /// The conversations a read of the outbox skips: those being sent, and
    /// those whose next events are held or not due.
    pub(super) fn skipped(&self, now: DateTime<Utc>) -> Vec<i64> {
        self.lanes
            .iter()
            .filter_map(|(key, lane)| match key {
                LaneKey::Conversation(c) if !lane.needs_reading(now) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Adds what a read of the outbox at `now` found: lanes from their
    /// earliest pending event, `per_lane` events at most each; and, when
    /// that was every due lane not skipped, `waiting`: the lanes due later.
    /// A lane that needed reading and is in neither has nothing more in
    /// the outbox.
    pub(super) fn claimed(
        &mut self,
        now: DateTime<Utc>,
        due: Vec<Due>,
        per_lane: u32,
        waiting: Option<Vec<WaitingLane>>,
    ) {
        let unread: Vec<LaneKey> = match waiting {
            Some(_) => self
                .lanes
                .iter()
                .filter(|(_, lane)| lane.needs_reading(now))
                .map(|(key, _)| *key)
                .collect(),
            None => Vec::new(),
        };
        let mut read: Vec<(LaneKey, Vec<Due>)> = Vec::new();
        let mut index: HashMap<LaneKey, usize> = HashMap::new();
        for (event, attempts) in due {
            let key = LaneKey::of(&event);
            match index.get(&key).and_then(|&i| read.get_mut(i)) {
                Some((_, lane)) => lane.push((event, attempts)),
                None => {
                    index.insert(key, read.len());
                    read.push((key, vec![(event, attempts)]));
                }
            }
        }
        for (key, events) in read {
            let lane = self.lanes.entry(key).or_insert_with(|| Lane::new(false));
            if lane.sending.is_some() {
                // Read again while its batch is out (an event of no
                // conversation): the batch's outcome decides.
                continue;
            }
            let last = events.last().map_or(0, |(e, _)| e.id);
            let truncated = events.len() >= per_lane as usize;
            let before = lane.held.len();
            let mut merged: Vec<Due> = events;
            // The outbox's copy wins: it has the attempts recorded.
            merged.extend(lane.held.drain(..).filter(|(e, _)| e.id > last));
            merged.sort_by_key(|(e, _)| e.id);
            merged.dedup_by_key(|(e, _)| e.id);
            lane.held = merged.into();
            self.held = self.held - before + lane.held.len();
            lane.whole_upto = if truncated { last } else { ALL };
            lane.not_before = None;
        }
        let Some(waiting) = waiting else {
            return;
        };
        for key in unread {
            if let Some(lane) = self.lanes.get_mut(&key) {
                if !index.contains_key(&key) {
                    lane.whole_upto = ALL;
                }
            }
        }
        for later in waiting {
            let lane = self
                .lanes
                .entry(LaneKey::of_waiting(&later))
                .or_insert_with(|| Lane::new(false));
            if lane.sending.is_none() {
                lane.whole_upto = lane.whole_upto.min(later.head - 1);
                lane.not_before = Some(later.next_attempt_at);
            }
        }
        self.lanes.retain(|_, lane| !lane.idle_and_empty());
        self.synced = self.keeps;
    }

    /// Takes batches to send now, the lanes with the oldest events first:
    /// up to `places`, `per_lane` events each, for inboxes `room` lets
    /// send.
    pub(super) fn start(
        &mut self,
        now: DateTime<Utc>,
        places: usize,
        per_lane: usize,
        mut room: impl FnMut(i64) -> bool,
    ) -> Vec<(LaneKey, Vec<Due>)> {
        if places == 0 {
            return Vec::new();
        }
        let mut ready: Vec<(i64, LaneKey)> = self
            .lanes
            .iter()
            .filter(|(_, lane)| lane.due(now))
            .filter_map(|(key, lane)| lane.sendable().map(|(e, _)| (e.id, *key)))
            .collect();
        ready.sort_unstable_by_key(|(id, _)| *id);
        let mut batches = Vec::new();
        for (_, key) in ready {
            if batches.len() >= places {
                break;
            }
            let Some(lane) = self.lanes.get_mut(&key) else {
                continue;
            };
            let inbox = lane.held.front().map_or(0, |(e, _)| e.inbox_id);
            if !room(inbox) {
                continue;
            }
            let mut batch = Vec::new();
            while batch.len() < per_lane {
                match lane.held.front() {
                    Some((e, _)) if e.id <= lane.whole_upto => {}
                    _ => break,
                }
                if let Some(due) = lane.held.pop_front() {
                    lane.last_sent = due.0.id;
                    batch.push(due);
                }
            }
            self.held -= batch.len();
            lane.sending = Some(inbox);
            lane.not_before = None;
            batches.push((key, batch));
        }
        if !self.keeps {
            // What was read but not started is read again (and leased
            // anew) when there is room: held here, its lease could lapse.
            self.lanes.retain(|_, lane| lane.sending.is_some());
            for lane in self.lanes.values_mut() {
                lane.held.clear();
            }
            self.held = 0;
        }
        batches
    }

    /// A batch was sent: what it did not send goes back to the front of
    /// its lane, the first of it not before `retry` when that failed.
    pub(super) fn finished(
        &mut self,
        key: LaneKey,
        unsent: Vec<Due>,
        retry: Option<DateTime<Utc>>,
    ) {
        let Some(lane) = self.lanes.get_mut(&key) else {
            return;
        };
        lane.sending = None;
        if !self.keeps {
            // Read again, and leased, from the outbox.
            self.lanes.remove(&key);
            return;
        }
        self.held += unsent.len();
        for due in unsent.into_iter().rev() {
            lane.held.push_front(due);
        }
        lane.not_before = retry;
        if lane.idle_and_empty() {
            self.lanes.remove(&key);
        }
    }

    /// A batch's task failed (a bug): what it held is read again.
    pub(super) fn lost(&mut self, key: LaneKey) {
        if let Some(lane) = self.lanes.get_mut(&key) {
            lane.sending = None;
        }
        self.forget();
    }

    /// The inboxes of the batches being sent, one entry per batch.
    pub(super) fn sending_inboxes(&self) -> impl Iterator<Item = i64> + '_ {
        self.lanes.values().filter_map(|lane| lane.sending)
    }

    /// The earliest retry held, to wake for it.
    pub(super) fn next_retry(&self) -> Option<DateTime<Utc>> {
        self.lanes
            .values()
            .filter(|lane| lane.sending.is_none())
            .filter_map(|lane| lane.not_before)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Payload;

    fn event(id: i64, conversation: i64) -> EventRecord {
        EventRecord {
            id,
            kind: "message_created".into(),
            inbox_id: 1,
            conversation_id: Some(conversation),
            payload: Payload::stored(format!("{{\"id\":{id}}}")),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn handed(events: Vec<EventRecord>) -> HandedEvents {
        HandedEvents {
            events,
            incomplete: false,
        }
    }

    fn ids(batches: &[(LaneKey, Vec<Due>)]) -> Vec<Vec<i64>> {
        batches
            .iter()
            .map(|(_, batch)| batch.iter().map(|(e, _)| e.id).collect())
            .collect()
    }

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(100)
    }

    /// Synced with an empty outbox, as at the start of a new desk.
    fn synced() -> Lanes {
        let mut lanes = Lanes::new(true);
        lanes.claimed(now(), Vec::new(), 32, Some(Vec::new()));
        lanes
    }

    #[test]
    fn nothing_is_sent_before_the_outbox_was_read_once() {
        let mut lanes = Lanes::new(true);
        lanes.hand(handed(vec![event(5, 7)]));
        assert!(lanes.claim_needed(now()));
        assert!(lanes.start(now(), 64, 32, |_| true).is_empty());
        // The outbox holds an older event of the same conversation.
        lanes.claimed(
            now(),
            vec![(event(3, 7), 2), (event(5, 7), 0)],
            32,
            Some(Vec::new()),
        );
        assert!(!lanes.claim_needed(now()));
        let batches = lanes.start(now(), 64, 32, |_| true);
        assert_eq!(ids(&batches), [vec![3, 5]]);
        assert_eq!(batches[0].1[0].1, 2, "the attempts the outbox recorded");
    }

    #[test]
    fn handed_events_are_sent_without_reading_in_lane_order() {
        let mut lanes = synced();
        lanes.hand(handed(vec![event(1, 7), event(2, 8), event(3, 7)]));
        assert!(!lanes.claim_needed(now()));
        let batches = lanes.start(now(), 64, 32, |_| true);
        assert_eq!(ids(&batches), [vec![1, 3], vec![2]]);
        // A lane being sent gets its next events only after.
        lanes.hand(handed(vec![event(4, 7)]));
        assert!(lanes.start(now(), 64, 32, |_| true).is_empty());
        assert_eq!(lanes.skipped(now()).len(), 2);
        lanes.finished(LaneKey::Conversation(7), Vec::new(), None);
        assert_eq!(ids(&lanes.start(now(), 64, 32, |_| true)), [vec![4]]);
    }

    #[test]
    fn a_failed_event_waits_for_its_retry_and_holds_back_its_lane() {
        let mut lanes = synced();
        lanes.hand(handed(vec![event(1, 7), event(2, 7)]));
        let mut batches = lanes.start(now(), 64, 32, |_| true);
        let (key, batch) = batches.remove(0);
        let retry = now() + chrono::Duration::seconds(5);
        let unsent = batch.into_iter().map(|(e, a)| (e, a + 1)).collect();
        lanes.finished(key, unsent, Some(retry));
        assert!(!lanes.claim_needed(now()), "the retry is held");
        assert!(lanes.start(now(), 64, 32, |_| true).is_empty());
        assert_eq!(lanes.next_retry(), Some(retry));
        let batches = lanes.start(retry, 64, 32, |_| true);
        assert_eq!(ids(&batches), [vec![1, 2]]);
        assert_eq!(batches[0].1[0].1, 1);
    }

    #[test]
    fn a_lane_read_in_part_is_read_again_before_its_newer_events() {
        let mut lanes = Lanes::new(true);
        lanes.hand(handed(vec![event(90, 7)]));
        // The outbox had more than a read takes: 1 and 2 of [1, 2, 3, 90].
        lanes.claimed(now(), vec![(event(1, 7), 0), (event(2, 7), 0)], 2, None);
        assert_eq!(
            ids(&lanes.start(now(), 64, 32, |_| true)),
            [vec![1, 2]],
            "not 90: 3 may come between"
        );
        lanes.finished(LaneKey::Conversation(7), Vec::new(), None);
        assert!(lanes.claim_needed(now()));
        assert!(lanes.skipped(now()).is_empty());
        lanes.claimed(
            now(),
            vec![(event(3, 7), 0), (event(90, 7), 0)],
            32,
            Some(vec![]),
        );
        assert_eq!(ids(&lanes.start(now(), 64, 32, |_| true)), [vec![3, 90]]);
        assert_eq!(lanes.held(), 0);
    }

    #[test]
    fn events_not_handed_over_make_the_worker_read_the_outbox() {
        let mut lanes = synced();
        lanes.hand(handed(vec![event(1, 7)]));
        let sent = lanes.start(now(), 64, 32, |_| true);
        lanes.hand(HandedEvents {
            events: vec![event(3, 8)],
            incomplete: true,
        });
        assert!(lanes.claim_needed(now()));
        assert!(lanes.start(now(), 64, 32, |_| true).is_empty());
        // The lane being sent keeps its batch and stays skipped.
        assert_eq!(lanes.skipped(now()), vec![7]);
        lanes.finished(sent[0].0, sent[0].1.clone(), None);
        assert_eq!(ids(&lanes.start(now(), 64, 32, |_| true)), [vec![1]]);
        lanes.finished(sent[0].0, Vec::new(), None);
        // Read: 8's event, and nothing more of 7.
        lanes.claimed(now(), vec![(event(3, 8), 0)], 32, Some(vec![]));
        assert!(!lanes.claim_needed(now()), "synced again");
        assert_eq!(ids(&lanes.start(now(), 64, 32, |_| true)), [vec![3]]);
    }

    #[test]
    fn waiting_lanes_found_at_start_hold_back_newer_events() {
        let mut lanes = Lanes::new(true);
        let later = now() + chrono::Duration::seconds(30);
        lanes.claimed(
            now(),
            Vec::new(),
            32,
            Some(vec![WaitingLane {
                conversation_id: Some(7),
                head: 4,
                next_attempt_at: later,
            }]),
        );
        lanes.hand(handed(vec![event(9, 7)]));
        assert!(!lanes.claim_needed(now()));
        assert!(lanes.start(now(), 64, 32, |_| true).is_empty());
        assert!(lanes.claim_needed(later));
        assert!(lanes.skipped(later).is_empty());
    }

    #[test]
    fn batches_respect_places_room_and_oldest_first() {
        let mut lanes = synced();
        lanes.hand(handed((1..=5).map(|i| event(i, i)).collect()));
        let batches = lanes.start(now(), 2, 32, |_| true);
        assert_eq!(ids(&batches), [vec![1], vec![2]]);
        assert!(lanes.start(now(), 3, 32, |_| false).is_empty());
        assert_eq!(lanes.sending_inboxes().count(), 2);
    }

    #[test]
    fn without_keeping_a_lane_is_read_again_after_each_batch() {
        let mut lanes = Lanes::new(false);
        lanes.claimed(
            now(),
            vec![(event(1, 7), 0), (event(2, 7), 0)],
            32,
            Some(vec![]),
        );
        assert!(!lanes.synced());
        let batches = lanes.start(now(), 64, 1, |_| true);
        assert_eq!(ids(&batches), [vec![1]]);
        assert_eq!(lanes.held(), 0, "2 is read again");
        lanes.finished(batches[0].0, Vec::new(), None);
        assert_eq!(lanes.held(), 0);
        assert!(lanes.skipped(now()).is_empty());
    }
}
