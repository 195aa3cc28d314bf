//! What a timer does when it fires.

use std::panic::{self, AssertUnwindSafe};

use crate::conn::state::ConnState;
use crate::metrics::Metrics;
use crate::reactor::core::{Core, Entry};
use crate::reactor::ctx::ReactorCtx;
use crate::timer::Fired;
use crate::token::{ConnId, ListenerId};

/// A reactor-level timer callback.
pub(crate) type TimerFn<S> = Box<dyn FnMut(&mut ReactorCtx<'_, S>)>;

/// The payload of a timer.
pub(crate) enum TimerTask<S> {
    /// A handler timer: `on_timer` of this connection, if still in the
    /// attempt that set it (see `Conn::epoch`), with the handler's tag.
    User(ConnId, u32, u32),
    /// The connection's idle check.
    Idle(ConnId),
    /// The connection's write-stall check.
    Stall(ConnId),
    /// Connect timeout or linger deadline.
    Deadline(ConnId),
    /// Try accepting again after a resource error (EMFILE, ...).
    AcceptRetry(ListenerId),
    /// Start the next attempt of a reconnecting client.
    Reconnect(ConnId),
    /// The graceful shutdown's grace period ended.
    ShutdownDeadline,
    /// A closure scheduled on the reactor.
    Closure(TimerFn<S>),
}

impl<S: 'static> Core<S> {
    /// Runs every timer due by now; returns how many ran.
    pub(crate) fn fire_timers(&mut self, state: &mut S) -> usize {
        if self.timers.needs_sweep() {
            self.sweep_timers_of_closed_conns();
        }
        let now = self.clock.now();
        let mut count = 0;
        while let Some(fired) = self.timers.pop_expired(now) {
            count += 1;
            self.run_timer(state, fired);
        }
        count
    }

    fn run_timer(&mut self, state: &mut S, fired: Fired<TimerTask<S>>) {
        let Fired {
            id,
            payload,
            repeats,
        } = fired;
        match payload {
            TimerTask::User(conn, epoch, tag) => {
                if let Some(slot) = self.timer_owner(conn, epoch) {
                    self.dispatch(state, slot, |h, ctx| h.on_timer(ctx, id, tag));
                    self.apply_pending(state, slot);
                }
                if repeats && self.timer_owner(conn, epoch).is_some() {
                    self.timers
                        .rearm(id, TimerTask::User(conn, epoch, tag), self.clock.now());
                } else if repeats {
                    self.timers.cancel(id);
                }
            }
            TimerTask::Idle(conn) => self.on_conn_timer(state, conn, Self::idle_timer_fired),
            TimerTask::Stall(conn) => self.on_conn_timer(state, conn, Self::stall_timer_fired),
            TimerTask::Deadline(conn) => self.on_conn_timer(state, conn, Self::deadline_fired),
            TimerTask::AcceptRetry(listener) => self.retry_accept(listener),
            TimerTask::Reconnect(conn) => {
                if let Ok(slot) = self.slot_of(conn) {
                    self.reconnect(slot);
                }
            }
            TimerTask::ShutdownDeadline => self.shutdown_deadline(state),
            TimerTask::Closure(mut f) => {
                let started = Metrics::callback_started(self.time_callbacks);
                let ran = panic::catch_unwind(AssertUnwindSafe(|| {
                    f(&mut ReactorCtx::new(self, state));
                }));
                self.metrics.callback_finished(started);
                if let Err(payload) = ran {
                    crate::reactor::dispatch::discard_panic(payload);
                    log::error!("a reactor timer callback panicked; it will not run again");
                    self.metrics.panics.bump(1);
                    self.timers.cancel(id);
                } else if repeats {
                    self.timers
                        .rearm(id, TimerTask::Closure(f), self.clock.now());
                }
            }
        }
    }

    /// Handler timers (`set_timer`, `set_interval`) are not cancelled when
    /// their connection closes: they would fire into nothing at their
    /// deadline. A server setting a long timer per request and closing
    /// early would pile them up, so they are dropped here whenever the
    /// queue has doubled, which keeps memory proportional to the live
    /// timers at O(1) amortised cost.
    fn sweep_timers_of_closed_conns(&mut self) {
        let before = self.timers.len();
        let entries = &self.entries;
        self.timers.retain(|task| match task {
            TimerTask::User(id, _, _)
            | TimerTask::Idle(id)
            | TimerTask::Stall(id)
            | TimerTask::Deadline(id)
            | TimerTask::Reconnect(id) => {
                matches!(entries.get(id.0.slot()), Some(Entry::Conn(c)) if c.id == *id && c.state() != ConnState::Closed)
            }
            _ => true,
        });
        log::trace!(
            "timer sweep: {} of {before} timers were of closed connections",
            before - self.timers.len()
        );
    }

    /// The slot of a handler timer's connection, if it is still open and
    /// in the attempt that set the timer.
    fn timer_owner(&self, conn: ConnId, epoch: u32) -> Option<usize> {
        let slot = self.slot_of(conn).ok()?;
        let c = self.conn(slot)?;
        (c.state() != ConnState::Closed && c.epoch() == epoch).then_some(slot)
    }

    fn on_conn_timer(&mut self, state: &mut S, conn: ConnId, f: fn(&mut Self, &mut S, usize)) {
        if let Ok(slot) = self.slot_of(conn) {
            f(self, state, slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every timer's payload is a `TimerTask`: the handler timer's id,
    /// attempt and tag must not make it larger than a boxed closure.
    #[test]
    fn a_timer_task_stays_three_words() {
        assert!(std::mem::size_of::<TimerTask<()>>() <= 24);
    }
}
