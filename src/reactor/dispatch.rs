//! Running a handler callback: the handler is taken out of its slot for the
//! call (so the context can borrow the whole core), the call is guarded by
//! `catch_unwind`, and a panic turns into an abort of that connection only.

use std::panic::{self, AssertUnwindSafe};

use crate::conn::Intent;
use crate::conn::close::CloseReason;
use crate::handler::Handler;
use crate::metrics::Metrics;
use crate::reactor::core::Core;
use crate::reactor::ctx::Ctx;

impl<S: 'static> Core<S> {
    /// Calls `f` with the handler and a context of the connection in `slot`.
    /// Returns `false` if there was no handler to call or it panicked (the
    /// connection is then asked to abort with [`CloseReason::Panicked`]).
    #[inline]
    pub(crate) fn dispatch<F>(&mut self, state: &mut S, slot: usize, f: F) -> bool
    where
        F: FnOnce(&mut dyn Handler<S>, &mut Ctx<'_, S>),
    {
        let Some(conn) = self.conn_mut(slot) else {
            return false;
        };
        let Some(mut handler) = conn.handler.take() else {
            return false;
        };
        let id = conn.id;
        let started = Metrics::callback_started(self.time_callbacks);
        let outcome = {
            let mut ctx = Ctx::new(self, state, id);
            panic::catch_unwind(AssertUnwindSafe(|| f(handler.as_mut(), &mut ctx)))
        };
        self.metrics.callback_finished(started);
        let Some(conn) = conn_at!(self, slot) else {
            return false;
        };
        conn.handler = Some(handler);
        if outcome.is_err() {
            log::error!("{id}: handler panicked; aborting the connection");
            self.metrics.panics.bump(1);
            conn.request(Intent::Abort(CloseReason::Panicked));
            self.enqueue(slot);
            return false;
        }
        true
    }
}
