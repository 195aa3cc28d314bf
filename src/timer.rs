//! Timers: a binary heap of deadlines with lazy deletion.
//!
//! Each timer owns a record in a slab (its payload, period and generation);
//! the heap holds only `(deadline, sequence, slot, generation)`. Cancelling
//! frees the record and leaves the heap entry behind; it is skipped when it
//! surfaces, and the heap is rebuilt when stale entries outnumber live ones,
//! so memory stays proportional to the live timers.
//!
//! Timeouts that move on every read (the idle timeout) do not re-arm a timer
//! at all: the connection stores when it last read, one timer per connection
//! fires at the earliest possible deadline and is pushed back lazily if
//! traffic came since. Re-arming is therefore a single store, O(1) and
//! allocation-free.
//!
//! Time is counted in whole milliseconds from the reactor's start
//! ([`Clock`]), read once per loop turn.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use slab::Slab;

/// Milliseconds since the reactor's clock started.
pub(crate) type Tick = u64;

/// Names one timer. Stale ids (fired or cancelled) are harmless: cancelling
/// one returns `false`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TimerId {
    slot: u32,
    /// Never zero, so `Option<TimerId>` is 8 bytes.
    generation: NonZeroU32,
}

/// The reactor's clock: one `Instant::now()` per turn, kept as read (for
/// handlers) and as a millisecond tick (for timers).
pub(crate) struct Clock {
    start: Instant,
    read: Instant,
    now: Tick,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        let start = Instant::now();
        Clock {
            start,
            read: start,
            now: 0,
        }
    }

    /// Reads the system clock.
    pub(crate) fn update(&mut self) -> Tick {
        self.set(Instant::now())
    }

    /// Sets the loop's time to `now` (read once per turn by the caller).
    pub(crate) fn set(&mut self, now: Instant) -> Tick {
        self.read = now;
        self.now = now.saturating_duration_since(self.start).as_millis() as Tick;
        self.now
    }

    pub(crate) fn now(&self) -> Tick {
        self.now
    }

    /// The time last read, at full resolution.
    pub(crate) fn instant(&self) -> Instant {
        self.read
    }

    /// The tick `delay` from the present moment, rounded up so a timer
    /// never fires early. Reads the system clock: the turn's time may be
    /// stale by the length of the turn (or, before the loop first runs, by
    /// everything since the reactor was made), and a deadline counted from
    /// it would come early by as much. Saturates: a delay past the end of
    /// time (`Duration::MAX`) is "never".
    pub(crate) fn after(&self, delay: Duration) -> Tick {
        let elapsed = Instant::now().saturating_duration_since(self.start);
        ceil_millis(elapsed.saturating_add(delay)).max(self.now)
    }
}

/// Whole milliseconds, rounded up, saturating at `Tick::MAX` (a plain cast
/// would wrap `Duration::MAX` to a small number: a timer due at once).
pub(crate) fn ceil_millis(d: Duration) -> Tick {
    let ms = Tick::try_from(d.as_millis()).unwrap_or(Tick::MAX);
    if Duration::from_millis(ms) < d {
        ms.saturating_add(1)
    } else {
        ms
    }
}

struct Record<T> {
    generation: NonZeroU32,
    deadline: Tick,
    /// Repeat period in ms; `None` for a one-shot timer.
    period: Option<Tick>,
    /// `None` while the payload is out being run (see [`TimerQueue::pop_expired`]).
    payload: Option<T>,
}

/// A timer that reached its deadline, handed to the caller to run.
pub(crate) struct Fired<T> {
    pub(crate) id: TimerId,
    pub(crate) payload: T,
    /// Set for repeating timers: give the payload back with
    /// [`TimerQueue::rearm`] to keep the timer going.
    pub(crate) repeats: bool,
}

/// Deadline-ordered timers with O(log n) insert and lazy O(1) cancel.
pub(crate) struct TimerQueue<T> {
    heap: BinaryHeap<Reverse<(Tick, u64, u32, NonZeroU32)>>,
    records: Slab<Record<T>>,
    next_generation: u32,
    sequence: u64,
    /// Live timers at which [`needs_sweep`](Self::needs_sweep) says yes.
    sweep_at: usize,
}

/// Live timers below which no sweep is asked for.
const SWEEP_MIN: usize = 1024;

