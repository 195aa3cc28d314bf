//! Graceful shutdown and hard stop.
//!
//! Shutdown: listeners close at once (new clients are refused by the
//! kernel). Closing a socket resets the connections still waiting in its
//! accept queue, whose clients believe they are connected and may have
//! sent a request; so a listener this reactor bound (and did not hand out)
//! is first emptied: those connections are accepted and get `on_open`,
//! then `on_shutdown`, like the rest. An inherited or handed-out listener
//! keeps its queue for the other process that holds it. Every open
//! connection's handler gets `on_shutdown` and may finish and close
//! itself; one still connecting (or in its TLS handshake) gets it after
//! `on_open`, so a handler never hears of the shutdown before it has heard
//! its connection is up. At the deadline, connections with nothing
//! queued are closed gracefully and the rest (still flushing to a slow
//! reader, or lingering) are aborted; both report [`CloseReason::Shutdown`].
//! No queued byte is dropped before the deadline.
//!
//! Stop: every open connection is aborted at once with
//! [`CloseReason::Shutdown`]; each still gets its `on_close`.

use std::time::Duration;

use crate::conn::close::CloseReason;
use crate::conn::state::ConnState;
use crate::conn::{Flags, Intent};
use crate::reactor::core::Core;
use crate::reactor::schedule::TimerTask;

impl<S: 'static> Core<S> {
    /// Starts a graceful shutdown with `grace` before the deadline. A later
    /// call can only bring the deadline closer (a second Ctrl-C that asks
    /// for less patience), never push it back.
    pub(crate) fn begin_shutdown(&mut self, grace: Duration) {
        let deadline = self.clock.after(grace);
        if self.shutdown_deadline.is_some_and(|d| d <= deadline) {
            return;
        }
        self.shutdown_deadline = Some(deadline);
        self.timers
            .insert(deadline, None, TimerTask::ShutdownDeadline);
        if self.shutting_down {
            log::info!("shutdown deadline moved closer: {grace:?} from now");
            return;
        }
        self.shutting_down = true;
        for id in self.listener_ids() {
            self.drain_and_close_listener(id);
        }
        for slot in self.conn_slots() {
            if let Some(conn) = conn_at!(self, slot) {
                conn.flags.insert(Flags::NOTIFY_SHUTDOWN);
            }
            self.enqueue(slot);
        }
        log::info!(
            "shutting down: {} connections, grace {grace:?}",
            self.live_conns + self.drained.len()
        );
    }

    /// The grace period is over: close idle connections, abort busy ones.
    pub(crate) fn shutdown_deadline(&mut self, state: &mut S) {
        for slot in self.conn_slots() {
            let Some(conn) = conn_at!(self, slot) else {
                continue;
            };
            let idle = conn.send.is_empty()
                && !matches!(
                    conn.state(),
                    ConnState::LingerFlushing | ConnState::Lingering
                );
            if idle && conn.state() != ConnState::Connecting {
                conn.request(Intent::Close(CloseReason::Shutdown));
            } else {
                conn.request(Intent::Abort(CloseReason::Shutdown));
            }
            self.apply_pending(state, slot);
        }
    }

    /// Aborts every open connection and closes every listener.
    pub(crate) fn abort_all(&mut self, state: &mut S) {
        for id in self.listener_ids() {
            self.close_listener(id);
        }
        for slot in self.conn_slots() {
            self.abort(state, slot, CloseReason::Shutdown);
        }
    }
}