impl<T> TimerQueue<T> {
    pub(crate) fn new() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
            records: Slab::new(),
            next_generation: crate::token::generation_seed(),
            sequence: 0,
            sweep_at: SWEEP_MIN,
        }
    }

    /// Whether the timers have doubled since the last [`retain`](Self::retain):
    /// sweeping then costs O(1) amortised per timer set.
    pub(crate) fn needs_sweep(&self) -> bool {
        self.records.len() >= self.sweep_at
    }

    /// Drops the pending timers whose payload `keep` rejects (a payload out
    /// running is kept), and sets the next sweep at twice what is left.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.records
            .retain(|_, r| r.payload.as_ref().is_none_or(&mut keep));
        self.sweep_at = (2 * self.records.len()).max(SWEEP_MIN);
        self.compact_if_sparse();
    }

    /// Number of live timers.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Adds a timer due at `deadline`, repeating every `period` ms if given.
    pub(crate) fn insert(&mut self, deadline: Tick, period: Option<Tick>, payload: T) -> TimerId {
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1).max(1);
        let period = period.map(|p| p.max(1));
        let generation = NonZeroU32::new(generation).expect("generations skip zero");
        let slot = self.records.insert(Record {
            generation,
            deadline,
            period,
            payload: Some(payload),
        }) as u32;
        self.push_heap(deadline, slot, generation);
        TimerId { slot, generation }
    }

    /// Cancels a timer. Returns whether it was live: pending, or a
    /// repeating timer whose payload is out running (it will not be
    /// re-armed). A one-shot timer that fired, or a cancelled one, gives
    /// `false`.
    pub(crate) fn cancel(&mut self, id: TimerId) -> bool {
        if !self.is_live(id) {
            return false;
        }
        self.records.remove(id.slot as usize);
        self.compact_if_sparse();
        true
    }

    /// Whether `id` names a timer that has not fired (or repeats) and was not cancelled.
    pub(crate) fn is_live(&self, id: TimerId) -> bool {
        self.records
            .get(id.slot as usize)
            .is_some_and(|r| r.generation == id.generation)
    }

    /// The earliest pending deadline, discarding stale heap entries on the way.
    pub(crate) fn next_deadline(&mut self) -> Option<Tick> {
        while let Some(Reverse((deadline, _, slot, generation))) = self.heap.peek().copied() {
            if self.is_current(deadline, slot, generation) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns the next timer due at or before `now`.
    ///
    /// A repeating timer keeps its id: its record stays reserved with the
    /// payload taken out, and [`rearm`](Self::rearm) puts it back. If the
    /// timer is cancelled while its payload is out, `rearm` drops it.
    pub(crate) fn pop_expired(&mut self, now: Tick) -> Option<Fired<T>> {
        loop {
            let Reverse((deadline, _, slot, generation)) = *self.heap.peek()?;
            if deadline > now {
                return None;
            }
            self.heap.pop();
            if !self.is_current(deadline, slot, generation) {
                continue;
            }
            let id = TimerId { slot, generation };
            let record = &mut self.records[slot as usize];
            if record.period.is_some() {
                let payload = record.payload.take()?;
                return Some(Fired {
                    id,
                    payload,
                    repeats: true,
                });
            }
            let payload = self.records.remove(slot as usize).payload?;
            return Some(Fired {
                id,
                payload,
                repeats: false,
            });
        }
    }

    /// Re-arms a repeating timer after it ran, one period after its last
    /// deadline (or after `now` if the loop fell behind, so a stalled loop
    /// does not fire a burst). Returns `false` if it was cancelled meanwhile.
    pub(crate) fn rearm(&mut self, id: TimerId, payload: T, now: Tick) -> bool {
        if !self.is_live(id) {
            return false;
        }
        let record = &mut self.records[id.slot as usize];
        let period = record.period.unwrap_or(1);
        let mut deadline = record.deadline.saturating_add(period);
        if deadline <= now {
            deadline = now.saturating_add(period);
        }
        record.deadline = deadline;
        record.payload = Some(payload);
        self.push_heap(deadline, id.slot, id.generation);
        true
    }

    fn is_current(&self, deadline: Tick, slot: u32, generation: NonZeroU32) -> bool {
        self.records.get(slot as usize).is_some_and(|r| {
            r.generation == generation && r.deadline == deadline && r.payload.is_some()
        })
    }

    fn push_heap(&mut self, deadline: Tick, slot: u32, generation: NonZeroU32) {
        self.sequence += 1;
        self.heap
            .push(Reverse((deadline, self.sequence, slot, generation)));
    }

    /// Rebuilds the heap when stale entries dominate, keeping memory bounded
    /// under cancel/re-arm churn. Amortised O(1) per cancel.
    fn compact_if_sparse(&mut self) {
        if self.heap.len() > 1024 && self.heap.len() > 2 * self.records.len() + 64 {
            let records = &self.records;
            self.heap
                .retain(|Reverse((deadline, _, slot, generation))| {
                    records
                        .get(*slot as usize)
                        .is_some_and(|r| r.generation == *generation && r.deadline == *deadline)
                });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut TimerQueue<u32>, now: Tick) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(f) = q.pop_expired(now) {
            out.push(f.payload);
            if f.repeats {
                q.rearm(f.id, f.payload, now);
            }
        }
        out
    }

    #[test]
    fn fires_in_deadline_order_and_fifo_for_ties() {
        let mut q = TimerQueue::new();
        q.insert(30, None, 3);
        q.insert(10, None, 1);
        q.insert(20, None, 2);
        q.insert(20, None, 22);
        assert_eq!(q.next_deadline(), Some(10));
        assert_eq!(drain(&mut q, 25), vec![1, 2, 22]);
        assert_eq!(drain(&mut q, 30), vec![3]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn cancelled_timers_never_fire_and_stale_ids_are_harmless() {
        let mut q = TimerQueue::new();
        let a = q.insert(10, None, 1);
        let b = q.insert(10, None, 2);
        assert!(q.cancel(a));
        assert!(!q.cancel(a));
        assert_eq!(drain(&mut q, 10), vec![2]);
        assert!(!q.cancel(b));
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn repeating_timer_keeps_its_id_until_cancelled() {
        let mut q = TimerQueue::new();
        let id = q.insert(5, Some(5), 7);
        assert_eq!(drain(&mut q, 5), vec![7]);
        assert_eq!(q.next_deadline(), Some(10));
        assert!(q.is_live(id));
        let fired = q.pop_expired(10).unwrap();
        assert_eq!(fired.id, id);
        // Cancelled while running: that counts as cancelled, and re-arming
        // drops it.
        assert!(q.cancel(id));
        assert!(!q.rearm(fired.id, fired.payload, 10));
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn a_late_repeating_timer_does_not_burst() {
        let mut q = TimerQueue::new();
        q.insert(1, Some(1), 9);
        assert_eq!(drain(&mut q, 100), vec![9]);
        assert_eq!(q.next_deadline(), Some(101));
    }

    #[test]
    fn retain_drops_rejected_timers_and_spaces_the_next_sweep() {
        let mut q = TimerQueue::new();
        for i in 0..3000u32 {
            q.insert(1_000 + u64::from(i), None, i);
        }
        assert!(q.needs_sweep());
        q.retain(|p| p % 3 == 0);
        assert_eq!(q.len(), 1000);
        assert!(!q.needs_sweep());
        assert_eq!(drain(&mut q, 10_000).len(), 1000);
        assert!(q.heap.len() <= 2 * q.records.len() + 1024);
    }

    #[test]
    fn durations_past_the_end_of_time_saturate() {
        assert_eq!(ceil_millis(Duration::MAX), Tick::MAX);
        assert_eq!(ceil_millis(Duration::from_micros(1500)), 2);
        let clock = Clock::new();
        assert_eq!(clock.after(Duration::MAX), Tick::MAX);
        let mut q = TimerQueue::new();
        let id = q.insert(Tick::MAX, Some(Tick::MAX), 1);
        assert_eq!(drain(&mut q, 1_000_000), Vec::<u32>::new());
        let fired = q.pop_expired(Tick::MAX).unwrap();
        assert!(q.rearm(id, fired.payload, Tick::MAX));
        assert_eq!(q.next_deadline(), Some(Tick::MAX));
    }

    #[test]
    fn churn_keeps_the_heap_bounded() {
        let mut q = TimerQueue::new();
        let mut ids: Vec<TimerId> = (0..100).map(|i| q.insert(1_000_000 + i, None, 0)).collect();
        for round in 0..10_000u64 {
            let i = (round % 100) as usize;
            q.cancel(ids[i]);
            ids[i] = q.insert(2_000_000 + round, None, 0);
        }
        assert_eq!(q.len(), 100);
        assert!(q.heap.len() < 1300, "heap kept {} entries", q.heap.len());
    }
}
